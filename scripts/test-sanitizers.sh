#!/usr/bin/env bash
# The sanitizer half of CI (issue 24, items 2 and 3), after scripts/test.sh:
#   1. an ASan + UBSan build with clang 14 (build-asan; its libraries instrumented for libFuzzer too), running the
#      C++ tests, the fuzz targets' corpora and the Python tests that drive the binaries;
#   2. a TSan build (build-tsan) running the line, transport and sink tests;
#   3. every libFuzzer target for FUZZ_SECONDS (default 20) on a copy of its seed corpus (tests/fuzz/run.sh).
# No report is allowed: the sanitizers write to .cache/sanitizer-logs/ and any file there fails the run.
# Usage: scripts/test-sanitizers.sh [asan] [tsan] [fuzz]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(asan tsan fuzz)
want() { [[ " ${steps[*]} " == *" $1 "* ]]; }

scripts/setup.sh --no-build
missing=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "sanitizers: installing ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
source scripts/python_envs.sh

logs="$PWD/.cache/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
supp="$PWD/tests/sanitizers"
export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan:suppressions=$supp/asan.supp:allocator_may_return_null=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
export TSAN_OPTIONS="log_path=$logs/tsan:suppressions=$supp/tsan.supp:second_deadlock_stack=1"
# -O1 with line tables only: a sanitizer build compiles in about half the time of -O2 -g and its reports still
# name files and lines
common=(-G Ninja -DSIGHTLINE_CUDA=OFF -DSIGHTLINE_LIBTORCH=OFF -DSIGHTLINE_OPENVINO=OFF -DSIGHTLINE_BUILD_BENCH=OFF
        -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only -DNDEBUG"
        "-DPython3_EXECUTABLE=$SIGHTLINE_PYTHON")
status=0
reports() { # fails on any sanitizer report written so far
  if compgen -G "$logs/*" >/dev/null; then
    echo "sanitizers: reports in $logs:"
    for f in "$logs"/*; do echo "== $f"; head -60 "$f"; done
    return 1
  fi
}
# the command's own status: called in `... || status=1`, where bash ignores set -e, so a failing ctest must say so
timed() { local t0=$SECONDS rc=0; "$@" || rc=$?; echo "sanitizers: '$*' took $((SECONDS - t0)) s (exit $rc)"; return $rc; }

if want asan; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-asan "${common[@]}" \
    -DSIGHTLINE_SANITIZE=address,undefined -DSIGHTLINE_FUZZ=ON >/dev/null
  timed cmake --build build-asan -j"$(nproc)"
  # the C++ tests and the Python tests that drive the binaries (the drift oracles and Label Studio test other
  # programs' code and run as long as they like; the normal build runs them)
  (cd build-asan && timed ctest --output-on-failure -j"$(nproc)" -LE gpu \
     -E 'python_drift_oracles|python_collect_labelstudio|python_eval_tide|python_eval_pycocotools') || status=1
  reports || status=1
fi
# TSan: the line's, the transport's and the sinks' tests; the Python tests that hold the binaries to real-time
# rates (frames per second scraped, a stall noticed within a second) do not fit its 5-15x slowdown and run in the
# other two builds. Third-party libraries' own synchronisation is invisible to it: tests/sanitizers/tsan.supp.
if want tsan && [ $status -eq 0 ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-tsan "${common[@]}" \
    -DSIGHTLINE_SANITIZE=thread >/dev/null
  timed cmake --build build-tsan -j"$(nproc)" --target sightline sightline-core transport_pubsub_test transport_blob_test \
    transport_samples_test transport_recording_test transport_checks_test pipeline_line_test drift_monitor_test \
    curate_sampler_test tools_run_test pipeline_models_test transport_jetstream_test
  (cd build-tsan && timed ctest --output-on-failure -j"$(nproc)" \
     -R '^(PubSub|SamplesChannel|Recording|Checks|Wire|Blob|SampleMessage|Runner|RunConfig|Stats|Tracker|Flags|Monitor|MonitorStore|Sampler|SampleImage|Run|Models|Line|JetStreamServer|PeekPred)[.]|^python_(signals|security)$') \
    || status=1
  reports || status=1
fi
if want fuzz && [ $status -eq 0 ]; then
  [ -d build-asan ] || { echo "sanitizers: fuzz needs the asan step's build"; exit 2; }
  timed tests/fuzz/run.sh build-asan "${FUZZ_SECONDS:-20}" || status=1
  reports || status=1
fi
exit $status
