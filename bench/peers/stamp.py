"""The frame index painted into a video's top-left corner, so a benchmark can tell which camera frame a peer's
result is for, whatever the peer reports (Ultralytics' stream loader reports nothing): BITS blocks of BLOCK x BLOCK
pixels along the top edge, white for a 1 bit, black for a 0, least significant first. H.264 at its usual quality
keeps a block's centre far from the middle grey, so reading it back is exact (stamp_videos.py checks every frame)."""
import numpy as np

BITS = 12  # frame indices 0..4095: the demo scene's videos have 1800 frames
BLOCK = 16


def paint(frame, index):
    for b in range(BITS):
        frame[:BLOCK, b * BLOCK:(b + 1) * BLOCK] = 235 if (index >> b) & 1 else 16
    return frame


def read(frame):
    """The index painted into a BGR (or grey) frame."""
    q = BLOCK // 4
    index = 0
    for b in range(BITS):
        if np.mean(frame[q:BLOCK - q, b * BLOCK + q:(b + 1) * BLOCK - q]) > 128:
            index |= 1 << b
    return index
