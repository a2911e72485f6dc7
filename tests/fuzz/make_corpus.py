"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from real files: the wire fixture recording
and its messages, a recording and a monitor reference from a line of the synthetic scene, the COCO fixtures, the
project's model.yaml files and run configs, a small ONNX graph of the demo head's shape, rows of a collector's
dataset. Run once when a parser's input format changes; crashes found by fuzzing go in the same folders by hand.

Usage: make_corpus.py SIGHTLINE      (needs numpy, msgpack, pyzmq and onnx: pip install onnx)
"""
import json
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fuzz/corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def wire(sightline, tmp):
    fixture = ROOT / "tests/fixtures/wire/v1_two_cameras.slrec"
    put("recording", "v1_two_cameras.slrec", fixture.read_bytes())
    with open(fixture, "rb") as f:
        u = msgpack.Unpacker(f, raw=False)
        next(u)
        kinds = set()
        for topic, body in u:
            kind = topic.split("/")[0]
            if kind not in kinds or len(kinds) < 6:
                put("wire_message", f"{topic.replace('/', '_')}_{len(kinds)}.msgpack", body)
                kinds.add(kind)
    # a recording of today's line: every optional field (luma, sharpness, uncertainty, track ids)
    scene = tmp / "scene"
    subprocess.run([sightline, "--log-level", "warn", "synth", "--out", scene, "--cameras", "1", "--seconds", "40"],
                   check=True)
    cfg = tmp / "run.yaml"
    cfg.write_text(f"cameras: [{{id: cam1, url: {scene / 'cam1.mp4'}, meta: {{line: L1}}}}]\n"
                   f"model: {ROOT / 'models/parts-v1/model.yaml'}\npublish: {{predictions: 'tcp://127.0.0.1:*'}}\n")
    subprocess.run([sightline, "--log-level", "warn", "run", cfg, "--record", tmp / "run.slrec"], check=True)
    with open(tmp / "run.slrec", "rb") as f:
        u = msgpack.Unpacker(f, raw=False)
        header = next(u)
        records = list(u)
    preds = [b for t, b in records if t.startswith("pred/")]
    put("wire_message", "pred_today.msgpack", max(preds[:200], key=len))
    put("wire_message", "stat_today.msgpack", next(b for t, b in records if t.startswith("stat/")))
    put("wire_message", "run_start.msgpack", next(b for t, b in records if t == "event"))
    small = tmp / "small.slrec"
    with open(small, "wb") as f:
        f.write(msgpack.packb(header, use_bin_type=True))
        for t, b in records[:40]:
            f.write(msgpack.packb([t, b], use_bin_type=True))
    put("recording", "today_40_records.slrec", small.read_bytes())
    subprocess.run([sightline, "--log-level", "warn", "monitor", "--replay", tmp / "run.slrec", "--reference-s", "35",
                    "--save-reference", tmp / "ref.json"], check=True)
    put("monitor_reference", "reference_35s.json", (tmp / "ref.json").read_bytes())
    put("monitor_reference", "empty.json", json.dumps({"schema": "sightline.monitor.reference/1", "bucket_s": 1,
                                                       "window_s": 30, "reference_s": 300, "bins": 639,
                                                       "cameras": []}))
    return preds[50]


def shadow_recording(sightline, tmp):
    """A line with two versions (parts-v2 in shadow beside parts-v1): the header's versions, shadow/ messages, frame
    indices of camera cam1, as `sightline compare --gt` and eval read them (the first 40 records)."""
    scene = tmp / "shadow-scene"
    subprocess.run([sightline, "--log-level", "warn", "synth", "--out", scene, "--cameras", "1", "--seconds", "2"],
                   check=True)
    cfg = tmp / "shadow.yaml"
    cfg.write_text(f"cameras: [{{id: cam1, url: {scene / 'cam1.mp4'}}}]\n"
                   f"models:\n  - {{id: v1, file: {ROOT / 'models/parts-v1/model.yaml'}}}\n"
                   f"  - {{id: v2, file: {ROOT / 'models/parts-v2/model.yaml'}}}\n"
                   "shadow: [v2]\npublish: {predictions: 'tcp://127.0.0.1:*'}\n")
    subprocess.run([sightline, "--log-level", "warn", "run", cfg, "--record", tmp / "shadow.slrec"], check=True)
    with open(tmp / "shadow.slrec", "rb") as f:
        u = msgpack.Unpacker(f, raw=False)
        header = next(u)
        records = list(u)
    data = msgpack.packb(header, use_bin_type=True)
    for t, b in records[:40]:
        data += msgpack.packb([t, b], use_bin_type=True)
    put("recording", "shadow_40_records.slrec", data)


def samples(pred):
    p = msgpack.unpackb(pred, raw=False)
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
    sample = {"v": 1, "type": "sample", "id": "cam1/1/50", "pred": p,
              "classes": ["bolt", "nut", "washer", "bracket", "defect"], "candidates_n": 1,
              "candidate_boxes": struct.pack("<4f", 1, 2, 30, 40), "candidate_scores": struct.pack("<f", 0.15),
              "candidate_classes": struct.pack("<i", 2), "strategy": "uncertain", "tags": ["uncertain"],
              "reasons": ["uncertainty 0.93"], "threshold": 0.25, "selected_ns": 1765000000000000000, "jpeg": jpeg}
    put("wire_sample", "sample.msgpack", msgpack.packb(sample, use_bin_type=True))
    ctx = dict(sample, id="cam1/1/50/-1", context_of="cam1/1/50", context_offset=-1, strategy="context")
    put("wire_sample", "context.msgpack", msgpack.packb(ctx, use_bin_type=True))


def coco():
    fx = ROOT / "tests/fixtures/detection-metrics"
    for target, names in {"coco_ground_truth": ["object_detection_metrics/coco/gt.json",
                                                "faster_coco_eval/gt_ignore_test.json",
                                                "faster_coco_eval/coco/gt_ignore_test_intid.json",
                                                "torchmetrics/coco/tm_v07_inputs.json"],
                          "coco_results": ["object_detection_metrics/coco/dt.json",
                                           "faster_coco_eval/coco/dt_ignore_test_min0.1.json",
                                           "detectron2_via_faster_coco_eval/dt.json"]}.items():
        for n in names:
            if (fx / n).exists() and (fx / n).stat().st_size < 30000:
                put(target, n.replace("/", "_"), (fx / n).read_bytes())


def yaml_files():
    put("model_yaml", "parts-v1.yaml", (ROOT / "models/parts-v1/model.yaml").read_bytes())
    for n in ("model.yaml", "yolov8t.yaml"):
        put("model_yaml", f"ultralytics_{n}", (ROOT / "tests/fixtures/ultralytics" / n).read_bytes())
    put("run_config", "minimal.yaml", "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: model.yaml\n"
                                      "publish: {predictions: 'tcp://127.0.0.1:5555'}\n")
    put("run_config", "full.yaml", """line: east-hall
