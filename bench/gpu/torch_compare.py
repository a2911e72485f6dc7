#!/usr/bin/env python3
"""torchvision doing what sightline's decode + top-k + NMS does, on the head bench_gpu wrote, timed on the same GPU.

Steps, batched as a PyTorch user would write them: best class per candidate, threshold, top-k per image,
cxcywh -> xyxy, one torchvision.ops.batched_nms call for the whole batch (image * classes + class as the group),
then the first max_det kept per image. Kept candidates are compared with sightline's (kept.txt).
usage: torch_compare.py WORK_DIR [--reps N]
"""
import argparse
import json
import sys

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--reps", type=int, default=50)
    a = ap.parse_args()
    with open(f"{a.work}/kept.txt") as f:
        B, C, N, conf, iou, top_k, max_det = f.readline().split()
        B, C, N, top_k, max_det = int(B), int(C), int(N), int(top_k), int(max_det)
        conf, iou = float(conf), float(iou)
        ours = [list(map(int, line.split()))[1:] for line in f]
    import numpy as np

    head = torch.from_numpy(np.fromfile(f"{a.work}/head.f32", dtype=np.float32).reshape(B, 4 + C, N)).cuda()

    def pipeline(x):
        scores, cls = x[:, 4:, :].max(dim=1)  # B, N
        masked = torch.where(scores > conf, scores, torch.full_like(scores, -float("inf")))
        k = min(top_k, N)
        top, idx = masked.topk(k, dim=1)  # sorted, best first
        valid = torch.isfinite(top)
        img = torch.arange(B, device=x.device).unsqueeze(1).expand(B, k)
        sel_img, sel_idx, sel_score = img[valid], idx[valid], top[valid]
        sel_cls = cls[sel_img, sel_idx]
        b = x[sel_img, :4, sel_idx]
        boxes = torch.stack([b[:, 0] - 0.5 * b[:, 2], b[:, 1] - 0.5 * b[:, 3],
                             b[:, 0] + 0.5 * b[:, 2], b[:, 1] + 0.5 * b[:, 3]], dim=1)
        keep = torchvision.ops.batched_nms(boxes, sel_score, sel_img * C + sel_cls, iou)
        return sel_img[keep], sel_idx[keep]

    for _ in range(3):
        pipeline(head)
    torch.cuda.synchronize()
    times = []
    for _ in range(a.reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        pipeline(head)
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    ms = times[len(times) // 2]
    k_img, k_idx = pipeline(head)
    k_img, k_idx = k_img.cpu().tolist(), k_idx.cpu().tolist()
    theirs = [[] for _ in range(B)]
    for i, n in zip(k_img, k_idx):  # batched_nms returns kept boxes by decreasing score
        if len(theirs[i]) < max_det:
            theirs[i].append(n)
    differ = sum(1 for b in range(B) if theirs[b] != ours[b])
    sets_differ = sum(1 for b in range(B) if sorted(theirs[b]) != sorted(ours[b]))
    print(f"torchvision {torchvision.__version__} (torch {torch.__version__}), same steps, batched: "
          f"{ms:.3f} ms/batch, {1e3 * ms / B:.2f} us/image")
    print(f"  kept boxes vs sightline: {differ} of {B} images differ in order or content, {sets_differ} as sets")
    print("JSON " + json.dumps({"torchvision_decode_nms_us_per_image": 1e3 * ms / B,
                               "torchvision_images_differing": differ}))
    return 0 if sets_differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
