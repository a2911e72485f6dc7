"""The first-day path (issue 25, item 2; README): a reference from a known-good recording, then a live scene tested
against it, through the binaries:

  sightline run nominal.yaml --record nominal.slrec          (two minutes of the cameras on a good day)
  sightline monitor --replay nominal.slrec --reference-s 110 --save-reference ref.json
  sightline monitor --replay today.slrec --reference ref.json --json

Today's cam3 gets darker from 30 s: the monitor raises it within 10 s of the onset, and nothing on the nominal cam1
and cam2, nor on cam3 before its onset; every camera is armed from its first window (no learning period).

Usage: test_first_day.py SIGHTLINE MODEL_YAML
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from support import FAILURES, check

ONSET = 30


def record(binary, model, d, name, seconds, scenario):
    """Renders 3 cameras (seed 31: the same cameras every time) and runs them through the line into d/name.slrec."""
    args = ["--scenario", str(d / f"{name}.scenario.yaml")] if scenario else ["--nominal"]
    if scenario:
        (d / f"{name}.scenario.yaml").write_text(scenario)
    subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d / name), "--cameras", "3", "--seconds",
                    str(seconds), "--seed", "31", "--set", "defaults.fps=10", *args], check=True)
    cams = "".join(f"  - {{id: cam{c}, url: {d / name / f'cam{c}.mp4'}}}\n" for c in (1, 2, 3))
    (d / f"{name}.yaml").write_text(f"cameras:\n{cams}model: {Path(model).resolve()}\n"
                                    "publish: {predictions: 'tcp://127.0.0.1:*'}\n")
    subprocess.run([binary, "--log-level", "warn", "run", str(d / f"{name}.yaml"), "--record",
                    str(d / f"{name}.slrec")], check=True)
    return d / f"{name}.slrec"


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        nominal = record(binary, model, d, "nominal", 120, None)
        today = record(binary, model, d, "today", 60, f"cameras:\n  cam3:\n    lighting_drift: {{start: {ONSET}, "
                                                         "ramp: 5, gain: 0.6, color_temperature: 4300}\n")
        r = subprocess.run([binary, "monitor", "--replay", str(nominal), "--reference-s", "110", "--save-reference",
                            str(d / "ref.json")], capture_output=True, text=True)
        saved = json.loads((d / "ref.json").read_text()) if (d / "ref.json").exists() else {"cameras": []}
        check(r.returncode == 0 and sorted(c["camera"] for c in saved["cameras"]) == ["cam1", "cam2", "cam3"],
              f"the known-good recording gives a reference per camera (exit {r.returncode})")
        r = subprocess.run([binary, "monitor", "--replay", str(today), "--reference", str(d / "ref.json"), "--json"],
                           capture_output=True, text=True)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        raised = [a for a in lines if a.get("kind") == "alarm_raised"]
        summary = next((l for l in lines if l.get("kind") == "summary"), {"cameras": []})
        for a in raised:
            print(f"     {a['camera']} {a['signal']}/{a['test']} at {a['window_end_ns'] / 1e9:.0f} s")
        check(r.returncode == 0 and all(c["state"] == "armed" for c in summary["cameras"]) and
              len(summary["cameras"]) == 3, "every camera is armed by the saved reference (no learning period)")
        false = [a for a in raised if a["camera"] != "cam3" or a["window_end_ns"] / 1e9 <= ONSET]
        check(not false, f"no alarm on the nominal cameras nor before the onset ({len(false)})")
        hits = [a["window_end_ns"] / 1e9 - ONSET for a in raised if a["camera"] == "cam3" and
                a["window_end_ns"] / 1e9 > ONSET]
        check(hits and min(hits) <= 10, f"cam3's lighting drift raised within 10 s of its onset "
                                        f"({'+%.0f s' % min(hits) if hits else 'never'})")
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
