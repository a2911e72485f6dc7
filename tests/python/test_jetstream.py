"""Lines into a real NATS JetStream cluster (issue 28, items 1-3), through the binaries on loopback:

three nats-server processes form one cluster (replicas 3, file storage). Two named lines (east, west; two cameras
each, real time) each feed their own `sightline bridge` (predictions, stats, events, and samples acknowledged to the
line only once stored); a `sightline collect --nats` reads the samples stream as a durable consumer. Mid-stream:

- the server leading the stream is killed -9, then restarted: east's bridge lives through it, and every pred of
  every east camera is in the stream exactly once, in order (counted by (line, camera, seq));
- west's bridge is killed -9 and restarted: nothing is stored twice, each camera's preds are in order, and the
  only preds missing are those the line published while no bridge listened (one run of seqs per camera);
- the collector is killed -9 and stays away 30 s, then resumes where it left: its dataset holds every sample of
  the stream once; the stream holds every sample the lines had acknowledged, once.

The stream is read back with nats-py, which shares no code with the bridge.

Usage: test_jetstream.py SIGHTLINE MODEL_YAML
"""
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import msgpack

from nats_cluster import NatsCluster
from support import FAILURES, check, free_port

SECONDS, FPS = 24, 10


def line_config(d, name, videos, model, pred, samples):
    cams = "".join(f"  - {{id: {c}, url: {v}, realtime: true}}\n" for c, v in videos)
    cfg = d / f"{name}.yaml"
    cfg.write_text(f"line: {name}\ncameras:\n{cams}model: {Path(model).resolve()}\n"
                   f"publish: {{predictions: 'tcp://127.0.0.1:{pred}', wait_for_subscribers: 1, "
                   f"samples: 'tcp://127.0.0.1:{samples}'}}\n"
                   "sampling: {strategies: [{name: trickle, type: random, fraction: 0.05}], max_per_window: 0}\n")
    return cfg


def bridge(binary, cluster, pred, samples, http, log):
    return subprocess.Popen([binary, "bridge", "--connect", f"tcp://127.0.0.1:{pred}", "--samples",
                             f"tcp://127.0.0.1:{samples}", "--nats", cluster.urls, "--replicas", "3",
                             "--http", f"127.0.0.1:{http}", "--report-s", "2"], stdout=log, stderr=log)


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name))


def preds_by_camera(messages):
    """(line, camera) -> the seqs of its preds in stream order."""
    seqs = defaultdict(list)
    for subject, data, _ in messages:
        if ".pred." not in subject:
            continue
        m = msgpack.unpackb(data, raw=False)
        seqs[(m["line"], m["camera"])].append(m["seq"])
    return seqs


