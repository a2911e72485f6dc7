#!/usr/bin/python3
"""A YOLOv8n-sized detector for the GPU line benchmark: the YOLOv8n network (backbone with C2f blocks and SPPF,
PAN neck, decoupled head with DFL; 80 classes at 640x640, 8400 candidates, about 3.16 M parameters and 8.7 GFLOPs)
written here in plain PyTorch from the published architecture, with untrained (random) weights: no pretrained
weights can be fetched on these machines, and the benchmark measures time, not accuracy. Ultralytics' head-bias
initialisation keeps class scores low, as a trained model's are on empty scenes, so decode and NMS see few boxes.

Writes OUT/model.yaml, OUT/model.torchscript.pt (traced, batch-norm folded, dynamic batch) and, where this
PyTorch's exporter can, OUT/model.onnx (for the OpenCV engine), in the output layout sightline reads as `yolov8`: [B, 84, 8400], centre-x,
centre-y, w, h in input pixels, then 80 class scores after sigmoid.

Usage: python3 tools/train/yolov8n.py --out DIR [--device cuda|cpu] [--seed 0]
"""
import argparse
import math
from pathlib import Path

import torch
import torch.nn as nn

STRIDES = (8, 16, 32)
REG_MAX = 16
COCO = ("person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign "
        "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag tie "
        "suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
        "tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot "
        "hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
        "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier "
        "toothbrush").split()


class Conv(nn.Module):
    """Convolution, batch norm, SiLU."""

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))

    def fold(self):
        """Folds the batch norm into the convolution (inference)."""
        w, bn = self.conv.weight, self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size, self.conv.stride,
                         self.conv.padding, bias=True)
        conv.weight.data = w * scale.view(-1, 1, 1, 1)
        conv.bias.data = bn.bias - bn.running_mean * scale
        self.conv, self.bn = conv, nn.Identity()


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c2, 3), Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """Split, n bottlenecks on one half, concatenate every intermediate, 1x1 convolution."""

    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = self.cv1(x)
        ys = [y[:, :self.c], y[:, self.c:]]
        for m in self.m:
            ys.append(m(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c = c1 // 2
        self.cv1, self.cv2 = Conv(c1, c), Conv(4 * c, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class YoloV8n(nn.Module):
    def __init__(self, nc=80, size=640):
        super().__init__()
        self.nc = nc
        self.b0, self.b1, self.b2 = Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), C2f(32, 32, 1, True)
        self.b3, self.b4 = Conv(32, 64, 3, 2), C2f(64, 64, 2, True)                  # P3/8
        self.b5, self.b6 = Conv(64, 128, 3, 2), C2f(128, 128, 2, True)               # P4/16
        self.b7, self.b8, self.b9 = Conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256, 256)  # P5/32
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h12, self.h15 = C2f(384, 128, 1, False), C2f(192, 64, 1, False)
        self.h16, self.h18 = Conv(64, 64, 3, 2), C2f(192, 128, 1, False)
        self.h19, self.h21 = Conv(128, 128, 3, 2), C2f(384, 256, 1, False)
        c2, c3 = max(16, 64 // 4, 4 * REG_MAX), max(64, min(nc, 100))
        chans = (64, 128, 256)
        self.box = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1))
                                 for c in chans)
        self.cls = nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1))
                                 for c in chans)
        with torch.no_grad():  # Ultralytics' bias initialisation
            for b, c, s in zip(self.box, self.cls, STRIDES):
                b[-1].bias.fill_(1.0)
                c[-1].bias.fill_(math.log(5 / nc / (size / s) ** 2))
        anchors, strides = [], []
        for s in STRIDES:
            g = size // s
            ys, xs = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
            anchors.append(torch.stack([xs.flatten() + 0.5, ys.flatten() + 0.5]).float())
            strides.append(torch.full((g * g,), float(s)))
        self.register_buffer("anchors", torch.cat(anchors, 1))        # [2, N] in cells
        self.register_buffer("strides", torch.cat(strides).view(1, N_OF(size)))  # [1, N]
        self.register_buffer("bins", torch.arange(REG_MAX, dtype=torch.float32).view(1, 1, REG_MAX, 1))

    def forward(self, x):
        p3 = self.b4(self.b3(self.b2(self.b1(self.b0(x)))))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        n4 = self.h12(torch.cat([self.up(p5), p4], 1))
        o3 = self.h15(torch.cat([self.up(n4), p3], 1))
        o4 = self.h18(torch.cat([self.h16(o3), n4], 1))
        o5 = self.h21(torch.cat([self.h19(o4), p5], 1))
        box, cls = [], []
        for f, b, c in zip((o3, o4, o5), self.box, self.cls):
            box.append(b(f).flatten(2))
            cls.append(c(f).flatten(2))
        box, cls = torch.cat(box, 2), torch.cat(cls, 2)                # [B, 64, N], [B, nc, N]
        d = box.view(box.shape[0], 4, REG_MAX, -1).softmax(2)           # DFL: expected distance per side
        d = (d * self.bins).sum(2)                                      # [B, 4, N] l, t, r, b in strides
        lt, rb = self.anchors - d[:, :2], self.anchors + d[:, 2:]
        xywh = torch.cat([(lt + rb) / 2, rb - lt], 1) * self.strides
        return torch.cat([xywh, cls.sigmoid()], 1)                      # [B, 4 + nc, N]

    def fold(self):
        for m in self.modules():
            if isinstance(m, Conv):
                m.fold()
        return self


