#!/usr/bin/env python3
"""sightline eval against the Python COCO evaluators on the same pair, side by side in one run, each in its own
process, alternated rep by rep: the phases measured inside each process (load: ground truth + results; evaluate:
matching; accumulate: + summarize), and the whole process as a user, a CI job or a script pays for it (spawn to
exit: wall, CPU = user + system, peak resident memory, against the input files' size), and the 12 stats, which must
be identical. Usage: bench_eval.py SIGHTLINE GT.json DT.json [--reps N] [--json OUT]"""
import argparse
import json
import os
import sys
import tempfile
import time

PEER = r'''
import contextlib, io, json, sys, time
mod = sys.argv[1]
if mod == "pycocotools":
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
elif mod == "faster_coco_eval":
    from faster_coco_eval import COCO, COCOeval_faster as COCOeval
elif mod == "ultrafast_pycocotools":
    from ultrafast_pycocotools import COCO, COCOeval
elif mod == "hotcoco":
    from hotcoco import COCO, COCOeval
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[2])
    dt = gt.loadRes(sys.argv[3])
    t1 = time.perf_counter()
    e = COCOeval(gt, dt, "bbox")
    e.evaluate()
    t2 = time.perf_counter()
    e.accumulate()
    e.summarize()
    t3 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "evaluate": t2 - t1, "accumulate": t3 - t2, "stats": [float(v) for v in e.stats]}))
'''

NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def measured(cmd):
    """Runs cmd under /usr/bin/time-like accounting: returns (stdout, peak RSS MB, wall s, CPU s)."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(tmp_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with {os.waitstatus_to_exitcode(status)}")
    with open(tmp_out) as f:
        return f.read(), ru.ru_maxrss / 1024, wall, ru.ru_utime + ru.ru_stime


def main():
    global tmp_out
    ap = argparse.ArgumentParser()
    ap.add_argument("sightline")
    ap.add_argument("gt")
    ap.add_argument("dt")
    ap.add_argument("--reps", type=int, default=3, help="runs of each fast evaluator (median); slow ones run once")
    ap.add_argument("--json")
    ap.add_argument("--peers", default="pycocotools,faster_coco_eval,ultrafast_pycocotools,hotcoco")
    a = ap.parse_args()
    tmpdir = tempfile.mkdtemp()
    tmp_out = os.path.join(tmpdir, "stdout")
    rows = {}
    for rep in range(a.reps):
        for peer in a.peers.split(","):
            if rep > 0 and peer in ("pycocotools", "faster_coco_eval"):
                continue  # minutes per run and far behind: once is enough
            out, rss, wall, cpu = measured([sys.executable, "-c", PEER, peer, a.gt, a.dt])
            r = json.loads(out.strip().splitlines()[-1])
            r["rss_mb"], r["wall_s"], r["cpu_s"] = rss, wall, cpu
            rows.setdefault(peer, []).append(r)
        js = os.path.join(tmpdir, "s.json")
        _, rss, wall, cpu = measured([a.sightline, "--log-level", "warn", "eval", "--gt", a.gt, "--dt", a.dt,
                                      "--json", js, "-q", "--coco-only"])
        with open(js) as f:
            j = json.load(f)
        t = j["timing_ms"]
        rows.setdefault("sightline", []).append({
            "load": t["load"] / 1e3, "evaluate": (t["prepare"] + t["match"]) / 1e3, "accumulate": t["accumulate"] / 1e3,
            "stats": [-1 if j["coco"][n] is None else j["coco"][n] for n in NAMES], "rss_mb": rss, "wall_s": wall, "cpu_s": cpu})
        print(f"rep {rep + 1}/{a.reps} done", file=sys.stderr)

    def med(vals):
        vals = sorted(vals)
        return vals[len(vals) // 2]

    if "pycocotools" in rows:
        ref = rows["pycocotools"][0]["stats"]
    else:  # the oracle still checks every row, untimed, when it is not among the peers timed
        print("pycocotools not among --peers: running it once, untimed, as the reference", file=sys.stderr)
        out = measured([sys.executable, "-c", PEER, "pycocotools", a.gt, a.dt])[0]
        ref = json.loads(out.strip().splitlines()[-1])["stats"]
    table = {}
    input_mb = (os.path.getsize(a.gt) + os.path.getsize(a.dt)) / 2**20
    print(f"{'evaluator':24s} {'load s':>8s} {'eval s':>8s} {'accum s':>8s} {'eval+acc':>9s} {'total s':>8s} "
          f"{'process s':>9s} {'CPU s':>6s} {'peak MB':>8s} {'x input':>7s} {'max |d| vs pycocotools':>24s}")
    for name, rs in rows.items():
        load, ev, acc = med([r["load"] for r in rs]), med([r["evaluate"] for r in rs]), med([r["accumulate"] for r in rs])
        tot = med([r["load"] + r["evaluate"] + r["accumulate"] for r in rs])
        diff = max(abs(x - y) for x, y in zip(rs[0]["stats"], ref))
        table[name] = {"load_s": load, "evaluate_s": ev, "accumulate_s": acc, "total_s": tot,
                       "process_s": med([r["wall_s"] for r in rs]), "cpu_s": med([r["cpu_s"] for r in rs]),
                       "peak_mb": max(r["rss_mb"] for r in rs), "max_abs_diff": diff}
        table[name]["peak_x_input"] = table[name]["peak_mb"] / input_mb
        print(f"{name:24s} {load:8.3f} {ev:8.3f} {acc:8.3f} {ev + acc:9.3f} {tot:8.3f} "
              f"{table[name]['process_s']:9.3f} {table[name]['cpu_s']:6.2f} {table[name]['peak_mb']:8.0f} "
              f"{table[name]['peak_x_input']:7.2f} {diff:24.2e}")
    peers = [n for n in table if n != "sightline"]
    if peers:
        fastest = min(peers, key=lambda n: table[n]["total_s"])
        fastest_ev = min(peers, key=lambda n: table[n]["evaluate_s"] + table[n]["accumulate_s"])
        s = table["sightline"]
        print(f"sightline vs the fastest peer ({fastest}), whole job: "
              f"{table[fastest]['total_s'] / s['total_s']:.2f}x; evaluate + accumulate vs {fastest_ev}: "
              f"{(table[fastest_ev]['evaluate_s'] + table[fastest_ev]['accumulate_s']) / (s['evaluate_s'] + s['accumulate_s']):.2f}x")
        fastest_p = min(peers, key=lambda n: table[n]["process_s"])
        print(f"whole process (spawn to exit): sightline {s['process_s']:.3f} s vs the fastest peer ({fastest_p}) "
              f"{table[fastest_p]['process_s']:.3f} s: {table[fastest_p]['process_s'] / s['process_s']:.2f}x; "
              f"sightline's peak {s['peak_mb']:.0f} MB = {s['peak_x_input']:.2f}x the input files ({input_mb:.0f} MB)")
    print("JSON " + json.dumps(table))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(table, f, indent=2)
    bad = [n for n in table if table[n]["max_abs_diff"] > 1e-6]
    if bad:
        print(f"stats differ from pycocotools beyond 1e-6: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
