#!/usr/bin/env bash
# Installs every Debian package sightline needs (idempotent, quiet) and builds it.
# Usage: scripts/setup.sh [--no-build]    Environment: BUILD_DIR (default build), SIGHTLINE_CUDA (AUTO|ON|OFF)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libopencv-dev libtbb-dev   # TBB: the CPU preprocess splits rows over its threads (OpenCV runs on it too)
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev nlohmann-json3-dev libsimdjson-dev libonnx-dev libprotobuf-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev   # header-only boost/math: the incomplete gamma behind the monitor's chi-square p-value
  prometheus-cpp-dev libsqlite3-dev   # the monitor: /metrics (prometheus-cpp's exposer) and its embedded store
  libturbojpeg0-dev   # the collector's samples: each selected frame as a JPEG
  libpng-dev   # sightline compare's contact sheet as a PNG
  libssl-dev   # SHA-256 (OpenSSL's libcrypto): the content hashes of a dataset snapshot
  # NATS JetStream: the C client for sightline bridge and the sinks' --nats; the server for the cluster tests
  libnats-dev nats-server
  libmosquitto-dev mosquitto   # the monitor's alarms on MQTT (the client), and a real broker for its test
  prometheus   # a real Prometheus server scrapes the monitor in a test; promtool checks metrics and rules
  libtorch-dev   # the LibTorch engine (TorchScript); the build leaves it out where it is missing
  python3-torch python3-onnx   # tools/train: training and fine-tuning the demo model (test_finetune runs it)
  python3 python3-venv python3-numpy python3-zmq python3-msgpack python3-yaml python3-opencv
  # a real RTSP server for the reconnect test: GStreamer's gst-rtsp-server through python3-gi
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  # a real browser for the eval report test: headless Chromium renders the HTML, its DOM and a screenshot are checked
  chromium fonts-dejavu-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# OpenVINO's C++ runtime for the OpenVINO engine: its PyPI wheel ships the headers, libopenvino, the CPU plugin and
# OpenVINOConfig.cmake (Debian 12 has no OpenVINO); the build finds it in this venv (pipeline/CMakeLists.txt).
OV_VENV=.cache/openvino-venv
OV_VERSION=2026.4.1
if ! "$OV_VENV/bin/python" -c "import openvino, sys; sys.exit(openvino.__version__.split('-')[0] != '$OV_VERSION')" 2>/dev/null; then
  echo "setup: installing OpenVINO $OV_VERSION (the openvino wheel from PyPI, about 60 MB) into $OV_VENV for the OpenVINO engine"
  python3 -m venv "$OV_VENV"
  "$OV_VENV/bin/python" -m pip install -q --disable-pip-version-check "openvino==$OV_VERSION"
fi

[ "${1:-}" = "--no-build" ] && exit 0
BUILD_DIR=${BUILD_DIR:-build}
# The Python that the python tests use: scripts/test.sh's venv (with pycocotools), else python3 on PATH.
PY=${SIGHTLINE_PYTHON:-$(command -v python3)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_CUDA="${SIGHTLINE_CUDA:-AUTO}" \
  -DPython3_EXECUTABLE="$PY" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
