"""The Python package for consumers (issue 28, item 7): `pip install ./python`, then against a recording, a live line
and JetStream (a real nats-server and `sightline bridge`):

- read_recording yields every pred of a recording as a Frame equal to what msgpack alone reads (camera, seq, boxes,
  scores, classes), with the header's class names, and to_supervision() gives supervision's Detections;
- subscribe(tcp://...) from the start yields every frame of a live line with class names; one that joins the
  running line late has class names within 2 s of its first frame (line_info);
- subscribe(nats://...) yields the same frames from the stream the bridge filled; a durable consumer closed after
  ten frames resumes with the eleventh.

Usage: test_python_package.py SIGHTLINE MODEL_YAML
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import numpy as np

from support import FAILURES, check, free_port, record_scene

ROOT = Path(__file__).resolve().parents[2]


def install(d):
    target = d / "site"
    source = d / "python"  # a copy: setuptools writes build/ and *.egg-info beside the sources it builds
    shutil.copytree(ROOT / "python", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--target", str(target), str(source)], check=True)
    sys.path.insert(0, str(target))
    import sightline
    check(Path(sightline.__file__).is_relative_to(target), f"pip install ./python gives the package ({sightline.__file__})")
    return sightline


def nats_server(d, port):
    exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
    return subprocess.Popen([exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(d / "js")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        sl = install(d)

        # 1. a recording, against msgpack alone
        (d / "rec").mkdir()
        rec = record_scene(binary, model, d / "rec", "cameras: {}\n", cameras=2, seconds=3, seed=2, fps=10)
        with open(rec, "rb") as f:
            u = msgpack.Unpacker(f, raw=False)
            header = next(u)
            raw = [msgpack.unpackb(b, raw=False) for t, b in u if t.startswith("pred/")]
        frames = list(sl.read_recording(rec))
        same = len(frames) == len(raw) and all(
            f.camera == r["camera"] and f.seq == r["seq"] and f.model == r["model"]
            and np.array_equal(f.scores, np.frombuffer(r["scores"], "<f4"))
            and np.array_equal(f.boxes.ravel(), np.frombuffer(r["boxes"], "<f4"))
            and np.array_equal(f.classes, np.frombuffer(r["classes"], "<i4")) for f, r in zip(frames, raw))
        check(same and len(frames) == 60, f"read_recording: every pred, as msgpack reads it ({len(frames)} of {len(raw)})")
        check(all(f.class_names == header["classes"] for f in frames) and any(len(f) for f in frames),
              f"read_recording: class names from the header ({header['classes']})")
        det = next(f for f in frames if len(f)).to_supervision()
        check(len(det) > 0 and list(det.data["class_name"]) == next(f for f in frames if len(f)).labels,
              f"to_supervision(): supervision's Detections with class names ({len(det)} boxes)")

        # 2. a live line (real time), a subscriber from the start and one that joins late; 3. a bridge into JetStream
        scene = d / "live"
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(scene), "--cameras", "2", "--seconds",
                        "6", "--seed", "4", "--set", "defaults.fps=10"], check=True)
        pred, nport = free_port(), free_port()
        cfg = d / "live.yaml"
        cfg.write_text("line: pkgtest\ncameras:\n" + "".join(
            f"  - {{id: {c}, url: {scene / (c + '.mp4')}, realtime: true}}\n" for c in ("cam1", "cam2")) +
            f"model: {Path(model).resolve()}\npublish: {{predictions: 'tcp://127.0.0.1:{pred}', "
            "wait_for_subscribers: 3}\n")  # the early consumer (pred/, event) and the bridge
        server = nats_server(d, nport)
        time.sleep(0.5)
        bridge = subprocess.Popen([binary, "--log-level", "warn", "bridge", "--connect", f"tcp://127.0.0.1:{pred}",
                                   "--nats", f"nats://127.0.0.1:{nport}"])
        early, late = [], []

        def consume(out, delay):
            time.sleep(delay)
            for f in sl.subscribe(f"tcp://127.0.0.1:{pred}", timeout=4):
                out.append((time.monotonic(), f))

        threads = [threading.Thread(target=consume, args=(early, 0)), threading.Thread(target=consume, args=(late, 2.5))]
        for t in threads:
            t.start()
        line = subprocess.run([binary, "--log-level", "warn", "run", str(cfg)], timeout=120)
        for t in threads:
            t.join(timeout=30)
        time.sleep(1)
        bridge.terminate()
        bridge.wait(timeout=20)
        check(line.returncode == 0, "the live line ran")
        keys = sorted((f.camera, f.seq) for _, f in early)
        check(keys == sorted((c, s) for c in ("cam1", "cam2") for s in range(60)) and
              all(f.class_names for _, f in early),
              f"subscribe(tcp): every frame of the line, with class names ({len(early)} frames)")
        first_named = next((t for t, f in late if f.class_names), None)
        check(late and late[0][1].seq > 0 and first_named is not None and first_named - late[0][0] <= 2.0,
              f"subscribe(tcp) joining late: class names within 2 s of its first frame "
              f"(first seq {late[0][1].seq if late else None}, "
              f"{None if first_named is None or not late else round(first_named - late[0][0], 2)} s)")

        try:
            js = list(sl.subscribe(f"nats://127.0.0.1:{nport}", timeout=3))
            check(sorted((f.camera, f.seq) for f in js) == keys and all(f.class_names for f in js) and
                  all(f.line == "pkgtest" for f in js),
                  f"subscribe(nats): the same frames from JetStream, with class names ({len(js)} frames)")
            first = []
            for f in sl.subscribe(f"nats://127.0.0.1:{nport}", durable="pkg", timeout=3):
                first.append(f)
                if len(first) == 10:
                    break
            rest = list(sl.subscribe(f"nats://127.0.0.1:{nport}", durable="pkg", timeout=3))
            seen = [(f.camera, f.seq) for f in first + rest]
            check(len(rest) == len(js) - 10 and len(set(seen)) == len(js),
                  f"a durable consumer resumes after the ten frames it moved past ({len(first)} + {len(rest)} of "
                  f"{len(js)})")
        finally:
            server.terminate()
            server.wait(timeout=20)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
