"""Small ONNX graphs with exactly known outputs, for the `onnx` perception backend's tests.

Usage: python onnx_vectors.py OUTFILE

Writes, next to OUTFILE, a directory `onnx/` with the graphs (built with the `onnx` package)
and OUTFILE listing what the Rust side must find:
- seg.onnx: YOLOv8-seg export layout. Input `images` [1,3,64,64]; output0 [1, 4+2+32, 4]
  (boxes cx,cy,w,h in input pixels, 2 class scores, 32 mask coefficients per anchor) and
  output1 [1,32,16,16] prototypes. The outputs are constants (plus 0 × the input's mean, so
  the input is used); metadata `names` = "{0: 'cup', 1: 'ball'}" as Ultralytics writes it.
  On a 64×48 image (letterboxed: no scaling, 8 rows of padding on top) the expected
  detections are two rectangles: anchor 2 duplicates anchor 0 with a lower score and is
  removed by NMS, anchor 3 is below the confidence threshold.
- depth.onnx: Depth-Anything layout. Input `pixel_values` [1,3,32,32]; output
  `predicted_depth` [1,16,16] = column index + 1 (relative inverse depth growing to the
  right, so the right is nearer).
- depth_nan.onnx: like depth.onnx with one NaN in the output.
- seg_bad_shape.onnx: output0 of rank 2.
The constants are checked with onnxruntime here, so a broken graph fails at generation.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def graph(name, inp, in_shape, outputs, meta=None):
    """A graph whose outputs are constants + 0 * mean(input)."""
    nodes = [
        helper.make_node("ReduceMean", [inp], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((1,), np.float32), "zero")]
    outs = []
    for oname, value in outputs:
        inits.append(numpy_helper.from_array(value.astype(np.float32), oname + "_c"))
        nodes.append(helper.make_node("Add", [oname + "_c", "z"], [oname]))
        outs.append(helper.make_tensor_value_info(oname, TensorProto.FLOAT, list(value.shape)))
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(inp, TensorProto.FLOAT, in_shape)],
        outs,
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    for k, v in (meta or {}).items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    return m


def main(outfile):
    root = os.path.join(os.path.dirname(os.path.abspath(outfile)), "onnx")
    os.makedirs(root, exist_ok=True)
    nc, nm, n = 2, 32, 4
    out0 = np.zeros((1, 4 + nc + nm, n), np.float32)

    def anchor(k, box, cls, score, coeff_channel):
        out0[0, 0:4, k] = box
        out0[0, 4 + cls, k] = score
        out0[0, 4 + nc + coeff_channel, k] = 1.0

    # Input 64x64; a 64x48 image sits at rows 8..56 (scale 1).
    anchor(0, [20, 30, 16, 12], 0, 0.9, 0)  # box x 12..28, y 24..36 -> image y 16..28
    anchor(1, [44, 40, 24, 16], 1, 0.8, 1)  # box x 32..56, y 32..48 -> image y 24..40
    anchor(2, [21, 30, 16, 12], 0, 0.6, 0)  # IoU with anchor 0 = 15*12 / (17*12) > 0.45
    anchor(3, [10, 50, 8, 8], 1, 0.1, 0)  # below the 0.25 confidence threshold
    protos = np.zeros((1, nm, 16, 16), np.float32)
    protos[0, 0] = 10.0  # everywhere on: the mask is the whole box
    protos[0, 1, :, :12] = 10.0  # on left of input x = 48 (proto column 12 * stride 4)
    protos[0, 1, :, 12:] = -10.0
    seg = graph(
        "seg",
        "images",
        [1, 3, 64, 64],
        [("output0", out0), ("output1", protos)],
        meta={"names": "{0: 'cup', 1: 'ball'}", "stride": "32", "task": "segment"},
    )
    onnx.save(seg, os.path.join(root, "seg.onnx"))
    bad = graph("seg_bad", "images", [1, 3, 64, 64], [("output0", np.zeros((38, 4))), ("output1", protos)])
    onnx.save(bad, os.path.join(root, "seg_bad_shape.onnx"))

    depth_out = np.tile(np.arange(1, 17, dtype=np.float32), (16, 1))[None]
    onnx.save(graph("depth", "pixel_values", [1, 3, 32, 32], [("predicted_depth", depth_out)]), os.path.join(root, "depth.onnx"))
    nan_out = depth_out.copy()
    nan_out[0, 3, 5] = np.nan
    onnx.save(graph("depth_nan", "pixel_values", [1, 3, 32, 32], [("predicted_depth", nan_out)]), os.path.join(root, "depth_nan.onnx"))

    # The graphs give exactly their constants.
    s = ort.InferenceSession(os.path.join(root, "seg.onnx"), providers=["CPUExecutionProvider"])
    o0, o1 = s.run(None, {"images": np.random.default_rng(0).random((1, 3, 64, 64), np.float32)})
    assert np.array_equal(o0, out0) and np.array_equal(o1, protos)
    s = ort.InferenceSession(os.path.join(root, "depth.onnx"), providers=["CPUExecutionProvider"])
    (d,) = s.run(None, {"pixel_values": np.ones((1, 3, 32, 32), np.float32)})
    assert np.array_equal(d, depth_out)

    expected = {
        "dir": "onnx",
        "seg": {
            "model": "seg.onnx",
            "image": [64, 48],
            # label, score, mask rectangle [x1, y1, x2, y2) in image pixels
            "detections": [
                {"label": "cup", "score": 0.9, "rect": [12, 16, 28, 28]},
                {"label": "ball", "score": 0.8, "rect": [32, 24, 48, 40]},
            ],
        },
        "depth": {
            "model": "depth.onnx",
            "image": [64, 32],
            # Column x of the image samples output column u = clamp((x + 0.5) / 4 - 0.5, 0, 15)
            # (bilinear, half-pixel centres); inverse depth u + 1 over [1, 16] maps to
            # depth 1 - u / 15 (smaller = nearer).
            "columns": {str(x): 1.0 - min(max((x + 0.5) / 4 - 0.5, 0.0), 15.0) / 15.0 for x in [0, 1, 10, 33, 62, 63]},
        },
        "onnxruntime": ort.__version__,
    }
    with open(outfile, "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
