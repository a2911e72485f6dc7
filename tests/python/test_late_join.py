"""Consumers that join at any time and sinks that say when they hear nothing (issue 25, items 5 and 6), through the
binaries on loopback:

- a consumer that connects 3 s into a run learns the model, its class names and the endpoint within 2 s (the
  `line_info` event with every set of stats), and every `stat` names the model;
- `collect --connect` at the predictions port and `monitor --connect` at the samples port fail, naming the endpoint
  and the kind of socket found there, instead of printing zeros and exiting 0;
- a monitor pointed at a port where no line runs says so within seconds, `sightline_monitor_quiet_seconds` grows on
  /metrics, and with --until-run-end it gives up (exit 2) after --give-up-s.

Usage: test_late_join.py SIGHTLINE MODEL_YAML
"""
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import msgpack
import zmq

from support import FAILURES, check, free_port


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d / "s"), "--cameras", "1", "--seconds",
                        "20", "--seed", "3", "--set", "defaults.fps=10"], check=True)
        pred_port, samples_port = free_port(), free_port()
        (d / "run.yaml").write_text(
            f"cameras:\n  - {{id: cam1, url: {d / 's' / 'cam1.mp4'}, realtime: true}}\n"
            f"model: {Path(model).resolve()}\n"
            f"publish: {{predictions: 'tcp://127.0.0.1:{pred_port}', samples: 'tcp://127.0.0.1:{samples_port}'}}\n")
        line = subprocess.Popen([binary, "--log-level", "warn", "run", str(d / "run.yaml")])
        try:
            # 1. a consumer joining 3 s into the run (once the line publishes: its start-up takes longer under ASan)
            ctx = zmq.Context()
            probe = ctx.socket(zmq.SUB)
            probe.setsockopt(zmq.SUBSCRIBE, b"pred")
            probe.connect(f"tcp://127.0.0.1:{pred_port}")
            check(probe.poll(120000) != 0, "the line publishes")
            probe.close(0)
            time.sleep(3)
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(f"tcp://127.0.0.1:{pred_port}")
            joined, info, stat_model = time.time(), None, None
            while time.time() - joined < 4 and (info is None or stat_model is None):
                if sub.poll(200):
                    msg = msgpack.unpackb(sub.recv_multipart()[1], raw=False)
                    if msg["type"] == "event" and msg["kind"] == "line_info" and info is None:
                        info = (time.time() - joined, msg)
                    if msg["type"] == "stat" and stat_model is None:
                        stat_model = msg.get("model")
            sub.close(0)
            ctx.term()
            check(info is not None and info[0] <= 2.0 and info[1].get("classes") and info[1]["message"]
                  and info[1].get("endpoint", "").endswith(str(pred_port)),
                  f"a consumer joining 3 s late learns the model, classes and endpoint within 2 s "
                  f"({'after %.1f s: %s %s' % (info[0], info[1]['message'], info[1].get('classes')) if info else 'never'})")
            check(bool(stat_model) and info is not None and stat_model == info[1]["message"],
                  f"stat names the model ({stat_model})")

            # 2. sinks at the wrong kind of socket
            c = subprocess.run([binary, "collect", "--connect", f"tcp://127.0.0.1:{pred_port}", "--out",
                                str(d / "ds"), "--idle-exit", "6"], capture_output=True, text=True, timeout=30)
            check(c.returncode != 0 and f"127.0.0.1:{pred_port}" in c.stderr and "not a line's samples channel" in
                  c.stderr and "PUB" in c.stderr,
                  f"collect at the predictions port fails naming what it found (exit {c.returncode}: "
                  f"{c.stderr.strip().splitlines()[-1] if c.stderr.strip() else ''})")
            m = subprocess.run([binary, "monitor", "--connect", f"tcp://127.0.0.1:{samples_port}", "--seconds", "6"],
                               capture_output=True, text=True, timeout=30)
            check(m.returncode != 0 and f"127.0.0.1:{samples_port}" in m.stderr and "not a line's publish endpoint"
                  in m.stderr and "ROUTER" in m.stderr,
                  f"monitor at the samples port fails naming what it found (exit {m.returncode}: "
                  f"{m.stderr.strip().splitlines()[-1] if m.stderr.strip() else ''})")
        finally:
            line.terminate()
            line.wait(timeout=30)

        # 3. nothing there at all
        http = free_port()
        nobody = f"tcp://127.0.0.1:{free_port()}"
        mon = subprocess.Popen([binary, "monitor", "--connect", nobody, "--until-run-end", "--give-up-s", "8",
                                "--http", f"127.0.0.1:{http}"], stderr=subprocess.PIPE, text=True)
        time.sleep(7)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5).read().decode()
        quiet = [float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("sightline_monitor_quiet_seconds")]
        check(quiet and quiet[0] >= 5, f"sightline_monitor_quiet_seconds grows on /metrics ({quiet})")
        err = mon.communicate(timeout=30)[1]
        check("nothing received from " + nobody in err and "is the line running" in err,
              "a monitor that hears nothing says so, naming the endpoint")
        check(mon.returncode == 2 and "giving up" in err, f"with --until-run-end it gives up (exit {mon.returncode})")
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
