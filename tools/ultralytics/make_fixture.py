#!/usr/bin/env python3
"""A structurally genuine Ultralytics YOLOv8 ONNX export for tests: the yolov8.yaml of the installed Ultralytics at a
reduced width (random weights: this is about the graph, not accuracy), 5 classes, 320x256 input, opset 12, as
`yolo export format=onnx` writes it. Output: tests/fixtures/ultralytics/yolov8t.onnx (+ the yaml used).

Environment (no network beyond PyPI; Debian 12): a venv over Debian's python3-torch 1.13 and python3-torchvision
0.14 (PyPI's torch is the CUDA build), Ultralytics from PyPI without its opencv-python dependency:
  apt-get install python3-torch python3-torchvision python3-onnx python3-opencv
  /usr/bin/python3 -m venv --system-site-packages .cache/ultralytics
  .cache/ultralytics/bin/pip install --no-deps ultralytics==8.3.40
  .cache/ultralytics/bin/pip install py-cpuinfo ultralytics-thop tqdm psutil requests matplotlib seaborn \\
      "numpy<2" "pandas<2.3" "scipy<1.14"
  YOLO_OFFLINE=1 .cache/ultralytics/bin/python tools/ultralytics/make_fixture.py"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import ultralytics
import yaml
from ultralytics import YOLO

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "ultralytics"


def main():
    torch.manual_seed(0)
    cfg = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml").read_text())
    cfg["scales"] = {"t": [0.33, 0.0625, 1024]}  # depth as n, a quarter of n's width
    cfg["nc"] = 5
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        Path("yolov8t.yaml").write_text(yaml.safe_dump(cfg))
        model = YOLO("yolov8t.yaml")
        f = model.export(format="onnx", imgsz=[256, 320], opset=12, simplify=False, dynamic=False)
        shutil.copy(f, OUT / "yolov8t.onnx")
        shutil.copy("yolov8t.yaml", OUT / "yolov8t.yaml")
    params = sum(p.numel() for p in model.model.parameters())
    print(f"{OUT / 'yolov8t.onnx'}: Ultralytics {ultralytics.__version__}, torch {torch.__version__}, "
          f"{params} parameters, {(OUT / 'yolov8t.onnx').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
