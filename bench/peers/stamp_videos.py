#!/usr/bin/python3
"""Copies of the demo scene's camera videos with each frame's index painted in (bench/peers/stamp.py), for the
line-speed comparison over RTSP (bench_linespeed_rtsp.py): decoded with OpenCV, stamped, encoded again with
Debian's ffmpeg (libx264 superfast, crf 23, no B-frames, 60-frame GOP, 30 fps: as `sightline synth` encodes them), then every frame read back and checked.

Usage: /usr/bin/python3 bench/peers/stamp_videos.py [--scene .cache/demo-scene] [--out .cache/peers-rtsp]
Skips a video already stamped (its .ok marker newer than the source)."""
import argparse
import subprocess
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stamp  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def stamp_one(src, dst):
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        sys.exit(f"{src}: cannot open")
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    enc = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
                            "-r", "30", "-i", "-", "-c:v", "libx264", "-preset", "superfast", "-crf", "23", "-bf", "0",
                            "-g", "60", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(dst)],
                           stdin=subprocess.PIPE)
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        enc.stdin.write(stamp.paint(frame, n).tobytes())
        n += 1
    enc.stdin.close()
    if enc.wait() != 0 or n == 0:
        sys.exit(f"{dst}: encoding failed after {n} frames")
    back = cv2.VideoCapture(str(dst))
    for k in range(n):
        ok, frame = back.read()
        if not ok or stamp.read(frame) != k:
            sys.exit(f"{dst}: frame {k} reads back as {stamp.read(frame) if ok else 'nothing'}")
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", type=Path, default=ROOT / ".cache" / "demo-scene")
    ap.add_argument("--out", type=Path, default=ROOT / ".cache" / "peers-rtsp")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for src in sorted(a.scene.glob("cam*.mp4")):
        dst, ok = a.out / src.name, a.out / (src.name + ".ok")
        if ok.exists() and ok.stat().st_mtime > src.stat().st_mtime:
            continue
        n = stamp_one(src, dst)
        ok.write_text(f"{n}\n")
        print(f"{dst}: {n} frames stamped and read back", flush=True)


if __name__ == "__main__":
    main()
