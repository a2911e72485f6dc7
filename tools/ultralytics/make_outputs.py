#!/usr/bin/env python3
"""Reference outputs of the Ultralytics fixture on a seeded input, with onnxruntime (PyPI), for the C++ tests:
  input.f32    the input [1, 3, 256, 320], seeded uniform in [0, 1)
  raw.f32      the head cut before Ultralytics' decoding tail, /model.22/Concat_3_output_0 [1, 69, 1680]
  output0.f32  Ultralytics' own decoded output [1, 9, 1680] (cx, cy, w, h in input pixels, 5 sigmoid scores)
All little-endian float32, in tests/fixtures/ultralytics/. Usage (the make_fixture.py venv plus onnxruntime):
  .cache/ultralytics/bin/pip install onnxruntime && .cache/ultralytics/bin/python tools/ultralytics/make_outputs.py"""
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort

D = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "ultralytics"
CUT = "/model.22/Concat_3_output_0"


def main():
    x = np.random.default_rng(20261123).random((1, 3, 256, 320), dtype=np.float32)
    full = ort.InferenceSession(str(D / "yolov8t.onnx"), providers=["CPUExecutionProvider"])
    out0 = full.run(["output0"], {"images": x})[0]
    with tempfile.TemporaryDirectory() as t:
        cut = Path(t) / "cut.onnx"
        onnx.utils.extract_model(str(D / "yolov8t.onnx"), str(cut), ["images"], [CUT])
        raw = ort.InferenceSession(str(cut), providers=["CPUExecutionProvider"]).run([CUT], {"images": x})[0]
    assert out0.shape == (1, 9, 1680) and raw.shape == (1, 69, 1680), (out0.shape, raw.shape)
    for name, a in (("input", x), ("raw", raw), ("output0", out0)):
        a.astype("<f4").tofile(D / f"{name}.f32")
    print(f"{D}: input {x.shape}, raw {raw.shape}, output0 {out0.shape}; best score {out0[0, 4:].max():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
