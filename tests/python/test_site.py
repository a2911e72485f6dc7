"""Many nodes on one machine (issue 28, items 2 and 4): a site as docs/deploy.md draws it, every part a real process
on loopback.

Three `sightline run` processes (lines east, west and north, each camera named cam1: the line tells them apart;
north's camera drifts: its lighting changes at 14 s), each with its own `sightline bridge`, one three-server NATS
JetStream cluster, one `sightline monitor --nats` and two `sightline collect --nats` sharing one durable consumer,
and a real Prometheus server scraping every line, bridge and sink. Beside them, for comparison, a monitor that
watches the same lines over ZeroMQ. West is killed -9 at 8 s and started again at 14 s.

- the JetStream monitor raises the same drift alarms as the ZeroMQ one on the same messages (camera, signal, test,
  window), and alarms on west's silence and clears it when west is back;
- the two collectors lose nothing the stream holds: every sample in it is in exactly one of their datasets;
- Prometheus scrapes every target (up == 1), the monitor's and the bridges' series carry a `line` label per line.

Usage: test_site.py SIGHTLINE MODEL_YAML
"""
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import msgpack

from nats_cluster import NatsCluster
from support import FAILURES, check, free_port

LINES = ("east", "west", "north")
SECONDS = 24


def run_config(d, name, video, model, pred, samples):
    cfg = d / f"{name}.yaml"
    cfg.write_text(f"line: {name}\ncameras:\n  - {{id: cam1, url: {video}, realtime: true}}\n"
                   f"model: {Path(model).resolve()}\n"
                   f"publish: {{predictions: 'tcp://127.0.0.1:{pred}', wait_for_subscribers: 2, "
                   f"samples: 'tcp://127.0.0.1:{samples}'}}\n"
                   "sampling: {strategies: [{name: trickle, type: random, fraction: 0.05}], max_per_window: 0}\n")
    return cfg


def alarms(text):
    out = []
    for line in text.splitlines():
        if line.startswith("{") and '"alarm_' in line and '"summary"' not in line:
            out.append(json.loads(line))
    return out


