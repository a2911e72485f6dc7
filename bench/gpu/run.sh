#!/usr/bin/env bash
# One call on a GPU machine that has the CUDA toolkit, CMake and PyTorch but no Debian packages and no network:
# builds the kernels (SIGHTLINE_KERNELS_ONLY), runs the CPU-twin and gpu tests, compute-sanitizer memcheck and
# racecheck on the gpu tests, the GPU benchmarks and their PyTorch / torchvision anchors, and prints one table.
# Where the full build's development packages exist too (a GPU workstation), it also builds everything and runs the
# NVDEC line: the pipeline's gpu-gated tests, bench_decode and bench_linespeed --decode nvdec at 1080p.
# Needs GoogleTest's sources: bench/gpu/prepare.sh puts them in .device/ (carry it), or set
# SIGHTLINE_GTEST_SOURCE_DIR. Logs and JSON go to $OUT when set (the device tool), else build-gpu/out.
# Environment: CUDA_ARCH (default: the GPU's own, CMake "native"), SIGHTLINE_GPU_BUILD (build dir), REPS (50).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SIGHTLINE_GPU_BUILD:-$root/build-gpu}
out=${OUT:-$build/out}
reps=${REPS:-50}
mkdir -p "$out"
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
step() { # step NAME TIMEOUT_S CMD...: runs CMD, log in $out/NAME.log, records pass/fail
    local name=$1 limit=$2
    shift 2
    echo "=== $name: $*"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$out/$name.log"
    names+=("$name")
    results+=("$([[ $rc == 0 ]] && echo pass || echo "FAIL (rc $rc)") $((SECONDS - t0)) s")
    return $rc
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
step configure 120 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_KERNELS_ONLY=ON \
    -DSIGHTLINE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-native}" -DSIGHTLINE_GTEST_SOURCE_DIR="$gtest" &&
    step build 400 cmake --build "$build" -j "$(nproc)" || { echo "build failed"; exit 1; }
step tests 300 ctest --test-dir "$build" -L "unit|gpu" --output-on-failure
gpu_test=$build/tests/gpu_kernels_test
step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 3 --leak-check full "$gpu_test"
step racecheck 300 compute-sanitizer --tool racecheck --error-exitcode 3 "$gpu_test"
step synccheck 300 compute-sanitizer --tool synccheck --error-exitcode 3 "$gpu_test"
work=$build/bench-work
step bench_gpu 300 "$build/bench/gpu/bench_gpu" --reps "$reps" --work "$work"
step torch_decode_nms 300 python3 "$root/bench/gpu/torch_compare.py" "$work" --reps "$reps"
step torch_preprocess 300 python3 "$root/bench/gpu/torch_preprocess.py" --reps "$reps"
# The whole line on the GPU (NVDEC, CUDA preprocess, LibTorch on device tensors, CUDA decode + NMS) needs the full
# build: FFmpeg, ZeroMQ, OpenCV, ... (scripts/setup.sh's packages). Where they are (a GPU workstation with Debian or
# Ubuntu), build it and run the pipeline's gpu-gated tests and the line benchmarks; on a bare GPU machine say so.
if pkg-config --exists libavcodec libzmq opencv4 yaml-cpp 2>/dev/null; then
    full=${SIGHTLINE_FULL_BUILD:-$root/build-gpu-full}
    step full_configure 180 cmake -S "$root" -B "$full" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-native}" &&
        step full_build 600 cmake --build "$full" -j "$(nproc)" &&
        {
            step line_gpu_tests 600 ctest --test-dir "$full" --output-on-failure \
                -R 'Nvdec|DeviceFrames|GpuLine|Engine\.'
            step bench_decode 300 "$full/bench/bench_decode" --reps 3
            step line_gpu_demo 600 "$full/bench/bench_linespeed" --decode nvdec --engine libtorch --p99-ms 50 \
                --width 1920 --height 1080 --cameras 1,2,4,8,16 --seconds 15
        }
else
    echo "=== full line: skipped: no FFmpeg/ZeroMQ/OpenCV/yaml-cpp development files here (bare GPU machine);" \
        "the NVDEC line, its gpu-gated tests and bench_decode / bench_linespeed --decode nvdec need the full build" |
        tee "$out/full_line.log"
fi
grep -h '^JSON ' "$out"/*.log | sed 's/^JSON //' >"$out/figures.jsonl"

echo
echo "| step | result |"
echo "| --- | --- |"
for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} |"; done
echo
grep -h -A3 '^preprocess:' "$out/bench_gpu.log" 2>/dev/null
grep -h -E '^anchor|us/image|differ|torchvision|PyTorch|COCO|GPU .* ms' "$out"/bench_gpu.log "$out"/torch_*.log 2>/dev/null
failed=0
for r in "${results[@]}"; do [[ $r == pass* ]] || failed=1; done
exit $failed
