#!/usr/bin/env python3
"""The peer a user would write instead of running a line: a plain Python loop of OpenCV VideoCapture, a letterbox,
onnxruntime on the CPU, numpy decoding of a YOLOv8-layout head ([1, 4+C, N]: cx, cy, w, h, then class scores),
cv2.dnn.NMSBoxes per class, and a pyzmq publish of each frame's detections (msgpack). One camera, as fast as it goes.

Usage: plain_loop.py VIDEO MODEL.onnx --width W --height H [--threshold 0.25] [--iou 0.7] [--threads N]
       [--realtime --seconds S --connect ENDPOINT --camera NAME]
Prints one JSON line: frames, seconds (first frame read to last published), detections.
--realtime: a live camera: frame k is released at start + k / fps (the video looped for --seconds), stamped with
that arrival time (ns since the epoch, as `arrival_ns` in the message); VIDEO a URL (rtsp://...): a live camera
read as it comes, each message carrying the frame index painted into the picture (`index`, bench/peers/stamp.py)
for the benchmark (bench_linespeed_rtsp.py), until the stream ends; --connect: publish by connecting to a
subscriber that binds ENDPOINT (a benchmark's), topic pred/NAME.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import msgpack
import numpy as np
import onnxruntime as ort
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stamp  # noqa: E402


def letterbox(frame, w, h):
    fh, fw = frame.shape[:2]
    s = min(w / fw, h / fh)
    rw, rh = round(fw * s), round(fh * s)
    px, py = (w - rw) // 2, (h - rh) // 2
    out = np.full((h, w, 3), 114, np.uint8)
    out[py:py + rh, px:px + rw] = cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return out, s, px, py


class Detector:
    """The loop's model step: letterbox, onnxruntime, numpy decode, cv2.dnn.NMSBoxes per class (the Roboflow
    Inference peer runs the same step as its custom logic)."""

    def __init__(self, model, width, height, threshold=0.25, iou=0.7, threads=0):
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        self.name = self.sess.get_inputs()[0].name
        self.width, self.height, self.threshold, self.iou = width, height, threshold, iou

    def __call__(self, frame):
        """Detections of one BGR frame: boxes (x, y, w, h in frame pixels), scores, classes."""
        img, s, px, py = letterbox(frame, self.width, self.height)
        x = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = self.sess.run(None, {self.name: x})[0][0]  # [4+C, N]
        scores = out[4:]
        cls = scores.argmax(0)
        best = scores[cls, np.arange(scores.shape[1])]
        keep = best >= self.threshold
        cx, cy, w, h = out[0, keep], out[1, keep], out[2, keep], out[3, keep]
        boxes = np.stack([(cx - w / 2 - px) / s, (cy - h / 2 - py) / s, w / s, h / s], 1)
        kept = []
        for c in np.unique(cls[keep]):
            idx = np.where(cls[keep] == c)[0]
            for i in np.array(cv2.dnn.NMSBoxes(boxes[idx].tolist(), best[keep][idx].tolist(), self.threshold,
                                               self.iou)).reshape(-1):
                kept.append(idx[i])
        return boxes[kept], best[keep][kept], cls[keep][kept]


def model_args(ap):
    """The model step's arguments (Detector's), for this loop and the peers that run the same step."""
    ap.add_argument("model")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--threshold", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")


def message(frame_number, boxes, scores, classes, **extra):
    return msgpack.packb({"frame": frame_number, "boxes": boxes.astype(np.float32).tobytes(),
                          "scores": scores.astype(np.float32).tobytes(),
                          "classes": classes.astype(np.int32).tobytes(), **extra})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    model_args(ap)
    ap.add_argument("--realtime", action="store_true")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--connect")
    ap.add_argument("--camera", default="cam1")
    a = ap.parse_args()
    detect = Detector(a.model, a.width, a.height, a.threshold, a.iou, a.threads)
    live = "://" in a.video
    sock = zmq.Context().socket(zmq.PUB)
    if a.connect:
        sock.setsockopt(zmq.SNDHWM, 100000)
        sock.connect(a.connect)
        time.sleep(0.5)  # the subscription reaches the publisher
    else:
        sock.bind("tcp://127.0.0.1:*")
    topic = f"pred/{a.camera}".encode()
    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        raise SystemExit(f"{a.video}: cannot open")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30
    frames = dets = 0
    t0 = None
    start_ns = time.time_ns()
    while True:
        ok, frame = cap.read()
        if not ok and a.seconds and frames / fps < a.seconds and not live:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = cap.read()
        if not ok or (a.seconds and frames / fps >= a.seconds):
            break
        arrival_ns = start_ns + int(frames * 1e9 / fps)
        if a.realtime:  # a live camera: this frame exists from its arrival time on
            wait = (arrival_ns - time.time_ns()) / 1e9
            if wait > 0:
                time.sleep(wait)
        if t0 is None:
            t0 = time.perf_counter()
        boxes, scores, classes = detect(frame)
        extra = {"index": stamp.read(frame)} if live else {"arrival_ns": arrival_ns}
        sock.send_multipart([topic, message(frames, boxes, scores, classes, **extra)])
        frames += 1
        dets += len(boxes)
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - t0 if t0 else 0, "detections": dets}))


if __name__ == "__main__":
    main()
