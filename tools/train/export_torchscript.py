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
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import PartsDetector  # noqa: E402


def module_path(node_name):
    """'/heads.0/stem/stem.0/Conv' -> 'heads.0.stem.0' (torch.onnx scope names repeat the parent's name)."""
    path, last = "", ""
    for comp in node_name.split("/")[1:-1]:
        if last and comp.startswith(last + "."):
            path += comp[len(last):]
        else:
            path = f"{path}.{comp}" if path else comp
        last = comp
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=str(Path(__file__).resolve().parents[2] / "models" / "parts-v1"))
    a = ap.parse_args()
    d = Path(a.model_dir)
    spec = yaml.safe_load((d / "model.yaml").read_text())
    w, h = spec["input"]["width"], spec["input"]["height"]
    net = PartsDetector(len(spec["classes"]), w, h).eval()
    g = onnx.load(str(d / spec["file"])).graph
    init = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in g.initializer}
    modules = dict(net.named_modules())
    loaded = 0
    for node in g.node:
        if node.op_type != "Conv":
            continue
        path = module_path(node.name)
        weight, bias = init[node.input[1]], init[node.input[2]]
        if path in modules and isinstance(modules[path], nn.Conv2d) and modules[path].bias is not None:
            conv = modules[path]  # a head's output convolution: no batch norm
        else:  # conv() = Sequential(Conv2d, BatchNorm2d, ReLU): the ONNX conv has the batch norm folded in
            seq = modules[path.rsplit(".", 1)[0]]
            old = seq[0]
            conv = nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=True)
            seq[0], seq[1] = conv, nn.Identity()
        assert conv.weight.shape == weight.shape, (path, conv.weight.shape, weight.shape)
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        loaded += 1
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
