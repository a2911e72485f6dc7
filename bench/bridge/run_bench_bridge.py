#!/usr/bin/env python3
"""Starts a 3-server NATS JetStream cluster on loopback (Debian's nats-server; tests/python/nats_cluster.py) and runs
build/bench/bench_bridge against it: `sightline bridge` into a replicas-3 file stream, against libnats alone.

    .cache/venv/bin/python bench/bridge/run_bench_bridge.py [--build build] [bench_bridge's options...]
"""
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from nats_cluster import NatsCluster  # noqa: E402


def main():
    args = sys.argv[1:]
    build = "build"
    if "--build" in args:
        i = args.index("--build")
        build = args[i + 1]
        del args[i:i + 2]
    with tempfile.TemporaryDirectory() as d, NatsCluster(d) as c:
        sys.exit(subprocess.run([str(ROOT / build / "bench" / "bench_bridge"), "--nats", c.urls, *args]).returncode)


if __name__ == "__main__":
    main()
