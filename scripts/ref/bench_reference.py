"""Timings of the reference implementations, for `dtr1 bench`.

Usage: python bench_reference.py DATA_OUT

Writes the benchmark inputs (masks as COCO RLE, sentence pairs) to DATA_OUT so that dt-r1
measures exactly the same work, then prints one JSON line of throughputs measured here
(best of several repeats):
  iou_pairs_per_s      pycocotools mask.iou on 64 x 64 masks of 640x480 (one matrix call)
  encode_masks_per_s   pycocotools mask.encode of the same 128 masks (Fortran-ordered)
  rougeL_pairs_per_s   rouge-score RougeScorer(['rougeL']).score on 2000 sentence pairs
"""
import json
import sys
import time

import numpy as np
from pycocotools import mask as M
from rouge_score import rouge_scorer

rng = np.random.default_rng(3)
H, W = 480, 640
yy, xx = np.mgrid[0:H, 0:W]


def blob():
    m = np.zeros((H, W), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, H), rng.uniform(0, W)
        ry, rx = rng.uniform(20, 160), rng.uniform(20, 200)
        m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return np.asfortranarray(m.astype(np.uint8))


def best(f, repeats=5):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


WORDS = "the red ball rolls left of a blue cube then stops after it hits the green cylinder near two mugs".split()


def sent():
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), int(rng.integers(8, 30))))


def main(out):
    dense = [blob() for _ in range(128)]
    rles = [M.encode(m) for m in dense]
    dts, gts = rles[:64], rles[64:]
    t_iou = best(lambda: M.iou(dts, gts, [0] * 64))
    t_enc = best(lambda: [M.encode(m) for m in dense])
    pairs = [(sent(), sent()) for _ in range(2000)]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    t_rouge = best(lambda: [scorer.score(a, b) for a, b in pairs], repeats=3)
    with open(out, "w") as f:
        json.dump({"masks": [{"size": [int(v) for v in r["size"]], "counts": r["counts"].decode()} for r in rles],
                   "pairs": pairs}, f)
    print(json.dumps({"iou_pairs_per_s": 64 * 64 / t_iou, "encode_masks_per_s": len(dense) / t_enc,
                      "rougeL_pairs_per_s": len(pairs) / t_rouge}))


if __name__ == "__main__":
    main(sys.argv[1])
