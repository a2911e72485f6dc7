#!/usr/bin/env python3
"""Ultralytics' own streaming predict as a peer (issue 17): `YOLO(model.onnx).predict(source, stream=True)` on the
CPU (its ONNX backend is onnxruntime), each frame's detections published over pyzmq (msgpack). The model must be an
Ultralytics export (its metadata: names, stride, image size).

One camera as fast as it goes: SOURCE is a video file; prints one JSON line: frames, seconds (first result to last
published), detections.
Live cameras: SOURCE is a `.streams` file (one rtsp:// URL per line), read by Ultralytics' stream loader (a thread
per camera keeping the newest frame, one batch of all cameras per step); with --connect each result goes to a
subscriber that binds ENDPOINT, topic pred/camK (K: the URL's line, from 1), carrying the frame index painted into
the picture (bench/peers/stamp.py) so the benchmark knows which frame it was; runs until killed.

Usage: ultralytics_stream.py SOURCE MODEL.onnx --width W --height H [--threshold 0.25] [--iou 0.7]
       [--connect ENDPOINT]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import zmq
from ultralytics import YOLO

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stamp  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("model")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--threshold", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.7)
    ap.add_argument("--connect")
    a = ap.parse_args()
    live = a.source.endswith(".streams")
    cameras = len(Path(a.source).read_text().split()) if live else 1
    sock = zmq.Context().socket(zmq.PUB)
    if a.connect:
        sock.setsockopt(zmq.SNDHWM, 100000)
        sock.connect(a.connect)
    else:
        sock.bind("tcp://127.0.0.1:*")
    model = YOLO(a.model, task="detect")
    frames = dets = 0
    t0 = None
    for r in model.predict(a.source, stream=True, imgsz=(a.height, a.width), conf=a.threshold, iou=a.iou,
                           device="cpu", verbose=False):
        if t0 is None:
            t0 = time.perf_counter()
        b = r.boxes
        msg = {"frame": frames, "boxes": b.xyxy.numpy().astype(np.float32).tobytes(),
               "scores": b.conf.numpy().astype(np.float32).tobytes(),
               "classes": b.cls.numpy().astype(np.int32).tobytes()}
        camera = frames % cameras + 1  # a batch holds every camera's newest frame, in the file's order
        if live:
            msg["index"] = stamp.read(r.orig_img)
        sock.send_multipart([f"pred/cam{camera}".encode(), msgpack.packb(msg)])
        frames += 1
        dets += len(b)
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - t0 if t0 else 0, "detections": dets}))


if __name__ == "__main__":
    main()
