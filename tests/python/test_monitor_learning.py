"""A monitor that has not finished learning never says "all clear" (issue 25, item 1): a 90 s scene under the
monitor's defaults (a 300 s reference, so no reference-based test is ever armed) with a lighting drift on cam2 from
30 s, cam1 and cam3 nominal:

- the change-point tests that run while a camera learns (river's Page-Hinkley on each bucket's luma and sharpness
  against the camera's own first seconds) raise on cam2 within a minute of the onset, and nothing on cam1, cam3 or
  before the onset;
- the learning state is where a user looks: the --json summary (per camera: reference seconds learned of needed,
  tests armed, learning tests), the closing log line, and the report, which says "not tested yet" for a camera
  whose reference is incomplete and never shows it green;
- with --reference-s 60 the cameras arm, say so in the log, and the summary counts the armed tests.

Usage: test_monitor_learning.py SIGHTLINE MODEL_YAML
"""
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support import FAILURES, check, record_scene

# the monitor store's schema 1 (before 2026-12-06), as a store made then holds it
SCHEMA_1 = """
CREATE TABLE store_info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO store_info VALUES('schema', '1');
CREATE TABLE windows(
  camera TEXT NOT NULL, model TEXT NOT NULL, slice TEXT NOT NULL, window_end_ns INTEGER NOT NULL,
  wall_ns INTEGER NOT NULL, frames REAL, fps REAL, detections_per_frame REAL, confidence_mean REAL, flag_rate REAL,
  luma_mean REAL, latency_p99_ms REAL, drift_rank REAL, class_counts TEXT,
  PRIMARY KEY(camera, model, window_end_ns));
"""
ONSET = 30
SCENARIO = f"""cameras:
  cam2:
    lighting_drift: {{start: {ONSET}, ramp: 5, gain: 0.45, color_temperature: 6500}}
"""


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        record_scene(binary, model, d, SCENARIO, 3, 90, 11, 15)

        r = subprocess.run([binary, "monitor", "--replay", str(d / "r.slrec"), "--json", "--db", str(d / "m.db")],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"monitor --replay exits 0 ({r.stderr[-500:]})")
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        raised = [a for a in lines if a.get("kind") == "alarm_raised"]
        summary = [l for l in lines if l.get("kind") == "summary"]
        for a in raised:
            print(f"     {a['camera']} {a['signal']}/{a['test']} at {a['window_end_ns'] / 1e9:.0f} s")
        early = [a for a in raised if a["window_end_ns"] / 1e9 <= ONSET]
        check(not early, f"nothing raised before the onset at {ONSET} s")
        check(not [a for a in raised if a["camera"] in ("cam1", "cam3")], "nothing raised on the nominal cam1 and cam3")
        for cam, drift in (("cam2", "lighting drift"),):
            hits = sorted((a for a in raised if a["camera"] == cam and a["window_end_ns"] / 1e9 > ONSET),
                          key=lambda a: a["window_end_ns"])
            delay = hits[0]["window_end_ns"] / 1e9 - ONSET if hits else None
            check(hits and hits[0]["test"] == "change_point" and delay <= 60,
                  f"{drift} on {cam}: raised by a change-point test within 60 s of its onset"
                  + (f" ({hits[0]['signal']}/{hits[0]['test']} at +{delay:.0f} s)" if hits else " (nothing)"))
        check(len(summary) == 1, "--json ends with one summary line")
        cams = {c["camera"]: c for c in (summary[0]["cameras"] if summary else [])}
        check(set(cams) == {"cam1", "cam2", "cam3"}, f"the summary lists the three cameras ({sorted(cams)})")
        for c in cams.values():
            check(c["state"] == "learning" and c["tests_armed"] == 0 and 85 <= c["reference_learned_s"] <= 90
                  and c["reference_needed_s"] == 300 and c["learning_tests"] == 2,
                  f"{c['camera']}: learning, {c['reference_learned_s']:.0f} of {c['reference_needed_s']:.0f} s, "
                  f"{c['tests_armed']} tests armed, {c['learning_tests']} change-point tests")
        check(re.search(r"3 camera\(s\) still learning", r.stderr) is not None,
              "the closing log says the cameras were still learning")

        page = d / "m.html"
        subprocess.run([binary, "--log-level", "warn", "monitor", "report", "--db", str(d / "m.db"), "--out",
                        str(page)], check=True)
        html = page.read_text()
        table = html[html.find("<table"):html.find("</table>")]
        # a camera is named with its line: <host>/cam1
        rows = {c: table[table.find(f"/{c}</a>"):][:table[table.find(f"/{c}</a>"):].find("</tr>")]
                for c in ("cam1", "cam2", "cam3")}
        check("not tested yet: reference 89 of 300 s" in rows["cam1"] or "not tested yet: reference 90 of 300 s" in
              rows["cam1"], f"the report says 'not tested yet' with the seconds learned for cam1 ({rows['cam1'][-160:]})")
        check("(still learning)" in rows["cam2"] and "not tested yet" in rows["cam3"],
              "the camera with a standing change-point alarm says it is still learning; the others 'not tested yet'")
        check("class='l ok'" not in table, "no camera is shown green while its reference is incomplete")

        r = subprocess.run([binary, "monitor", "--replay", str(d / "r.slrec"), "--json", "--reference-s", "60"],
                           capture_output=True, text=True)
        summary = [json.loads(l) for l in r.stdout.splitlines() if '"summary"' in l]
        armed = [c for c in (summary[0]["cameras"] if summary else []) if c["state"] == "armed"]
        check(len(armed) == 3 and all(c["tests_armed"] > 0 for c in armed),
              f"with --reference-s 60 the three cameras arm ({[(c['camera'], c['tests_armed']) for c in armed]})")
        check(len(re.findall(r"cam\d \([^)]*\) armed: \d+ of \d+ drift tests", r.stderr)) == 3,
              "a log line when each camera arms")

        # a store of schema 1 (before the learning columns) gains them when opened, its old rows reading NULL; and the
        # line (schema 3), in the windows' key, its old rows' line ''

        old = d / "old.db"
        db = sqlite3.connect(old)
        db.executescript(SCHEMA_1)
        db.execute("INSERT INTO windows VALUES('cam0','m','',1000000000,?,30,30,1,0.5,0,70,10,0,'{}')",
                   (time.time_ns(),))  # recent: within the store's retention
        db.commit()
        db.close()
        r = subprocess.run([binary, "--log-level", "warn", "monitor", "--replay", str(d / "r.slrec"), "--db", str(old)],
                           capture_output=True, text=True)
        db = sqlite3.connect(old)
        cols = [c[1] for c in db.execute("PRAGMA table_info(windows)")]
        schema = db.execute("SELECT value FROM store_info WHERE key = 'schema'").fetchone()
        old_row = db.execute("SELECT tests_armed, line FROM windows WHERE camera = 'cam0'").fetchone()
        new_rows = db.execute("SELECT count(*) FROM windows WHERE reference_needed_s = 300").fetchone()[0]
        db.close()
        check(r.returncode == 0 and "tests_armed" in cols and "line" in cols and schema == ("3",)
              and old_row == (None, "")
              and new_rows > 0, f"a schema-1 store is migrated in place (exit {r.returncode}, schema {schema}, "
                                f"old row {old_row}, {new_rows} new rows)")
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
