"""Reference vectors for dtr1-rle, produced by pycocotools itself.

Usage: python rle_vectors.py OUTFILE

Deterministic (seeded). Every mask is stored as its uncompressed column-major run lengths,
computed here with numpy (independently of pycocotools), next to what pycocotools returns
for it: compressed counts string, area, toBbox, and for pairs iou / merge; for polygons and
boxes the frPyObjects result; for resizes the centre-sampling nearest-neighbour result (numpy).
"""
import json
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as M

rng = np.random.default_rng(20251124)


def runs(mask):
    """Column-major run lengths starting with zeros (numpy, not pycocotools)."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    if flat.size == 0:
        return []
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate(([0], change, [flat.size]))
    lengths = np.diff(edges).tolist()
    if flat[0] == 1:
        lengths = [0] + lengths
    return [int(v) for v in lengths]


def rand_size():
    def one():
        return int(np.clip(np.round(np.exp(rng.uniform(0, np.log(1000)))), 1, 1000))
    return one(), one()


def rand_mask(h, w, kind=None):
    kinds = ["empty", "full", "pixel", "rect", "ellipse", "blobs", "noise", "stripes"]
    kind = kind or kinds[rng.integers(len(kinds))]
    m = np.zeros((h, w), dtype=np.uint8)
    if kind == "full":
        m[:] = 1
    elif kind == "pixel":
        m[rng.integers(h), rng.integers(w)] = 1
    elif kind == "rect":
        y0, y1 = sorted(rng.integers(0, h + 1, 2))
        x0, x1 = sorted(rng.integers(0, w + 1, 2))
        m[y0:y1, x0:x1] = 1
    elif kind in ("ellipse", "blobs"):
        yy, xx = np.mgrid[0:h, 0:w]
        for _ in range(1 if kind == "ellipse" else int(rng.integers(2, 6))):
            cy, cx = rng.uniform(-0.2 * h, 1.2 * h), rng.uniform(-0.2 * w, 1.2 * w)
            ry, rx = rng.uniform(0.5, h * 0.6 + 1), rng.uniform(0.5, w * 0.6 + 1)
            m |= (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).astype(np.uint8)
    elif kind == "noise":
        if h * w > 64 * 64:
            return rand_mask(h, w, "blobs")
        m = (rng.random((h, w)) < rng.uniform(0.05, 0.95)).astype(np.uint8)
    elif kind == "stripes":
        step = int(rng.integers(1, 9))
        m[:, ::step] = 1
        m[::step + 1, :] = 0
    return m


def enc(m):
    r = M.encode(np.asfortranarray(m))
    return r


def mask_record(m):
    r = enc(m)
    dec = M.decode(r)
    assert (dec == m).all(), "pycocotools decode disagrees with its encode"
    return {
        "h": int(m.shape[0]),
        "w": int(m.shape[1]),
        "runs": runs(m),
        "counts": r["counts"].decode("ascii"),
        "area": int(M.area(r)),
        "bbox": [float(v) for v in M.toBbox(r)],
    }


def main(out):
    masks = []
    fixed = [(1, 1, "empty"), (1, 1, "full"), (1, 7, "rect"), (9, 1, "rect"), (1000, 1000, "ellipse"),
             (1000, 1000, "empty"), (1000, 1000, "full"), (480, 640, "blobs"), (3, 3, "pixel"),
             (64, 64, "noise"), (37, 53, "stripes")]
    for h, w, k in fixed:
        masks.append(mask_record(rand_mask(h, w, k)))
    while len(masks) < 520:
        h, w = rand_size()
        masks.append(mask_record(rand_mask(h, w)))

    pairs = []
    for i in range(320):
        h, w = rand_size() if i % 4 else (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        a, b = rand_mask(h, w), rand_mask(h, w)
        if i % 10 == 0:
            b = a.copy()
        ra, rb = enc(a), enc(b)
        pairs.append({
            "h": h, "w": w, "a": runs(a), "b": runs(b),
            "iou": float(M.iou([ra], [rb], [0])[0, 0]),
            "iou_crowd": float(M.iou([ra], [rb], [1])[0, 0]),
            "union": M.merge([ra, rb], intersect=False)["counts"].decode("ascii"),
            "intersection": M.merge([ra, rb], intersect=True)["counts"].decode("ascii"),
            "inter_area": int((a & b).sum()),
            "union_area": int((a | b).sum()),
        })

    matrices = []
    for _ in range(6):
        h, w = int(rng.integers(20, 200)), int(rng.integers(20, 200))
        dts = [rand_mask(h, w) for _ in range(int(rng.integers(1, 6)))]
        gts = [rand_mask(h, w) for _ in range(int(rng.integers(1, 6)))]
        crowd = [int(rng.integers(0, 2)) for _ in gts]
        o = M.iou([enc(m) for m in dts], [enc(m) for m in gts], crowd)
        matrices.append({"h": h, "w": w, "dts": [runs(m) for m in dts], "gts": [runs(m) for m in gts],
                         "crowd": crowd, "iou": np.asarray(o, dtype=float).reshape(len(dts), len(gts)).tolist()})

    polygons = []
    for i in range(160):
        h, w = int(rng.integers(1, 400)), int(rng.integers(1, 400))
        k = int(rng.integers(3, 12))
        style = i % 5
        if style == 0:  # fractional, inside
            pts = rng.uniform(0, [w, h], size=(k, 2))
        elif style == 1:  # partly outside the frame
            pts = rng.uniform([-0.3 * w, -0.3 * h], [1.3 * w, 1.3 * h], size=(k, 2))
        elif style == 2:  # integer vertices
            pts = rng.integers(0, [w + 1, h + 1], size=(k, 2)).astype(float)
        elif style == 3:  # a star (self-intersecting order)
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))[rng.permutation(k)]
            r = rng.uniform(1, min(h, w) / 2 + 1)
            pts = np.stack([w / 2 + r * np.cos(ang), h / 2 + r * np.sin(ang)], 1)
        else:  # repeated vertices and tiny polygons
            pts = rng.uniform(0, [w, h], size=(k, 2)) * rng.uniform(0, 0.2)
            pts = np.repeat(pts, 2, axis=0)
        poly = [float(v) for v in pts.flatten()]
        r = M.frPyObjects([poly], h, w)[0]
        polygons.append({"h": h, "w": w, "poly": poly, "counts": r["counts"].decode("ascii")})
    multi = []
    for _ in range(20):
        h, w = int(rng.integers(5, 300)), int(rng.integers(5, 300))
        polys = [[float(v) for v in rng.uniform(0, [w, h], size=(int(rng.integers(3, 8)), 2)).flatten()]
                 for _ in range(int(rng.integers(1, 4)))]
        r = M.merge(M.frPyObjects(polys, h, w))
        multi.append({"h": h, "w": w, "polys": polys, "counts": r["counts"].decode("ascii")})
    boxes = []
    for i in range(120):
        h, w = int(rng.integers(1, 500)), int(rng.integers(1, 500))
        x, y = rng.uniform(-0.2 * w, w), rng.uniform(-0.2 * h, h)
        bw, bh = rng.uniform(0, w), rng.uniform(0, h)
        bb = [x, y, bw, bh] if i % 3 else [float(round(v)) for v in (x, y, bw, bh)]
        r = M.frPyObjects(np.array([bb], dtype=np.double), h, w)[0]
        boxes.append({"h": h, "w": w, "bbox": [float(v) for v in bb], "counts": r["counts"].decode("ascii")})

    resizes = []
    pillow_agree = 0
    for _ in range(80):
        h, w = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        nh, nw = int(rng.integers(1, 400)), int(rng.integers(1, 400))
        m = rand_mask(h, w)
        # Centre sampling in exact integers: output i takes input floor((i + 0.5) * n / new_n).
        rows = ((2 * np.arange(nh) + 1) * h) // (2 * nh)
        cols = ((2 * np.arange(nw) + 1) * w) // (2 * nw)
        r = m[np.ix_(rows, cols)]
        # Pillow's NEAREST samples the same centres in floating point; count where they agree.
        pil = (np.asarray(Image.fromarray(m * 255).resize((nw, nh), Image.NEAREST)) > 0)
        pillow_agree += int((pil == r).all())
        resizes.append({"h": h, "w": w, "runs": runs(m), "new_h": nh, "new_w": nw, "out_runs": runs(r)})

    # Counts lists with zero-length runs, as COCO files may hold them. pycocotools keeps such
    # runs (frPyObjects), and its area and decode are well defined on them; its toBbox is not
    # (it counts a pixel before an empty run of ones, or wraps around), so the box and the
    # string are taken from pycocotools' encode of the decoded pixels: the canonical runs.
    zero_runs = []
    for i in range(200):
        h, w = (int(rng.integers(1, 12)), int(rng.integers(1, 12))) if i % 4 else rand_size()
        m = rand_mask(h, w)
        given = runs(m)
        # Insert zero-length runs: pairs (0, 0) anywhere, a (0, 0) prefix, trailing zeros.
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(0, len(given) + 1))
            given = given[:k] + [0, 0] + given[k:]
        if i % 3 == 0:
            given = given + [0]
        if i % 5 == 0 and given[0] == 0 and len(given) > 1 and given[1] > 1:
            # Split a run of ones in two around an empty run of zeros.
            given = [0, 1, 0, given[1] - 1] + given[2:]
        r = M.frPyObjects([{"size": [h, w], "counts": given}], h, w)[0]
        dec = M.decode(r)
        assert (dec == m).all(), "pycocotools decodes the zero-run counts to another mask"
        canon = enc(np.asfortranarray(dec))
        zero_runs.append({"h": h, "w": w, "given": given, "area": int(M.area(r)),
                          "runs": runs(dec), "counts": canon["counts"].decode("ascii"),
                          "bbox": [float(v) for v in M.toBbox(canon)]})
    # Masks without pixels: pycocotools encodes them as one empty run, "0".
    no_pixels = []
    for h, w in [(0, 5), (5, 0), (0, 0), (0, 1), (7, 0)]:
        r = enc(np.zeros((h, w), dtype=np.uint8))
        no_pixels.append({"h": h, "w": w, "counts": r["counts"].decode("ascii"), "area": int(M.area(r)),
                          "bbox": [float(v) for v in M.toBbox(r)],
                          "from_empty_list": M.frPyObjects([{"size": [h, w], "counts": []}], h, w)[0]["counts"].decode("ascii")})

    print(f"rle: resize agrees with Pillow NEAREST on {pillow_agree}/{len(resizes)} cases", file=sys.stderr)
    with open(out, "w") as f:
        json.dump({"masks": masks, "pairs": pairs, "matrices": matrices, "polygons": polygons,
                   "multi_polygons": multi, "boxes": boxes, "resizes": resizes,
                   "zero_runs": zero_runs, "no_pixels": no_pixels}, f)


if __name__ == "__main__":
    main(sys.argv[1])
