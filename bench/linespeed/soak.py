#!/usr/bin/env python3
"""Memory over a long run: `sightline run` on looped, real-time-paced synthetic cameras (live-camera behaviour), a
ZeroMQ subscriber counting every pred message and sequence gap, and the process' resident memory sampled every
`--every` seconds. Prints the samples, then the growth over the second half of the run (after warm-up) in MB per
hour; fails when it exceeds --max-growth-mb-per-hour or when messages were lost.

Usage: soak.py SIGHTLINE [--minutes 60] [--cameras 1] [--every 10] [--scene DIR] [--max-growth-mb-per-hour 5]
Needs pyzmq and msgpack (scripts/test.sh's venv has them)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import zmq


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sightline")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--cameras", type=int, default=1)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--scene", help="a folder with camN.mp4 (default: a 20 s scene rendered by sightline synth)")
    ap.add_argument("--max-growth-mb-per-hour", type=float, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sightline_soak_")
    scene = a.scene
    if not scene:
        scene = os.path.join(tmp, "scene")
        print(f"soak: rendering a {a.cameras}-camera, 20 s scene into {scene}", file=sys.stderr)
        subprocess.run([a.sightline, "--log-level", "warn", "synth", "--out", scene, "--cameras", str(a.cameras),
                        "--seconds", "20", "--nominal"], check=True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    endpoint = "ipc://" + os.path.join(tmp, "pred.sock")
    cams = "".join(f"  - {{id: cam{c}, url: {os.path.join(scene, f'cam{c}.mp4')}, realtime: true, loop: true}}\n"
                   for c in range(1, a.cameras + 1))
    cfg = os.path.join(tmp, "run.yaml")
    with open(cfg, "w") as f:
        f.write(f"cameras:\n{cams}model: {os.path.join(root, 'models/parts-v1/model.yaml')}\n"
                f"publish: {{predictions: '{endpoint}'}}\n")

    counts = {"messages": 0, "gaps": 0}
    stop = threading.Event()

    def consume():
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.SUB)
        s.connect(endpoint)
        s.setsockopt(zmq.SUBSCRIBE, b"pred/")
        s.setsockopt(zmq.RCVTIMEO, 500)
        nxt = {}
        while not stop.is_set():
            try:
                _, body = s.recv_multipart()
            except zmq.Again:
                continue
            m = msgpack.unpackb(body, raw=False)
            cam, seq = m["camera"], m["seq"]
            if cam in nxt and seq != nxt[cam]:
                counts["gaps"] += seq - nxt[cam]
            nxt[cam] = seq + 1
            counts["messages"] += 1
        s.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.5)  # the subscriber joins before the first frame
    proc = subprocess.Popen([a.sightline, "--log-level", "warn", "run", cfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    samples = []
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < a.minutes * 60:
            time.sleep(a.every)
            if proc.poll() is not None:
                raise RuntimeError(f"sightline run ended early ({proc.returncode}): {proc.stderr.read()}")
            samples.append((time.monotonic() - t0, rss_mb(proc.pid), counts["messages"]))
            t, mb, n = samples[-1]
            print(f"{t / 60:7.2f} min  RSS {mb:8.1f} MB  {n:9d} pred messages  {counts['gaps']} lost", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        stop.set()
        consumer.join()
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    n = len(half)
    mt = sum(s[0] for s in half) / n
    mm = sum(s[1] for s in half) / n
    slope = sum((s[0] - mt) * (s[1] - mm) for s in half) / max(1e-9, sum((s[0] - mt) ** 2 for s in half))
    growth = slope * 3600
    fps = samples[-1][2] / samples[-1][0]
    result = {"minutes": samples[-1][0] / 60, "cameras": a.cameras, "rss_first_mb": samples[0][1],
              "rss_last_mb": samples[-1][1], "rss_max_mb": max(s[1] for s in samples),
              "growth_mb_per_hour_second_half": growth, "messages": counts["messages"], "lost": counts["gaps"],
              "fps": fps}
    print(f"soak: {result['minutes']:.1f} min, {a.cameras} camera(s) looped at real time, {fps:.1f} pred messages/s; "
          f"RSS {result['rss_first_mb']:.1f} -> {result['rss_last_mb']:.1f} MB (max {result['rss_max_mb']:.1f}); "
          f"second-half trend {growth:+.2f} MB/hour (limit {a.max_growth_mb_per_hour}); {counts['gaps']} messages lost")
    print("JSON " + json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if growth <= a.max_growth_mb_per_hour and counts["gaps"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
