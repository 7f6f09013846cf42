"""Fixtures in the public formats, with expected values from the reference tools.

Usage: python loaders_vectors.py OUTFILE

Writes, next to OUTFILE, a directory `loaders/` holding small datasets exactly in the
published formats (see shared FORMATS.md):
- reasonseg/: NAME.jpg + NAME.json (LISA), one JSON encoded in cp1252;
- refcoco/: refs(unc).p (pickle protocol 2, as the refer toolkit ships) and instances.json;
- revos/: meta_expressions_valid_.json, mask_dict.json, JPEGImages/VIDEO/FRAME.jpg;
- broken/: malformed variants.
OUTFILE lists the expected samples: masks from OpenCV (LISA's rasterisation) and pycocotools.
"""
import json
import os
import pickle
import sys

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as M

rng = np.random.default_rng(9)


def rle(m):
    r = M.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def lisa_mask(h, w, shapes):
    mask = np.zeros((h, w), dtype=np.uint8)
    areas, valid = [], []
    for s in shapes:
        if s["label"].lower() == "flag":
            continue
        tmp = np.zeros((h, w), dtype=np.uint8)
        cv2.polylines(tmp, np.array([s["points"]], dtype=np.int32), True, 1, 1)
        cv2.fillPoly(tmp, np.array([s["points"]], dtype=np.int32), 1)
        areas.append(tmp.sum())
        valid.append(s)
    for i in np.argsort(areas)[::-1]:
        s = valid[i]
        v = 255 if "ignore" in s["label"].lower() else 1
        cv2.polylines(mask, np.array([s["points"]], dtype=np.int32), True, v, 1)
        cv2.fillPoly(mask, np.array([s["points"]], dtype=np.int32), v)
    return mask


def jpg(path, h, w):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, quality=80)


