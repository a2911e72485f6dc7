#!/usr/bin/python3
"""The loop as one run anyone can watch (issue 27, item 6; docs/loop.md): the demo line drifts under parts-v1, the
monitor alarms, the collector keeps the frames worth labeling, the labelers' stand-in labels them (the scene's truth),
the labels come back (`collect import`), a dataset version is frozen (`collect snapshot`), a new version is
fine-tuned from it (tools/train/finetune.py), the new version runs in shadow beside parts-v1 on the same frames of
one line (docs/versions.md), `sightline compare --gt` scores the two per camera (agreement, and AP50 with a paired
bootstrap interval), and the line's config is promoted to the new version when it wins on the drifted cameras without
losing the nominal ones. Each step prints its figures.

    /usr/bin/python3 tools/loop/demo_loop.py [--work .cache/demo-loop] [--iterations 600] [--bootstrap 100]

(Debian's python3-torch for the fine-tune; about 8 minutes on 2 cores.) Promotion is the run config naming the new
version; on a line that keeps running, `rollout:` (guardrails that decide) or `sightline ctl serve` do it instead.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIFTED = {"cam3": "lighting drift from 30 s", "cam4": "novel part (gears) from 20 s"}
NOMINAL = {"cam1": "nominal", "cam2": "nominal"}


def step(n, what):
    print(f"\n== {n}. {what} ({time.strftime('%H:%M:%S')})", flush=True)


def sh(*args, quiet=False):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"demo_loop: {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    if not quiet and r.stdout.strip():
        print(r.stdout.rstrip(), flush=True)
    return r.stdout


def cameras(scene):
    return "".join(f"  - {{id: {c}, url: {scene / f'{c}.mp4'}}}\n" for c in ("cam1", "cam2", "cam3", "cam4"))


def run_shadow_line(binary, scene, v1, v2, work):
    """One line: v1 serves every camera, v2 runs beside it on every frame (shadow:); the recording keeps both."""
    cfg = work / "line-shadow.yaml"
    cfg.write_text(f"cameras:\n{cameras(scene)}models:\n  - {{id: v1, file: {v1}}}\n  - {{id: v2, file: {v2}}}\n"
                   "shadow: [v2]\npublish:\n  predictions: tcp://127.0.0.1:*\n")
    rec = work / "shadow.slrec"
    rec.unlink(missing_ok=True)
    t = time.time()
    sh(binary, "--log-level", "warn", "run", cfg, "--record", rec)
    print(f"   the 4 cameras x 60 s through one line, parts-v2 beside parts-v1 on every frame, in "
          f"{time.time() - t:.0f} s -> {rec}")
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / ".cache/demo-loop")
    ap.add_argument("--sightline", default=str(ROOT / "build/tools/sightline"))
    ap.add_argument("--iterations", type=int, default=600, help="finetune.py --iterations")
    ap.add_argument("--bootstrap", type=int, default=100)
    args = ap.parse_args()
    t0 = time.time()
    b, work = args.sightline, args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    scene, dataset, v1 = ROOT / ".cache/demo-scene", ROOT / ".cache/demo-collect", ROOT / "models/parts-v1"

    step(1, "the demo line under parts-v1: a line, a monitor, a collector (sightline demo)")
    out = sh(b, "--log-level", "warn", "demo", quiet=True)
    print("\n".join(line for line in out.splitlines() if line.startswith(("cam", "monitor", "collector", "line "))))

    step(2, "labels: the stand-in (the scene's truth) labels every kept frame; collect import brings them back")
    sh(sys.executable, ROOT / "tools/train/label_from_truth.py", dataset, "--truth", scene, "--out",
       work / "labels.json", "--sightline", b)
    sh(b, "collect", "import", dataset, "--from", "coco", work / "labels.json", "--labeler",
       "stand-in: the demo scene's truth")

    step(3, "a dataset version: collect snapshot")
    sh(b, "collect", "snapshot", dataset, "--out", work / "v1-data")

    step(4, "a new version: tools/train/finetune.py --from models/parts-v1")
    t = time.time()
    sh("/usr/bin/python3", ROOT / "tools/train/finetune.py", "--from", v1, "--data", work / "v1-data", "--out",
       work / "parts-v2", "--name", "parts-v2", "--version", "1.0.0-demo", "--iterations", args.iterations,
       "--eval-seconds", 0, "--work", work / "finetune", "--sightline", b, quiet=True)
    print(f"   {work / 'parts-v2'} in {time.time() - t:.0f} s (lineage in its model.yaml)")

    step(5, "parts-v2 in shadow beside parts-v1 on the same frames of one line")
    v2 = work / "parts-v2" / "model.yaml"
    rec = run_shadow_line(b, scene, v1 / "model.yaml", v2, work)

    step(6, "sightline compare --gt per camera (box agreement; AP50 at the line's threshold, paired bootstrap over "
            "frames)")
    print(f"   {'camera':6} {'what':28} {'agree':>6} {'v1 AP50':>8} {'v2 AP50':>8} {'v2 - v1':>8}  95% interval")
    results = {}
    for cam, what in {**NOMINAL, **DRIFTED}.items():
        out = work / f"compare-{cam}.json"
        sh(b, "--log-level", "warn", "compare", rec, "--gt", scene / f"{cam}.json", "--camera", cam, "--bootstrap",
           args.bootstrap, "--json", out, quiet=True)
        c = json.loads(out.read_text())
        m = c["ground_truth"]["metrics"]["AP50"]
        results[cam] = {**m, "agreement": c["by_camera"][cam]["agreement"]}
        print(f"   {cam:6} {what:28} {100 * results[cam]['agreement']:5.1f}% {m['a']:8.3f} {m['b']:8.3f} "
              f"{m['diff']:+8.3f}  [{m['lower']:+.3f}, {m['upper']:+.3f}]")

    step(7, "promote")
    wins = all(results[c]["lower"] > 0 for c in DRIFTED)
    keeps = all(results[c]["diff"] >= -0.01 for c in NOMINAL)
    if wins and keeps:
        promoted = work / "line-promoted.yaml"
        promoted.write_text(f"cameras:\n{cameras(scene)}model: {v2}\npublish:\n  predictions: tcp://127.0.0.1:*\n")
        print(f"   parts-v2 wins on every drifted camera (interval above 0) and loses at most 0.01 AP50 on the "
              f"nominal ones: promoted, {promoted} names it")
    else:
        print(f"   not promoted: drifted cameras won: {wins}; nominal cameras kept (>= -0.01 AP50): {keeps}")
    (work / "loop.json").write_text(json.dumps({"compare": results, "promoted": wins and keeps}, indent=1))
    print(f"\nthe loop in {(time.time() - t0) / 60:.1f} min; figures in {work / 'loop.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
