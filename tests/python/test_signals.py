"""Issue 24, item 5: SIGINT, SIGTERM and SIGHUP end `run`, `monitor` and `collect` cleanly: exit 0, the line's
run_end sent and its recording whole, the monitor's store committed, the collector's dataset sound. With the
binaries of 7317145 monitor and collect exited 3 ("Interrupted system call") and run died on SIGHUP (exit 129,
no run_end, the recording cut short).

Usage: test_signals.py SIGHTLINE MODEL_YAML
"""
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import zmq

from support import FAILURES, check, free_port

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def wait_for(path_or_fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (path_or_fn() if callable(path_or_fn) else Path(path_or_fn).exists()):
            return True
        time.sleep(0.1)
    return False


def stop(p, sig):
    """Sends sig (None: none, it was sent) and waits for the end; its stderr. Killed after 20 s."""
    if sig is not None:
        p.send_signal(sig)
    try:
        return p.communicate(timeout=20)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        return p.communicate()[1]


def last_line(err):
    return err.strip().splitlines()[-1][-160:] if err.strip() else ""


def test_run(d, scene, sig):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cfg = d / f"run-{sig.name}.yaml"
    cfg.write_text(f"cameras: [{{id: cam1, url: {scene / 'cam1.mp4'}, realtime: true}}]\nmodel: {MODEL}\n"
                   f"publish: {{predictions: '{endpoint}', wait_for_subscribers: 1, wait_timeout_s: 30}}\n")
    rec = d / f"run-{sig.name}.slrec"
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    p = subprocess.Popen([BINARY, "run", cfg, "--record", rec], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    kinds, preds = [], 0
    deadline = time.time() + 30
    while time.time() < deadline and preds < 30:  # a second of frames: it is running
        if sub.poll(500):
            topic, body = sub.recv_multipart()
            preds += topic.startswith(b"pred/")
    p.send_signal(sig)
    while time.time() < deadline + 10:
        if sub.poll(500):
            topic, body = sub.recv_multipart()
            if topic == b"event":
                kinds.append(msgpack.unpackb(body, raw=False)["kind"])
                if kinds[-1] == "run_end":
                    break
        elif p.poll() is not None:
            break
    err = stop(p, None)
    records, cut = [], False
    with open(rec, "rb") as f:
        data = f.read()
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    try:
        header = next(u)
        for topic, body in u:
            records.append((topic, body))
    except Exception:  # noqa: BLE001 - a cut record
        cut = True
    last = msgpack.unpackb(records[-1][1], raw=False) if records else {}
    check(p.returncode == 0 and "run_end" in kinds and not cut and last.get("kind") == "run_end"
          and "stopped by signal" in last.get("message", ""),
          f"run + {sig.name}: exit 0, run_end received, the recording whole and ending in run_end "
          f"(exit {p.returncode}, events {kinds}, {len(records)} records, last {last.get('kind')})")
    sub.close(0)
    ctx.term()


def test_monitor(d, sig):
    db = d / f"monitor-{sig.name}.db"
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    p = subprocess.Popen([BINARY, "monitor", "--connect", f"tcp://127.0.0.1:{port}", "--db", db],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    start = {"v": 1, "type": "event", "kind": "run_start", "camera": "", "message": "m@1", "time_ns": 1,
             "classes": ["a"]}
    pub.send_multipart([b"event", msgpack.packb(start)])
    time.sleep(1.5)  # idle, as the issue found it: blocked in its wait when the signal comes
    err = stop(p, sig)
    ok_db = False
    try:
        con = sqlite3.connect(db)
        con.execute("PRAGMA integrity_check").fetchone()
        con.close()
        ok_db = True
    except sqlite3.Error as e:
        print(f"  store: {e}")
    check(p.returncode == 0 and ok_db and "Interrupted" not in err,
          f"monitor + {sig.name}: exit 0, its store committed and sound (exit {p.returncode}: "
          f"{last_line(err)})")
    pub.close(0)
    ctx.term()


def test_collect(d, sig):
    out = d / f"ds-{sig.name}"
    p = subprocess.Popen([BINARY, "collect", "--connect", f"tcp://127.0.0.1:{free_port()}", "--out", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(out / "dataset.db")
    time.sleep(1.0)
    err = stop(p, sig)
    v = subprocess.run([BINARY, "collect", "validate", out], capture_output=True, text=True)
    check(p.returncode == 0 and v.returncode == 0 and "Interrupted" not in err,
          f"collect + {sig.name}: exit 0, its dataset sound (exit {p.returncode}: "
          f"{last_line(err)})")


def main(binary, model):
    global BINARY, MODEL
    BINARY, MODEL = binary, Path(model).resolve()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        scene = d / "scene"
        subprocess.run([BINARY, "--log-level", "warn", "synth", "--out", scene, "--cameras", "1", "--seconds", "20"],
                       check=True)
        for sig in SIGNALS:
            test_run(d, scene, sig)
            test_monitor(d, sig)
            test_collect(d, sig)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
