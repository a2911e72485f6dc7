"""The demo detector: a small anchor-free single-stage network with the output layout of an Ultralytics
YOLOv8/YOLO11 ONNX export, [B, 4+C, N]: centre-x, centre-y, w, h in input pixels, then per-class scores after
sigmoid.

Written for Debian 12's OpenCV 4.6 DNN importer (see the foundation issue): opset 12, slicing instead of chunk,
anchors stored as [2, N] and strides as [4, N] (no broadcasting against batch-1 constants), every reshape as
view(-1, ...) so batch > 1 works.
"""
import torch
import torch.nn as nn

STRIDES = (8, 16, 32)


def conv(c1, c2, k=3, s=1):
    return nn.Sequential(nn.Conv2d(c1, c2, k, s, k // 2, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True))


class Head(nn.Module):
    def __init__(self, c, hidden, num_classes, stride):
        super().__init__()
        self.stem = conv(c, hidden)
        self.out = nn.Conv2d(hidden, 4 + num_classes, 1)
        # Priors: distances start near 2 strides, class scores near 0.01.
        with torch.no_grad():
            self.out.bias[:4].fill_(0.7)
            self.out.bias[4:].fill_(-4.6)

    def forward(self, x):
        return self.out(self.stem(x))


class PartsDetector(nn.Module):
    def __init__(self, num_classes, width, height):
        super().__init__()
        assert width % 32 == 0 and height % 32 == 0
        self.num_classes = num_classes
        self.width, self.height = width, height
        self.stem = conv(3, 16, 3, 2)
        self.s4 = conv(16, 16, 3, 2)
        self.s8 = nn.Sequential(conv(16, 32, 3, 2), conv(32, 32))
        self.s16 = nn.Sequential(conv(32, 48, 3, 2), conv(48, 48))
        self.s32 = nn.Sequential(conv(48, 64, 3, 2), conv(64, 64))
        self.lat5 = conv(64, 32, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse4 = conv(48 + 32, 48)
        self.lat4 = conv(48, 24, 1)
        self.fuse3 = conv(32 + 24, 32, 1)
        self.heads = nn.ModuleList(
            [Head(32, 32, num_classes, 8), Head(48, 48, num_classes, 16), Head(64, 48, num_classes, 32)])
        anchors, strides = [], []
        for s in STRIDES:
            gh, gw = height // s, width // s
            ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
            anchors.append(torch.stack([(xs.flatten() + 0.5) * s, (ys.flatten() + 0.5) * s]).float())
            strides.append(torch.full((gh * gw,), float(s)))
        self.register_buffer("anchors", torch.cat(anchors, 1))                        # [2, N]
        self.register_buffer("strides4", torch.cat(strides).unsqueeze(0).repeat(4, 1))  # [4, N]

    def raw(self, x):
        """Per-candidate raw outputs [B, 4+C, N]: log-distances (l, t, r, b) in strides, class logits."""
        p8 = self.s8(self.s4(self.stem(x)))
        p16 = self.s16(p8)
        p32 = self.s32(p16)
        n16 = self.fuse4(torch.cat([self.up(self.lat5(p32)), p16], 1))
        n8 = self.fuse3(torch.cat([self.up(self.lat4(n16)), p8], 1))
        outs = [h(f) for h, f in zip(self.heads, (n8, n16, p32))]
        c = 4 + self.num_classes
        return torch.cat([o.view(-1, c, o.shape[2] * o.shape[3]) for o in outs], 2)

    def decode(self, raw, clamp=True):
        """Raw outputs -> (ltrb distances in pixels [B,4,N], class logits [B,C,N])."""
        d = raw[:, 0:4, :]
        if clamp:
            d = d.clamp(max=6.0)
        return torch.exp(d) * self.strides4, raw[:, 4:, :]

    def forward(self, x):
        dist, logits = self.decode(self.raw(x), clamp=False)
        lt, rb = dist[:, 0:2, :], dist[:, 2:4, :]
        xy = self.anchors + (rb - lt) * 0.5
        wh = lt + rb
        return torch.cat([xy, wh, torch.sigmoid(logits)], 1)
