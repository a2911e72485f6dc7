#!/usr/bin/env python3
"""Hot swap under load (issue 26, part 4): frames lost or late, and latency, across a swap on a running line.

A `sightline run` process (whole, as users run it) carries N cameras looped at real time (the demo scene's videos)
with parts-v1 and a control socket; a consumer in this process subscribes to pred/ and keeps every message's seq and
its receipt latency (packet arrival in the line to receipt here: both read CLOCK_MONOTONIC). At --swap-at seconds
`sightline ctl` loads parts-v2 (the engine built and checked while the line runs) and serves every camera with it,
then, --back-after seconds later, serves them with v1 again and unloads v2. Reported:
- frames lost: seq gaps per camera at the consumer, and the line's own drop counters (stat messages);
- receipt p99 in the steady stretch before the load, and in the stretch around each swap (from 1 s before the load
  to 3 s after the last serve): their ratio (goal <= 1.5), and the load's own duration.

    .cache/venv/bin/python bench/linespeed/bench_swap.py [--binary build/tools/sightline] [--cameras 4]
        [--seconds 40] [--swap-at 12] [--back-after 12] [--json out.json]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import zmq

ROOT = Path(__file__).resolve().parents[2]


def p99(xs):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.99 * len(s)))]


def ctl(binary, endpoint, *args):
    t0 = time.monotonic()
    r = subprocess.run([binary, "ctl", endpoint, *args], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench_swap: ctl {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return json.loads(r.stdout), took


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=str(ROOT / "build/tools/sightline"))
    ap.add_argument("--scene", default=str(ROOT / ".cache/demo-scene"), help="folder of cam1..cam4.mp4")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--swap-at", type=float, default=12, help="seconds into the run: load v2, serve every camera")
    ap.add_argument("--back-after", type=float, default=12, help="seconds later: serve v1 again, unload v2")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    scene = Path(a.scene)
    if not (scene / "cam4.mp4").exists():
        sys.exit(f"bench_swap: {scene} has no cam1..cam4.mp4 (sightline demo renders .cache/demo-scene)")
    work = Path(tempfile.mkdtemp(prefix="sightline_swap_"))
    pred_ep, control_ep = f"ipc://{work}/pred", f"ipc://{work}/control"
    cams = "\n".join(
        f"  - {{id: cam{i + 1}, url: {scene / f'cam{i % 4 + 1}.mp4'}, realtime: true, loop: true}}"
        for i in range(a.cameras))
    (work / "run.yaml").write_text(
        f"cameras:\n{cams}\nmodel: {ROOT / 'models/parts-v1/model.yaml'}\nengine: {a.engine}\n"
        f"publish: {{predictions: '{pred_ep}', control: '{control_ep}', wait_for_subscribers: 1}}\n")

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 1000000)
    for prefix in (b"pred/", b"stat/"):
        sub.setsockopt(zmq.SUBSCRIBE, prefix)
    sub.connect(pred_ep)
    line = subprocess.Popen([a.binary, "--log-level", "warn", "run", str(work / "run.yaml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seqs, lat, models, drops = {}, [], {}, {}
    done = threading.Event()

    def consume():
        while not done.is_set():
            if not sub.poll(100):
                continue
            topic, body = sub.recv_multipart()
            now = time.monotonic_ns()
            m = msgpack.unpackb(body, raw=False)
            if m["type"] == "stat":
                drops[m["camera"]] = (m["values"].get("dropped_behind_total", 0), m["values"].get("dropped_late_total", 0))
                continue
            seqs.setdefault(m["camera"], []).append(m["seq"])
            lat.append((time.monotonic(), (now - m["t"]["arrival"]) / 1e6))
            models.setdefault(m["camera"], set()).add(m["model"])

    th = threading.Thread(target=consume)
    th.start()
    t0 = time.monotonic()
    marks = {}
    try:
        time.sleep(a.swap_at)
        marks["load_start"] = time.monotonic()
        loaded, load_s = ctl(a.binary, control_ep, "load", "v2", str(ROOT / "models/parts-v2/model.yaml"))
        for i in range(a.cameras):
            ctl(a.binary, control_ep, "serve", f"cam{i + 1}", "v2")
        marks["swap_end"] = time.monotonic()
        time.sleep(a.back_after)
        marks["back_start"] = time.monotonic()
        for i in range(a.cameras):
            ctl(a.binary, control_ep, "serve", f"cam{i + 1}", "default")
        ctl(a.binary, control_ep, "unload", "v2")
        marks["back_end"] = time.monotonic()
        time.sleep(max(0.0, a.seconds - (time.monotonic() - t0)))
    finally:
        line.send_signal(signal.SIGINT)
        err = line.communicate(timeout=60)[1]
        time.sleep(0.5)
        done.set()
        th.join()
    if line.returncode != 0:
        sys.exit(f"bench_swap: the line exited {line.returncode}: {err[-2000:]}")
    gaps = {c: sum(1 for x, y in zip(s, s[1:]) if y != x + 1) + (s[0] != 0) for c, s in seqs.items()}
    steady = [l for t, l in lat if t0 + 4 <= t < marks["load_start"]]
    around = [l for t, l in lat if marks["load_start"] - 1 <= t < marks["swap_end"] + 3]
    back = [l for t, l in lat if marks["back_start"] - 1 <= t < marks["back_end"] + 3]
    out = {
        "bench": "swap", "cameras": a.cameras, "engine": a.engine, "frames": sum(len(s) for s in seqs.values()),
        "seq_gaps": gaps, "line_drops_behind_late": drops, "models_seen": {c: sorted(m) for c, m in models.items()},
        "load_s": load_s, "swap_s": marks["swap_end"] - marks["load_start"],
        "p99_steady_ms": p99(steady), "p99_around_swap_ms": p99(around), "p99_around_swap_back_ms": p99(back),
        "checks": loaded.get("checks", []),
    }
    out["ratio_swap"] = out["p99_around_swap_ms"] / out["p99_steady_ms"]
    out["ratio_back"] = out["p99_around_swap_back_ms"] / out["p99_steady_ms"]
    lost = sum(gaps.values()) + sum(b + l for b, l in drops.values())
    print(f"{a.cameras} cameras at 30 fps, {out['frames']} frames received; load {load_s:.2f} s, swap of every camera "
          f"done {out['swap_s']:.2f} s after the load began")
    print(f"  frames lost or late: {lost} (seq gaps {sum(gaps.values())}, the line's drops {drops})")
    print(f"  receipt p99: steady {out['p99_steady_ms']:.1f} ms; around the swap {out['p99_around_swap_ms']:.1f} ms "
          f"({out['ratio_swap']:.2f}x); around the swap back and unload {out['p99_around_swap_back_ms']:.1f} ms "
          f"({out['ratio_back']:.2f}x) (goal <= 1.5x)")
    print(json.dumps(out))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    if any(len(m) != 2 for m in models.values()):
        sys.exit("bench_swap: a camera was not served by both versions: the swap did not happen")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
