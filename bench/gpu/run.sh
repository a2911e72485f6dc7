#!/usr/bin/env bash
# The GPU run (issue 14) in one device call of about 8 minutes, most valuable first, on a GPU machine that has the
# CUDA toolkit, CMake, Python and PyTorch but no Debian packages and no network. Run bench/gpu/prepare.sh on the
# development machine first and carry .device. Usage: bash bench/gpu/run.sh
#
# Steps, in order, with the durations expected on the lent machine (16 cores, one H100/H200; the build estimated from
# the 2-core chroot rehearsal, which takes about 8x as long; the rest from the figures' sizes):
#   probes             5 s   driver, libnvcuvid.so.1, compute-sanitizer, glibc, PyTorch's CMake prefix (LibTorch)
#   configure         40 s   the whole project for sm_90 only (CUDA_ARCH), with LibTorch: REQUIRED (a missing
#                            LibTorch fails here, loudly; the build then goes on without it so NVDEC and the kernels
#                            are still measured, and the run fails)
#   build            180 s   everything the steps below run
#   kernels_gpu       20 s   the kernels' gpu tests (CUDA vs CPU twin on random inputs)
#   line_gpu          60 s   the line's gpu-gated tests: NVDEC (byte-exact, B-frames/4 refs, HEVC, primary context),
#                            device frames, the GPU line, LibTorch on CUDA against PyTorch (TF32 off)
#   linespeed_nvdec   60 s   bench_linespeed --decode nvdec, 1080p, 4 and 16 cameras x 5 s (fails on a CPU fallback,
#                            checks a sample against the CPU path): before memcheck, so a slow memcheck cannot cost it
#   bench_gpu         40 s   preprocess vs a D2D copy, decode + NMS, COCO matching + AP (results checked)
#   memcheck          60 s   compute-sanitizer memcheck over the kernels' gpu tests
#   bench_decode      20 s   NVDEC vs `ffmpeg -hwaccel cuda` on the same file
#   racecheck         40 s   compute-sanitizer racecheck, our kernels only (--kernel-regex kns=sightline)
#   synccheck         40 s   compute-sanitizer synccheck, likewise
#   torch anchors     60 s   PyTorch / torchvision doing the same steps as bench_gpu (if time is left: BUDGET_S)
# Rehearsed 2026-12-01 with bench/gpu/rehearse.sh (a bare Debian 12 chroot: 2 cores shared with a CI run, no GPU, no
# PyTorch): probes and the LibTorch row FAIL as they must there, configure 26 s (then 6 s without LibTorch), build
# 377 s, the test steps pass by skipping (REQUIRE_GPU=0 there), bench_gpu fails (no device), linespeed_nvdec fails
# (exit 3: every camera fell back to the CPU, as it must report) after 54 s, bench_decode 15 s: 491 s in all, so the
# optional steps were cut by the budget. On the lent machine's 16 cores the build should take about a quarter.
# In every test step SIGHTLINE_REQUIRE_GPU=1: a gpu test that would skip (no device, NVDEC fell back, no LibTorch)
# fails instead. After each step $OUT (the device tool's folder that comes back; else build-gpu/out) gets steps.md
# (the table so far), logs.tar.gz (every log) and figures.jsonl (the benchmarks' JSON lines), so a call cut off at
# its time limit still brings back what ran.
# Environment: CUDA_ARCH (90), SIGHTLINE_GPU_BUILD (build dir, build-gpu), REPS (50), BUDGET_S (480: optional steps
# start only before this many seconds), DEADLINE_S (560: no step runs past it; each step's own limit is cut to what
# is left, so the whole call ends before the device tool's 600 s), LINE_CAMERAS (4,16), LINE_SECONDS (5).
# (CMAKE_POLICY_VERSION_MINIMUM: a CMake 4 there still reads packages written for older ones.)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SIGHTLINE_GPU_BUILD:-$root/build-gpu}
out=${OUT:-$build/out}
logs=$build/logs
reps=${REPS:-50}
budget=${BUDGET_S:-480}
deadline=${DEADLINE_S:-560}
mkdir -p "$out" "$logs"
export SIGHTLINE_REQUIRE_GPU=${SIGHTLINE_REQUIRE_GPU:-1} # the rehearsal (no GPU) sets 0
gtest=${SIGHTLINE_GTEST_SOURCE_DIR:-}
for c in "$root/.device/googletest" /usr/src/googletest; do [[ -z $gtest && -d $c ]] && gtest=$c; done
[[ -n $gtest ]] || { echo "run.sh: no GoogleTest sources (run bench/gpu/prepare.sh and carry .device)" >&2; exit 2; }
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
if ! command -v compute-sanitizer >/dev/null; then # the toolkit keeps it in its own folder on some installs
    for d in /usr/local/cuda/compute-sanitizer /usr/local/cuda/bin /opt/nvidia/compute-sanitizer; do
        [[ -x $d/compute-sanitizer ]] && export PATH=$d:$PATH && break
    done
