"""What the Python tests share: the ok/FAIL checklist they print, a free loopback port, and Chromium.

Imported by the tests beside it (a script's own folder is on sys.path): `from support import FAILURES, check`.
"""
import shutil
import socket
import sys

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