cameras:
  - {id: cam1, url: rtsp://10.0.0.9/stream, meta: {line: L1}, options: {rtsp_transport: tcp}, every: 2}
  - {id: cam2, url: udp://239.0.0.1:1234, realtime: true, decode: nvdec}
model: /nonexistent/model.yaml
engine: openvino
engine_threads: 2
publish: {predictions: 'tcp://127.0.0.1:*', send_hwm: 500, samples: 'tcp://127.0.0.1:5557', samples_buffer: 64}
security: {key: line.key, authorized: [monitor.pub]}
batching: {max_batch: 8, max_wait_ms: 5, max_latency_ms: 200}
thresholds: {confidence: 0.3, iou: 0.6, max_det: 50}
flags: {near_threshold_band: 0.02, score_band: 0.1, rank_score_band: 0.75, candidate_floor: 0.1, track_iou: 0.3}
eval: {window_s: 60, iou: 0.5}
sampling:
  context_frames: 2
  strategies:
    - {name: u, type: uncertainty, min: 0.5, limits: {minute: 10}}
    - {name: r, type: random, fraction: 0.01}
""")


def onnx_model():
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.full((9, 3, 1, 1), 0.1, np.float32), "w")
    ident = helper.make_node("Identity", ["w"], ["w2"])
    conv = helper.make_node("Conv", ["images", "w2"], ["x"])
    flat = helper.make_node("Reshape", ["x", "shape"], ["head"])
    sig = helper.make_node("Sigmoid", ["head"], ["output0"])
    shape = numpy_helper.from_array(np.array([1, 9, -1], np.int64), "shape")
    g = helper.make_graph([ident, conv, flat, sig], "tiny",
                          [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 9, 64])], [w, shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    put("onnx_cut", "tiny_head.onnx", m.SerializeToString())


def dataset_rows(sightline, tmp):
    """Rows of a dataset a real collector wrote from a hand-made line (the columns joined by 0x1F)."""
    import zmq
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    out = tmp / "ds"
    c = subprocess.Popen([sightline, "--log-level", "warn", "collect", "--connect", f"tcp://127.0.0.1:{port}", "--out",
                          out, "--max-samples", "2"])
    ident, *_ = router.recv_multipart()
    for b in sorted((OUT / "wire_sample").iterdir()):
        router.send_multipart([ident, b"sample/cam1", b.read_bytes()])
        time.sleep(0.1)
    c.wait(timeout=30)
    router.close(0)
    ctx.term()
    db = sqlite3.connect(out / "dataset.db")
    cols = ["id", "camera", "frame", "pts_ns", "selected_ns", "width", "height", "image", "model", "strategy", "tags",
            "reasons", "flags", "uncertainty", "threshold", "meta", "predictions", "candidates", "classes",
            "context_of", "context_offset"]
    for i, row in enumerate(db.execute(f"SELECT {', '.join(cols)} FROM samples")):
        put("dataset_rows", f"row{i}.bin", b"\x1f".join(str(v).encode() for v in row))
    db.close()


def labelstudio_export():
    """Label Studio JSON exports as `collect import` reads them (the fuzz target's samples: east-cam1-0 and -1)."""
    def box(x, y, w, h, label):
        return {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": 640,
                "original_height": 480, "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0,
                                                  "rectanglelabels": [label]}}
    put("labelstudio_export", "two_tasks.json", json.dumps([
        {"id": 1, "data": {"image": "/data/local-files/?d=images/east-cam1-0.jpg", "sample_id": "east-cam1-0"},
         "annotations": [{"id": 1, "completed_by": 1, "created_at": "2026-12-01T10:00:00.123456Z",
                          "updated_at": "2026-12-01T10:05:00Z", "was_cancelled": False,
                          "result": [box(10, 20, 30, 40, "bolt"), box(50, 50, 10, 10, "gear")]}],
         "predictions": []},
        {"id": 2, "data": {"image": "/data/upload/1/0badcafe-east-cam1-1.jpg"},
         "annotations": [{"id": 2, "completed_by": {"id": 2, "email": "ana@line.example"}, "was_cancelled": True,
                          "result": []},
                         {"id": 3, "completed_by": 2, "created_at": "2026-12-02T08:00:00+01:00",
                          "result": [{"type": "choices", "value": {"choices": ["ok"]}}]}]}]).encode())
    put("labelstudio_export", "unlabeled.json", json.dumps([
        {"id": 3, "data": {"image": "/data/local-files/?d=images/east-cam1-1.jpg"}, "annotations": []}]).encode())


def snapshot_parent():
    """A parent snapshot's manifest.json and annotations.json as `collect snapshot --parent` reads them (the first
    byte picks which: 'm' the manifest, else the annotations), shaped as write_snapshot writes them."""
    put("snapshot_parent", "manifest.json", b"m" + json.dumps({
        "format": "sightline-snapshot", "hash": "sha256:" + "ab" * 32, "parent": None,
        "created": "2026-12-06T10:00:00Z", "annotations": {"sha256": "sha256:" + "cd" * 32},
        "samples": [{"id": "east-cam1-0", "image": "images/east-cam1-0.jpg", "sha256": "sha256:" + "ef" * 32,
                     "labels": "labelstudio user 1"}]}, indent=1).encode())
    put("snapshot_parent", "annotations.json", b"a" + json.dumps({
        "images": [{"id": 1, "file_name": "images/east-cam1-0.jpg", "width": 640, "height": 480}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200,
                         "iscrowd": 0}],
        "categories": [{"id": 1, "name": "bolt"}, {"id": 2, "name": "nut"}, {"id": 3, "name": "gear"}]}).encode())


def main(sightline):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.rmtree(OUT, ignore_errors=True)
        pred = wire(sightline, tmp)
        shadow_recording(sightline, tmp)
        samples(pred)
        coco()
        yaml_files()
        onnx_model()
        dataset_rows(sightline, tmp)
        labelstudio_export()
        snapshot_parent()
    for d in sorted(OUT.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds, {sum(p.stat().st_size for p in d.iterdir())} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
