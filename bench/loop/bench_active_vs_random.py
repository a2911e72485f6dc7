#!/usr/bin/python3
"""Does picking frames pay? Active selection (the collector, its defaults) against uniformly random frames at the same
labeling budget, as a learning curve (issue 27, item 5).

For each seed (scenes nobody trained on): a 4-camera line (cam1 nominal; cam2 lighting drift, cam3 novel part
(gears), cam4 blur, each from 20% of the run) runs `sightline run` with `publish.samples` into `sightline collect`
(the default sampling rules and window, `max_per_window` raised so that it keeps enough frames for the largest
budget: 75 a 30 s window, 2.5 frames a second). At
each budget B, B frames of the collector's kept set (a seeded random subset: a team
labels B of the frames it was sent) and B frames drawn uniformly from every frame the line processed are labeled by
the stand-in (the scene's truth, parts hidden past occluded_fraction left out: tools/train/label_from_truth.py's
rule) and each set fine-tunes parts-v1 (tools/train/finetune.py, same recipe and seed). Both, and the parent, are
scored on a held-out scene of another seed (cam1-2 nominal; cam3 lighting, cam4 novel part, cam5 blur at full
strength from the start), drifted and nominal cameras apart, by `sightline eval` (pycocotools-exact), the
difference active - random with a paired bootstrap interval over images (`eval --compare --bootstrap`).

Which B of the kept frames a team labels moves a seed's result as much as a change of the collector's defaults
does: --draws N labels N subsets per seed and budget (each arm drawn again), a row each, and prints each seed's
mean over its draws. --sized instead has the line send about B frames (its samples a window sized to B, a line run
per budget) and labels the collector's kept frames themselves: what a team that labels all it is sent gets.

Goal (issue 27): at 100 frames, active beats random by >= 0.05 AP50 on the drifted cameras with the interval above 0,
and neither loses more than 0.01 AP50 on nominal cameras against the parent. Whatever it shows is recorded.

    /usr/bin/python3 bench/loop/bench_active_vs_random.py [--seeds 11 12 13] [--budgets 100 50 200 400] [--draws 1] [--sized]
        [--json OUT] [--plot OUT.png]
(Debian's python3-torch, -opencv; the plot with a Python that has matplotlib: --plot-python)
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools/train"))
import train  # noqa: E402
from model import PartsDetector, load_onnx_weights  # noqa: E402

DRIFTED, NOMINAL = ["cam3", "cam4", "cam5"], ["cam1", "cam2"]
KEY = "camera"
DRIFT_OF = {"cam3": "lighting", "cam4": "novel_part", "cam5": "blur"}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, **kw)


def scenario(start):
    return ("cameras:\n"
            f"  cam2:\n    lighting_drift: {{start: {start}, ramp: 10, gain: 0.7, color_temperature: 4300}}\n"
            f"  cam3:\n    novel_part: {{start: {start}, ramp: 0, rate: 0.3}}\n"
            f"  cam4:\n    blur: {{start: {start}, ramp: 0, extra_px: 10}}\n")


def heldout(args, cache):
    d = cache / f"heldout_{args.heldout_seed}"
    if not (d / "cam5.json").exists():
        (cache / "heldout.yaml").write_text(
            "cameras:\n"
            "  cam3:\n    lighting_drift: {start: 0, ramp: 0, gain: 0.7, color_temperature: 4300}\n"
            "  cam4:\n    novel_part: {start: 0, ramp: 0, rate: 0.3}\n"
            "  cam5:\n    blur: {start: 0, ramp: 0, extra_px: 10}\n")
        sh(args.sightline, "--log-level", "warn", "synth", "--out", d, "--cameras", 5, "--seconds",
           args.heldout_seconds, "--seed", args.heldout_seed, "--scenario", cache / "heldout.yaml")
    return d


def line_and_collector(args, seed_dir, seed, per_window=None):
    """The scene, the line into a collector (default sampling, `per_window` samples a window: --max-per-window
    unless given); returns the scene's and the collector's dataset folders."""
    per_window = per_window or args.max_per_window
    tag = "" if per_window == args.max_per_window else f"_w{per_window}"
    scene, ds = seed_dir / "scene", seed_dir / f"ds{tag}"
    if not (scene / "cam4.json").exists():
        (seed_dir / "scenario.yaml").write_text(scenario(round(0.2 * args.seconds)))
        sh(args.sightline, "--log-level", "warn", "synth", "--out", scene, "--cameras", 4, "--seconds", args.seconds,
           "--seed", seed, "--scenario", seed_dir / "scenario.yaml")
    if not (seed_dir / f"collected{tag}.stamp").exists():
        shutil.rmtree(ds, ignore_errors=True)
        port = 47000 + seed % 1000
        cams = "".join(f"  - {{id: cam{i}, url: {scene / f'cam{i}.mp4'}}}\n" for i in range(1, 5))
        (seed_dir / f"run{tag}.yaml").write_text(
            f"cameras:\n{cams}model: {ROOT / 'models/parts-v1/model.yaml'}\n"
            f"publish:\n  predictions: tcp://127.0.0.1:*\n  samples: tcp://127.0.0.1:{port}\n"
            f"sampling:\n  window_s: {args.window_s:g}\n  max_per_window: {per_window}\n")
        c = subprocess.Popen([args.sightline, "--log-level", "warn", "collect", "--connect",
                              f"tcp://127.0.0.1:{port}", "--out", str(ds), "--idle-exit", "8"],
                             stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        t = time.time()
        sh(args.sightline, "--log-level", "warn", "run", seed_dir / f"run{tag}.yaml")
        c.wait(timeout=300)
        log(f"seed {seed}: line and collector ({per_window} a window) in {time.time() - t:.0f} s")
        (seed_dir / f"collected{tag}.stamp").write_text("ok")
    return scene, ds


def sized_per_window(args, budget):
    """--sized: the line's samples a window for a labeling budget (its windows together send about `budget`)."""
    return max(1, round(budget * args.window_s / args.seconds))


