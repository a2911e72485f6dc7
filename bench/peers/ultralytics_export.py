#!/usr/bin/env python3
"""A copy of an ONNX detector with the metadata Ultralytics' `YOLO(file.onnx)` reads from its own exports (names,
task, stride, imgsz, batch, dynamic), so Ultralytics' predict runs the same model as the other peers. The network
is untouched: parts-v1's head has the YOLOv8 layout ([B, 4+C, N], scores after sigmoid) Ultralytics decodes.

Usage: ultralytics_export.py MODEL.onnx MODEL.yaml OUT.onnx (in a venv with `onnx`; skips an OUT newer than both)"""
import sys
from pathlib import Path

import onnx
import yaml


def main(src, spec, out):
    src, spec, out = Path(src), Path(spec), Path(out)
    if out.exists() and out.stat().st_mtime > max(src.stat().st_mtime, spec.stat().st_mtime):
        return
    m = yaml.safe_load(spec.read_text())
    model = onnx.load(str(src))
    meta = {"names": str(dict(enumerate(m["classes"]))), "task": "detect", "stride": "32",
            "imgsz": str([m["input"]["height"], m["input"]["width"]]), "batch": "1",
            "dynamic": str(bool(m["input"].get("dynamic_batch", False)))}
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    print(f"{out}: {src.name} with Ultralytics' metadata {meta}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
