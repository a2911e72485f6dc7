#!/usr/bin/python3
"""A new model version from collected frames (issue 27, item 4): fine-tunes a parent detector on a dataset snapshot.

    /usr/bin/python3 tools/train/finetune.py --from models/parts-v1 --data data/v1 --out models/parts-v2 \
        [--minutes 8] [--seed 7]

- starts from the parent's weights (its model.onnx, batch norms folded: model.py's load_onnx_weights);
- grows the head when the labels bring classes the parent lacks (new rows start as a fresh head's: scores ~0.01);
- mixes in replayed frames of the parent's own training data (train.py's scene, re-rendered by `sightline synth`
  with its seed) so nominal cameras keep their accuracy: --replay-fraction of every batch;
- writes model.onnx (checked against PyTorch in OpenCV DNN), model.torchscript.pt, model.yaml with its lineage
  (parent name@version, the snapshot's hash and manifest, the recipe, the seed, held-out figures per scenario for
  the parent and the new version), training.json and report.md.

--data takes any folder of a snapshot's layout: annotations.json (COCO) with images/ beside it (file_name relative
to images/), so a baseline of random frames is trained the same way. Deterministic for a seed (CPU, fixed threads).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402
from model import STRIDES, PartsDetector, grow_classes, load_onnx_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def log(msg):
    print(f"[finetune {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_parent(model_dir):
    spec = yaml.safe_load((model_dir / "model.yaml").read_text())
    w, h = spec["input"]["width"], spec["input"]["height"]
    if (w, h) != (train.INPUT_W, train.INPUT_H):
        sys.exit(f"finetune: {model_dir}: input {w}x{h}; this recipe trains {train.INPUT_W}x{train.INPUT_H}")
    net = PartsDetector(len(spec["classes"]), w, h)
    n = load_onnx_weights(net, model_dir / spec["file"])
    log(f"parent {spec['name']}@{spec['version']}: {n} convolutions loaded, classes {spec['classes']}")
    return net, spec


def load_data(data_dir, classes):
    """A snapshot's (or any COCO layout's) images letterboxed, with their boxes in input pixels and class indices
    into `classes` (extended with classes only the labels use, in the file's category order)."""
    coco = json.loads((data_dir / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    used = {names[a["category_id"]] for a in coco["annotations"]}
    for c in sorted(coco["categories"], key=lambda c: c["id"]):
        if c["name"] in used and c["name"] not in classes:
            classes.append(c["name"])
    by_image = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    images, targets = [], []
    for im in coco["images"]:
        bgr = cv2.imread(str(data_dir / "images" / im["file_name"]))
        if bgr is None:
            sys.exit(f"finetune: {data_dir / 'images' / im['file_name']}: cannot read the image")
        r, _, _, px, py = train.letterbox_params(bgr.shape[1], bgr.shape[0])
        images.append(train.letterbox(bgr))
        anns = by_image.get(im["id"], [])
        b = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                      for a in anns], np.float32).reshape(-1, 4) * r + np.array([px, py, px, py], np.float32)
        c = np.array([classes.index(names[a["category_id"]]) for a in anns], np.int64)
        crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], bool)
        targets.append((b, c, crowd))
    if not images:
        sys.exit(f"finetune: {data_dir / 'annotations.json'}: no images")
    return np.stack(images), targets, coco


def replay_data(binary, work, cameras, seconds):
    """The parent's training scene (train.py: seed 1001, nominal, defect rate 0.2), re-rendered: frames it learned."""
    scene = work / f"replay_{cameras}x{seconds:g}"
    train.synth(binary, scene, cameras, seconds, 1001, ["--nominal", "--set", "defaults.defect_rate=0.2"])
    images, targets = [], []
    for i in range(cameras):
        im, _, tg = train.load_camera(scene, f"cam{i + 1}", 3)
        images.append(im)
        targets += tg
    return np.concatenate(images), targets