def missing_runs(seqs, n):
    """How many separate runs of seqs in 0..n-1 are missing."""
    have = set(seqs)
    runs, inside = 0, False
    for s in range(n):
        if s not in have and not inside:
            runs += 1
        inside = s not in have
    return runs


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d / "s"), "--cameras", "4",
                        "--seconds", str(SECONDS), "--seed", "11", "--set", f"defaults.fps={FPS}"], check=True)
        frames = {f"cam{c}": len(json.loads((d / "s" / f"cam{c}.json").read_text())["images"]) for c in range(1, 5)}
        ports = {k: free_port() for k in ("east", "east_s", "west", "west_s", "east_h", "west_h")}
        cfgs = {"east": line_config(d, "east", [("cam1", d / "s/cam1.mp4"), ("cam2", d / "s/cam2.mp4")], model,
                                    ports["east"], ports["east_s"]),
                "west": line_config(d, "west", [("cam3", d / "s/cam3.mp4"), ("cam4", d / "s/cam4.mp4")], model,
                                    ports["west"], ports["west_s"])}
        logs = {k: open(d / f"{k}.log", "w") for k in ("east_bridge", "west_bridge", "collect", "east", "west")}
        with NatsCluster(d / "nats") as cluster:
            bridges = {"east": bridge(binary, cluster, ports["east"], ports["east_s"], ports["east_h"],
                                      logs["east_bridge"]),
                       "west": bridge(binary, cluster, ports["west"], ports["west_s"], ports["west_h"],
                                      logs["west_bridge"])}
            collect_cmd = [binary, "collect", "--nats", cluster.urls, "--durable", "test-collector", "--out",
                           str(d / "ds")]
            collector = subprocess.Popen(collect_cmd, stdout=logs["collect"], stderr=logs["collect"])
            lines = {k: subprocess.Popen([binary, "run", str(c)], stdout=logs[k], stderr=logs[k])
                     for k, c in cfgs.items()}
            cluster.wait_messages("SIGHTLINE")  # the lines run (a sanitizer build takes a while to start)
            t0 = time.time()

            def at(t):
                time.sleep(max(0.0, t0 + t - time.time()))

            at(5)
            leader = cluster.stream_leader("SIGHTLINE")
            cluster.kill(leader)
            print(f"killed nats server n{leader} (the stream's leader) at {time.time() - t0:.1f} s", flush=True)
            at(7)
            collector.send_signal(signal.SIGKILL)
            collector.wait()
            print(f"killed the collector at {time.time() - t0:.1f} s; away 30 s", flush=True)
            at(9)
            cluster.start(leader)
            at(12)
            bridges["west"].send_signal(signal.SIGKILL)
            bridges["west"].wait()
            print(f"killed west's bridge at {time.time() - t0:.1f} s", flush=True)
            at(14)
            bridges["west"] = bridge(binary, cluster, ports["west"], ports["west_s"], ports["west_h"],
                                     logs["west_bridge"])
            for l in lines.values():
                l.wait(timeout=120)
            acked_metric = metric(ports["east_h"], "sightline_bridge_acknowledged_total")
            at(37)
            collector = subprocess.Popen(collect_cmd + ["--idle-exit", "6"], stdout=logs["collect"],
                                         stderr=logs["collect"])
            collector.wait(timeout=120)
            for b in bridges.values():
                b.send_signal(signal.SIGTERM)
            bridge_exits = [b.wait(timeout=30) for b in bridges.values()]
            preds = cluster.read_stream("SIGHTLINE")
            samples = cluster.read_stream("SIGHTLINE_SAMPLES")
        for f in logs.values():
            f.close()
        text = {k: (d / f"{k}.log").read_text() for k in logs}

        check(all(l.returncode == 0 for l in lines.values()) and bridge_exits == [0, 0],
              f"lines and bridges ran and ended cleanly (lines {[l.returncode for l in lines.values()]}, "
              f"bridges {bridge_exits})")
        seqs = preds_by_camera(preds)
        for cam in ("cam1", "cam2"):
            s = seqs[("east", cam)]
            check(s == list(range(frames[cam])),
                  f"east/{cam}: every pred once, in order, through a stream leader's kill -9 "
                  f"({len(s)} of {frames[cam]}, {len(s) - len(set(s))} twice, first out of order at "
                  f"{next((i for i in range(1, len(s)) if s[i] <= s[i - 1]), None)})")
        for cam in ("cam3", "cam4"):
            s = seqs[("west", cam)]
            check(len(s) == len(set(s)) and s == sorted(s) and missing_runs(s, frames[cam]) <= 1 and len(s) > 0,
                  f"west/{cam}: through its bridge's kill -9, nothing twice and in order, missing only what was "
                  f"published while no bridge listened ({len(s)} of {frames[cam]}, "
                  f"{missing_runs(s, frames[cam])} run(s) missing)")
        check(acked_metric >= frames["cam1"] + frames["cam2"],
              f"east's bridge's metrics count what JetStream acknowledged ({acked_metric:.0f})")
        retried = [l for l in text["east_bridge"].splitlines() if "sent again" in l]
        print("east bridge's last words: " + (retried[-1].strip() if retried else "none"), flush=True)

        ids = [msgpack.unpackb(data, raw=False)["id"] for _, data, _ in samples]
        line_acked = sum(int(l.split("samples: ")[1].split(" selected, ")[1].split(" acknowledged")[0])
                         for k in ("east", "west") for l in text[k].splitlines() if "run: samples:" in l)
        check(len(ids) == len(set(ids)) and len(ids) == line_acked and line_acked > 0,
              f"the samples stream holds every sample the lines had acknowledged, once ({len(ids)} stored, "
              f"{len(set(ids))} distinct, {line_acked} acknowledged to the lines)")
        with sqlite3.connect(d / "ds" / "dataset.db") as db:
            kept = sorted(r[0] for r in db.execute("SELECT id FROM samples"))
        check(kept == sorted(ids),
              f"the collector, away 30 s, resumed where it left: its dataset holds the stream's samples once "
              f"({len(kept)} kept, {len(ids)} in the stream)")
        if FAILURES:
            for k, t in text.items():
                print(f"--- {k} log (tail) ---\n" + "\n".join(t.splitlines()[-25:]))
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