def truth(scene, cam):
    gt = json.loads((scene / f"{cam}.json").read_text())
    by = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd", 0):
            by.setdefault(a["image_id"], []).append(a)
    return gt, by


def write_set(out, frames, scene, images_of):
    """A snapshot-layout folder (annotations.json, images/) of (camera, frame) pairs labeled by the scene's truth;
    images_of(cam, frames) -> {frame: jpeg bytes}."""
    if (out / "annotations.json").exists():
        return
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    coco = {"images": [], "annotations": [], "categories": None}
    for cam in sorted({c for c, _ in frames}):
        gt, by = truth(scene, cam)
        coco["categories"] = gt["categories"]
        wanted = sorted(f for c, f in frames if c == cam)
        for f, jpeg in images_of(cam, wanted).items():
            name = f"{cam}-{f:06d}.jpg"
            (out / "images" / name).write_bytes(jpeg)
            iid = len(coco["images"]) + 1
            coco["images"].append({"id": iid, "file_name": name, "width": gt["info"]["width"],
                                   "height": gt["info"]["height"]})
            for a in by.get(f, []):
                coco["annotations"].append(dict(a, id=len(coco["annotations"]) + 1, image_id=iid))
    (out / "annotations.json").write_text(json.dumps(coco))


def video_frames(scene):
    def get(cam, wanted):
        out, want, cap, k = {}, set(wanted), cv2.VideoCapture(str(scene / f"{cam}.mp4")), 0
        while want:
            ok, frame = cap.read()
            if not ok:
                break
            if k in want:
                out[k] = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                want.discard(k)
            k += 1
        return out
    return get


def dataset_frames(ds, kept):
    by = {(s["camera"], s["frame"]): ds / "images" / s["camera"] / Path(s["file_name"]).name for s in kept}
    return lambda cam, wanted: {f: by[(cam, f)].read_bytes() for f in wanted}


def kept_samples(args, ds, tmp):
    sh(args.sightline, "--log-level", "warn", "collect", "export", ds, "--format", "coco", "--out", tmp,
       stdout=subprocess.DEVNULL)
    images = json.loads((tmp / "annotations.json").read_text())["images"]
    manifest = [json.loads(x) for x in (tmp / "manifest.jsonl").read_text().splitlines()]
    strategy = {m["id"]: m for m in manifest}
    return [im for im in images if strategy[im["sample_id"]]["context_of"] is None]


def detections(model_dir, classes, scene, cams, gt_ids):
    net = PartsDetector(len(classes), train.INPUT_W, train.INPUT_H)
    load_onnx_weights(net, model_dir / "model.onnx")
    out, base = [], 0
    for cam in cams:
        gt = json.loads((scene / f"{cam}.json").read_text())
        images, ids, _ = train.load_camera(scene, cam, 2, with_boxes=False)
        for image_id, ds in zip(ids, train.detect(net.eval(), images, gt["info"]["width"], gt["info"]["height"])):
            out += [{"image_id": image_id + base, "category_id": gt_ids[classes[c]], "bbox": [x, y, w, h], "score": s}
                    for x, y, w, h, s, c in ds if classes[c] in gt_ids]
        base += 1_000_000
    return out


