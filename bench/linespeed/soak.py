#!/usr/bin/env python3
"""Memory over a long run (issue 24, item 6): `sightline run` on looped, real-time-paced synthetic cameras (live-camera
behaviour) with `sightline monitor` (a store, /metrics) and `sightline collect` (publish.samples) attached, and a
ZeroMQ subscriber counting every pred message and sequence gap. Every `--every` seconds it samples each process'
resident memory and open file descriptors, and from the line's stat messages its deepest queue, the samples it
holds unacknowledged and the FFmpeg frames it holds by reference. Prints the samples, then each process' memory
trend after the first `--warmup-minutes` (10) in MB per hour; fails when one exceeds --max-growth-mb-per-hour, when
descriptors or FFmpeg frames grew, or when messages were lost.

Usage: soak.py SIGHTLINE [--minutes 60] [--cameras 8] [--every 30] [--scene DIR] [--max-growth-mb-per-hour 5]
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


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def trend(points):
    """Least-squares slope of (t seconds, value) in value per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    return 3600 * sum((t - mt) * (v - mv) for t, v in points) / max(1e-9, sum((t - mt) ** 2 for t, _ in points))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sightline")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--every", type=float, default=30)
    ap.add_argument("--warmup-minutes", type=float, default=10)
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
                f"publish: {{predictions: '{endpoint}', samples: 'ipc://{os.path.join(tmp, 'samples.sock')}'}}\n")

    counts = {"messages": 0, "gaps": 0}
    stats = {}  # camera -> its last stat values
    stop = threading.Event()

    def consume():
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.SUB)
        s.connect(endpoint)
        s.setsockopt(zmq.SUBSCRIBE, b"pred/")
        s.setsockopt(zmq.SUBSCRIBE, b"stat/")
        s.setsockopt(zmq.RCVTIMEO, 500)
        nxt = {}
        while not stop.is_set():
            try:
                topic, body = s.recv_multipart()
            except zmq.Again:
                continue
            m = msgpack.unpackb(body, raw=False)
            if topic.startswith(b"stat/"):
                stats[m["camera"]] = m["values"]
                continue
            cam, seq = m["camera"], m["seq"]
            if cam in nxt and seq != nxt[cam]:
                counts["gaps"] += seq - nxt[cam]
            nxt[cam] = seq + 1
            counts["messages"] += 1
        s.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.5)  # the subscriber joins before the first frame
    procs = {"line": subprocess.Popen([a.sightline, "--log-level", "warn", "run", cfg], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)}
    time.sleep(1.0)
    procs["monitor"] = subprocess.Popen([a.sightline, "--log-level", "warn", "monitor", "--connect", endpoint, "--db",
                                         os.path.join(tmp, "monitor.db"), "--http", "127.0.0.1:0"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    procs["collector"] = subprocess.Popen([a.sightline, "--log-level", "warn", "collect", "--connect",
                                           "ipc://" + os.path.join(tmp, "samples.sock"), "--out",
                                           os.path.join(tmp, "dataset")], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True)
    samples = []
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < a.minutes * 60:
            time.sleep(a.every)
            for name, p in procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"sightline {name} ended early ({p.returncode}): {p.stderr.read()[-2000:]}")
            st = list(stats.values())
            row = {"t": time.monotonic() - t0, "messages": counts["messages"],
                   "queue_max": max((v.get("queue_depth_max", 0) for v in st), default=0),
                   "samples_buffered": max((v.get("samples_buffered", 0) for v in st), default=0),
                   "ffmpeg_frames": max((v.get("ffmpeg_frames_alive", 0) for v in st), default=0),
                   "dropped": sum(v.get("dropped_behind_total", 0) for v in st)}
            for name, p in procs.items():
                row[f"{name}_mb"], row[f"{name}_fds"] = rss_mb(p.pid), fds(p.pid)
            samples.append(row)
            print(f"{row['t'] / 60:7.2f} min  RSS line {row['line_mb']:7.1f} monitor {row['monitor_mb']:6.1f} "
                  f"collector {row['collector_mb']:6.1f} MB  fds {row['line_fds']}/{row['monitor_fds']}/"
                  f"{row['collector_fds']}  queue {row['queue_max']:.0f}  samples held {row['samples_buffered']:.0f}  "
                  f"frames held {row['ffmpeg_frames']:.0f}  {row['messages']} preds, {counts['gaps']} lost, "
                  f"{row['dropped']:.0f} dropped (behind)", flush=True)
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=60)
        stop.set()
        consumer.join()
    steady = [r for r in samples if r["t"] >= a.warmup_minutes * 60] or samples[len(samples) // 2:]
    result = {"minutes": samples[-1]["t"] / 60, "cameras": a.cameras, "warmup_minutes": a.warmup_minutes,
              "messages": counts["messages"], "lost": counts["gaps"], "fps": samples[-1]["messages"] / samples[-1]["t"],
              "dropped_behind": samples[-1]["dropped"]}
    ok = counts["gaps"] == 0
    for name in procs:
        g = trend([(r["t"], r[f"{name}_mb"]) for r in steady])
        result[name] = {"rss_first_mb": samples[0][f"{name}_mb"], "rss_last_mb": samples[-1][f"{name}_mb"],
                        "rss_max_mb": max(r[f"{name}_mb"] for r in samples), "growth_mb_per_hour": g,
                        "fds_first": steady[0][f"{name}_fds"], "fds_last": samples[-1][f"{name}_fds"],
                        "fds_max": max(r[f"{name}_fds"] for r in steady)}
        ok = ok and g <= a.max_growth_mb_per_hour and result[name]["fds_max"] <= result[name]["fds_first"] + 4
    for key in ("queue_max", "samples_buffered", "ffmpeg_frames"):
        result[key] = {"max": max(r[key] for r in steady), "last": samples[-1][key]}
    ok = ok and result["ffmpeg_frames"]["max"] <= 16 * a.cameras  # bounded by the queues, never growing
    print(f"soak: {result['minutes']:.1f} min, {a.cameras} camera(s) looped at real time, {result['fps']:.1f} pred "
          f"messages/s, {counts['gaps']} lost; after {a.warmup_minutes:g} min: " +
          "; ".join(f"{n} {result[n]['rss_first_mb']:.1f} -> {result[n]['rss_last_mb']:.1f} MB, "
                    f"{result[n]['growth_mb_per_hour']:+.2f} MB/hour, fds {result[n]['fds_first']}->"
                    f"{result[n]['fds_last']}" for n in procs) +
          f"; queue max {result['queue_max']['max']:.0f}, samples held max {result['samples_buffered']['max']:.0f}, "
          f"FFmpeg frames held max {result['ffmpeg_frames']['max']:.0f} (limit {a.max_growth_mb_per_hour} MB/hour)")
    print("JSON " + json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
