"""Lines with names (issue 25, item 4), through the binaries on loopback:

- two lines named `east` and `west`, each with a camera `cam1`, into one monitor, one collector and Prometheus:
  the monitor keeps two cameras (east/cam1, west/cam1) with no sequence gap (merged, the two streams read as
  thousands of gaps and alarms made of the mix), every message carries its line, the metrics carry a `line` label,
  the store's rows and the dataset's entries name their line;
- two publishers that use one line name at once are reported (a warning naming the name, the `--json` summary's
  `line_conflicts`, `sightline_monitor_line_publishers` at 2); a run config's bad `line:` is refused naming the key.

Usage: test_lines.py SIGHTLINE MODEL_YAML
"""
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from support import FAILURES, check, free_port


def line_config(d, name, camera, video, model, pred, samples=None):
    cfg = d / f"{name}-{camera}.yaml"
    publish = f"predictions: 'tcp://127.0.0.1:{pred}', wait_for_subscribers: 1"
    if samples:
        publish += f", samples: 'tcp://127.0.0.1:{samples}'"
    cfg.write_text(f"line: {name}\ncameras:\n  - {{id: {camera}, url: {video}, realtime: true}}\n"
                   f"model: {Path(model).resolve()}\npublish: {{{publish}}}\n")
    return cfg


def metric_lines(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return [l for l in text.splitlines() if l.startswith(name)]


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for seed in (3, 4):
            subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d / f"s{seed}"), "--cameras", "1",
                            "--seconds", "16", "--seed", str(seed), "--set", "defaults.fps=10"], check=True)
        videos = [d / "s3" / "cam1.mp4", d / "s4" / "cam1.mp4"]

        # 1. two named lines whose cameras share an id
        ports = [free_port() for _ in range(4)]
        cfgs = [line_config(d, "east", "cam1", videos[0], model, ports[0], ports[1]),
                line_config(d, "west", "cam1", videos[1], model, ports[2], ports[3])]
        http = free_port()
        mon = subprocess.Popen([binary, "monitor", "--connect", f"tcp://127.0.0.1:{ports[0]}", "--connect",
                                f"tcp://127.0.0.1:{ports[2]}", "--until-run-end", "--json", "--reference-s", "6",
                                "--window-s", "3", "--db", str(d / "mon.db"), "--http", f"127.0.0.1:{http}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        col = subprocess.Popen([binary, "collect", "--connect", f"tcp://127.0.0.1:{ports[1]}", "--connect",
                                f"tcp://127.0.0.1:{ports[3]}", "--out", str(d / "ds"), "--idle-exit", "12"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [subprocess.Popen([binary, "--log-level", "warn", "run", str(c)]) for c in cfgs]
        series = []
        try:  # scraped while the lines run (the monitor ends with them)
            while any(l.poll() is None for l in lines) and not len(series) >= 2:
                try:
                    series = metric_lines(http, "sightline_frames_total{")
                except OSError:
                    pass
                time.sleep(0.5)
            for l in lines:
                l.wait(timeout=180)
        finally:
            out, err = mon.communicate(timeout=60)
            col.communicate(timeout=60)
        check(all(l.returncode == 0 for l in lines) and mon.returncode == 0,
              f"both lines and the monitor ran (exits {[l.returncode for l in lines]}, {mon.returncode})")
        summary = [json.loads(l) for l in out.splitlines() if l.startswith("{") and '"summary"' in l]
        cams = sorted((c["line"], c["camera"]) for c in summary[0]["cameras"]) if summary else []
        check(cams == [("east", "cam1"), ("west", "cam1")], f"the monitor keeps one camera per line ({cams})")
        check("2 line(s), 2 camera(s), 0 sequence-gap message(s)" in err,
              "no sequence gap from mixing two streams (" +
              next((l for l in err.splitlines() if "sequence-gap" in l), "no summary line").strip() + ")")
        check(not summary or not summary[0]["line_conflicts"], "two names, no conflict reported")
        check(any('line="east"' in s for s in series) and any('line="west"' in s for s in series),
              f"/metrics labels the camera's series by line ({series})")
        with sqlite3.connect(d / "mon.db") as db:
            stored = sorted(db.execute("SELECT DISTINCT line, camera FROM windows").fetchall())
        check(stored == [("east", "cam1"), ("west", "cam1")], f"the store's windows name their line ({stored})")
        with sqlite3.connect(d / "ds" / "dataset.db") as db:
            rows = db.execute("SELECT line, camera, count(*) FROM samples GROUP BY line, camera").fetchall()
        check(sorted(r[0] for r in rows) == ["east", "west"], f"the dataset's entries name their line ({rows})")
        subprocess.run([binary, "collect", "export", str(d / "ds"), "--format", "coco", "--out", str(d / "coco")],
                       check=True, capture_output=True)
        images = json.loads(next((d / "coco").glob("*.json")).read_text())["images"]
        check({i.get("line") for i in images} == {"east", "west"}, "an export names each image's line")

        # 2. two publishers under one name at once
        ports = [free_port() for _ in range(2)]
        cfgs = [line_config(d, "same", "cam1", videos[0], model, ports[0]),
                line_config(d, "same", "cam2", videos[1], model, ports[1])]
        http = free_port()
        mon = subprocess.Popen([binary, "monitor", "--connect", f"tcp://127.0.0.1:{ports[0]}", "--connect",
                                f"tcp://127.0.0.1:{ports[1]}", "--until-run-end", "--json", "--http",
                                f"127.0.0.1:{http}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [subprocess.Popen([binary, "--log-level", "warn", "run", str(c)]) for c in cfgs]
        publishers = []
        try:
            deadline = time.time() + 60
            while time.time() < deadline and not any(l.endswith(" 2") for l in publishers):
                time.sleep(1)
                try:
                    publishers = metric_lines(http, "sightline_monitor_line_publishers")
                except OSError:
                    pass
        finally:
            for l in lines:
                l.wait(timeout=180)
            out, err = mon.communicate(timeout=60)
        summary = [json.loads(l) for l in out.splitlines() if l.startswith("{") and '"summary"' in l]
        conflicts = summary[0]["line_conflicts"] if summary else []
        check(len(conflicts) == 1 and conflicts[0]["line"] == "same" and len(conflicts[0]["runs"]) == 2,
              f"the --json summary reports the shared name ({conflicts})")
        check("two publishers use the line name 'same'" in err, "a warning names the shared line name")
        check(any('line="same"' in l and l.endswith(" 2") for l in publishers),
              f"sightline_monitor_line_publishers shows 2 ({publishers})")

        # 3. a bad line name is refused, naming the key
        bad = d / "bad.yaml"
        bad.write_text(cfgs[0].read_text().replace("line: same", "line: 'a.b'"))
        r = subprocess.run([binary, "run", str(bad), "--check"], capture_output=True, text=True)
        check(r.returncode != 0 and "line" in r.stderr and "'.'" in r.stderr,
              f"line: 'a.b' is refused naming the key ({r.stderr.strip().splitlines()[-1] if r.stderr else ''})")
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
