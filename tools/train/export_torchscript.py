#!/usr/bin/python3
"""TorchScript export of the demo model for the LibTorch engine: models/parts-v1/model.torchscript.pt.

The network is model.py's PartsDetector; its weights come from the committed ONNX export (the training run keeps
its PyTorch checkpoint out of the repository), where every convolution has its batch norm folded in: each ONNX
Conv is loaded into the PyTorch convolution at the same module path (a bias added), and the batch norms become
identities. The traced module is checked against OpenCV DNN running the ONNX file on the same random batch.

Usage: /usr/bin/python3 tools/train/export_torchscript.py [--model-dir models/parts-v1]
(Debian's python3-torch and python3-onnx; the same torch that libtorch-dev builds against.)"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import PartsDetector, load_onnx_weights  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[2] / "models" / "parts-v1"))
    a = ap.parse_args()
    d = Path(a.model_dir)
    spec = yaml.safe_load((d / "model.yaml").read_text())
    w, h = spec["input"]["width"], spec["input"]["height"]
    net = PartsDetector(len(spec["classes"]), w, h).eval()
    loaded = load_onnx_weights(net, d / spec["file"])
    net.eval()
    x = torch.rand(2, 3, h, w)
    traced = torch.jit.trace(net, x)
    out = d / "model.torchscript.pt"
    traced.save(str(out))
    cvnet = cv2.dnn.readNetFromONNX(str(d / spec["file"]))
    cvnet.setInput(x.numpy())
    ref = cvnet.forward()
    with torch.no_grad():
        got = torch.jit.load(str(out))(x).numpy()
    diff = float(np.abs(got - ref).max())
    print(f"{out}: {loaded} convolutions loaded; batch 2 vs OpenCV DNN on the ONNX file: max abs diff {diff:.2e}")
    return 0 if diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
