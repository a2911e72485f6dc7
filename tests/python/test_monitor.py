"""sightline monitor with its real parts (issue 16): a line publishing over ZeroMQ, the monitor subscribed to it and
to a second publisher sending garbage, a real Prometheus server scraping /metrics on loopback and answered through
its HTTP API, promtool on the metrics and the alerting rules, the SQLite store read back, the report rendered by
headless Chromium, a replay of the recording giving the same alarms as watching live, a restart resuming the
references, and stores it cannot open naming themselves.

Usage: test_monitor.py SIGHTLINE MODEL_YAML [SCREENSHOT.png]
"""
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import msgpack
import zmq

from support import FAILURES, check, chromium, free_port

ROOT = Path(__file__).resolve().parents[2]


def config(d, scene, endpoint, realtime, name):
    cams = "\n".join(f"  - {{id: {c}, url: {scene / (c + '.mp4')}, realtime: {str(realtime).lower()}, "
                     f"meta: {{line: L1, location: bay{c[-1]}}}}}" for c in ("cam1", "cam2"))
    p = d / name
    p.write_text(f"cameras:\n{cams}\nmodel: {MODEL}\npublish:\n  predictions: {endpoint}\n"
                 f"  wait_for_subscribers: 1\n  wait_timeout_s: 60\n")
    return p


def alarms_of(stdout):
    out = []
    for line in stdout.splitlines():
        a = json.loads(line)
        if a["kind"] in ("alarm_raised", "alarm_cleared") and a["test"] != "silence":  # not the closing summary
            out.append((a["kind"], a["camera"], a["signal"], a["test"], a["window_end_ns"], round(a["value"], 9)))
    return out