def evaluate(model, classes, scene, cameras, coco_python, work, name):
    """pycocotools on every 2nd frame of `cameras`, the model's classes matched to the ground truth's by name (a
    class the ground truth lacks is dropped; one the model lacks scores 0)."""
    gt_all, dt_all, id_base = {"images": [], "annotations": [], "categories": None}, [], 0
    for cam in cameras:
        gt = json.loads((scene / f"{cam}.json").read_text())
        gt_id = {c["name"]: c["id"] for c in gt["categories"]}
        images, ids, _ = train.load_camera(scene, cam, 2, with_boxes=False)
        dets = train.detect(model, images, gt["info"]["width"], gt["info"]["height"])
        keep = set(ids)
        gt_all["categories"] = gt["categories"]
        gt_all["images"] += [dict(im, id=im["id"] + id_base) for im in gt["images"] if im["id"] in keep]
        gt_all["annotations"] += [dict(a, id=len(gt_all["annotations"]) + k + 1, image_id=a["image_id"] + id_base)
                                  for k, a in enumerate(x for x in gt["annotations"] if x["image_id"] in keep)]
        for image_id, ds in zip(ids, dets):
            for x, y, w, h, s, c in ds:
                if classes[c] in gt_id:
                    dt_all.append({"image_id": image_id + id_base, "category_id": gt_id[classes[c]],
                                   "bbox": [x, y, w, h], "score": s})
        id_base += 1_000_000
    gt_path, dt_path = work / f"eval_{name}_gt.json", work / f"eval_{name}_dt.json"
    gt_path.write_text(json.dumps(gt_all))
    dt_path.write_text(json.dumps(dt_all))
    res = subprocess.run([coco_python, str(Path(__file__).resolve().parent / "coco_report.py"), str(gt_path),
                          str(dt_path)], check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def heldout_sets(binary, work, seconds):
    """Held-out scenes as train.py's (nominal seed 2002, each drift scenario seed 3003), `seconds` long."""
    sets = {}
    d = work / f"heldout_{seconds:g}"
    train.synth(binary, d, 4, seconds, 2002, ["--nominal"])
    sets["heldout_nominal"] = (d, [f"cam{i}" for i in range(1, 5)])
    for name, knob in train.SCENARIOS.items():
        d = work / f"scenario_{name}_{seconds:g}"
        y = d.with_suffix(".yaml")
        y.write_text("cameras:\n" + "".join(f"  cam{i}:\n    {knob}\n" for i in (1, 2)))
        train.synth(binary, d, 2, seconds, 3003, ["--scenario", str(y)])
        sets[name] = (d, ["cam1", "cam2"])
    return sets


def fine_tune(model, data, replay, args):
    """AdamW, warm-up then cosine, EMA of the weights; each batch part snapshot, part replay (flips and gain)."""
    images, targets = data
    r_images, r_targets = replay
    ema = train.Ema(model, decay=0.999)
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}],
                            lr=args.lr)
    loss_fn = train.Loss(model)
    rng = np.random.default_rng(args.seed)
    n_replay = int(round(args.batch * args.replay_fraction)) if len(r_images) else 0
    all_images = np.concatenate([images, r_images]) if n_replay else images
    all_targets = targets + r_targets if n_replay else targets
    t0, it, warmup, stopped = time.time(), 0, min(50, args.iterations // 10 + 1), False
    while it < args.iterations:
        elapsed = time.time() - t0
        if elapsed > args.minutes * 60:
            stopped = True
            log(f"stopping at iteration {it}: past the {args.minutes:g} min cap")
            break
        lr = args.lr * min(1.0, (it + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * it / args.iterations)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = np.concatenate([rng.integers(0, len(images), args.batch - n_replay),
                              len(images) + rng.integers(0, len(r_images), n_replay) if n_replay else []]).astype(int)
        loss, parts = train.train_step(model, opt, ema, loss_fn, all_images, all_targets, idx, rng)
        if it % 25 == 0:
            log(f"iter {it}/{args.iterations} {elapsed / 60:.1f} min lr {lr:.2e} loss {loss.item():.3f} "
                f"(box {parts[0]:.3f} cls {parts[1]:.3f} l1 {parts[2]:.3f})")
        it += 1
    return ema.model.eval(), {"iterations": it, "minutes": (time.time() - t0) / 60, "stopped_early": stopped}


def export(model, out, classes, parity_images):
    """model.onnx (opset 12, dynamic batch; OpenCV DNN checked against PyTorch) and model.torchscript.pt."""
    onnx_path = out / "model.onnx"
    torch.onnx.export(model, torch.zeros(1, 3, train.INPUT_H, train.INPUT_W), str(onnx_path), opset_version=12,
                      input_names=["images"], output_names=["output0"],
                      dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}}, do_constant_folding=True)
    train.fix_identity_initializers(onnx_path)
    x = train.to_tensor(parity_images)
    with torch.no_grad():
        ref = model(x).numpy()
        traced = torch.jit.trace(model, x)
    traced.save(str(out / "model.torchscript.pt"))
    net = cv2.dnn.readNetFromONNX(str(onnx_path))
    net.setInput(x.numpy())
    got = net.forward()
    assert got.shape == (len(parity_images), 4 + len(classes), ref.shape[2]), got.shape
    return float(np.abs(got - ref).max())


