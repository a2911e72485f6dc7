#!/usr/bin/env python3
"""One camera, as fast as it goes, as whole processes (issue 17, item 3): `sightline run` with each CPU engine against
the plain Python loop a user would write (bench/peers/plain_loop.py: OpenCV VideoCapture + letterbox + onnxruntime
+ numpy decode + cv2.dnn.NMSBoxes + pyzmq publish), same video (the demo scene's cam1, 1800 frames, 640x480 H.264),
same model file, same threshold (0.25). Runs alternate (loop, then each engine, repeated), wall clock of the whole
process from spawn to exit (start-up, model load, decode, inference, publishing: what a user pays), frames checked
equal to the video's, detections per frame reported for each side (same model: they should agree closely).

On the Ultralytics export, Ultralytics' own streaming predict runs too (bench/peers/ultralytics_stream.py:
`YOLO(onnx).predict(video, stream=True)`), where its venv exists.

Usage: python3 bench/peers/bench_line_vs_loop.py [--binary build/tools/sightline] [--python .cache/peers-venv/bin/python]
       [--ultralytics-python .cache/ultra-venv/bin/python] [--reps 3] [--engines opencv,openvino] [--json OUT]
The peers' venvs: python3 -m venv .cache/peers-venv && .cache/peers-venv/bin/pip install onnxruntime
opencv-python-headless numpy pyzmq msgpack; Ultralytics on Debian's torch (python3-torch, python3-torchvision):
/usr/bin/python3 -m venv --system-site-packages .cache/ultra-venv && .cache/ultra-venv/bin/pip install ultralytics
onnxruntime pyzmq msgpack "numpy<2" "opencv-python<4.11" (Debian's torch 1.13 is built against numpy 1).
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = {
    "parts-v1": (ROOT / "models" / "parts-v1" / "model.yaml", ROOT / "models" / "parts-v1" / "model.onnx", 320, 256),
    "ultralytics-yolov8t": (ROOT / "tests" / "fixtures" / "ultralytics" / "model.yaml",
                            ROOT / "tests" / "fixtures" / "ultralytics" / "yolov8t.onnx", 320, 256),
}
ULTRALYTICS_EXPORTS = {"ultralytics-yolov8t"}  # models Ultralytics' own predict can load (its metadata inside)


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr[-2000:]}")
    return wall, r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=ROOT / "build" / "tools" / "sightline")
    ap.add_argument("--python", type=Path, default=ROOT / ".cache" / "peers-venv" / "bin" / "python")
    ap.add_argument("--ultralytics-python", type=Path, default=ROOT / ".cache" / "ultra-venv" / "bin" / "python")
    ap.add_argument("--video", type=Path, default=ROOT / ".cache" / "demo-scene" / "cam1.mp4")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--engines", default="opencv,openvino")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if not a.video.exists():
        sys.exit(f"{a.video}: missing (sightline demo renders the demo scene into .cache/demo-scene)")
    engines = a.engines.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for name in a.models.split(","):
            yaml, onnx, w, h = MODELS[name]
            ultra = name in ULTRALYTICS_EXPORTS and a.ultralytics_python.exists()
            runs = {k: [] for k in ["loop"] + (["ultralytics"] if ultra else []) + engines}
            dets = {}
            for rep in range(a.reps):
                wall, r = timed([a.python, ROOT / "bench" / "peers" / "plain_loop.py", a.video, onnx, "--width", w,
                                 "--height", h, "--threshold", 0.25])
                out = json.loads(r.stdout.strip().splitlines()[-1])
                runs["loop"].append(out["frames"] / wall)
                dets["loop"] = out["detections"] / max(1, out["frames"])
                frames = out["frames"]
                if ultra:
                    wall, r = timed([a.ultralytics_python, ROOT / "bench" / "peers" / "ultralytics_stream.py", a.video,
                                     onnx, "--width", w, "--height", h, "--threshold", 0.25])
                    out = json.loads(r.stdout.strip().splitlines()[-1])
                    if out["frames"] != frames:
                        sys.exit(f"{name} ultralytics: {out['frames']} frames, the loop read {frames}")
                    runs["ultralytics"].append(frames / wall)
                    dets["ultralytics"] = out["detections"] / max(1, frames)
                for e in engines:
                    cfg = d / f"{name}-{e}.yaml"
                    cfg.write_text(f"cameras:\n  - {{id: cam1, url: {a.video}}}\nmodel: {yaml}\nengine: {e}\n"
                                   "thresholds: {confidence: 0.25}\npublish: {predictions: 'tcp://127.0.0.1:*'}\n")
                    wall, r = timed([a.binary, "--log-level", "info", "run", cfg])
                    m = re.search(r"run: (\d+) frames in", r.stderr)
                    n = int(m.group(1)) if m else -1
                    if n != frames:
                        sys.exit(f"{name} {e}: {n} frames, the loop read {frames}")
                    runs[e].append(n / wall)
                print(f"{name} rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f} fps" for k, v in runs.items()),
                      flush=True)
            med = {k: statistics.median(v) for k, v in runs.items()}
            results[name] = {"fps": runs, "median_fps": med, "peer_detections_per_frame": dets, "frames": frames}
            print(f"{name}: median frames/s (whole process): " +
                  ", ".join(f"{k} {v:.1f} ({v / med['loop']:.2f}x the loop)" for k, v in med.items()), flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