def N_OF(size):
    return sum((size // s) ** 2 for s in STRIDES)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for model.yaml, model.torchscript.pt and model.onnx")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    size, nc = 640, 80
    net = YoloV8n(nc, size).eval()
    params = sum(p.numel() for p in net.parameters())
    net = net.fold().to(a.device)
    x = torch.rand(2, 3, size, size, device=a.device)
    with torch.no_grad():
        y = net(x)
        traced = torch.jit.trace(net, x)
        y1 = traced(x[:1])  # a traced batch of 1 must give the same as the batch of 2's first image
    assert y.shape == (2, 4 + nc, N_OF(size)), y.shape
    assert torch.allclose(y1, y[:1], atol=1e-3, rtol=1e-3), "traced module is not batch-size independent"
    traced.save(str(out / "model.torchscript.pt"))
    # ONNX too where this PyTorch can (the TorchScript-based exporter; newer PyTorch defaults to another): the
    # LibTorch engine needs only the TorchScript file, and model.yaml names the ONNX one only when it was written
    onnx_line = ""
    try:
        kw = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
        torch.onnx.export(net.cpu(), x.cpu(), str(out / "model.onnx"), input_names=["images"],
                          output_names=["output0"], dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
                          opset_version=12, **kw)
        onnx_line = "file: model.onnx\n"
    except Exception as e:  # noqa: BLE001 - any exporter failure only drops the ONNX file
        print(f"yolov8n.py: no ONNX export ({type(e).__name__}: {str(e)[:200]}); TorchScript only")
    (out / "model.yaml").write_text(f"""# YOLOv8n-sized, untrained: written by tools/train/yolov8n.py (GPU line benchmark)
name: yolov8n-random
version: 0.0.0
{onnx_line}torchscript: model.torchscript.pt
input:
  width: {size}
  height: {size}
  color: rgb
  layout: nchw
  dtype: float32
  scale: 0.00392156862745098
  mean: [0.0, 0.0, 0.0]
  std: [1.0, 1.0, 1.0]
  pad_value: 114
  dynamic_batch: true
output:
  layout: yolov8
  candidates: {N_OF(size)}
classes: [{", ".join(COCO)}]
thresholds:
  confidence: 0.25
  iou: 0.7
  max_det: 300
""")
    print(f"yolov8n.py: {params / 1e6:.3f} M parameters (before folding), output {tuple(y.shape)}, "
          f"max class score {y[:, 4:].max().item():.4f}; wrote {out}")


if __name__ == "__main__":
    main()
