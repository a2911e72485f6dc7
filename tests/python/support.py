"""What the Python tests share: the ok/FAIL checklist they print, a free loopback port, Chromium, and a synthetic
scene rendered and run through the line into a recording.

Imported by the tests beside it (a script's own folder is on sys.path): `from support import FAILURES, check`.
"""
import shutil
import socket
import subprocess
import sys
from pathlib import Path

FAILURES = []  # what failed, in order; a test exits 1 when it is not empty


def check(ok, what):
    """Prints `ok   what` or `FAIL what` (flushed, so a test's log reads live) and keeps the failures."""
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def free_port():
    """A TCP port free on 127.0.0.1 now (the OS's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium():
    """Debian's chromium (or another name for it) on PATH; exits saying how to get it when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("no chromium on PATH (scripts/setup.sh installs Debian's chromium)")


def record_scene(binary, model, d, scenario, cameras, seconds, seed, fps):
    """Renders `cameras` cameras of `seconds` at `fps` with the drifts of `scenario` (synth's YAML) into d/s, runs
    them through the line with `model`, and returns the recording's path (d/r.slrec)."""
    d = Path(d)
    (d / "scenario.yaml").write_text(scenario)
    subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d / "s"), "--cameras", str(cameras),
                    "--seconds", str(seconds), "--seed", str(seed), "--scenario", str(d / "scenario.yaml"), "--set",
                    f"defaults.fps={fps}"], check=True)
    cams = "".join(f"  - {{id: cam{c}, url: {d / 's' / f'cam{c}.mp4'}}}\n" for c in range(1, cameras + 1))
    (d / "run.yaml").write_text(f"cameras:\n{cams}model: {Path(model).resolve()}\n"
                                "publish: {predictions: 'tcp://127.0.0.1:*'}\n")
    subprocess.run([binary, "--log-level", "warn", "run", str(d / "run.yaml"), "--record", str(d / "r.slrec")],
                   check=True)
    return d / "r.slrec"
