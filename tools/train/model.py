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


def onnx_module_path(node_name):
    """'/heads.0/stem/stem.0/Conv' -> 'heads.0.stem.0' (torch.onnx scope names repeat the parent's name)."""
    path, last = "", ""
    for comp in node_name.split("/")[1:-1]:
        if last and comp.startswith(last + "."):
            path += comp[len(last):]
        else:
            path = f"{path}.{comp}" if path else comp
        last = comp
    return path


def load_onnx_weights(net, onnx_path):
    """Loads a PartsDetector ONNX export into `net` (built with the same class count): every ONNX Conv has its batch
    norm folded in, so each goes into the convolution at its module path (a bias added) and the batch norm becomes an
    identity. Returns the number of convolutions loaded."""
    import onnx
    import onnx.numpy_helper
    g = onnx.load(str(onnx_path)).graph
    init = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in g.initializer}
    modules = dict(net.named_modules())
    loaded = 0
    for node in g.node:
        if node.op_type != "Conv":
            continue
        path = onnx_module_path(node.name)
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
    return loaded


def grow_classes(net, extra):
    """Adds `extra` classes to every head's output convolution: the old rows kept, the new ones starting as a new
    head's do (scores near 0.01, small random weights)."""
    if extra <= 0:
        return net
    for head in net.heads:
        old = head.out
        new = nn.Conv2d(old.in_channels, old.out_channels + extra, 1)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:old.out_channels] = old.weight
            new.weight[old.out_channels:].normal_(0, 0.01)
            new.bias[:old.out_channels] = old.bias
            new.bias[old.out_channels:] = -4.6
        head.out = new
    net.num_classes += extra
    return net
