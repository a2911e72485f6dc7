"""Scores COCO results against COCO ground truth with pycocotools; prints one JSON object on stdout.

    python3 tools/train/coco_report.py GT.json DT.json
"""
import contextlib
import io
import json
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def main(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dets = json.load(open(dt_path))
        dt = gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out = {n: float(v) for n, v in zip(NAMES, ev.stats)}
    out["images"] = len(gt.getImgIds())
    out["gt"] = sum(1 for a in gt.dataset["annotations"] if not a.get("iscrowd", 0))
    per_class = {}
    prec = ev.eval["precision"]  # [T, R, K, A, M]
    for k, cat_id in enumerate(ev.params.catIds):
        n = sum(1 for a in gt.dataset["annotations"] if a["category_id"] == cat_id and not a.get("iscrowd", 0))
        if n == 0:
            continue
        p = prec[:, :, k, 0, -1]
        ap = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0
        p50 = prec[0, :, k, 0, -1]
        ap50 = float(np.mean(p50[p50 > -1])) if (p50 > -1).any() else -1.0
        per_class[gt.cats[cat_id]["name"]] = {"AP": ap, "AP50": ap50, "gt": n}
    out["per_class"] = per_class
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
