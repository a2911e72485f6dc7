#!/usr/bin/env bash
# Runs the whole test suite: installs and builds what is missing (scripts/setup.sh), prepares the Python oracles
# (pycocotools in .cache/venv), then ctest. Extra arguments go to ctest, e.g. `scripts/test.sh -L unit` for the
# quick run, `-L integration`, `-L gpu`, or `-R Synth`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

scripts/setup.sh --no-build
source scripts/python_envs.sh

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