def drift(alarm_list):
    return sorted((a["kind"], a["line"], a["camera"], a["signal"], a["test"], a["window_end_ns"])
                  for a in alarm_list if a["test"] != "silence")


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        scenes = {}
        for i, name in enumerate(LINES):
            extra = ["--set", "cameras.cam1.lighting_drift.start=14", "--set", "cameras.cam1.lighting_drift.ramp=0",
                     "--set", "cameras.cam1.lighting_drift.gain=0.6"] if name == "north" else []
            subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d / name), "--cameras", "1",
                            "--seconds", str(SECONDS), "--seed", str(20 + i), "--set", "defaults.fps=20", *extra],
                           check=True)
            scenes[name] = d / name / "cam1.mp4"
        ports = {n: {k: free_port() for k in ("pred", "samples", "metrics", "bridge")} for n in LINES}
        mon_js, mon_zmq, prom_port = free_port(), free_port(), free_port()
        col_http = {"col-a": free_port(), "col-b": free_port()}
        cfgs = {n: run_config(d, n, scenes[n], model, ports[n]["pred"], ports[n]["samples"]) for n in LINES}
        logs = {}

        def start(name, cmd, **kw):
            logs[name] = open(d / f"{name}.log", "a")
            return subprocess.Popen(cmd, stdout=kw.get("stdout", logs[name]), stderr=logs[name])

        quick = ["--reference-s", "8", "--window-s", "3", "--min-values", "50", "--silence-s", "3", "--json"]
        with NatsCluster(d / "nats") as cluster:
            procs = {}
            for n in LINES:
                procs[f"bridge-{n}"] = start(f"bridge-{n}", [
                    binary, "bridge", "--connect", f"tcp://127.0.0.1:{ports[n]['pred']}", "--samples",
                    f"tcp://127.0.0.1:{ports[n]['samples']}", "--nats", cluster.urls, "--http",
                    f"127.0.0.1:{ports[n]['bridge']}"])
            js_out, zmq_out = open(d / "mon-js.json", "w"), open(d / "mon-zmq.json", "w")
            procs["mon-js"] = start("mon-js", [binary, "monitor", "--nats", cluster.urls, "--durable", "site-monitor",
                                               "--http", f"127.0.0.1:{mon_js}", *quick], stdout=js_out)
            procs["mon-zmq"] = start("mon-zmq", [binary, "monitor", *sum(
                (["--connect", f"tcp://127.0.0.1:{ports[n]['pred']}"] for n in LINES), []),
                "--http", f"127.0.0.1:{mon_zmq}", *quick], stdout=zmq_out)
            for c in ("col-a", "col-b"):
                procs[c] = start(c, [binary, "collect", "--nats", cluster.urls, "--durable", "site-collectors",
                                     "--out", str(d / c), "--http", f"127.0.0.1:{col_http[c]}"])
            targets = [f"127.0.0.1:{ports[n][k]}" for n in LINES for k in ("metrics", "bridge")] + \
                      [f"127.0.0.1:{mon_js}", f"127.0.0.1:{mon_zmq}"] + [f"127.0.0.1:{p}" for p in col_http.values()]
            (d / "prometheus.yml").write_text(
                "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: site\n"
                f"    static_configs: [{{targets: {json.dumps(targets)}}}]\n")
            procs["prometheus"] = start("prometheus", [
                "prometheus", f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}"])
            lines = {n: start(n, [binary, "run", str(cfgs[n]), "--metrics", f"127.0.0.1:{ports[n]['metrics']}"])
                     for n in LINES}
            try:
                cluster.wait_messages("SIGHTLINE")  # the lines run (a sanitizer build takes a while to start)
            except RuntimeError as e:
                for name in logs:
                    logs[name].flush()
                    print(f"--- {name} (tail) ---\n" + "\n".join((d / f"{name}.log").read_text().splitlines()[-15:]))
                raise SystemExit(f"test_site: {e}")
            t0 = time.time()

            def query(q):
                url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
                with urllib.request.urlopen(url, timeout=5) as r:
                    return json.load(r)["data"]["result"]

            time.sleep(max(0.0, t0 + 8 - time.time()))
            lines["west"].send_signal(signal.SIGKILL)
            lines["west"].wait()
            print(f"killed line west at {time.time() - t0:.1f} s", flush=True)
            time.sleep(max(0.0, t0 + 14 - time.time()))
            ups, labelled = [], {}
            try:
                ups = query("up")
                for metric in ("sightline_frames_total", "sightline_bridge_received_total",
                               "sightline_collector_samples_total"):
                    labelled[metric] = sorted({r["metric"].get("line", "") for r in query(metric)})
            except OSError as e:
                print(f"prometheus query failed: {e}")
            lines["west"] = start("west", [binary, "run", str(cfgs["west"]), "--metrics",
                                           f"127.0.0.1:{ports['west']['metrics']}"])
            for n in LINES:
                lines[n].wait(timeout=120)
            time.sleep(6)  # the monitors see the last windows, the collectors the last samples
            for name in ("mon-js", "mon-zmq", "col-a", "col-b", *(f"bridge-{n}" for n in LINES), "prometheus"):
                procs[name].send_signal(signal.SIGTERM)
            exits = {name: procs[name].wait(timeout=60) for name in procs}
            js_out.close(), zmq_out.close()
            samples = cluster.read_stream("SIGHTLINE_SAMPLES")
        for f in logs.values():
            f.close()

        check(all(v == 0 for k, v in exits.items() if k != "prometheus"),
              f"bridges, monitors and collectors ended cleanly ({exits})")
        by_js, by_zmq = alarms((d / "mon-js.json").read_text()), alarms((d / "mon-zmq.json").read_text())
        check(drift(by_js) == drift(by_zmq) and any(a[1] == "north" for a in drift(by_js)),
              f"the JetStream monitor raises the ZeroMQ one's drift alarms ({len(drift(by_js))} and "
              f"{len(drift(by_zmq))}; north's: {sorted({a[3] for a in drift(by_js) if a[1] == 'north'})})")
        silence = [(a["kind"], a["line"]) for a in by_js if a["test"] == "silence"]
        check(("alarm_raised", "west") in silence and ("alarm_cleared", "west") in silence and
              silence.index(("alarm_raised", "west")) < silence.index(("alarm_cleared", "west")),
              f"the JetStream monitor alarms on west's silence and clears it on its return ({silence})")
        check(not any(l != "west" for _, l in silence), f"no other line fell silent ({silence})")

        stream_ids = sorted(msgpack.unpackb(data, raw=False)["id"] for _, data, _ in samples)
        kept = {}
        for c in ("col-a", "col-b"):
            if not (d / c / "dataset.db").exists():  # the collector failed before its dataset: its log says why
                check(False, f"collector {c} made its dataset ({d / c / 'dataset.db'})")
                kept[c] = []
                continue
            with sqlite3.connect(d / c / "dataset.db") as db:
                kept[c] = sorted(r[0] for r in db.execute("SELECT id FROM samples"))
        both = sorted(kept["col-a"] + kept["col-b"])
        check(stream_ids and both == stream_ids,
              f"two collectors on one durable consumer: every sample of the stream in exactly one dataset "
              f"({len(kept['col-a'])} + {len(kept['col-b'])} = {len(both)}, {len(stream_ids)} in the stream)")

        up = {r["metric"]["instance"]: float(r["value"][1]) for r in ups}
        west = f"127.0.0.1:{ports['west']['metrics']}"
        check(set(up) == set(targets) and up.get(west) == 0 and all(v == 1 for k, v in up.items() if k != west),
              f"Prometheus scrapes every line, bridge and sink: all up at 14 s but the killed line "
              f"({int(sum(up.values()))} of {len(targets)} up)")
        check(labelled.get("sightline_frames_total") == sorted(LINES) and
              labelled.get("sightline_bridge_received_total") == sorted(LINES) and
              labelled.get("sightline_collector_samples_total") and
              set(labelled["sightline_collector_samples_total"]) <= set(LINES),
              f"the monitor's, the bridges' and the collectors' series per line ({labelled})")
        if FAILURES:  # the processes that failed last, where a cut log (CI keeps its end) still shows them
            for name in sorted(logs, key=lambda n: exits.get(n, 0) not in (0, None)):
                print(f"--- {name} (tail{f', exit {exits[name]}' if exits.get(name) else ''}) ---\n" +
                      "\n".join((d / f"{name}.log").read_text().splitlines()[-12:]))
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
