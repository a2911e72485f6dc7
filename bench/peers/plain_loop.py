#!/usr/bin/env python3
"""The peer a user would write instead of running a line: a plain Python loop of OpenCV VideoCapture, a letterbox,
onnxruntime on the CPU, numpy decoding of a YOLOv8-layout head ([1, 4+C, N]: cx, cy, w, h, then class scores),
cv2.dnn.NMSBoxes per class, and a pyzmq publish of each frame's detections (msgpack). One camera, as fast as it goes.

Usage: plain_loop.py VIDEO MODEL.onnx --width W --height H [--threshold 0.25] [--iou 0.7] [--threads N]
       [--realtime --seconds S --connect ENDPOINT --camera NAME]
Prints one JSON line: frames, seconds (first frame read to last published), detections.
--realtime: a live camera: frame k is released at start + k / fps (the video looped for --seconds), stamped with
that arrival time (ns since the epoch, as `arrival_ns` in the message); --connect: publish by connecting to a
subscriber that binds ENDPOINT (a benchmark's), topic pred/NAME.
"""
import argparse
import json
import time

import cv2
import msgpack
import numpy as np
import onnxruntime as ort
import zmq


def letterbox(frame, w, h):
    fh, fw = frame.shape[:2]
    s = min(w / fw, h / fh)
    rw, rh = round(fw * s), round(fh * s)
    px, py = (w - rw) // 2, (h - rh) // 2
    out = np.full((h, w, 3), 114, np.uint8)
    out[py:py + rh, px:px + rw] = cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return out, s, px, py


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("model")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--threshold", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    ap.add_argument("--realtime", action="store_true")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--connect")
    ap.add_argument("--camera", default="cam1")
    a = ap.parse_args()
    so = ort.SessionOptions()
    if a.threads:
        so.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
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
        if not ok and a.seconds and frames / fps < a.seconds:
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
        img, s, px, py = letterbox(frame, a.width, a.height)
        x = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = sess.run(None, {name: x})[0][0]  # [4+C, N]
        scores = out[4:]
        cls = scores.argmax(0)
        best = scores[cls, np.arange(scores.shape[1])]
        keep = best >= a.threshold
        cx, cy, w, h = out[0, keep], out[1, keep], out[2, keep], out[3, keep]
        boxes = np.stack([(cx - w / 2 - px) / s, (cy - h / 2 - py) / s, w / s, h / s], 1)
        kept = []
        for c in np.unique(cls[keep]):
            idx = np.where(cls[keep] == c)[0]
            for i in np.array(cv2.dnn.NMSBoxes(boxes[idx].tolist(), best[keep][idx].tolist(), a.threshold,
                                               a.iou)).reshape(-1):
                kept.append(idx[i])
        sock.send_multipart([topic, msgpack.packb({
            "frame": frames, "arrival_ns": arrival_ns, "boxes": boxes[kept].astype(np.float32).tobytes(),
            "scores": best[keep][kept].astype(np.float32).tobytes(),
            "classes": cls[keep][kept].astype(np.int32).tobytes()})])
        frames += 1
        dets += len(kept)
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - t0 if t0 else 0, "detections": dets}))


if __name__ == "__main__":
    main()
