#!/usr/bin/env python3
"""A PyTorch chain doing sightline's preprocess on the GPU, timed with CUDA events: a batch of pitched NV12 1080p
frames -> chroma upsampled, BT.601 limited-range YUV -> RGB, bilinear resize (align_corners=False, as cv::resize),
letterbox pad with 114, scale to [0, 1], fp16 NCHW. Prints ms per batch and us per frame.
usage: torch_preprocess.py [--frames 32] [--reps 50]
"""
import argparse
import json

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--input", type=int, default=640)
    a = ap.parse_args()
    B, W, H, S = a.frames, 1920, 1080, a.input
    pitch = (W + 511) // 512 * 512
    g = torch.Generator(device="cuda").manual_seed(7)
    y_plane = torch.randint(0, 256, (B, H, pitch), dtype=torch.uint8, device="cuda", generator=g)
    uv_plane = torch.randint(0, 256, (B, H // 2, pitch), dtype=torch.uint8, device="cuda", generator=g)
    scale = min(S / W, S / H)
    rw, rh = round(W * scale), round(H * scale)
    px, py = (S - rw) // 2, (S - rh) // 2

    def chain():
        y = y_plane[:, :, :W].float()
        uv = uv_plane[:, :, :W].view(B, H // 2, W // 2, 2).permute(0, 3, 1, 2).float()
        uv = F.interpolate(uv, size=(H, W), mode="bilinear", align_corners=False)
        c = 1.164383562 * (y - 16.0)
        d, e = uv[:, 0] - 128.0, uv[:, 1] - 128.0
        rgb = torch.stack([c + 1.596026786 * e, c - 0.391762290 * d - 0.812967647 * e, c + 2.017232143 * d], 1)
        rgb = rgb.clamp_(0, 255)
        rgb = F.interpolate(rgb, size=(rh, rw), mode="bilinear", align_corners=False)
        out = torch.full((B, 3, S, S), 114.0 / 255, dtype=torch.float16, device="cuda")
        out[:, :, py:py + rh, px:px + rw] = (rgb * (1 / 255.0)).half()
        return out

    for _ in range(3):
        chain()
    torch.cuda.synchronize()
    times = []
    for _ in range(a.reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        chain()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    ms = times[len(times) // 2]
    print(f"PyTorch {torch.__version__} chain, {B} x 1080p NV12 -> {S}x{S} fp16 NCHW (no luma stats): "
          f"{ms:.3f} ms/batch, {1e3 * ms / B:.2f} us/frame")
    print("JSON " + json.dumps({"torch_preprocess_us_per_frame": 1e3 * ms / B}))


if __name__ == "__main__":
    main()
