"""Property test: `sightline eval` against pycocotools on seeded random ground-truth/detection pairs.

Each pair mixes what trips evaluators: crowd boxes, images without ground truth or without detections,
categories without ground truth or without detections, tied scores, boxes on the image border, tiny boxes,
more than 100 detections on an image, annotation areas that differ from box areas, and annotation id 0
(which pycocotools counts as unmatched). All 12 stats must agree to 1e-6.
Usage: test_eval_pycocotools.py SIGHTLINE [--cases N] [--seed S]"""
import argparse
import contextlib
import io
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
except ImportError:
    print("pycocotools and numpy are needed: pip install pycocotools numpy", file=sys.stderr)
    sys.exit(1)


def random_pair(rng):
    W, H = rng.choice([(640, 480), (100, 80), (1920, 1080)])
    n_images = rng.randint(1, 12)
    cat_ids = sorted(rng.sample(range(0, 20), rng.randint(1, 6)))
    images = [{"id": i * rng.choice([1, 3]) + rng.randint(0, 2) * 100, "width": W, "height": H}
              for i in range(n_images)]
    seen = set()
    images = [im for im in images if not (im["id"] in seen or seen.add(im["id"]))]
    gt_cats = [c for c in cat_ids if rng.random() < 0.85]  # some categories have no ground truth at all
    first_id = 0 if rng.random() < 0.1 else 1
    anns = []

    def box():
        kind = rng.random()
        if kind < 0.1:  # tiny
            w, h = rng.uniform(0.1, 3), rng.uniform(0.1, 3)
        elif kind < 0.5:
            w, h = rng.uniform(4, 40), rng.uniform(4, 40)
        else:
            w, h = rng.uniform(30, min(W, 400)), rng.uniform(30, min(H, 400))
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        if rng.random() < 0.15:  # on the border
            x = rng.choice([0.0, W - w])
        if rng.random() < 0.15:
            y = rng.choice([0.0, H - h])
        return [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]

    for im in images:
        if rng.random() < 0.15 or not gt_cats:
            continue  # an image without ground truth
        for _ in range(rng.randint(0, 15)):
            b = box()
            crowd = 1 if rng.random() < 0.08 else 0
            area = b[2] * b[3] * (rng.uniform(0.4, 1.0) if rng.random() < 0.5 else 1.0)
            anns.append({"id": first_id + len(anns), "image_id": im["id"], "category_id": rng.choice(gt_cats),
                         "bbox": b, "area": area, "iscrowd": crowd})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids]}

    dets = []
    quantised = rng.random() < 0.4
    dt_cats = [c for c in cat_ids if rng.random() < 0.9] or cat_ids
    for im in images:
        if rng.random() < 0.1:
            continue  # an image without detections
        mine = [a for a in anns if a["image_id"] == im["id"]]
        n = rng.choice([rng.randint(0, 20), rng.randint(90, 140)])
        for _ in range(n):
            if mine and rng.random() < 0.6:
                a = rng.choice(mine)
                x, y, w, h = a["bbox"]
                j = rng.uniform(0, 0.3)
                b = [x + rng.uniform(-j, j) * w, y + rng.uniform(-j, j) * h, w * rng.uniform(1 - j, 1 + j),
                     h * rng.uniform(1 - j, 1 + j)]
                cat = a["category_id"] if rng.random() < 0.8 else rng.choice(dt_cats)
            else:
                b, cat = box(), rng.choice(dt_cats)
            score = round(rng.random() * 10) / 10 if quantised else rng.random()
            dets.append({"image_id": im["id"], "category_id": cat, "bbox": [round(v, 3) for v in b],
                         "score": score})
    if not dets:  # pycocotools' loadRes cannot read an empty list
        dets.append({"image_id": images[0]["id"], "category_id": cat_ids[0], "bbox": [1, 1, 5, 5], "score": 0.5})
    return gt, dets


def pycocotools_stats(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(dt_path))
        e = COCOeval(gt, dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return [float(v) for v in e.stats]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261123)
    a = ap.parse_args()
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    failures = 0
    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        for case in range(a.cases):
            rng = random.Random(a.seed * 1000 + case)
            gt, dets = random_pair(rng)
            gp, dp, op = Path(d) / "gt.json", Path(d) / "dt.json", Path(d) / "out.json"
            gp.write_text(json.dumps(gt))
            dp.write_text(json.dumps(dets))
            expected = pycocotools_stats(gp, dp)
            r = subprocess.run([a.binary, "--log-level", "warn", "eval", "--gt", str(gp), "--dt", str(dp),
                                "--json", str(op), "-q"], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"case {case}: sightline eval failed ({r.returncode}): {r.stderr.strip()}")
                failures += 1
                continue
            got = {k: -1 if v is None else v for k, v in json.loads(op.read_text())["coco"].items()}  # null: -1
            diffs = [abs(got[n] - e) for n, e in zip(names, expected)]
            worst = max(worst, max(diffs))
            if max(diffs) > 1e-6:
                failures += 1
                if failures <= 5:
                    (Path(tempfile.gettempdir()) / f"sightline-eval-case{case}-gt.json").write_text(json.dumps(gt))
                    (Path(tempfile.gettempdir()) / f"sightline-eval-case{case}-dt.json").write_text(json.dumps(dets))
                    print(f"case {case} (seed {a.seed}): differs, kept in {tempfile.gettempdir()}/"
                          f"sightline-eval-case{case}-*.json")
                    for n, e, g in zip(names, expected, [got[n] for n in names]):
                        mark = "  <--" if abs(g - e) > 1e-6 else ""
                        print(f"    {n:6s} pycocotools {e: .9f}  sightline {g: .9f}{mark}")
    print(f"{a.cases - failures} of {a.cases} random pairs agree with pycocotools to 1e-6 (largest difference "
          f"{worst:.2e})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
