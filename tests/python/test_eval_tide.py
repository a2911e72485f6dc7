"""`sightline eval`'s TIDE error breakdown against tidecv (PyPI, the authors' implementation).

Runs both on the shared detection-metrics fixtures (the COCO pairs under tests/fixtures/detection-metrics) and on
seeded random pairs from test_eval_pycocotools.random_pair (crowd boxes, empty images, ties, classes without
ground truth, more than 100 detections per image). tidecv is fed the same boxes through its Data API (crowd boxes
as ignore regions, as its COCO loader does) and run as `TIDE().evaluate(gt, dt, mode=TIDE.BOX)`. TIDE's AP, the six
main dAPs, the two special dAPs (tidecv's units: AP x 100) and the error counts must agree to 1e-6.
Usage: test_eval_tide.py SIGHTLINE FIXTURES_DIR [--cases N] [--seed S]"""
import argparse
import contextlib
import io
import json
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    from tidecv import TIDE, Data
    from tidecv.errors.main_errors import (BackgroundError, BoxError, ClassError, DuplicateError, MissedError,
                                           OtherError)
    from test_eval_pycocotools import random_pair
except ImportError as e:
    print(f"tidecv is needed ({e}): pip install tidecv", file=sys.stderr)
    sys.exit(1)

FIXTURE_PAIRS = [
    ("faster_coco_eval/instances_val2014_100.json", "cocoapi/instances_val2014_fakebbox100_results.json"),
    ("review_object_detection_metrics/test_coco_eval/sampled_gts_bbox_area.json",
     "review_object_detection_metrics/test_coco_eval/sampled_bbox_results.json"),
    ("detectron2_via_faster_coco_eval/gt.json", "detectron2_via_faster_coco_eval/dt.json"),
    ("faster_coco_eval/coco/gt_ignore_test_intid.json", "faster_coco_eval/coco/dt_ignore_test_min0.1.json"),
    ("torchmetrics/coco/tm_readme_example/gt.json", "torchmetrics/coco/tm_readme_example/dt.json"),
    ("torchmetrics/coco/tm_v07_inputs/gt.json", "torchmetrics/coco/tm_v07_inputs/dt.json"),
    ("review_object_detection_metrics/test_case_1/coco/gt.json",
     "review_object_detection_metrics/test_case_1/coco/dt.json"),
    ("object_detection_metrics/coco/gt.json", "object_detection_metrics/coco/dt.json"),
]
TYPES = [("classification", ClassError), ("localisation", BoxError), ("both", OtherError),
         ("duplicate", DuplicateError), ("background", BackgroundError), ("missed", MissedError)]


def tidecv_figures(gt, dets):
    """TIDE on the boxes: {'ap', per type 'dap'/'count', 'fp', 'fn'} in tidecv's units (AP x 100)."""
    g, d = Data("gt"), Data("dt")
    for im in gt["images"]:
        g.add_image(im["id"], str(im["id"]))
    for c in gt.get("categories", []):
        g.add_class(c["id"], c.get("name", str(c["id"])))
    for a in gt["annotations"]:
        if a.get("iscrowd", 0):
            g.add_ignore_region(a["image_id"], a["category_id"], a["bbox"])
        else:
            g.add_ground_truth(a["image_id"], a["category_id"], a["bbox"])
    for x in dets:
        d.add_detection(x["image_id"], x["category_id"], x["score"], x["bbox"])
    t = TIDE()
    with contextlib.redirect_stdout(io.StringIO()):
        run = t.evaluate(g, d, mode=TIDE.BOX)
        errors = t.get_all_errors()
    main, special = errors["main"]["dt"], errors["special"]["dt"]
    counts = run.count_errors()
    out = {"ap": run.ap, "fp": special["FalsePos"], "fn": special["FalseNeg"]}
    for name, cls in TYPES:
        out[name] = (main[cls.short_name], counts[cls])
    return out


def sightline_figures(binary, gp, dp, op):
    r = subprocess.run([binary, "--log-level", "warn", "eval", "--gt", str(gp), "--dt", str(dp), "--json", str(op),
                        "-q", "--allow-unknown-images"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"sightline eval failed ({r.returncode}): {r.stderr.strip()}")
    t = json.loads(Path(op).read_text())["tide"]
    out = {"ap": t["ap"] * 100, "fp": t["dap_false_positives"] * 100, "fn": t["dap_false_negatives"] * 100}
    for name, _ in TYPES:
        out[name] = (t["errors"][name]["dap"] * 100, t["errors"][name]["count"])
    return out


def compare(label, want, got):
    """Differences as text lines (empty when they agree) and the largest float difference."""
    bad, worst = [], 0.0
    for key in ["ap", "fp", "fn"] + [n for n, _ in TYPES]:
        w, g = want[key], got[key]
        if isinstance(w, tuple):
            if w[1] != g[1]:
                bad.append(f"  {label} {key}: count tidecv {w[1]} sightline {g[1]}")
            w, g = w[0], g[0]
        d = abs(w - g)
        worst = max(worst, d) if math.isfinite(d) else math.inf
        if not (math.isfinite(w) and math.isfinite(g) and d <= 1e-6):  # a NaN on either side is a failure
            bad.append(f"  {label} {key}: dAP tidecv {w:.9f} sightline {g:.9f}")
    return bad, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("fixtures")
    ap.add_argument("--cases", type=int, default=120)
    ap.add_argument("--seed", type=int, default=20261123)
    a = ap.parse_args()
    failures, worst, total, skipped = 0, 0.0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        op = Path(tmp) / "out.json"
        cases = []
        for gt_rel, dt_rel in FIXTURE_PAIRS:
            gp, dp = Path(a.fixtures) / gt_rel, Path(a.fixtures) / dt_rel
            dets = json.loads(dp.read_text())
            if isinstance(dets, dict):
                dets = dets["annotations"]
            cases.append((gt_rel, json.loads(gp.read_text()), dets, gp, dp))
        for case in range(a.cases):
            gt, dets = random_pair(random.Random(a.seed * 1000 + case))
            gp, dp = Path(tmp) / f"gt{case}.json", Path(tmp) / f"dt{case}.json"
            gp.write_text(json.dumps(gt))
            dp.write_text(json.dumps(dets))
            cases.append((f"random case {case}", gt, dets, gp, dp))
        for label, gt, dets, gp, dp in cases:
            try:
                want = tidecv_figures(gt, dets)
            except ZeroDivisionError:  # tidecv divides by the number of non-empty classes, which can be 0
                print(f"{label}: tidecv cannot evaluate it (division by zero in get_mAP), skipped")
                skipped += 1
                continue
            total += 1
            try:
                bad, w = compare(label, want, sightline_figures(a.binary, gp, dp, op))
            except RuntimeError as e:
                bad, w = [f"  {label}: {e}"], 0.0
            worst = max(worst, w)
            if bad:
                failures += 1
                if failures <= 5:
                    print(f"{label}: differs from tidecv")
                    print("\n".join(bad))
    print(f"{total - failures} of {total} pairs ({len(FIXTURE_PAIRS)} fixtures, {a.cases} random, {skipped} that "
          f"tidecv cannot evaluate left out) agree with tidecv (largest difference {worst:.2e} AP points)")
    return 1 if failures or skipped > len(cases) // 10 else 0


if __name__ == "__main__":
    sys.exit(main())
