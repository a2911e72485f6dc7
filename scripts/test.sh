#!/usr/bin/env bash
# Runs the whole test suite: installs and builds what is missing (scripts/setup.sh), prepares the Python oracles
# (pycocotools in .cache/venv), then ctest. Extra arguments go to ctest, e.g. `scripts/test.sh -L unit` for the
# quick run, `-L integration`, `-L gpu`, or `-R Synth`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

scripts/setup.sh --no-build
VENV=.cache/venv
if ! "$VENV/bin/python" -c "import pycocotools, numpy, zmq, msgpack, tidecv, supervision" 2>/dev/null; then
  echo "test: preparing the Python oracles and consumer deps in $VENV (pycocotools, tidecv, supervision, numpy, pyzmq, msgpack from PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check pycocotools tidecv supervision numpy pyzmq msgpack
fi
export SIGHTLINE_PYTHON="$PWD/$VENV/bin/python"
# The drift oracles (Evidently, NannyML, river) in a venv of their own: large, and Evidently needs pandas below 3.
DRIFT_VENV=.cache/drift-venv
if ! "$DRIFT_VENV/bin/python" -c "import evidently, nannyml, river" 2>/dev/null; then
  echo "test: preparing the drift oracles in $DRIFT_VENV (evidently, nannyml, river from PyPI; a few minutes)"
  python3 -m venv "$DRIFT_VENV"
  "$DRIFT_VENV/bin/python" -m pip install -q --disable-pip-version-check evidently nannyml river "pandas<3"
fi
# A real Label Studio for the collector's export (label-studio from PyPI: about 1 GB, 2-3 minutes the first time).
LS_VENV=.cache/labelstudio-venv
if ! [ -x "$LS_VENV/bin/label-studio" ]; then
  echo "test: preparing Label Studio in $LS_VENV (label-studio from PyPI; a few minutes)"
  python3 -m venv "$LS_VENV"
  "$LS_VENV/bin/python" -m pip install -q --disable-pip-version-check label-studio
fi

scripts/setup.sh
cd "$BUILD_DIR"
status=0
ctest --output-on-failure -j"$(nproc)" "$@" || status=$?
# Skipped tests say why (e.g. the gpu label without a GPU): show the reasons, once each.
if [ -f Testing/Temporary/LastTest.log ]; then
  grep -A1 ": Skipped$" Testing/Temporary/LastTest.log | grep -v -e ": Skipped$" -e "^--$" | sort -u |
    sed 's/^/test: skipped because: /' || true
fi
exit $status
