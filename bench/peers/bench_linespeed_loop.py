#!/usr/bin/env python3
"""Cameras sustained at line speed by the plain Python loop (issue 17, item 2; bench/peers/plain_loop.py: OpenCV
VideoCapture + letterbox + onnxruntime + numpy decode + cv2.dnn.NMSBoxes + pyzmq publish), as a user would run it:
one process per camera, each camera a live one (the demo scene's videos paced in real time, looped), every frame
stamped with its arrival time. A subscriber here measures arrival -> receipt. Sustained: every frame of every camera
received (the loop never drops: when behind, it falls further behind) and receipt p99 under 100 ms, as
`bench_linespeed` judges sightline's line on the same videos.

Usage: python3 bench/peers/bench_linespeed_loop.py [--cameras 1,2,3,4] [--seconds 15]
       [--python .cache/peers-venv/bin/python] [--model models/parts-v1/model.onnx --width 320 --height 256]
       [--threads 0]
"""
import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(n, a):
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 1000000)
    port = free_port()
    sub.bind(f"tcp://127.0.0.1:{port}")
    sub.setsockopt(zmq.SUBSCRIBE, b"pred/")
    videos = [a.scene / f"cam{1 + k % 4}.mp4" for k in range(n)]
    procs = [subprocess.Popen([str(a.python), str(ROOT / "bench" / "peers" / "plain_loop.py"), str(v), str(a.model),
                               "--width", str(a.width), "--height", str(a.height), "--threshold", "0.25",
                               "--realtime", "--seconds", str(a.seconds), "--connect", f"tcp://127.0.0.1:{port}",
                               "--camera", f"cam{k + 1}", "--threads", str(a.threads)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, v in enumerate(videos)]
    lat, got = [], {}
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    quiet_since = None
    while True:
        if poller.poll(200):
            topic, body = sub.recv_multipart()
            now = time.time_ns()
            m = msgpack.unpackb(body)
            lat.append((now - m["arrival_ns"]) / 1e6)
            got[topic] = got.get(topic, 0) + 1
            quiet_since = None
        elif all(p.poll() is not None for p in procs):
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 1.0:
                break
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"a loop failed:\n{err[-1500:]}")
    expected = int(round(a.seconds * 30))
    lat = np.array(lat) if lat else np.array([float("inf")])
    received = sum(got.values())
    r = {"cameras": n, "expected": expected * n, "received": received, "p50_ms": float(np.percentile(lat, 50)),
         "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max())}
    r["sustained"] = received == expected * n and len(got) == n and r["p99_ms"] < 100
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", default="1,2,3,4")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--python", type=Path, default=ROOT / ".cache" / "peers-venv" / "bin" / "python")
    ap.add_argument("--scene", type=Path, default=ROOT / ".cache" / "demo-scene")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "parts-v1" / "model.onnx")
    ap.add_argument("--threads", type=int, default=0,
                    help="onnxruntime threads per loop (0: its default, all cores each; 1: one each, tuned for N)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=256)
    a = ap.parse_args()
    best = 0
    print("cameras  received/expected  p50 / p99 / max ms   sustained", flush=True)
    for n in [int(x) for x in a.cameras.split(",")]:
        r = run(n, a)
        print(f"{n:7d}  {r['received']:8d}/{r['expected']:<8d}  {r['p50_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f}"
              f"   {'ok' if r['sustained'] else 'NOT sustained'}", flush=True)
        print(json.dumps(r), flush=True)
        if r["sustained"]:
            best = max(best, n)
    print(f"largest camera count sustained (every frame, receipt p99 < 100 ms): {best}")


if __name__ == "__main__":
    main()