def main(binary, model, shot=None):
    global MODEL
    MODEL = Path(model).resolve()
    quick = ["--reference-s", "15", "--window-s", "3", "--min-values", "50"]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        scene = d / "scene"
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(scene), "--cameras", "2", "--seconds",
                        "30", "--set", "cameras.cam2.lighting_drift.start=20", "--set",
                        "cameras.cam2.lighting_drift.ramp=0", "--set", "cameras.cam2.lighting_drift.gain=0.6"],
                       check=True)

        # 1. live, lossless: the line waits for the monitor; a second publisher sends garbage; alarms published
        line_ep, junk_ep, alarm_ep = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
        db = d / "monitor.db"
        ctx = zmq.Context()
        junk = ctx.socket(zmq.PUB)
        junk.bind(junk_ep)
        alarms_sub = ctx.socket(zmq.SUB)
        alarms_sub.connect(alarm_ep)
        alarms_sub.setsockopt(zmq.SUBSCRIBE, b"event")
        mon = subprocess.Popen([binary, "monitor", "--connect", line_ep, "--connect", junk_ep, "--db", str(db),
                                "--publish", alarm_ep, "--json", "--until-run-end", "--save-reference",
                                str(d / "ref.json"), *quick], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        time.sleep(1.0)
        for _ in range(5):
            junk.send_multipart([b"pred/camX", b"\x93not a map"])
            junk.send_multipart([b"pred/camX", msgpack.packb({"v": 1, "type": "pred", "camera": "camX"})])
        run = subprocess.run([binary, "run", str(config(d, scene, line_ep, False, "run.yaml")), "--record",
                              str(d / "run.slrec")], capture_output=True, text=True, timeout=240)
        check(run.returncode == 0, f"the line ran ({run.stderr[-300:]})")
        if run.returncode != 0:
            mon.kill()
        out, err = mon.communicate(timeout=60)
        check(mon.returncode == 0, f"the monitor stopped at run_end, exit 0 ({err[-400:]})")
        live = alarms_of(out)
        luma = [a for a in live if a[0] == "alarm_raised" and a[1] == "cam2" and a[2] == "luma"]
        check(bool(luma), f"cam2's lighting step raised a luma alarm ({len(live)} alarm events)")
        if luma:
            t = luma[0][4] / 1e9
            check(20 <= t <= 24, f"within 4 s of stream time after the step at 20 s (window ends at {t:.1f} s)")
        check(not [a for a in live if a[1] == "cam1" and a[2] == "luma"], "nominal cam1: no luma alarm")
        check(re.search(r"skipped a malformed message", err) is not None and "10 malformed" in err,
              "the garbage publisher's 10 messages were skipped and counted, the monitor went on")
        events = []
        while alarms_sub.poll(100):
            topic, body = alarms_sub.recv_multipart()
            events.append(msgpack.unpackb(body, raw=False))
        raised = [e for e in events if e["kind"] == "alarm_raised"]
        check(len(events) == len(live) + len([1 for l in out.splitlines() if '"silence"' in l]) and raised
              and all(k in raised[0]["alarm"] for k in ("signal", "test", "value", "threshold", "window_start_ns",
                                                       "window_end_ns", "slice", "model")),
              f"every alarm went out as an event with its detail ({len(events)} events)")
        if raised:
            check(raised[0]["alarm"]["slice"].startswith("line=L1,location=bay"), "the event names the slice")
        con = sqlite3.connect(db)
        n_windows = con.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        cams = {r[0] for r in con.execute("SELECT DISTINCT camera FROM windows")}
        n_alarms = con.execute("SELECT COUNT(*) FROM alarms").fetchone()[0]
        refs = con.execute("SELECT json FROM monitor_references").fetchone()
        con.close()
        check(n_windows >= 30 and cams == {"cam1", "cam2"}, f"the store holds windows of both cameras ({n_windows})")
        check(n_alarms == len(events), f"the store holds every alarm ({n_alarms})")
        check(refs is not None and len(json.loads(refs[0])["cameras"]) == 2, "the store holds both references")
        check((d / "ref.json").exists(), "--save-reference wrote the references")

        # 2. the recording replayed at full speed: the same alarms as live
        rep = subprocess.run([binary, "--log-level", "warn", "monitor", "--replay", str(d / "run.slrec"), "--json",
                              *quick], capture_output=True, text=True, timeout=60)
        check(rep.returncode == 0 and alarms_of(rep.stdout) == live,
              f"replay gives the same alarms as live ({len(alarms_of(rep.stdout))} vs {len(live)})")

        # 2b. the replay publishing its alarms: a subscriber started first gets every one (the replay waits for it
        # before its burst, as run waits for subscribers)
        pub_ep = f"tcp://127.0.0.1:{free_port()}"
        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"event")
        sub.connect(pub_ep)
        rep = subprocess.run([binary, "--log-level", "warn", "monitor", "--replay", str(d / "run.slrec"), "--publish",
                              pub_ep, "--json", *quick], capture_output=True, text=True, timeout=60)
        got = []
        while sub.poll(1000):
            got.append(msgpack.unpackb(sub.recv_multipart()[1], raw=False)["kind"])
        sub.close(0)
        ctx.term()
        printed = [l for l in rep.stdout.strip().splitlines() if '"kind":"summary"' not in l]  # alarms only
        check(rep.returncode == 0 and len(got) == len(printed) > 0,
              f"replay --publish: a subscriber started first receives every alarm ({len(got)} of {len(printed)})")

        # 3. a restart resumes its references from the store; a saved reference file is used at once
        again = subprocess.run([binary, "monitor", "--replay", str(d / "run.slrec"), "--db", str(db), *quick],
                               capture_output=True, text=True, timeout=60)
        check(again.returncode == 0 and "resumed the references" in again.stderr, "a restart resumes the references")

        # 4. Prometheus: a real server scrapes the monitor; PromQL answers the rate and the alarm gauge
        http_port, prom_port, line_http = free_port(), free_port(), free_port()
        line_ep = f"tcp://127.0.0.1:{free_port()}"
        mon = subprocess.Popen([binary, "monitor", "--connect", line_ep, "--http", f"127.0.0.1:{http_port}",
                                "--latency-p99-ms", "1", "--until-run-end", *quick], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        (d / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{ROOT / 'docs' / 'monitor-alerts.yml'}']\n"
            f"scrape_configs:\n  - job_name: monitor\n    static_configs: [{{targets: ['127.0.0.1:{http_port}']}}]\n"
            f"  - job_name: line\n    static_configs: [{{targets: ['127.0.0.1:{line_http}']}}]\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={d / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={d / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        line = subprocess.Popen([binary, "--log-level", "warn", "run", str(config(d, scene, line_ep, True, "live.yaml")),
                                 "--metrics", f"127.0.0.1:{line_http}"], stderr=subprocess.PIPE)

        def query(q):
            url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            with urllib.request.urlopen(url, timeout=5) as r:
                res = json.load(r)["data"]["result"]
            return [float(x["value"][1]) for x in res]

        try:
            time.sleep(14)  # the line paced in real time: 30 fps per camera
            for _ in range(20):  # a Prometheus slow to start on a loaded machine: its first scrapes, then the rate
                try:
                    if query('sum(rate(sightline_frames_total{job="line"}[5s]))'):
                        break
                except OSError:
                    pass
                time.sleep(0.5)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5).read()
            pc = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True)
            check(pc.returncode == 0, f"promtool check metrics passes ({pc.stdout.decode()[:300]} {pc.stderr.decode()[:300]})")
            rate = query('sum(rate(sightline_frames_total{job="monitor"}[5s]))')
            check(bool(rate) and 50 <= rate[0] <= 70, f"PromQL: 2 cameras x 30 fps scraped from the monitor as {rate} frames/s")
            rate = query('sum(rate(sightline_frames_total{job="line"}[5s]))')
            check(bool(rate) and 50 <= rate[0] <= 70, f"PromQL: the same from the line's own --metrics: {rate} frames/s")
            lat = query('histogram_quantile(0.99, sum by (le) (rate(sightline_frame_latency_seconds_bucket{job="line"}[10s])))')
            check(bool(lat) and 0 < lat[0] < 1, f"PromQL: the line's p99 latency from its histogram, {lat} s")
            line_metrics = urllib.request.urlopen(f"http://127.0.0.1:{line_http}/metrics", timeout=5).read()
            pc = subprocess.run(["promtool", "check", "metrics"], input=line_metrics, capture_output=True)
            check(pc.returncode == 0, f"promtool check metrics passes on the line's ({pc.stderr.decode()[:300]})")
            stage = query('max(sightline_stage_latency_seconds{job="monitor",stage="infer",stat="p99"})')
            check(bool(stage) and 0 < stage[0] < 1, f"PromQL: the per-stage latency from the line's stats ({stage} s)")
            alarm = query('max(sightline_drift_alarm_active{signal="latency"})')
            check(alarm == [1.0], f"PromQL: the latency alarm gauge stands ({alarm})")
            firing = query('ALERTS{alertname="SightlineDriftAlarm"}')
            check(bool(firing), f"the rules file's drift alert is pending or firing in Prometheus ({firing})")
        finally:
            line.terminate()
            line.wait(timeout=30)
            mon.wait(timeout=30)
            prom.terminate()
            prom.wait(timeout=30)
        rules = subprocess.run(["promtool", "check", "rules", str(ROOT / "docs" / "monitor-alerts.yml")],
                               capture_output=True, text=True)
        check(rules.returncode == 0, f"promtool check rules docs/monitor-alerts.yml ({rules.stdout.strip()[-200:]})")

        # 5. the report, as a person sees it
        page = d / "report.html"
        rr = subprocess.run([binary, "monitor", "report", "--db", str(db), "--out", str(page)], capture_output=True,
                            text=True)
        check(rr.returncode == 0 and page.exists(), f"monitor report wrote the page ({rr.stderr[-200:]})")
        text = page.read_text()
        check("http" not in text.replace("http://www.w3.org", "") and "<script" not in text,
              "the page fetches nothing and runs nothing (opens offline)")
        browser = chromium()
        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={d / 'profile'}"]
        dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        check("Cameras by drift" in dom and "cam2" in dom and "ALARM luma" in dom,
              "Chromium rendered the ranking and cam2's luma alarm")
        ranking = dom[dom.find("Cameras by drift"):]
        check(0 <= ranking.find("/cam2<") < ranking.find("/cam1<"), "the drifted camera ranks first (named line/camera)")
        check(dom.count("<svg") >= 14, f"seven charts per camera ({dom.count('<svg')} svg)")
        png = Path(shot) if shot else d / "report.png"
        subprocess.run([browser, *flags, f"--screenshot={png}", "--window-size=1200,1400", page.as_uri()],
                       capture_output=True, timeout=120)
        check(png.exists() and png.stat().st_size > 30000, f"screenshot taken, not blank ({png.stat().st_size if png.exists() else 0} bytes)")

        # 6. a store that fills up mid-run (a file size limit: SQLite's writes fail): the error names the file once,
        # the alarms go on, exit 1
        import resource
        import signal

        def small_disk():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

        full = subprocess.run([binary, "monitor", "--replay", str(d / "run.slrec"), "--db", str(d / "full.db"),
                               "--json", *quick], capture_output=True, text=True, preexec_fn=small_disk, timeout=60)
        check(full.returncode == 1 and full.stderr.count(str(d / "full.db")) == 1
              and "the live metrics go on" in full.stderr,
              f"a full store: exit 1, the file named once ({full.returncode}: {full.stderr.strip()[-300:]})")
        check(alarms_of(full.stdout) == live, "a full store: every alarm still went out")

        # 7. stores it cannot open name themselves; the reference file too
        for bad, why in ((d / "no" / "such" / "dir" / "m.db", "a missing directory"), (d / "run.yaml", "not SQLite")):
            r = subprocess.run([binary, "monitor", "--replay", str(d / "run.slrec"), "--db", str(bad)],
                               capture_output=True, text=True)
            check(r.returncode == 2 and str(bad) in r.stderr, f"{why}: exit 2 naming {bad.name} ({r.stderr.strip()[-160:]})")
        (d / "bad_ref.json").write_text('{"schema": "sightline.monitor.reference/1", "bucket_s": 1}')
        r = subprocess.run([binary, "monitor", "--replay", str(d / "run.slrec"), "--reference", str(d / "bad_ref.json")],
                           capture_output=True, text=True)
        check(r.returncode == 2 and "bad_ref.json" in r.stderr, f"a malformed reference file is named ({r.stderr.strip()[-160:]})")
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
