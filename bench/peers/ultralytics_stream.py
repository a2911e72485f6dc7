#!/usr/bin/env python3
"""Ultralytics' own streaming predict as a peer (issue 17): `YOLO(model.onnx).predict(video, stream=True)` on the CPU
(its ONNX backend is onnxruntime), each frame's detections published over pyzmq (msgpack), one camera as fast as it
goes. The model must be an Ultralytics export (its metadata: names, stride, image size).

Usage: ultralytics_stream.py VIDEO MODEL.onnx --width W --height H [--threshold 0.25] [--iou 0.7]
Prints one JSON line: frames, seconds (first result to last published), detections.
"""
import argparse
import json
import time

import msgpack
import numpy as np
import zmq
from ultralytics import YOLO


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("model")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--threshold", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.7)
    a = ap.parse_args()
    sock = zmq.Context().socket(zmq.PUB)
    sock.bind("tcp://127.0.0.1:*")
    model = YOLO(a.model, task="detect")
    frames = dets = 0
    t0 = None
    for r in model.predict(a.video, stream=True, imgsz=(a.height, a.width), conf=a.threshold, iou=a.iou,
                           device="cpu", verbose=False):
        if t0 is None:
            t0 = time.perf_counter()
        b = r.boxes
        sock.send_multipart([b"pred/cam1", msgpack.packb({
            "frame": frames, "boxes": b.xyxy.numpy().astype(np.float32).tobytes(),
            "scores": b.conf.numpy().astype(np.float32).tobytes(),
            "classes": b.cls.numpy().astype(np.int32).tobytes()})])
        frames += 1
        dets += len(b)
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - t0 if t0 else 0, "detections": dets}))


if __name__ == "__main__":
    main()
