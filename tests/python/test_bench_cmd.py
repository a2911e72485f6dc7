"""`sightline bench CONFIG` (issue 28, item 8): what one node carries with a user's own config.

A config with one file camera and one live camera (an RTSP URL nobody serves: it plays a synthetic scene of
--live-size instead) is swept over 1 and 2 x its cameras: each count's row (frame rate near the cameras' total, no
drop, receipt p99 under the bound, per-stage p99s, CPU per frame) in the text, the JSON and the SVG plot (valid XML,
one point per count); a bad --live-size is refused naming it.

Usage: test_bench_cmd.py SIGHTLINE MODEL_YAML
"""
import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from support import FAILURES, check


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d / "s"), "--cameras", "1", "--seconds",
                        "4", "--set", "defaults.fps=10", "--set", "defaults.width=320", "--set",
                        "defaults.height=240"], check=True)
        cfg = d / "site.yaml"
        cfg.write_text(f"cameras:\n  - {{id: dock, url: {d / 's' / 'cam1.mp4'}}}\n"
                       "  - {id: gate, url: 'rtsp://127.0.0.1:1/none'}\n"
                       f"model: {Path(model).resolve()}\npublish: {{predictions: 'tcp://127.0.0.1:*'}}\n")
        r = subprocess.run([binary, "bench", str(cfg), "--cameras", "2,4", "--seconds", "4", "--live-size", "320x240",
                            "--p99-ms", "500", "--json", str(d / "b.json"), "--svg", str(d / "b.svg")],
                           capture_output=True, text=True, timeout=300)
        print(r.stdout)
        check(r.returncode == 0, f"sightline bench ran (exit {r.returncode}; {r.stderr.strip()[-300:]})")
        check("gate is live" in r.stderr and "synthetic scene 320x240" in r.stderr,
              "the live camera plays a synthetic scene of --live-size, and says so")
        j = json.loads((d / "b.json").read_text()) if (d / "b.json").exists() else {"rows": []}
        rows = j["rows"]
        check([x["cameras"] for x in rows] == [2, 4], f"one row per camera count ({[x['cameras'] for x in rows]})")
        for x in rows:
            want = (10 + 30) * x["cameras"] / 2  # dock's file at 10 fps, gate's synthetic scene at synth's 30
            fps_ok = 0.7 * want <= x["fps"] <= 1.3 * want
            check(fps_ok and x["received"] == x["frames"] and set(x["stage_ms"]) == {"decode", "wait", "infer",
                                                                                       "publish"}
                  and x["cpu_ms_per_frame"] > 0 and x["receipt_ms"]["p99"] > 0,
                  f"{x['cameras']} cameras: {x['fps']:.1f} fps (half at 10, half at 30), every frame received, four stages, "
                  f"{x['cpu_ms_per_frame']:.2f} ms CPU per frame")
        check(rows and rows[0]["sustained"] and j["sustained"] >= 2 and "largest camera count sustained" in r.stdout,
              f"two cameras (10 and 30 fps, 320x240) are sustained, and said so (sustained {j.get('sustained')})")
        try:
            svg = ET.parse(d / "b.svg").getroot()
            points = [e for e in svg.iter() if e.tag.endswith("circle")]
            check(len(points) == len(rows), f"the SVG plot: valid XML, one point per count ({len(points)})")
        except (ET.ParseError, OSError) as e:
            check(False, f"the SVG plot parses ({e})")
        bad = subprocess.run([binary, "bench", str(cfg), "--live-size", "big"], capture_output=True, text=True,
                             timeout=60)
        check(bad.returncode != 0 and "--live-size 'big'" in bad.stderr, f"a bad --live-size is refused naming it "
                                                                          f"({bad.stderr.strip()[-120:]})")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
