"""Reference vectors for ReasonSeg polygon rasterisation, produced by OpenCV itself.

Usage: python raster_vectors.py OUTFILE

For random labelled polygons the mask is made exactly as LISA's
utils/data_processing.py::get_mask_from_json describes: skip shapes whose lower-cased label
is `flag`, truncate points to int32, polylines (thickness 1) + fillPoly per shape, largest
area first, 255 for labels whose lower-cased form contains `ignore`, 1 otherwise. Single
fillPoly results are stored too. The second half of each list has polygons partly or wholly
outside the image (OpenCV clips their lines) and labels in other cases (`Ignore_region`,
`IGNORE`, `Flag`), as real ReasonSeg files have.
"""
import json
import sys

import cv2
import numpy as np
from pycocotools import mask as M

rng = np.random.default_rng(5)


def rle(m):
    r = M.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def lisa_mask(h, w, shapes):
    mask = np.zeros((h, w), dtype=np.uint8)
    areas, valid = [], []
    for label, points in shapes:
        if label.lower() == "flag":
            continue
        tmp = np.zeros((h, w), dtype=np.uint8)
        cv2.polylines(tmp, np.array([points], dtype=np.int32), True, 1, 1)
        cv2.fillPoly(tmp, np.array([points], dtype=np.int32), 1)
        areas.append(tmp.sum())
        valid.append((label, points))
    for i in np.argsort(areas)[::-1]:
        label, points = valid[i]
        v = 255 if "ignore" in label.lower() else 1
        cv2.polylines(mask, np.array([points], dtype=np.int32), True, v, 1)
        cv2.fillPoly(mask, np.array([points], dtype=np.int32), v)
    return mask


def polygon(h, w):
    k = int(rng.integers(3, 14))
    style = rng.integers(4)
    if style == 0:
        pts = rng.uniform(0, [w - 1, h - 1], size=(k, 2))
    elif style == 1:  # star-ish, self-intersecting order
        ang = rng.uniform(0, 2 * np.pi, k)
        r = rng.uniform(1, min(h, w) / 2)
        pts = np.stack([w / 2 + r * np.cos(ang), h / 2 + r * np.sin(ang)], 1)
    elif style == 2:  # convex-ish, sorted by angle
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(1, min(h, w) / 2, k)
        pts = np.stack([w / 2 + r * np.cos(ang), h / 2 + r * np.sin(ang)], 1)
    else:  # thin slivers and axis-aligned pieces
        pts = np.round(rng.uniform(0, [w - 1, h - 1], size=(k, 2)))
        pts[:, int(rng.integers(2))] = pts[0, int(rng.integers(2))] if rng.random() < 0.3 else pts[:, 0] * 0 + pts[:, 1] * 0 + pts[:, int(rng.integers(2))]
    pts = np.clip(pts, 0, [w - 1, h - 1])
    return [[float(x), float(y)] for x, y in pts]


def polygon_outside(h, w):
    """Vertices up to a frame beyond the image on every side; some polygons lie wholly outside."""
    k = int(rng.integers(3, 10))
    style = rng.integers(4)
    if style == 0:  # anywhere within the image and a margin of its own size
        pts = rng.uniform([-w, -h], [2 * w, 2 * h], size=(k, 2))
    elif style == 1:  # wholly on one side, or spanning it from corner to corner
        side = rng.integers(4)
        pts = rng.uniform([-w, -h], [2 * w, 2 * h], size=(k, 2))
        if side == 0:
            pts[:, 0] = -np.abs(pts[:, 0]) - 1
        elif side == 1:
            pts[:, 1] = h + np.abs(pts[:, 1])
    elif style == 2:  # far away: lines much longer than the image
        pts = rng.uniform([-40 * w, -40 * h], [40 * w, 40 * h], size=(k, 2))
    else:  # near the border, crossing it by a few pixels
        pts = rng.uniform([-4, -4], [w + 4, h + 4], size=(k, 2))
    return [[float(x), float(y)] for x, y in pts]


def main(out):
    singles = []
    for _ in range(300):
        h, w = int(rng.integers(1, 200)), int(rng.integers(1, 200))
        p = polygon(h, w)
        m = np.zeros((h, w), dtype=np.uint8)
        cv2.fillPoly(m, np.array([p], dtype=np.int32), 1)
        singles.append({"h": h, "w": w, "points": p, "mask": rle(m)})
    scenes = []
    for _ in range(60):
        h, w = int(rng.integers(20, 300)), int(rng.integers(20, 300))
        labels = ["target", "target", "ignore", "flag", "ignore_shadow", "target"]
        shapes = [(labels[rng.integers(len(labels))], polygon(h, w)) for _ in range(int(rng.integers(1, 5)))]
        m = lisa_mask(h, w, shapes)
        scenes.append({"h": h, "w": w, "shapes": [{"label": l, "points": p} for l, p in shapes],
                       "target": rle(m == 1), "ignore": rle(m == 255)})
    for _ in range(400):
        h, w = int(rng.integers(1, 200)), int(rng.integers(1, 200))
        p = polygon_outside(h, w)
        m = np.zeros((h, w), dtype=np.uint8)
        cv2.fillPoly(m, np.array([p], dtype=np.int32), 1)
        singles.append({"h": h, "w": w, "points": p, "mask": rle(m)})
    for _ in range(120):
        h, w = int(rng.integers(10, 200)), int(rng.integers(10, 200))
        labels = ["target", "Ignore_region", "IGNORE", "ignore", "Flag", "FLAG", "flag", "Target", "ignore_shadow"]
        shapes = [(labels[rng.integers(len(labels))], polygon_outside(h, w) if rng.random() < 0.6 else polygon(h, w))
                  for _ in range(int(rng.integers(1, 6)))]
        m = lisa_mask(h, w, shapes)
        scenes.append({"h": h, "w": w, "shapes": [{"label": l, "points": p} for l, p in shapes],
                       "target": rle(m == 1), "ignore": rle(m == 255)})
    with open(out, "w") as f:
        json.dump({"singles": singles, "scenes": scenes}, f)


if __name__ == "__main__":
    main(sys.argv[1])
