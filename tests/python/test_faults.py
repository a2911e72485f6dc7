"""Issue 24, item 7: faults the line and its sinks meet in production, through the binaries.

1. A camera that stalls without closing (its TCP connection open, no packet coming: a hung camera, a link that died
   without a reset) goes camera_down within reconnect.stall_timeout_s, saying so, and comes back once it sends again.
   A real RTSP server (GStreamer) behind a proxy that freezes its connections.
2. A consumer that disconnects and reconnects mid-run receives again, and the sequence numbers say what it missed.
3. The monitor restarted mid-run resumes its references from its store (its tests armed at once) and goes on.
4. The line restarted under a running monitor: the monitor hears the new run (ZeroMQ reconnects), and the restart
   of the sequence is not counted as lost messages.
(A stream that changes resolution and jumps in time: tests/pipeline/line_test.cpp,
Runner.AStreamThatChangesResolutionAndJumpsInTimeGoesOn.)

Usage: test_faults.py SIGHTLINE MODEL_YAML
"""
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import zmq

from support import FAILURES, check, free_port

ROOT = Path(__file__).resolve().parents[2]


class FreezingProxy:
    """TCP proxy 127.0.0.1:port -> upstream; freeze() stops forwarding on the connections open now (they stay open,
    nothing moves), as a hung camera does; connections made later pass."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.conns, self.lock, self.stop = [], threading.Lock(), False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop:
            r, _, _ = select.select([self.listener], [], [], 0.2)
            if not r:
                continue
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream))
            conn = {"frozen": False, "socks": (client, server)}
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self.pump, args=(conn,), daemon=True).start()

    def pump(self, conn):
        a, b = conn["socks"]
        peer = {a: b, b: a}
        try:
            while not self.stop:
                if conn["frozen"]:
                    time.sleep(0.1)  # open, silent: nothing read, nothing sent
                    continue
                r, _, _ = select.select([a, b], [], [], 0.1)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            if not conn["frozen"] or self.stop:
                a.close(), b.close()

    def freeze(self):
        with self.lock:
            for c in self.conns:
                c["frozen"] = True

    def close(self):
        self.stop = True
        with self.lock:
            for c in self.conns:
                for s in c["socks"]:
                    s.close()


def events_listener(endpoint, out, stop):
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    while not stop.is_set():
        if sub.poll(100):
            topic, body = sub.recv_multipart()
            m = msgpack.unpackb(body, raw=False)
            if topic == b"event" or topic.startswith(b"pred/"):
                out.append((time.monotonic(), m.get("kind", "pred"), m.get("message", "")))
    sub.close(0)


def test_stall(d, scene):
    port = free_port()
    server = subprocess.Popen(["/usr/bin/python3", ROOT / "tests/python/rtsp_server.py", str(port),
                               f"cam1={scene / 'cam1.mp4'}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    assert "ready" in server.stdout.readline()
    proxy = FreezingProxy(port)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cfg = d / "stall.yaml"
    cfg.write_text(f"cameras: [{{id: live, url: 'rtsp://127.0.0.1:{proxy.port}/cam1',"
                   f" options: {{rtsp_transport: tcp, timeout: '30000000'}}}}]\n"
                   f"model: {MODEL}\npublish: {{predictions: '{endpoint}'}}\n"
                   "reconnect: {max_backoff_s: 1, stall_timeout_s: 2}\n")
    events, stop = [], threading.Event()
    listener = threading.Thread(target=events_listener, args=(endpoint, events, stop), daemon=True)
    listener.start()
    line = subprocess.Popen([BINARY, "run", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(pred, seconds):
        t = time.monotonic() + seconds
        while time.monotonic() < t and not pred():
            time.sleep(0.05)
        return pred()

    up = wait(lambda: any(k == "camera_up" for _, k, _ in events), 30)
    time.sleep(2)  # frames flowing
    frozen_at = time.monotonic()
    proxy.freeze()
    down = wait(lambda: any(k == "camera_down" for _, k, _ in events), 15)
    # measured from the camera's last frame: what the camera had sent before it stalled (in the sockets' buffers)
    # still arrives after the freeze
    down_at = next((t for t, k, _ in events if k == "camera_down"), None)
    last_frame = max((t for t, k, _ in events if k == "pred" and down_at and t < down_at), default=None)
    took = down_at - last_frame if down_at and last_frame else None
    message = next((m for _, k, m in events if k == "camera_down"), "")
    check(up and down and took is not None and 2 <= took < 2 + 1.0 and "stalled" in message,
          f"stall: a camera whose connection stays open and silent goes camera_down {took and round(took, 2)} s "
          f"after its last frame (stall_timeout_s 2; FFmpeg's own RTSP timeout 30 s; {down_at - frozen_at:.1f} s "
          f"after the freeze): {message[:140]}")
    back = wait(lambda: sum(k == "camera_up" for _, k, _ in events) >= 2, 30)
    check(back, "stall: it reconnects once the camera sends again")
    line.send_signal(signal.SIGINT)
    line.wait(timeout=30)
    stop.set()
    listener.join()
    proxy.close()
    server.kill()
    server.wait()


def line_config(d, scene, endpoint, name, seconds_loop=False):
    cfg = d / f"{name}.yaml"
    cfg.write_text(f"cameras: [{{id: cam1, url: {scene / 'cam1.mp4'}, realtime: true, loop: {str(seconds_loop).lower()}}}]\n"
                   f"model: {MODEL}\npublish: {{predictions: '{endpoint}'}}\n")
    return cfg


def test_consumer_reconnects(d, scene):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    line = subprocess.Popen([BINARY, "run", line_config(d, scene, endpoint, "consumer", True)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = zmq.Context()

    def take(n):
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"pred/")
        sub.connect(endpoint)
        seqs = []
        deadline = time.time() + 30
        while len(seqs) < n and time.time() < deadline:
            if sub.poll(200):
                seqs.append(msgpack.unpackb(sub.recv_multipart()[1], raw=False)["seq"])
        sub.close(0)
        return seqs

    first = take(30)
    time.sleep(1.5)
    second = take(30)
    line.send_signal(signal.SIGTERM)
    line.wait(timeout=30)
    ctx.term()
    gap = second[0] - first[-1] - 1 if first and second else -1
    check(len(first) == 30 and len(second) == 30 and second == list(range(second[0], second[0] + 30))
          and 30 <= gap <= 90,
          f"a consumer that reconnects receives again, in order; the sequence says it missed {gap} frames "
          f"(1.5 s at 30 fps)")


def test_monitor_restart_and_line_restart(d, scene):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    db = d / "monitor.db"
    quick = ["--reference-s", "4", "--window-s", "2", "--min-values", "20"]
    line = subprocess.Popen([BINARY, "run", line_config(d, scene, endpoint, "restart")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a = subprocess.Popen([BINARY, "monitor", "--connect", endpoint, "--db", db, *quick], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # the reference (4 s) learned and saved
    a.send_signal(signal.SIGTERM)
    _, err_a = a.communicate(timeout=30)
    b = subprocess.Popen([BINARY, "monitor", "--connect", endpoint, "--db", db, *quick, "--until-run-end"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line.wait(timeout=60)  # the line ends; monitor b ends with it
    _, err_b = b.communicate(timeout=30)
    n = re.search(r"monitor: (\d+) messages", err_b)
    check(a.returncode == 0 and b.returncode == 0 and "resumed the references" in err_b and n and int(n.group(1)) > 100,
          f"the monitor restarted mid-run resumes its references from the store and goes on "
          f"({n.group(1) if n else '?'} messages after the restart)")

    # the line restarted under a running monitor: ZeroMQ reconnects, the sequence restarting is no loss
    c = subprocess.Popen([BINARY, "monitor", "--connect", endpoint, "--seconds", "30"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    for _ in range(2):
        line = subprocess.Popen([BINARY, "run", line_config(d, scene, endpoint, "restart")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4)
        line.send_signal(signal.SIGTERM)
        line.wait(timeout=30)
        time.sleep(1)
    c.send_signal(signal.SIGTERM)
    _, err_c = c.communicate(timeout=30)
    m = re.search(r"monitor: (\d+) messages, \d+ line\(s\), (\d+) camera\(s\), (\d+) sequence-gap", err_c)
    check(c.returncode == 0 and m and int(m.group(1)) > 150 and int(m.group(3)) < 30,
          f"the line restarted twice under a running monitor: both runs heard, the sequence restart not counted as "
          f"lost ({m.group(0) if m else err_c.strip()[-160:]})")


def main(binary, model):
    global BINARY, MODEL
    BINARY, MODEL = binary, Path(model).resolve()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        scene = d / "scene"
        subprocess.run([BINARY, "--log-level", "warn", "synth", "--out", scene, "--cameras", "1", "--seconds", "12",
                        "--set", "defaults.width=320", "--set", "defaults.height=240"], check=True)
        test_stall(d, scene)
        test_consumer_reconnects(d, scene)
        test_monitor_restart_and_line_restart(d, scene)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