def merged_truth(scene, cams, path):
    gt_all, base = {"images": [], "annotations": [], "categories": None}, 0
    for cam in cams:
        gt = json.loads((scene / f"{cam}.json").read_text())
        keep = {im["id"] for im in gt["images"] if im["id"] % 2 == 0}
        gt_all["categories"] = gt["categories"]
        gt_all["images"] += [dict(im, id=im["id"] + base) for im in gt["images"] if im["id"] in keep]
        gt_all["annotations"] += [dict(a, id=len(gt_all["annotations"]) + k + 1, image_id=a["image_id"] + base)
                                  for k, a in enumerate(x for x in gt["annotations"] if x["image_id"] in keep)]
        base += 1_000_000
    path.write_text(json.dumps(gt_all))
    return {c["name"]: c["id"] for c in gt_all["categories"]}


def one_camera(args, dt_path, k, cam):
    """The held-out truth of one drifted camera and the detections on it (the group's k-th camera: image ids
    k x 1e6 + frame), as files for `sightline eval`."""
    gt_path = args.cache / f"heldout_{cam}_gt.json"
    if not gt_path.exists():
        full = json.loads((args.cache / "heldout_drifted_gt.json").read_text())
        lo, hi = k * 1_000_000, (k + 1) * 1_000_000
        gt_path.write_text(json.dumps(dict(full, images=[i for i in full["images"] if lo <= i["id"] < hi],
                                           annotations=[a for a in full["annotations"] if lo <= a["image_id"] < hi])))
    out = dt_path.with_name(dt_path.stem + f"_{cam}.json")
    if not out.exists():
        lo, hi = k * 1_000_000, (k + 1) * 1_000_000
        out.write_text(json.dumps([d for d in json.loads(dt_path.read_text()) if lo <= d["image_id"] < hi]))
    return gt_path, out


def ap50(args, gt, dt):
    r = subprocess.run([args.sightline, "--log-level", "warn", "eval", "--gt", gt, "--dt", dt, "--json", "-"],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)["coco"]["AP50"]


def compare(args, gt, a, b):
    r = subprocess.run([args.sightline, "--log-level", "warn", "eval", "--gt", gt, "--dt", a, "--compare", b,
                        "--bootstrap", str(args.bootstrap), "--json", "-"], check=True, capture_output=True, text=True)
    m = json.loads(r.stdout)["compare"]["metrics"]["AP50"]
    return {"a": m["a"], "b": m["b"], "diff": m["diff"], "lower": m["lower"], "upper": m["upper"]}


