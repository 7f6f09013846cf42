"""Reference vectors for gIoU/cIoU (LISA), box IoU (REC) and J&F (DAVIS 2017).

Usage: python segmetrics_vectors.py OUTFILE

Independent numpy/scipy/scikit-image implementations of the published definitions:
- LISA: per-sample foreground intersection/union with ReasonSeg's ignore value 255,
  IoU = I / (U + 1e-5) and 1.0 when U == 0; gIoU = mean; cIoU = sum I / (sum U + 1e-10).
- REC: continuous boxes (torchvision-style) and the refer toolkit's inclusive-pixel
  convention; Acc@0.5 counts IoU > 0.5.
- DAVIS: J = region Jaccard (1 when both empty); F = boundary F-measure with seg2bmap
  boundaries and a disk(ceil(0.008 * diagonal)) dilation (skimage disk + scipy dilation).
Masks are written as COCO RLE by pycocotools.
"""
import json
import sys

import numpy as np
from pycocotools import mask as M
from scipy.ndimage import binary_dilation
from skimage.morphology import disk

rng = np.random.default_rng(7)


def rle(m):
    r = M.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def blob(h, w, kind=None):
    kind = kind or ["empty", "full", "pixel", "ellipse", "blobs", "line", "noise"][rng.integers(7)]
    m = np.zeros((h, w), dtype=bool)
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "full":
        m[:] = True
    elif kind == "pixel":
        m[rng.integers(h), rng.integers(w)] = True
    elif kind == "line":
        if rng.integers(2):
            m[rng.integers(h), :] = True
        else:
            m[:, rng.integers(w)] = True
    elif kind == "noise":
        m = rng.random((h, w)) < 0.3
    elif kind in ("ellipse", "blobs"):
        for _ in range(1 if kind == "ellipse" else int(rng.integers(2, 5))):
            cy, cx = rng.uniform(-0.1 * h, 1.1 * h), rng.uniform(-0.1 * w, 1.1 * w)
            ry, rx = rng.uniform(1, h * 0.5 + 1), rng.uniform(1, w * 0.5 + 1)
            m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return m


def near(m):
    """A prediction near the target: shifted, grown or shrunk, sometimes unrelated."""
    r = rng.integers(5)
    if r == 0:
        return blob(*m.shape)
    out = np.roll(m, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
    if r == 1:
        out = binary_dilation(out, iterations=int(rng.integers(1, 3)))
    return out


def lisa_counts(pred, gt):
    valid = gt != 255
    p, g = pred & valid, (gt == 1) & valid
    return int((p & g).sum()), int((p | g).sum())


def seg2bmap(seg):
    seg = seg.astype(bool)
    h, w = seg.shape
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def f_measure(pred, gt):
    r = int(np.ceil(0.008 * np.linalg.norm(pred.shape)))
    bp, bg = seg2bmap(pred), seg2bmap(gt)
    se = disk(r).astype(bool)
    dp = binary_dilation(bp, structure=se) if bp.any() else bp
    dg = binary_dilation(bg, structure=se) if bg.any() else bg
    n_p, n_g = int(bp.sum()), int(bg.sum())
    if n_p == 0 and n_g > 0:
        prec, rec = 1.0, 0.0
    elif n_p > 0 and n_g == 0:
        prec, rec = 0.0, 1.0
    elif n_p == 0 and n_g == 0:
        prec, rec = 1.0, 1.0
    else:
        prec, rec = float((bp & dg).sum()) / n_p, float((bg & dp).sum()) / n_g
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def j_measure(pred, gt):
    u = (pred | gt).sum()
    return 1.0 if u == 0 else float((pred & gt).sum()) / float(u)


def main(out):
    # gIoU / cIoU
    seg_sets = []
    for _ in range(12):
        samples = []
        for _ in range(int(rng.integers(1, 12))):
            h, w = int(rng.integers(1, 120)), int(rng.integers(1, 120))
            gt_fg = blob(h, w)
            pred = near(gt_fg) if rng.integers(4) else blob(h, w, "empty")
            gt = gt_fg.astype(np.uint8)
            if rng.integers(2):
                gt[blob(h, w, "ellipse") & ~gt_fg] = 255
            i, u = lisa_counts(pred, gt)
            iou = 1.0 if u == 0 else i / (u + 1e-5)
            samples.append({"pred": rle(pred), "gt": rle(gt == 1), "ignore": rle(gt == 255),
                            "gt_dense": gt.flatten().tolist() if h * w <= 400 else None,
                            "i": i, "u": u, "iou": iou})
        giou = float(np.mean([s["iou"] for s in samples]))
        ciou = sum(s["i"] for s in samples) / (sum(s["u"] for s in samples) + 1e-10)
        seg_sets.append({"samples": samples, "giou": giou, "ciou": ciou})

    # Boxes
    boxes = []
    for k in range(300):
        a = rng.uniform(-20, 200, 4)
        b = a + rng.uniform(-40, 40, 4) if k % 3 else rng.uniform(-20, 200, 4)
        if k % 7 == 0:
            a, b = np.round(a), np.round(b)
        a, b = [float(v) for v in a], [float(v) for v in b]
        def cont(p, q):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])
            un = area(p) + area(q) - inter
            return inter / un if un > 0 else 0.0
        def incl(p, q):
            x1, y1, x2, y2 = max(p[0], q[0]), max(p[1], q[1]), min(p[2], q[2]), min(p[3], q[3])
            inter = (x2 - x1 + 1) * (y2 - y1 + 1) if (x1 < x2 and y1 < y2) else 0.0
            area = lambda r: max(0.0, r[2] - r[0] + 1) * max(0.0, r[3] - r[1] + 1)
            un = area(p) + area(q) - inter
            return inter / un if un > 0 else 0.0
        boxes.append({"a": a, "b": b, "continuous": cont(a, b), "inclusive": incl(a, b)})
    acc = float(np.mean([x["continuous"] > 0.5 for x in boxes]))
    miou = float(np.mean([x["continuous"] for x in boxes]))

    # J&F
    sequences = []
    sizes = [(1, 1), (2, 3), (17, 9), (64, 64), (120, 213), (240, 427)]
    for k in range(18):
        h, w = sizes[k % len(sizes)]
        frames = []
        gt = blob(h, w)
        for _ in range(int(rng.integers(1, 6))):
            pred = near(gt) if rng.integers(5) else blob(h, w)
            frames.append({"pred": rle(pred), "gt": rle(gt), "j": j_measure(pred, gt), "f": f_measure(pred, gt)})
            gt = near(gt) if rng.integers(3) else blob(h, w)
        sequences.append({"h": h, "w": w, "frames": frames,
                          "j": float(np.mean([f["j"] for f in frames])),
                          "f": float(np.mean([f["f"] for f in frames]))})
    j_all = float(np.mean([s["j"] for s in sequences]))
    f_all = float(np.mean([s["f"] for s in sequences]))

    with open(out, "w") as fh:
        json.dump({"seg_sets": seg_sets, "boxes": boxes, "box_acc05": acc, "box_miou": miou,
                   "sequences": sequences, "j": j_all, "f": f_all, "jf": (j_all + f_all) / 2}, fh)


if __name__ == "__main__":
    main(sys.argv[1])
