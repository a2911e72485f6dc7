"""The synthetic ground truth read by pycocotools itself: it loads, and evaluating the ground truth as detections
scores exactly 1.0 (so ids, areas, crowd flags and categories are consistent COCO). Usage: test_synth_coco.py SIGHTLINE"""
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
except ImportError:
    print("pycocotools is not installed: pip install pycocotools", file=sys.stderr)
    sys.exit(1)


def main(binary):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", d, "--cameras", "4", "--seconds", "2",
                        "--set", "defaults.width=320", "--set", "defaults.height=240"], check=True)
        failures = 0
        for cam in ("cam1", "cam2", "cam3", "cam4"):
            path = Path(d) / f"{cam}.json"
            with contextlib.redirect_stdout(io.StringIO()):
                gt = COCO(str(path))
            anns = gt.dataset["annotations"]
            assert len(gt.getImgIds()) == 60, cam
            assert all(a["area"] > 0 for a in anns), cam
            dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
                    for a in anns if not a["iscrowd"]]
            with contextlib.redirect_stdout(io.StringIO()):
                ev = COCOeval(gt, gt.loadRes(dets), "bbox")
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            ap = ev.stats[0]
            ok = abs(ap - 1.0) < 1e-9
            failures += not ok
            print(f"{cam}: {len(anns)} boxes, {sum(a['iscrowd'] for a in anns)} crowd, AP of truth as detections {ap:.6f}"
                  f" {'ok' if ok else 'FAIL'}")
            tags = {t for im in gt.dataset["images"] for t in im["tags"]}
            print(f"  tags: {sorted(tags)}")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1])