fi

declare -a names results
step() { # step NAME TIMEOUT_S CMD...: runs CMD, log in $logs/NAME.log, records pass/fail, refreshes $out
    local name=$1 limit=$2
    shift 2
    local left=$((deadline - SECONDS))
    if ((left < 5)); then
        record "$name" "not run: past the ${deadline} s deadline"
        return 1
    fi
    ((limit > left)) && limit=$left # min(the step's limit, what is left before the deadline)
    echo "=== $name (at most $limit s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$logs/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$logs/$name.log"
    record "$name" "$([[ $rc == 0 ]] && echo pass || echo "FAIL (rc $rc)") $((SECONDS - t0)) s"
    return $rc
}
record() { # record NAME RESULT: a row of steps.md, and $out refreshed
    names+=("$1")
    results+=("$2")
    {
        echo "| step | result |"
        echo "| --- | --- |"
        for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} |"; done
    } >"$out/steps.md"
    grep -h '^JSON \|^{"bench"' "$logs"/*.log 2>/dev/null | sed 's/^JSON //' >"$out/figures.jsonl"
    tar -C "$logs" -czf "$out/logs.tar.gz" .
}
optional() { # optional NAME ...: a step that starts only while the time budget lasts
    if ((SECONDS > budget)); then
        record "$1" "not run: past the ${budget} s budget"
        return 0
    fi
    step "$@"
}

# --- probes: what the machine has (each a row; a missing piece fails its row, the run goes on) ---
probes() {
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || return 1
    echo "glibc: $(ldd --version | head -1)"
    if ldconfig -p | grep -q 'libnvcuvid.so.1'; then echo "libnvcuvid.so.1: present"; else
        echo "libnvcuvid.so.1: MISSING (no NVDEC: the NVDEC tests will fail under SIGHTLINE_REQUIRE_GPU)"
        return 1
    fi
    command -v compute-sanitizer && compute-sanitizer --version | tail -1 || echo "compute-sanitizer: missing"
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.utils.cmake_prefix_path)'
}
step probes 30 probes
torch_prefix=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || torch_prefix=""
[[ -n $torch_prefix ]] || record libtorch "FAIL: no PyTorch here, so no LibTorch: the LibTorch engine cannot be tested"

# --- dependencies: the machine's development packages where it has them, else prepare.sh's tarball, unpacked into a
# folder of their own (never into /), found through CMAKE_PREFIX_PATH, their libraries through LD_LIBRARY_PATH ---
prefix=""
deps_env=(env)
if ! pkg-config --exists libavcodec libzmq opencv4 yaml-cpp 2>/dev/null; then
    tarball=$root/.device/deps.tar.xz deps=${SIGHTLINE_DEPS_DIR:-/tmp/sightline-deps}
    if [[ ! -f $tarball ]]; then
        record deps "FAIL: no development packages here and no $tarball (run bench/gpu/prepare.sh, carry .device)"
        exit 1
    fi
    rm -rf "$deps" && mkdir -p "$deps" && tar -C "$deps" -xJf "$tarball" || exit 1
    echo "=== dependencies from $tarball: FFmpeg $(cat "$deps/FFMPEG"), $(wc -l <"$deps/PACKAGES") Debian packages"
    prefix="$deps/usr/local;$deps/usr"
    # CPATH: the multiarch headers (OpenSSL's opensslconf.h, curl's) that a Debian compiler finds in
    # /usr/include/x86_64-linux-gnu on its own, here in the staged folder
    deps_env=(env "LD_LIBRARY_PATH=$deps/usr/local/lib:$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        "PATH=$deps/usr/local/bin:$PATH" "CPATH=$deps/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}")
fi
[[ -n $torch_prefix ]] && prefix="$prefix${prefix:+;}$torch_prefix"
args=(-B "$build" -S "$root" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_CUDA=ON
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DSIGHTLINE_GTEST_SOURCE_DIR="$gtest"
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_POLICY_VERSION_MINIMUM=3.5)
if ! step configure 240 "${deps_env[@]}" cmake "${args[@]}" -DSIGHTLINE_LIBTORCH=ON; then
    # loudly: the row above says FAIL; without LibTorch, NVDEC and the kernels are still worth measuring
    rm -f "$build/CMakeCache.txt"
    step configure_without_libtorch 240 "${deps_env[@]}" cmake "${args[@]}" -DSIGHTLINE_LIBTORCH=OFF || exit 1
fi
jobs=$(nproc)
step build 420 "${deps_env[@]}" cmake --build "$build" -j "$jobs" --target gpu_kernels_test kernels_preprocess_test \
    kernels_decode_nms_test kernels_match_test pipeline_media_test pipeline_model_test pipeline_line_test pipeline_models_test sightline \
    bench_gpu bench_linespeed bench_decode || exit 1

# --- tests: every gpu skip a failure ---
# (a per-test timeout, and no tests found is an error: a filter that matches nothing must not pass)
step kernels_gpu 180 ctest --test-dir "$build" -L "unit|gpu" -R 'Gpu|Preprocess|Background|DecodeNms|Match' --output-on-failure \
    --timeout 120 --no-tests=error
step line_gpu 300 "${deps_env[@]}" ctest --test-dir "$build" --output-on-failure -j 4 --timeout 120 --no-tests=error \
    -R 'Nvdec|DeviceFrames|DeviceBatch|GpuLine|Engine\.|ModelParity|Detector\.|ModelSpec'
gpu_test=$build/tests/gpu_kernels_test

# --- figures: the NVDEC line first (the one figure nothing else gives), then the kernels, then memcheck ---
engine=opencv
grep -q '^SIGHTLINE_LIBTORCH:STRING=ON' "$build/CMakeCache.txt" && engine=libtorch
step linespeed_nvdec 300 "${deps_env[@]}" "$build/bench/bench_linespeed" --decode nvdec --engine "$engine" \
    --p99-ms 50 --width 1920 --height 1080 --batch 16 --cameras "${LINE_CAMERAS:-4,16}" --seconds "${LINE_SECONDS:-5}"
work=$build/bench-work
step bench_gpu 300 "$build/bench/gpu/bench_gpu" --reps "$reps" --work "$work"
step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 3 --leak-check full "$gpu_test"
optional bench_decode 240 "${deps_env[@]}" "$build/bench/bench_decode" --reps 3
optional racecheck 300 compute-sanitizer --tool racecheck --kernel-regex kns=sightline --error-exitcode 3 "$gpu_test"
optional synccheck 300 compute-sanitizer --tool synccheck --kernel-regex kns=sightline --error-exitcode 3 "$gpu_test"
optional torch_decode_nms 300 python3 "$root/bench/gpu/torch_compare.py" "$work" --reps "$reps"
optional torch_preprocess 300 python3 "$root/bench/gpu/torch_preprocess.py" --reps "$reps"

echo
cat "$out/steps.md"
echo
grep -h -A3 '^preprocess:' "$logs/bench_gpu.log" 2>/dev/null
grep -h -E '^anchor|us/image|differ|torchvision|PyTorch|COCO|GPU .* ms' "$logs"/bench_gpu.log "$logs"/torch_*.log 2>/dev/null
grep -h -E '^largest|^ +[0-9]+ +[0-9.]+ |^decoder|^check' "$logs"/linespeed_*.log 2>/dev/null
failed=0
for r in "${results[@]}"; do [[ $r == pass* || $r == "not run"* ]] || failed=1; done
echo "run.sh: $((SECONDS)) s in all; $([[ $failed == 0 ]] && echo "every step passed" || echo "some steps FAILED (above)")"
exit $failed
