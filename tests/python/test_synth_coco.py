"""The synthetic ground truth read by pycocotools itself: it loads, and the ground truth given as detections scores
exactly 1.0 in pycocotools and in `sightline eval` alike, all 12 stats equal (so ids, areas, crowd flags and
categories are consistent COCO, and sightline reads the files it writes as pycocotools does).
Usage: test_synth_coco.py SIGHTLINE"""
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
            dt_path, out_path = Path(d) / f"{cam}_dt.json", Path(d) / f"{cam}_eval.json"
            dt_path.write_text(json.dumps(dets))
            subprocess.run([binary, "--log-level", "warn", "eval", "--gt", str(path), "--dt", str(dt_path),
                            "--json", str(out_path), "-q", "--coco-only"], check=True)
            names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
            ours = [-1 if v is None else v for v in (json.loads(out_path.read_text())["coco"][n] for n in names)]
            ap = ours[0]
            ok = abs(ap - 1.0) < 1e-9 and abs(ev.stats[0] - 1.0) < 1e-9 and \
                all(abs(x - y) < 1e-12 for x, y in zip(ours, ev.stats))
            failures += not ok
            print(f"{cam}: {len(anns)} boxes, {sum(a['iscrowd'] for a in anns)} crowd, AP of truth as detections: "
                  f"sightline {ap:.6f}, pycocotools {ev.stats[0]:.6f} {'ok' if ok else 'FAIL'}")
            if not ok:
                print(f"  sightline {ours}\n  pycocotools {list(ev.stats)}")
            tags = {t for im in gt.dataset["images"] for t in im["tags"]}
            print(f"  tags: {sorted(tags)}")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1])
