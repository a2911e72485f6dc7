#!/usr/bin/python3
"""A new version from collected frames (issue 27, item 4), through every step a user takes.

A short synthetic line with gears (a class parts-v1 never saw) feeds a collector; the stand-in labeler
(tools/train/label_from_truth.py, the scene's truth) labels the samples, `collect import --from coco` attaches them,
`collect snapshot` freezes them; `tools/train/finetune.py` then
- with --iterations 0 exports the parent grown by one class: its old classes' outputs are the parent's own (ONNX,
  in OpenCV DNN, same frames) and the new class starts near 0.01: it starts from the parent's weights;
- with a few iterations writes a model that sightline loads and runs (OpenCV and LibTorch engines), 6 classes,
  the lineage naming the parent and the snapshot's hash, held-out figures for parent and child, a report.

Usage: /usr/bin/python3 test_finetune.py SIGHTLINE_BINARY COCO_PYTHON [ENGINES]   (Debian's python3-torch, -onnx,
-opencv; ENGINES: the engines the binary has, comma-separated, default opencv,libtorch: the sanitizer builds have
no LibTorch engine)
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from support import FAILURES, check, free_port

BINARY, COCO_PYTHON = sys.argv[1], sys.argv[2]
ENGINES = sys.argv[3].split(",") if len(sys.argv) > 3 else ["opencv", "libtorch"]
ROOT = Path(__file__).resolve().parents[2]
PARENT = ROOT / "models" / "parts-v1"


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def snapshot(tmp):
    (tmp / "scen.yaml").write_text("cameras:\n  cam2:\n    novel_part: {start: 1, ramp: 0, rate: 0.4}\n")
    run(BINARY, "--log-level", "warn", "synth", "--out", tmp / "scene", "--cameras", 2, "--seconds", 8, "--seed",
        4545, "--scenario", tmp / "scen.yaml")
    port = free_port()
    (tmp / "run.yaml").write_text(
        f"cameras:\n  - {{id: cam1, url: {tmp / 'scene/cam1.mp4'}}}\n  - {{id: cam2, url: {tmp / 'scene/cam2.mp4'}}}\n"
        f"model: {PARENT / 'model.yaml'}\npublish:\n  predictions: tcp://127.0.0.1:*\n"
        f"  samples: tcp://127.0.0.1:{port}\n"
        "sampling:\n  window_s: 0.5\n  max_per_window: 2\n  strategies:\n    - {name: doubt, type: uncertainty, min: 0}\n")
    c = subprocess.Popen([BINARY, "--log-level", "warn", "collect", "--connect", f"tcp://127.0.0.1:{port}", "--out",
                          str(tmp / "ds"), "--idle-exit", "4"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    run(BINARY, "--log-level", "warn", "run", tmp / "run.yaml")
    c.wait(timeout=60)
    r = run(sys.executable, ROOT / "tools/train/label_from_truth.py", tmp / "ds", "--truth", tmp / "scene", "--out",
            tmp / "labels.json", "--sightline", BINARY)
    print(r.stdout.strip())
    r = run(BINARY, "collect", "import", tmp / "ds", "--from", "coco", tmp / "labels.json", "--labeler",
            "stand-in: synthetic truth")
    check("gear" in r.stdout, f"the labels bring gear: {r.stdout.strip()}")
    run(BINARY, "collect", "snapshot", tmp / "ds", "--out", tmp / "v1")
    return json.loads((tmp / "v1" / "manifest.json").read_text())


def finetune(tmp, out, *extra):
    return run("/usr/bin/python3", ROOT / "tools/train/finetune.py", "--from", PARENT, "--data", tmp / "v1", "--out",
               out, "--work", tmp / "work", "--sightline", BINARY, "--coco-python", COCO_PYTHON, "--replay-cameras", 2,
               "--replay-seconds", 2, "--threads", 2, *extra)


def outputs(model_dir, frames):
    net = cv2.dnn.readNetFromONNX(str(model_dir / "model.onnx"))
    net.setInput(cv2.dnn.blobFromImages(frames, 1 / 255.0, (320, 256), swapRB=True))
    return net.forward()


def main():
    with tempfile.TemporaryDirectory(prefix="sightline-ft-") as t:
        tmp = Path(t)
        manifest = snapshot(tmp)
        check(manifest["counts"]["images"] >= 5, f"a snapshot of {manifest['counts']['images']} labeled frames")
        # 0 iterations: the parent, grown by one class
        finetune(tmp, tmp / "grown", "--iterations", 0, "--eval-seconds", 0)
        cap = cv2.VideoCapture(str(tmp / "scene/cam1.mp4"))
        frames = [cap.read()[1] for _ in range(2)]
        frames = [cv2.resize(f, (320, 240)) for f in frames]
        frames = [cv2.copyMakeBorder(f, 8, 8, 0, 0, cv2.BORDER_CONSTANT, value=(114, 114, 114)) for f in frames]
        parent, grown = outputs(PARENT, frames), outputs(tmp / "grown", frames)
        check(grown.shape[1] == parent.shape[1] + 1, f"the head grew by one class: {parent.shape} -> {grown.shape}")
        diff = float(np.abs(grown[:, :parent.shape[1]] - parent).max())
        check(diff < 1e-3, f"the old classes' outputs are the parent's (max abs diff {diff:.1e}): its weights")
        gear = grown[:, -1]
        check(0.002 < float(np.median(gear)) < 0.05, f"the new class starts near 0.01 (median {np.median(gear):.4f})")
        # a short fine-tune: a model sightline runs, with its lineage and figures
        out = tmp / "parts-v2"
        r = finetune(tmp, out, "--iterations", 12, "--eval-seconds", 2, "--seed", 3)
        spec = yaml.safe_load((out / "model.yaml").read_text())
        check(spec["classes"] == ["bolt", "nut", "washer", "bracket", "defect", "gear"], f"classes {spec['classes']}")
        lineage = spec.get("lineage", {})
        check(lineage.get("parent") == "parts-v1@1.0.0", f"lineage names the parent: {lineage.get('parent')}")
        check(lineage.get("data", {}).get("snapshot_hash") == manifest["hash"], "and the snapshot's hash")
        check(lineage.get("recipe", {}).get("seed") == 3 and lineage.get("training", {}).get("iterations") == 12,
              "and the recipe and seed")
        heldout = lineage.get("heldout", {})
        check(set(heldout) >= {"heldout_nominal", "novel_part", "lighting_drift"} and
              all(0 <= v["this"]["AP50"] <= 1 and 0 <= v["parent"]["AP50"] <= 1 for v in heldout.values()),
              f"held-out figures per scenario for parent and child ({len(heldout)} sets)")
        check((out / "report.md").exists() and "parts-v1@1.0.0" in (out / "report.md").read_text(), "a report")
        for engine in ("opencv", "libtorch"):
            if engine not in ENGINES:
                print(f"skip sightline runs it ({engine}): this build has no {engine} engine")
                continue
            (tmp / f"check_{engine}.yaml").write_text(
                (tmp / "run.yaml").read_text().replace(str(PARENT / "model.yaml"), str(out / "model.yaml")) +
                f"engine: {engine}\n")
            c = subprocess.run([BINARY, "--log-level", "warn", "run", str(tmp / f"check_{engine}.yaml"), "--check"],
                               capture_output=True, text=True)
            check(c.returncode == 0 and "parts-v2@1.0.0" in c.stdout,
                  f"sightline runs it ({engine}): {c.stdout.strip()[:120]} {c.stderr.strip()[-300:]}")
    if FAILURES:
        print(f"{len(FAILURES)} failed")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
