#!/usr/bin/env python3
"""Roboflow Inference as a peer (issue 17): `InferencePipeline.init_with_custom_logic` (inference-cpu from PyPI) on
live cameras, with its defaults for streams, and the model as its custom logic: the plain loop's step
(plain_loop.Detector: letterbox, onnxruntime, numpy decode, cv2.dnn.NMSBoxes), so no Roboflow hub model or API key
is involved. The pipeline hands the logic one batch of the cameras' frames at a time; its sink publishes each
frame's detections over pyzmq (msgpack) to a subscriber that binds ENDPOINT, topic pred/camK (K: the URL's
position, from 1), with the frame index painted into the picture (bench/peers/stamp.py) and the pipeline's own
`frame_id`. Runs until interrupted.

Usage: roboflow_pipeline.py URL [URL ...] MODEL.onnx --width W --height H --connect ENDPOINT [--threshold 0.25]
       [--iou 0.7] [--threads 0]
"""
import argparse
import signal
import sys
from pathlib import Path

import zmq
from inference import InferencePipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stamp  # noqa: E402
from plain_loop import Detector, message, model_args  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("urls", nargs="+")
    model_args(ap)
    ap.add_argument("--connect", required=True)
    a = ap.parse_args()
    detect = Detector(a.model, a.width, a.height, a.threshold, a.iou, a.threads)
    sock = zmq.Context().socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, 100000)
    sock.connect(a.connect)

    def on_video_frame(frames):
        return [detect(f.image) for f in frames]

    def on_prediction(predictions, frames):
        if not isinstance(frames, list):  # one camera: the sink is called per frame
            predictions, frames = [predictions], [frames]
        for p, f in zip(predictions, frames):
            if p is None or f is None:  # a camera without a frame in this batch
                continue
            boxes, scores, classes = p
            sock.send_multipart([f"pred/cam{f.source_id + 1}".encode(),
                                 message(f.frame_id, boxes, scores, classes, index=stamp.read(f.image))])

    pipeline = InferencePipeline.init_with_custom_logic(video_reference=a.urls if len(a.urls) > 1 else a.urls[0],
                                                        on_video_frame=on_video_frame, on_prediction=on_prediction)
    signal.signal(signal.SIGINT, lambda *_: pipeline.terminate())
    pipeline.start()
    pipeline.join()


if __name__ == "__main__":
    main()
