#!/usr/bin/env python3
"""A seeded COCO-val-sized evaluation pair: 5000 images, 80 categories, about 36k ground-truth boxes (1% crowd,
COCO-like size mix and polygon-smaller areas), 100 detections per image (60% jittered copies of ground truth,
some with the wrong class, the rest background), continuous scores. Usage: make_pair.py OUT_DIR [--seed S]"""
import argparse
import json
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=2017)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--dets", type=int, default=100)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cats = [{"id": c + 1, "name": f"class{c + 1}"} for c in range(a.classes)]
    images, anns, dets = [], [], []
    for i in range(a.images):
        W, H = 640, int(rng.choice([427, 480, 640]))
        iid = 100000 + i * 7
        images.append({"id": iid, "width": W, "height": H, "file_name": f"{iid:012d}.jpg"})
        n = rng.poisson(7.3)
        side = np.exp(rng.uniform(np.log(4), np.log(500), n))  # COCO-like: many small, some large
        aspect = np.exp(rng.normal(0, 0.5, n))
        w = np.minimum(side * aspect, W - 1)
        h = np.minimum(side / aspect, H - 1)
        x = rng.uniform(0, W - w)
        y = rng.uniform(0, H - h)
        cls = rng.integers(1, a.classes + 1, n)
        crowd = rng.random(n) < 0.01
        mine = []
        for k in range(n):
            box = [round(float(x[k]), 2), round(float(y[k]), 2), round(float(w[k]), 2), round(float(h[k]), 2)]
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": int(cls[k]), "bbox": box,
                         "area": round(float(w[k] * h[k] * rng.uniform(0.5, 1.0)), 2), "iscrowd": int(crowd[k])})
            mine.append((box, int(cls[k])))
        for d in range(a.dets):
            if mine and rng.random() < 0.6:
                (bx, by, bw, bh), c = mine[int(rng.integers(len(mine)))]
                j = rng.uniform(0, 0.25)
                box = [bx + rng.uniform(-j, j) * bw, by + rng.uniform(-j, j) * bh, bw * rng.uniform(1 - j, 1 + j),
                       bh * rng.uniform(1 - j, 1 + j)]
                if rng.random() < 0.15:
                    c = int(rng.integers(1, a.classes + 1))
                score = float(rng.beta(4, 2))
            else:
                s = float(np.exp(rng.uniform(np.log(4), np.log(300))))
                box = [float(rng.uniform(0, W - s)), float(rng.uniform(0, max(1, H - s))), s, s]
                c = int(rng.integers(1, a.classes + 1))
                score = float(rng.beta(1.5, 5))
            dets.append({"image_id": iid, "category_id": c, "bbox": [round(v, 2) for v in box],
                         "score": round(score, 5)})
    (out / "gt.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    (out / "dt.json").write_text(json.dumps(dets))
    print(f"{len(images)} images, {len(anns)} ground-truth boxes ({sum(a_['iscrowd'] for a_ in anns)} crowd), "
          f"{len(dets)} detections -> {out}")


if __name__ == "__main__":
    main()
