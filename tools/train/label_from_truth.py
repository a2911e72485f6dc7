#!/usr/bin/env python3
"""The labelers' stand-in for synthetic lines: labels a collector's dataset from the scene's ground truth.

On a synthetic line the truth of every frame is known (`sightline synth` writes <camera>.json, image id = frame
index). This writes, for every sample of a dataset, the truth of its frame as a COCO instances file that
`sightline collect import DATASET --from coco FILE` attaches to the samples, exactly as people's labels would come
back. Parts hidden more than the scene's occluded_fraction (iscrowd there) are left out: a labeler would not see
them either. It stands in for people in benchmarks and the demo loop; it is named as such wherever it is used.

    python3 tools/train/label_from_truth.py DATASET --truth SCENE_DIR --out labels.json [--sightline BIN]
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", help="a collector's dataset folder")
    ap.add_argument("--truth", required=True, action="append",
                    help="a scene folder with <camera>.json (repeat; a camera is looked up in each in turn), or "
                         "CAMERA=FILE for one camera")
    ap.add_argument("--out", required=True, help="the COCO file to write")
    ap.add_argument("--sightline", default=str(ROOT / "build/tools/sightline"))
    ap.add_argument("--only", nargs="*", help="label only these sample ids (default: every sample)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.sightline, "--log-level", "warn", "collect", "export", args.dataset, "--format", "coco",
                        "--out", tmp], check=True, stdout=subprocess.DEVNULL)
        samples = json.loads((Path(tmp) / "annotations.json").read_text())["images"]
    only = set(args.only) if args.only else None
    truths, categories, out_images, out_annotations, missing = {}, None, [], [], []

    def truth_of(camera):
        if camera not in truths:
            truths[camera] = None
            for t in args.truth:
                if "=" in t and t.split("=", 1)[0] == camera:
                    path = Path(t.split("=", 1)[1])
                elif "=" not in t:
                    path = Path(t) / f"{camera}.json"
                else:
                    continue
                if path.exists():
                    gt = json.loads(path.read_text())
                    by_frame = {}
                    for a in gt["annotations"]:
                        if not a.get("iscrowd", 0):
                            by_frame.setdefault(a["image_id"], []).append(a)
                    truths[camera] = (gt, by_frame, {im["id"] for im in gt["images"]})
                    break
        return truths[camera]

    for s in samples:
        if only is not None and s["sample_id"] not in only:
            continue
        t = truth_of(s["camera"])
        if t is None or s["frame"] not in t[2]:
            missing.append(f"{s['sample_id']} (camera {s['camera']}, frame {s['frame']})")
            continue
        gt, by_frame, _ = t
        if categories is None:
            categories = gt["categories"]
        image_id = len(out_images) + 1
        out_images.append({"id": image_id, "file_name": s["file_name"], "sample_id": s["sample_id"],
                           "width": s["width"], "height": s["height"]})
        for a in by_frame.get(s["frame"], []):
            out_annotations.append({"id": len(out_annotations) + 1, "image_id": image_id,
                                    "category_id": a["category_id"], "bbox": a["bbox"], "area": a["area"],
                                    "iscrowd": 0})
    if missing:
        sys.exit(f"label_from_truth: no truth for {len(missing)} sample(s): {', '.join(missing[:5])}")
    Path(args.out).write_text(json.dumps({"info": {"description": "stand-in labels: the synthetic scene's truth"},
                                          "images": out_images, "annotations": out_annotations,
                                          "categories": categories or []}))
    print(f"{len(out_images)} samples, {len(out_annotations)} boxes from the scene's truth -> {args.out}")


if __name__ == "__main__":
    main()
