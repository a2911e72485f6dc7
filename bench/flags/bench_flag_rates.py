"""How often each flag family marks a camera's frames, from recordings (`sightline run --record`): issue 25, item 11
(goal: at most 10% per family on the monitor proof's nominal cameras).

Usage: python3 bench/flags/bench_flag_rates.py RECORDING... [--camera nominal]
       (the monitor proof's: .cache/monitor-proof/seed*/run.slrec, made by bench/monitor/bench_monitor_proof.py)
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "python"))
from test_flag_rates import flag_rates  # noqa: E402  (the test's reader: one definition of the families)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recordings", nargs="+", type=Path)
    ap.add_argument("--camera", help="only this camera id")
    a = ap.parse_args()
    worst = 0.0
    for rec in a.recordings:
        for cam, (n, flagged) in sorted(flag_rates(rec).items()):
            if a.camera and cam != a.camera:
                continue
            rates = {k: v / n for k, v in flagged.items()}
            worst = max([worst, *rates.values()])
            print(f"{rec}: {cam} {n} frames: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in
                                                          sorted(rates.items(), key=lambda kv: -kv[1])))
    print(f"the most any family marked: {100 * worst:.1f}% of a camera's frames (goal <= 10%)")
    sys.exit(0 if worst <= 0.10 else 1)


if __name__ == "__main__":
    main()
