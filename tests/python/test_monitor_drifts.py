"""The other drifts `sightline synth` makes raise alarms too (issue 16): a camera shift, extra blur and a class-mix
change, each on its own camera from 310 s (after the monitor's default 300 s reference), through the line and the
monitor with its defaults (but --min-values for the 10 fps scene): each drifted camera raises an alarm after its
onset, and no camera raises one before. The scene is rendered at 10 fps to keep the test short (at 10 fps the belt's
own motion blur is three times that at 30, so the extra blur lowers the sharpness by only about 20%: the monitor's
sharpness signal is tested on crafted streams, tests/drift/monitor_test.cpp, the blurred flag at 30 fps).

Usage: test_monitor_drifts.py SIGHTLINE MODEL_YAML
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from support import FAILURES, check, record_scene

ONSET = 310
SCENARIO = f"""cameras:
  cam1:
    camera_shift: {{start: {ONSET}, ramp: 0, dx: 60, dy: 30, rotation_deg: 4}}
  cam2:
    blur: {{start: {ONSET}, ramp: 0, extra_px: 10}}
  cam3:
    class_mix: {{start: {ONSET}, ramp: 0, weights: {{bolt: 0.1, nut: 0.1, washer: 0.1, bracket: 0.7}}}}
"""


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        record_scene(binary, model, d, SCENARIO, 3, ONSET + 90, 7, 10)
        out = subprocess.run([binary, "--log-level", "error", "monitor", "--replay", str(d / "r.slrec"), "--json",
                              "--min-values", "250"], check=True, capture_output=True, text=True).stdout
        raised = [json.loads(l) for l in out.splitlines()]
        raised = [a for a in raised if a["kind"] == "alarm_raised"]
        early = [f"{a['camera']} {a['signal']}/{a['test']} at {a['window_end_ns'] / 1e9:.0f} s" for a in raised
                 if a["window_end_ns"] / 1e9 <= ONSET]
        check(not early, f"nothing raised before the onset at {ONSET} s ({early})")
        for cam, drift in (("cam1", "camera shift"), ("cam2", "blur"), ("cam3", "class mix")):
            hits = [a for a in raised if a["camera"] == cam and a["window_end_ns"] / 1e9 > ONSET]
            first = min(hits, key=lambda a: a["window_end_ns"]) if hits else None
            check(first is not None, f"{drift} on {cam} raised an alarm after its onset" +
                  (f": {first['signal']}/{first['test']} at +{first['window_end_ns'] / 1e9 - ONSET:.0f} s" if first else ""))
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