def write_yaml(path, name, version, classes, parent, lineage):
    text = f"""# {name}: fine-tuned from {parent['name']}@{parent['version']} by tools/train/finetune.py (lineage below)
name: {name}
version: {version}
file: model.onnx
torchscript: model.torchscript.pt
input:
  width: {train.INPUT_W}
  height: {train.INPUT_H}
  color: rgb
  layout: nchw
  dtype: float32
  scale: 0.00392156862745098
  mean: [0.0, 0.0, 0.0]
  std: [1.0, 1.0, 1.0]
  pad_value: {train.PAD}
  dynamic_batch: true
output:
  layout: yolov8
  candidates: {sum((train.INPUT_W // s) * (train.INPUT_H // s) for s in STRIDES)}
classes: [{", ".join(classes)}]
thresholds: {yaml.safe_dump(parent.get("thresholds", {"confidence": 0.25, "iou": 0.6, "max_det": 100}),
                             default_flow_style=True).strip()}
"""
    path.write_text(text + "# what it came from, how, and what it scored (finetune.py)\n" +
                    yaml.safe_dump({"lineage": lineage}, sort_keys=False, width=110))


def write_report(path, name, version, parent, lineage, rows):
    table = "\n".join(f"| {s} | {p['AP']:.3f} | {p['AP50']:.3f} | {c['AP']:.3f} | {c['AP50']:.3f} | "
                      f"{c['AP50'] - p['AP50']:+.3f} | {c['images']} |" for s, p, c in rows)
    d, r = lineage["data"], lineage["recipe"]
    path.write_text(f"""# {name}@{version}: fine-tuned from {parent['name']}@{parent['version']}

`{lineage['command']}`

Data: {d['images']} labeled frames ({d['boxes']} boxes) from `{d['path']}` (snapshot {d.get('snapshot_hash') or 'none'};
labeled by: {', '.join(d['labelers']) or 'not said'}), classes added: {', '.join(lineage['classes_added']) or 'none'};
{r['replay_frames']} replayed frames of the parent's training scene, {r['replay_fraction']:.0%} of every batch. {lineage['training']['iterations']} iterations of batch
{r['batch']} in {lineage['training']['minutes']:.1f} min on {r['threads']} CPU threads (seed {r['seed']}){' (stopped at the time cap)' if lineage['training']['stopped_early'] else ''}.

## Held-out figures (pycocotools, every 2nd frame; {r['eval_seconds']:g} s scenes: nominal seed 2002, scenarios seed 3003)

| set | parent AP | parent AP50 | {name} AP | {name} AP50 | AP50 change | images |
| --- | --- | --- | --- | --- | --- | --- |
{table}

OpenCV DNN vs PyTorch on two frames: max abs diff {lineage['parity_max_abs_diff']:.2e}.
""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="parent", required=True, help="the parent model's folder (model.yaml, model.onnx)")
    ap.add_argument("--data", required=True, help="a snapshot folder: annotations.json (COCO) and images/")
    ap.add_argument("--out", required=True, help="the new model's folder")
    ap.add_argument("--name", help="the new model's name (default: the out folder's name)")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--minutes", type=float, default=8.0, help="cap on training wall time (default 8)")
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--replay-fraction", type=float, default=0.75,
                    help="share of each batch from the parent's training scene (0: none)")
    ap.add_argument("--replay-cameras", type=int, default=4)
    ap.add_argument("--replay-seconds", type=float, default=10)
    ap.add_argument("--eval-seconds", type=float, default=10, help="length of each held-out scene (0: no evaluation)")
    ap.add_argument("--sightline", default=str(ROOT / "build/tools/sightline"))
    ap.add_argument("--work", default=str(ROOT / "data/finetune"), help="scratch (rendered scenes, eval files)")
    ap.add_argument("--coco-python", default=str(ROOT / ".cache/venv/bin/python"),
                    help="a Python with pycocotools")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    parent_dir, data_dir, out, work = Path(args.parent), Path(args.data), Path(args.out), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    model, parent = load_parent(parent_dir)
    classes = list(parent["classes"])
    images, targets, coco = load_data(data_dir, classes)
    added = classes[len(parent["classes"]):]
    grow_classes(model, len(added))
    log(f"data: {len(images)} frames, {sum(len(t[0]) for t in targets)} boxes; classes added: {added or 'none'}")
    replay = replay_data(args.sightline, work, args.replay_cameras, args.replay_seconds) \
        if args.replay_fraction > 0 else (np.zeros((0,) + images.shape[1:], np.uint8), [])
    log(f"replay: {len(replay[0])} frames of the parent's training scene")
    parent_model, _ = load_parent(parent_dir)
    final, trained = fine_tune(model, (images, targets), replay, args)
    log(f"trained {trained['iterations']} iterations in {trained['minutes']:.1f} min")

    rows, figures = [], {}
    if args.eval_seconds > 0:
        for name, (scene, cams) in heldout_sets(args.sightline, work, args.eval_seconds).items():
            p = evaluate(parent_model.eval(), parent["classes"], scene, cams, args.coco_python, work, "parent_" + name)
            c = evaluate(final, classes, scene, cams, args.coco_python, work, name)
            rows.append((name, p, c))
            figures[name] = {"parent": {k: round(p[k], 4) for k in ("AP", "AP50")},
                             "this": {k: round(c[k], 4) for k in ("AP", "AP50")}, "images": c["images"]}
            log(f"{name}: AP50 {p['AP50']:.3f} -> {c['AP50']:.3f}")
    parity = export(final, out, classes, images[:2])
    log(f"OpenCV DNN vs PyTorch: max abs diff {parity:.2e}")

    manifest = data_dir / "manifest.json"
    snap = json.loads(manifest.read_text()) if manifest.exists() else {}
    name = args.name or out.name
    lineage = {
        "parent": f"{parent['name']}@{parent['version']}",
        "command": "tools/train/finetune.py " + " ".join(sys.argv[1:]),
        "data": {"path": str(data_dir), "snapshot_hash": snap.get("hash"),
                 "snapshot_parent": (snap.get("parent") or {}).get("hash"),
                 "annotations_sha256": (snap.get("annotations") or {}).get("sha256"),
                 "labelers": sorted({e.get("labeler", "") for e in snap.get("samples", [])}),
                 "images": len(images), "boxes": int(sum(len(t[0]) for t in targets))},
        "classes_added": added,
        "recipe": {"seed": args.seed, "iterations": args.iterations, "minutes_cap": args.minutes, "batch": args.batch,
                   "lr": args.lr, "threads": args.threads, "replay_fraction": args.replay_fraction,
                   "replay_frames": int(len(replay[0])),
                   "replay_scene": f"sightline synth --seed 1001 --nominal --set defaults.defect_rate=0.2 "
                                   f"--cameras {args.replay_cameras} --seconds {args.replay_seconds:g}",
                   "eval_seconds": args.eval_seconds},
        "training": trained,
        "heldout": figures,
        "parity_max_abs_diff": parity,
    }
    write_yaml(out / "model.yaml", name, args.version, classes, parent, lineage)
    (out / "training.json").write_text(json.dumps(lineage, indent=1))
    write_report(out / "report.md", name, args.version, parent, lineage, rows)
    log(f"wrote {out} ({name}@{args.version}, classes {classes}) in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
