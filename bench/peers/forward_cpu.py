#!/usr/bin/env python3
"""The anchor for "CPU per frame excluding the forward pass" (bench_linespeed_rtsp.py): the CPU time per frame of
the model's forward pass alone, back to back in one process, on the same input size, with the engine and settings a
peer runs it with: onnxruntime (its default threads, or --threads) or OpenVINO's CPU plugin (latency hint, f32, as
sightline's engine). The input is a letterboxed frame of the demo scene; the figure is the process's user + system
time over --reps calls, divided by frames (calls x batch). Run it in the venv that has the engine.

Usage: forward_cpu.py MODEL.onnx --engine onnxruntime|openvino [--batch 1] [--threads 0] [--reps 300]
Prints one JSON line."""
import argparse
import json
import os
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--engine", choices=["onnxruntime", "openvino"], required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=256)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    x = rng.random((a.batch, 3, a.height, a.width), dtype=np.float32)
    if a.engine == "onnxruntime":
        import onnxruntime as ort
        so = ort.SessionOptions()
        if a.threads:
            so.intra_op_num_threads = a.threads
        sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def forward():
            return sess.run(None, {name: x})
    else:
        import openvino as ov
        core = ov.Core()
        cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if a.threads:
            cfg["INFERENCE_NUM_THREADS"] = a.threads
        model = core.read_model(a.model)
        model.reshape({model.inputs[0].get_any_name(): list(x.shape)})
        req = core.compile_model(model, "CPU", cfg).create_infer_request()

        def forward():
            return req.infer({0: x})
    for _ in range(20):
        forward()
    c0, w0 = os.times(), time.perf_counter()
    for _ in range(a.reps):
        forward()
    c1, w1 = os.times(), time.perf_counter()
    frames = a.reps * a.batch
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(json.dumps({"model": os.path.basename(a.model), "engine": a.engine, "batch": a.batch, "threads": a.threads,
                      "cpu_ms_per_frame": cpu * 1000 / frames, "wall_ms_per_frame": (w1 - w0) * 1000 / frames}))


if __name__ == "__main__":
    main()