def one_row(args, ctx, budget, d, seed):
    """Budget `budget`, labeled subset `d` of seed `seed`: both arms fine-tuned (cached) and scored; the row."""
    scenes, orders, gts, parent_ap, parent_classes, held, gt_ids = (ctx.scenes, ctx.orders, ctx.gts, ctx.parent_ap,
                                                                    ctx.parent_classes, ctx.held, ctx.gt_ids)
    seed_dir = args.cache / f"seed{seed}"
    kept, n_frames, active_order, random_order, ds = orders[(seed, d, budget)]
    scene = scenes[seed]
    b = min(budget, len(kept))
    sets = {"active": [(s["camera"], s["frame"]) for s in active_order[:b]],
            "random": random_order[:b]}
    suffix = "" if d == 0 else f"_d{d}"
    row = {"seed": seed, "draw": d, "budget": budget, "frames": b, "kept": len(kept), "sized": args.sized,
           "active_by_camera": {c: sum(1 for x, _ in sets["active"] if x == c) for c in n_frames},
           "random_by_camera": {c: sum(1 for x, _ in sets["random"] if x == c) for c in n_frames}}
    dts = {}
    for arm, frames in sets.items():
        name = f"{arm}{'_sized' if args.sized and arm == 'active' else ''}_{b}{suffix}"
        data = seed_dir / name
        write_set(data, frames, scene, dataset_frames(ds, kept) if arm == "active" else video_frames(scene))
        model = seed_dir / f"model_{name}"
        if not (model / "model.yaml").exists():
            t = time.time()
            sh("/usr/bin/python3", ROOT / "tools/train/finetune.py", "--from", ROOT / "models/parts-v1",
               "--data", data, "--out", model, "--work", args.cache / "work", "--sightline", args.sightline,
               "--iterations", args.iterations, "--eval-seconds", 0, "--seed", 7, stdout=subprocess.DEVNULL)
            log(f"seed {seed} draw {d} {arm} {b}: fine-tuned in {time.time() - t:.0f} s")
        classes = json.loads((model / "training.json").read_text())
        classes = parent_classes + classes["classes_added"]
        for group, (gt, cams) in gts.items():
            p = seed_dir / f"dt_{name}_{group}.json"
            if not p.exists():
                p.write_text(json.dumps(detections(model, classes, held, cams, gt_ids)))
            dts[(arm, group)] = p
    for group, (gt, _) in gts.items():
        row[group] = compare(args, gt, dts[("random", group)], dts[("active", group)])
        row[group]["parent"] = parent_ap[group]
    # each drift on its own: which one the arms' frames taught
    row["by_drift"] = {DRIFT_OF[cam]: {arm: ap50(args, *one_camera(args, dts[(arm, "drifted")], k, cam))
                                       for arm in ("random", "active")}
                       for k, cam in enumerate(DRIFTED)}
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    ap.add_argument("--budgets", type=int, nargs="+", default=[100, 50, 200, 400],
                    help="labeling budgets, run in this order (100 first: the goal's)")
    ap.add_argument("--seconds", type=float, default=160, help="each seed's line, 4 cameras")
    ap.add_argument("--window-s", type=float, default=30,
                    help="the collector's ranking window (sampling.window_s: 30 is the default; the rows before "
                         "2026-12-07 used 2 with --max-per-window 5)")
    ap.add_argument("--max-per-window", type=int, default=75,
                    help="the collector's budget (sampling.max_per_window; the other rules their defaults): enough "
                         "kept frames for the largest labeling budget")
    ap.add_argument("--sized", action="store_true",
                    help="the line's sampling budget sized to each labeling budget (max_per_window = budget x "
                         "window_s / seconds, a line run each) and the collector's kept frames labeled, instead of "
                         "a seeded random subset of the frames kept at --max-per-window: a team that has the line "
                         "send only what it will label")
    ap.add_argument("--draws", type=int, default=1,
                    help="labeled subsets per seed and budget (each arm draws its B frames again; draw 0 is the "
                         "subset of the rows before this option): tells a configuration's effect from the draw's")
    ap.add_argument("--heldout-seed", type=int, default=99)
    ap.add_argument("--heldout-seconds", type=float, default=30)
    ap.add_argument("--iterations", type=int, default=300, help="finetune.py --iterations for every set")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--sightline", default=str(ROOT / "build/tools/sightline"))
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache/loop-bench")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--plot-python", default=str(ROOT / ".cache/venv/bin/python"))
    args = ap.parse_args()
    args.cache = args.cache.resolve()  # the line's config names the scene's videos by it
    args.cache.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    held = heldout(args, args.cache)
    gts = {}
    for group, cams in (("drifted", DRIFTED), ("nominal", NOMINAL)):
        gts[group] = (args.cache / f"heldout_{group}_gt.json", cams)
        gt_ids = merged_truth(held, cams, gts[group][0])
    parent_classes = ["bolt", "nut", "washer", "bracket", "defect"]
    parent_dt = {}
    for group, (gt, cams) in gts.items():
        parent_dt[group] = args.cache / f"parent_{group}.json"
        if not parent_dt[group].exists():
            parent_dt[group].write_text(json.dumps(detections(ROOT / "models/parts-v1", parent_classes, held, cams,
                                                              gt_ids)))
    parent_ap = {group: ap50(args, gt, parent_dt[group]) for group, (gt, _) in gts.items()}
    log(f"parts-v1 on the held-out scene: AP50 drifted {parent_ap['drifted']:.3f}, nominal {parent_ap['nominal']:.3f}")
    lines, scenes = {}, {}  # (seed, samples a window) -> (scene, dataset); seed -> scene
    for seed in args.seeds:  # every line first: the binary is then free (a rebuild cannot change a later seed's)
        (args.cache / f"seed{seed}").mkdir(exist_ok=True)
        for per_window in sorted({sized_per_window(args, b) for b in args.budgets} if args.sized else {None}):
            lines[(seed, per_window)] = line_and_collector(args, args.cache / f"seed{seed}", seed, per_window)
            scenes[seed] = lines[(seed, per_window)][0]
    rows, orders, kept_of = [], {}, {}
    for seed in args.seeds:
        scene = scenes[seed]
        n_frames = {f"cam{i}": len(json.loads((scene / f"cam{i}.json").read_text())["images"]) for i in range(1, 5)}
        # one generator per arm and draw: the random arm's frames do not depend on how many the collector kept
        everything = [(cam, f) for cam, n in n_frames.items() for f in range(n)]
        for budget in args.budgets:
            per_window = sized_per_window(args, budget) if args.sized else None
            ds = lines[(seed, per_window)][1]
            if ds not in kept_of:  # one export per dataset (without --sized every budget labels from the same)
                kept_of[ds] = kept_samples(args, ds, ds.with_name(ds.name + "_export"))
            kept = kept_of[ds]
            for d in range(args.draws):
                tail = [] if d == 0 else [d]  # draw 0: the subsets of the rows before --draws
                active_order = [kept[i] for i in np.random.default_rng([seed, 0] + tail).permutation(len(kept))]
                random_order = [everything[i]
                                for i in np.random.default_rng([seed, 1] + tail).permutation(len(everything))]
                orders[(seed, d, budget)] = (kept, n_frames, active_order, random_order, ds)
            log(f"seed {seed}, budget {budget}: the collector kept {len(kept)} of {len(everything)} frames "
                f"({', '.join(f'{c} {sum(1 for s in kept if s[KEY] == c)}' for c in n_frames)})")
    ctx = types.SimpleNamespace(scenes=scenes, orders=orders, gts=gts, parent_ap=parent_ap,
                                parent_classes=parent_classes, held=held, gt_ids=gt_ids)
    for budget, d, seed in [(b, d, s) for b in args.budgets for d in range(args.draws) for s in args.seeds]:
        # budget by budget, draw by draw over the seeds: a cut-short run still has whole budgets
        row = one_row(args, ctx, budget, d, seed)
        b = row["frames"]
        rows.append(row)
        dr, n = row["drifted"], row["nominal"]
        log(f"seed {seed} draw {d} budget {b}: drifted AP50 parent {dr['parent']:.3f} random {dr['a']:.3f} active "
            f"{dr['b']:.3f} (diff {dr['diff']:+.3f} [{dr['lower']:+.3f}, {dr['upper']:+.3f}]); nominal parent "
            f"{n['parent']:.3f} random {n['a']:.3f} active {n['b']:.3f}")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    print_table(rows, args)
    if args.plot:
        args.json = args.json or args.cache / "rows.json"
        args.json.write_text(json.dumps(rows, indent=1))
        sh(args.plot_python, ROOT / "bench/loop/plot_learning_curve.py", args.json, args.plot)
    log(f"done in {(time.time() - t_start) / 60:.1f} min")