def main(out):
    root = os.path.join(os.path.dirname(os.path.abspath(out)), "loaders")
    expected = {"root": root}

    # ReasonSeg
    rs = os.path.join(root, "reasonseg")
    os.makedirs(rs, exist_ok=True)
    rs_exp = []
    for k, (name, h, w, enc) in enumerate([("img_a", 120, 160, "utf-8"), ("img_b", 90, 70, "cp1252")]):
        jpg(os.path.join(rs, name + ".jpg"), h, w)
        shapes = [
            {"label": "target", "points": [[10.7, 5.2], [60.1, 8.9], [40.5, 70.3]], "group_id": None, "shape_type": "polygon", "flags": {}},
            {"label": "ignore", "points": [[30.0, 30.0], [55.9, 31.0], [50.0, 60.0], [28.0, 52.0]], "group_id": None, "shape_type": "polygon", "flags": {}},
            {"label": "flag", "points": [[0, 0], [5, 0], [5, 5]], "group_id": None, "shape_type": "polygon", "flags": {}},
        ]
        if k == 1:
            # Labels as some ReasonSeg files write them (LISA lower-cases them), and a
            # polygon leaving the image.
            shapes[1]["label"] = "Ignore_region"
            shapes[2]["label"] = "Flag"
            shapes.append({"label": "target", "points": [[50.5, -10.2], [95.0, 20.7], [62.3, 101.9], [40.0, 80.0]],
                           "group_id": None, "shape_type": "polygon", "flags": {}})
        text = ["what would you use to sit on?", "the caf\u00e9 chair near the window"] if k == 0 else ["the thing that holds caf\u00e9 au lait"]
        doc = {"text": text, "is_sentence": k == 0, "shapes": shapes}
        with open(os.path.join(rs, name + ".json"), "w", encoding=enc) as f:
            json.dump(doc, f, ensure_ascii=False)
        m = lisa_mask(h, w, shapes)
        for i, q in enumerate(text):
            rs_exp.append({"id": f"reasonseg/{name}/{i}", "query": q, "width": w, "height": h,
                           "target": rle(m == 1), "ignore": rle(m == 255)})
    expected["reasonseg"] = rs_exp

    # COCO instances + RefCOCO refs
    rc = os.path.join(root, "refcoco")
    os.makedirs(os.path.join(rc, "images"), exist_ok=True)
    images, anns = [], []
    for iid, (h, w) in [(101, (80, 120)), (102, (64, 64))]:
        images.append({"id": iid, "file_name": f"COCO_train2014_{iid:012d}.jpg", "width": w, "height": h})
        jpg(os.path.join(rc, "images", images[-1]["file_name"]), h, w)
    anns.append({"id": 5001, "image_id": 101, "category_id": 1, "iscrowd": 0, "area": 0.0, "bbox": [10.0, 12.5, 30.0, 20.0],
                 "segmentation": [[10.0, 12.5, 40.0, 12.5, 40.0, 32.5, 10.0, 32.5]]})
    anns.append({"id": 5002, "image_id": 101, "category_id": 2, "iscrowd": 0, "area": 0.0, "bbox": [50.2, 30.1, 40.3, 30.0],
                 "segmentation": [[50.2, 30.1, 90.5, 35.0, 70.0, 60.1], [55.0, 55.0, 60.0, 55.0, 58.0, 59.0]]})
    crowd = np.zeros((64, 64), dtype=np.uint8)
    crowd[5:30, 10:50] = 1
    r = M.encode(np.asfortranarray(crowd))
    flat = crowd.flatten(order="F")
    counts, cur, run = [], 0, 0
    for px in flat:
        if px != cur:
            counts.append(run)
            run, cur = 0, px
        run += 1
    counts.append(run)
    anns.append({"id": 5003, "image_id": 102, "category_id": 1, "iscrowd": 1, "area": float(crowd.sum()),
                 "bbox": [float(v) for v in M.toBbox(r)], "segmentation": {"size": [64, 64], "counts": counts}})
    cats = [{"id": 1, "name": "person", "supercategory": "person"}, {"id": 2, "name": "chair", "supercategory": "furniture"}]
    with open(os.path.join(rc, "instances.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    refs = [
        {"ref_id": 1, "ann_id": 5001, "image_id": 101, "category_id": 1, "split": "testA",
         "file_name": "COCO_train2014_000000000101_5001.jpg",
         "sentences": [{"sent_id": 11, "sent": "man on the left", "raw": "Man on the left.", "tokens": ["man", "on", "the", "left"]},
                       {"sent_id": 12, "sent": "left guy", "raw": "left guy", "tokens": ["left", "guy"]}]},
        {"ref_id": 2, "ann_id": 5002, "image_id": 101, "category_id": 2, "split": "val",
         "file_name": "COCO_train2014_000000000101_5002.jpg",
         "sentences": [{"sent_id": 21, "sent": "chair", "raw": "chair", "tokens": ["chair"]}]},
    ]
    with open(os.path.join(rc, "refs(unc).p"), "wb") as f:
        pickle.dump(refs, f, protocol=2)
    with open(os.path.join(rc, "refs.json"), "w") as f:
        json.dump(refs, f)
    coco_masks = {}
    for a in anns:
        im = next(i for i in images if i["id"] == a["image_id"])
        seg = a["segmentation"]
        if isinstance(seg, list):
            m = M.merge(M.frPyObjects(seg, im["height"], im["width"]))
        else:
            m = M.frPyObjects(seg, im["height"], im["width"])
        coco_masks[str(a["id"])] = {"counts": m["counts"].decode("ascii"), "size": [int(v) for v in m["size"]]}
    expected["coco_masks"] = coco_masks
    expected["refcoco_testA"] = [{"id": f"refcoco/1/{s}", "bbox": [10.0, 12.5, 40.0, 32.5]} for s in (11, 12)]

    # ReVOS
    rv = os.path.join(root, "revos")
    frames = ["00010", "00000", "00005"]
    h, w = 48, 64
    for f in frames:
        jpg(os.path.join(rv, "JPEGImages", "vid1", f + ".jpg"), h, w)
    def blob(y, x):
        m = np.zeros((h, w), dtype=np.uint8)
        m[y:y + 10, x:x + 12] = 1
        return m
    a1 = [blob(5, 5), None, blob(7, 9)]
    a2 = [blob(20, 30), blob(22, 31), None]
    mask_dict = {"7": [rle(m) if m is not None else None for m in a1], "8": [rle(m) if m is not None else None for m in a2]}
    meta = {"videos": {"vid1": {"vid_id": 1, "frames": frames, "expressions": {
        "0": {"exp": "the object that moves right", "obj_id": [1], "anno_id": [7], "type_id": 0},
        "1": {"exp": "both things you could pick up", "obj_id": [1, 2], "anno_id": [7, 8], "type_id": 1},
        "2": {"exp": "the elephant", "obj_id": [], "anno_id": [], "type_id": 2}}}}}
    with open(os.path.join(rv, "meta_expressions_valid_.json"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(rv, "mask_dict.json"), "w") as f:
        json.dump(mask_dict, f)
    union = {}
    for fi in range(3):
        parts = [x[fi] for x in (a1, a2) if x[fi] is not None]
        if parts:
            union[str(fi)] = rle(np.maximum.reduce(parts))
    expected["revos_both"] = union

    # Broken variants
    br = os.path.join(root, "broken")
    os.makedirs(br, exist_ok=True)
    with open(os.path.join(br, "truncated.json"), "w") as f:
        f.write('{"images": [{"id": 1, "file_name": "a.jpg", "width": 3')
    with open(os.path.join(br, "dangling.json"), "w") as f:
        json.dump({"images": [], "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]}]}, f)
    with open(os.path.join(br, "mask_dict_short.json"), "w") as f:
        json.dump({"7": mask_dict["7"][:2], "8": mask_dict["8"]}, f)
    with open(os.path.join(br, "refs.p"), "wb") as f:
        f.write(b"\x80\x02]q\x00(}q\x01")

    with open(out, "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main(sys.argv[1])
