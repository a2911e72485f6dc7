#!/usr/bin/python3
"""Line speed against the peers a user would pick (issue 17, item 2), all on the same live cameras: the demo
scene's videos with each frame's index painted in (stamp_videos.py), served in real time by GStreamer's RTSP
server (tests/python/rtsp_server.py, one mount per camera; camera k plays cam(1 + k % 4)), same model, same machine. Peers:

  sightline    `sightline run` on the RTSP cameras (its defaults: engine auto, batch <= 4, 10 ms max wait)
  ultralytics  Ultralytics' streaming predict on a `.streams` file of the URLs (ultralytics_stream.py)
  roboflow     Roboflow Inference's InferencePipeline with the model as its custom logic (roboflow_pipeline.py)
  loop         the plain Python loop, one process per camera (plain_loop.py)

Every result names its camera frame (sightline's `frame` field; the peers read the painted index), and the RTSP
server says when each mount's clock started, so frame i of a camera left the server at base + i/30 s
(CLOCK_MONOTONIC): latency is measured from there to receipt by this script's subscriber, the same yardstick for
every peer (it includes each one's RTSP client and decoder). After every camera has delivered a first result and
--warmup seconds more, a window of --seconds: drops = the camera frames sent in the window that never arrived
(Ultralytics' loader keeps only the newest frame: its drops are silent, counted here), p50/p99 over the results of
frames sent in the window, CPU = the peer's processes' user + system time over the window per frame received.
Sustained: zero drops and p99 under 100 ms.

Usage: /usr/bin/python3 bench/peers/bench_linespeed_rtsp.py --peers sightline,ultralytics,roboflow,loop
       [--cameras 1,2,4,8] [--seconds 15] [--model parts-v1|ultralytics-yolov8t] [--json FILE]
Prints a table row per peer and camera count, and one JSON line each.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "bench" / "peers"
CACHE = ROOT / ".cache"
FPS = 30
MODELS = {  # name: (onnx file, model.yaml for sightline, an Ultralytics export for Ultralytics' predict)
    "parts-v1": (ROOT / "models/parts-v1/model.onnx", ROOT / "models/parts-v1/model.yaml",
                 CACHE / "peers-rtsp" / "parts-v1-ultralytics.onnx"),
    "ultralytics-yolov8t": (ROOT / "tests/fixtures/ultralytics/yolov8t.onnx",
                            ROOT / "tests/fixtures/ultralytics/model.yaml",
                            ROOT / "tests/fixtures/ultralytics/yolov8t.onnx"),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu_s(pid):
    """User + system CPU seconds of a process and all its descendants (from /proc)."""
    kids, cpu = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            f = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(f[1]), []).append(int(d.name))
        cpu[int(d.name)] = (int(f[11]) + int(f[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += cpu.get(p, 0.0)
        todo += kids.get(p, [])
    return total


class Server:
    """tests/python/rtsp_server.py serving N stamped videos; base_ns[mount] once each mount plays."""

    def __init__(self, n, stamped):
        self.port = free_port()
        mounts = [f"cam{k + 1}={stamped / f'cam{1 + k % 4}.mp4'}" for k in range(n)]
        self.proc = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "python" / "rtsp_server.py"),
                                      str(self.port), *mounts],
                                     stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("the RTSP server did not start (python3-gi, gir1.2-gst-rtsp-server-1.0 installed?)")
        self.base_ns = {}
        threading.Thread(target=self._read, daemon=True).start()
        self.urls = [f"rtsp://127.0.0.1:{self.port}/cam{k + 1}" for k in range(n)]

    def _read(self):
        for line in self.proc.stdout:
            m = json.loads(line)
            self.base_ns[m["mount"]] = m["base_ns"] + m["pts0_ns"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def sightline_config(urls, model_yaml, endpoint, path, batch=0, engine_threads=0):
    cams = "".join(f"  - id: cam{k + 1}\n    url: {u}\n    options: {{rtsp_transport: tcp}}\n"
                   for k, u in enumerate(urls))
    extra = (f"batching:\n  max_batch: {batch}\n" if batch else "") + \
        (f"engine_threads: {engine_threads}\n" if engine_threads else "")
    path.write_text(f"cameras:\n{cams}model: {model_yaml}\npublish:\n  predictions: {endpoint}\n{extra}")


def start_peer(peer, urls, a, endpoint, work):
    onnx, yaml, ultra = MODELS[a.model]
    env = dict(os.environ, OPENCV_FFMPEG_CAPTURE_OPTIONS="rtsp_transport;tcp")  # as sightline's config: TCP
    size = ["--width", str(a.width), "--height", str(a.height), "--threshold", "0.25"]
    if peer == "sightline":
        cfg = work / "line.yaml"
        sightline_config(urls, yaml, endpoint, cfg, a.batch, a.engine_threads)
        return [subprocess.Popen([str(a.sightline), "run", str(cfg)], stdout=subprocess.DEVNULL,
                                 stderr=open(work / "sightline.log", "w"), env=env)]
    if peer == "ultralytics":
        streams = work / "cams.streams"
        streams.write_text("\n".join(urls) + "\n")
        return [subprocess.Popen([str(a.ultra_python), str(PEERS / "ultralytics_stream.py"), str(streams),
                                  str(ultra), *size, "--connect", a.connect],
                                 stdout=subprocess.DEVNULL, stderr=open(work / "ultralytics.log", "w"), env=env)]
    if peer == "roboflow":
        return [subprocess.Popen([str(a.inference_python), str(PEERS / "roboflow_pipeline.py"), *urls, str(onnx),
                                  *size, "--connect", a.connect],
                                 stdout=subprocess.DEVNULL, stderr=open(work / "roboflow.log", "w"), env=env)]
    if peer == "loop":
        return [subprocess.Popen([str(a.loop_python), str(PEERS / "plain_loop.py"), u, str(onnx), *size,
                                  "--threads", str(a.loop_threads), "--connect", a.connect, "--camera", f"cam{k + 1}"],
                                 stdout=subprocess.DEVNULL, stderr=open(work / f"loop{k + 1}.log", "w"), env=env)
                for k, u in enumerate(urls)]
    sys.exit(f"unknown peer {peer}")


def run(peer, n, a, stamped):
    server = Server(n, stamped)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 1000000)
    sub.setsockopt(zmq.SUBSCRIBE, b"pred/")
    if peer == "sightline":
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        a.connect = None
    else:
        a.connect = f"tcp://127.0.0.1:{free_port()}"
        sub.bind(a.connect)
        endpoint = None
    work = Path(tempfile.mkdtemp(prefix=f"linespeed-{peer}-"))
    procs = start_peer(peer, server.urls, a, endpoint, work)
    if endpoint:
        time.sleep(0.3)
        sub.connect(endpoint)
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    seen, results = set(), []  # (camera, index, receipt ns)
    t_start = deadline = window = None
    cpu0 = cpu1 = server_cpu0 = server_cpu1 = None
    give_up = time.monotonic() + a.startup_s
    while True:
        now = time.monotonic()
        if window is None and len(seen) == n and t_start is None:
            t_start = now + a.warmup
        if t_start is not None and window is None and now >= t_start:
            window = (time.monotonic_ns(), time.monotonic_ns() + int(a.seconds * 1e9))
            cpu0 = sum(tree_cpu_s(p.pid) for p in procs)
            server_cpu0 = tree_cpu_s(server.proc.pid)
            deadline = now + a.seconds
        if deadline is not None and now >= deadline + a.drain_s:
            break
        if window is None and now > give_up:
            dead = [p.args[:3] for p in procs if p.poll() is not None]
            for p in procs:
                p.kill()
            server.stop()
            sys.exit(f"{peer}: {len(seen)} of {n} cameras delivered within {a.startup_s} s; exited: {dead}; "
                     f"logs in {work}")
        if deadline is not None and now >= deadline and cpu1 is None:
            cpu1 = sum(tree_cpu_s(p.pid) for p in procs)
            server_cpu1 = tree_cpu_s(server.proc.pid)
        if poller.poll(50):
            topic, body = sub.recv_multipart()
            t = time.monotonic_ns()
            m = msgpack.unpackb(body, raw=False)
            cam = topic.decode().split("/", 1)[1]
            idx = m["index"] if "index" in m else m["frame"]
            seen.add(cam)
            results.append((cam, idx, t, m.get("t")))
    if cpu1 is None:
        cpu1 = sum(tree_cpu_s(p.pid) for p in procs)
        server_cpu1 = tree_cpu_s(server.proc.pid)
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    server.stop()
    lo, hi = window
    lat, got, stages = [], {}, {}
    for cam, idx, t, stamps in results:
        sent = server.base_ns[cam] + idx * 1_000_000_000 // FPS
        if lo <= sent < hi:
            lat.append((t - sent) / 1e6)
            got.setdefault(cam, set()).add(idx)
            for stage, ns in (stamps or {}).items():  # sightline's own stamps: where the time goes
                stages.setdefault(stage, []).append((ns - sent) / 1e6)
    expected = 0
    for k in range(n):
        base = server.base_ns[f"cam{k + 1}"]
        first = -(-(lo - base) * FPS // 1_000_000_000)
        last = -(-(hi - base) * FPS // 1_000_000_000)
        if last > 1800:
            sys.exit(f"{peer}: camera cam{k + 1}'s video ends before the window does (start-up too slow)")
        expected += last - first
    received = sum(len(v) for v in got.values())
    lat = np.array(lat) if lat else np.array([float("inf")])
    r = {"peer": peer, "model": a.model, "batch": a.batch, "engine_threads": a.engine_threads, "cameras": n, "expected": expected, "received": received,
         "dropped": expected - received, "p50_ms": float(np.percentile(lat, 50)),
         "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()),
         "cpu_ms_per_frame": (cpu1 - cpu0) * 1000 / max(received, 1), "logs": str(work),
         "server_cpu_share": (server_cpu1 - server_cpu0) / a.seconds / (os.cpu_count() or 1),
         "stages_p50_ms": {k: float(np.percentile(v, 50)) for k, v in stages.items()}}
    r["sustained"] = r["dropped"] == 0 and r["p99_ms"] < 100
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="sightline,ultralytics,roboflow,loop")
    ap.add_argument("--cameras", default="1,2,4")
    ap.add_argument("--seconds", type=float, default=15, help="the measured window per run")
    ap.add_argument("--warmup", type=float, default=3, help="seconds after every camera's first result")
    ap.add_argument("--drain-s", type=float, default=1.5, help="seconds to wait for the window's last results")
    ap.add_argument("--startup-s", type=float, default=60, help="how long a peer may take to deliver every camera")
    ap.add_argument("--model", choices=sorted(MODELS), default="parts-v1")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--scene", type=Path, default=CACHE / "demo-scene")
    ap.add_argument("--stamped", type=Path, default=CACHE / "peers-rtsp")
    ap.add_argument("--sightline", type=Path, default=ROOT / "build" / "tools" / "sightline")
    ap.add_argument("--ultra-python", type=Path, default=CACHE / "ultra-venv" / "bin" / "python")
    ap.add_argument("--inference-python", type=Path, default=CACHE / "inference-venv" / "bin" / "python")
    ap.add_argument("--loop-python", type=Path, default=CACHE / "peers-venv" / "bin" / "python")
    ap.add_argument("--batch", type=int, default=0, help="sightline's batching.max_batch (0: its default)")
    ap.add_argument("--engine-threads", type=int, default=0, help="sightline's engine_threads (0: its default)")
    ap.add_argument("--loop-threads", type=int, default=1, help="onnxruntime threads per loop process (1: tuned)")
    ap.add_argument("--json", type=Path, help="append each result as a JSON line to this file")
    a = ap.parse_args()
    subprocess.run(["/usr/bin/python3", str(PEERS / "stamp_videos.py"), "--scene", str(a.scene), "--out",
                    str(a.stamped)], check=True)
    if "ultralytics" in a.peers and a.model == "parts-v1":
        subprocess.run([str(a.ultra_python), str(PEERS / "ultralytics_export.py"), str(MODELS["parts-v1"][0]),
                        str(ROOT / "models/parts-v1/model.yaml"), str(MODELS["parts-v1"][2])], check=True)
    print(f"{'peer':12s} {'cameras':>7s} {'received/expected':>18s} {'p50 / p99 / max ms':>22s} {'CPU ms/frame':>12s}"
          "  sustained", flush=True)
    best = {}
    for peer in a.peers.split(","):
        for n in [int(x) for x in a.cameras.split(",")]:
            r = run(peer, n, a, a.stamped)
            print(f"{peer:12s} {n:7d} {r['received']:>8d}/{r['expected']:<9d} "
                  f"{r['p50_ms']:6.1f} / {r['p99_ms']:6.1f} / {r['max_ms']:6.1f} {r['cpu_ms_per_frame']:12.2f}"
                  f"  {'ok' if r['sustained'] else 'NOT sustained'}", flush=True)
            print(json.dumps(r), flush=True)
            if a.json:
                with a.json.open("a") as f:
                    f.write(json.dumps(r) + "\n")
            if r["sustained"]:
                best[peer] = max(best.get(peer, 0), n)
    for peer in a.peers.split(","):
        print(f"{peer}: largest camera count sustained (zero drops, p99 < 100 ms): {best.get(peer, 0)}")


if __name__ == "__main__":
    main()