def print_table(rows, args):
    print("\n| budget | seed | draw | kept by the collector | drifted AP50: parent / random / active | active - random [95%] "
          "| nominal AP50: parent / random / active |\n| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["budget"], r["seed"], r.get("draw", 0))):
        d, n = r["drifted"], r["nominal"]
        print(f"| {r['frames']} | {r['seed']} | {r.get('draw', 0)} | {r['kept']} | {d['parent']:.3f} / {d['a']:.3f} / {d['b']:.3f} | "
              f"{d['diff']:+.3f} [{d['lower']:+.3f}, {d['upper']:+.3f}] | {n['parent']:.3f} / {n['a']:.3f} / "
              f"{n['b']:.3f} |")
    print("\n| budget | seed | draw | frames active (nominal, lighting, gears, blur) | lighting AP50 random / active | "
          "novel part | blur |\n| --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["budget"], r["seed"], r.get("draw", 0))):
        a, d = r["active_by_camera"], r["by_drift"]
        print(f"| {r['frames']} | {r['seed']} | {r.get('draw', 0)} | {a['cam1']}, {a['cam2']}, {a['cam3']}, {a['cam4']} | " +
              " | ".join(f"{d[k]['random']:.3f} / {d[k]['active']:.3f}" for k in ("lighting", "novel_part", "blur")) +
              " |")
    for budget in args.budgets:
        rs = [r for r in rows if r["budget"] == budget]
        if rs:
            m = np.mean([r["drifted"]["diff"] for r in rs])
            print(f"budget {budget}: mean drifted AP50 active - random {m:+.3f} over {len(rs)} row(s); intervals "
                  f"above 0 in {sum(r['drifted']['lower'] > 0 for r in rs)}")
            by_seed = {s: [r["drifted"]["diff"] for r in rs if r["seed"] == s] for s in sorted({r["seed"] for r in rs})}
            if any(len(v) > 1 for v in by_seed.values()):
                print(f"budget {budget}: per seed, mean over its draws (min .. max): " + "; ".join(
                    f"{s} {np.mean(v):+.3f} ({min(v):+.3f} .. {max(v):+.3f})" for s, v in by_seed.items()))


if __name__ == "__main__":
    main()
