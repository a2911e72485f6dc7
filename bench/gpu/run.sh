#!/usr/bin/env bash
# One script for a GPU machine that has the CUDA toolkit, CMake and PyTorch but no Debian packages and no network.
#   bash bench/gpu/run.sh kernels   builds the kernels alone (SIGHTLINE_KERNELS_ONLY), runs the CPU-twin and gpu
#                                   tests, compute-sanitizer memcheck, racecheck and synccheck on the gpu tests, the GPU
#                                   benchmarks and their PyTorch / torchvision anchors;
#   bash bench/gpu/run.sh line      builds the whole project against the dependencies bench/gpu/prepare.sh packed
#                                   into .device/deps.tar.xz (FFmpeg with NVDEC, ZeroMQ, OpenCV core/imgproc/dnn, ...;
#                                   or the machine's own development packages where it has them) with LibTorch from
#                                   the machine's PyTorch, runs the pipeline's tests (the gpu-gated NVDEC, device-frame
#                                   and GPU-line parity ones among them), bench_decode (NVDEC vs ffmpeg -hwaccel cuda)
#                                   and the 1080p GPU line count (bench_linespeed --decode nvdec --engine libtorch)
#                                   with the demo model and with a YOLOv8n-sized one (tools/train/yolov8n.py);
#   bash bench/gpu/run.sh all       both (the default; longer than one device call's 10 minutes: use two calls).
# (CMAKE_POLICY_VERSION_MINIMUM: a CMake 4 there still reads packages written for older ones.)
# Each prints a table of its steps. Run bench/gpu/prepare.sh on the development machine first and carry .device.
# Every step's log goes to build-gpu/logs; after each step $OUT (the device tool's folder that comes back, at most 8
# files: else build-gpu/out) gets steps.md (the table so far), logs.tar.gz (every log so far) and figures.jsonl (the
# benchmarks' JSON lines), so a call cut off at its time limit still brings back what ran.
# Environment: CUDA_ARCH (default: the GPU's own, CMake "native"), SIGHTLINE_GPU_BUILD (kernels build dir),
# SIGHTLINE_FULL_BUILD (line build dir), REPS (50), LINE_SECONDS (10 per camera count), LINE_CAMERAS (camera counts
# for the demo model: 4,16,32,64), LINE_YOLO_CAMERAS (for the YOLOv8n-sized one: 4,8,16,32).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SIGHTLINE_GPU_BUILD:-$root/build-gpu}
out=${OUT:-$build/out}
logs=$build/logs
reps=${REPS:-50}
phase=${1:-all}
[[ $phase =~ ^(kernels|line|all)$ ]] || { echo "usage: run.sh [kernels|line|all]" >&2; exit 2; }
mkdir -p "$out" "$logs"
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
    echo "=== $name: $*"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$logs/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$logs/$name.log"
    names+=("$name")
    results+=("$([[ $rc == 0 ]] && echo pass || echo "FAIL (rc $rc)") $((SECONDS - t0)) s")
    {
        echo "| step | result |"
        echo "| --- | --- |"
        for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} |"; done
    } >"$out/steps.md"
    grep -h '^JSON ' "$logs"/*.log 2>/dev/null | sed 's/^JSON //' >"$out/figures.jsonl"
    tar -C "$logs" -czf "$out/logs.tar.gz" .
    return $rc
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$logs/device.txt"
jobs=$(nproc)

run_kernels() {
    step configure 120 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_KERNELS_ONLY=ON \
        -DSIGHTLINE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-native}" -DSIGHTLINE_GTEST_SOURCE_DIR="$gtest" \
        -DCMAKE_POLICY_VERSION_MINIMUM=3.5 &&
        step build 400 cmake --build "$build" -j "$jobs" || return 1
    step tests 300 ctest --test-dir "$build" -L "unit|gpu" --output-on-failure
    # the figures first, the sanitizers after (slow: each step has its own time limit)
    local work=$build/bench-work
    step bench_gpu 300 "$build/bench/gpu/bench_gpu" --reps "$reps" --work "$work"
    step torch_decode_nms 300 python3 "$root/bench/gpu/torch_compare.py" "$work" --reps "$reps"
    step torch_preprocess 300 python3 "$root/bench/gpu/torch_preprocess.py" --reps "$reps"
    local gpu_test=$build/tests/gpu_kernels_test
    step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 3 --leak-check full "$gpu_test"
    step racecheck 300 compute-sanitizer --tool racecheck --error-exitcode 3 "$gpu_test"
    step synccheck 300 compute-sanitizer --tool synccheck --error-exitcode 3 "$gpu_test"
}

# The whole line on the GPU (NVDEC, CUDA preprocess, LibTorch on device tensors, CUDA decode + NMS) needs the full
# build. Its dependencies: the machine's own development packages where it has them (a GPU workstation with Debian
# or Ubuntu), else the ones prepare.sh packed, unpacked into a folder of their own (never into /) and found through
# CMAKE_PREFIX_PATH; their shared libraries through LD_LIBRARY_PATH, set for these steps only.
deps_env=()
run_line() {
    local full=${SIGHTLINE_FULL_BUILD:-$root/build-gpu-full} prefix=""
    if ! pkg-config --exists libavcodec libzmq opencv4 yaml-cpp 2>/dev/null; then
        local tarball=$root/.device/deps.tar.xz deps=${SIGHTLINE_DEPS_DIR:-/tmp/sightline-deps}
        if [[ ! -f $tarball ]]; then
            echo "=== line: skipped: no development packages here and no $tarball (run bench/gpu/prepare.sh on" \
                "the development machine and carry .device)" | tee "$logs/line.log"
            return 1
        fi
        rm -rf "$deps" && mkdir -p "$deps" && tar -C "$deps" -xJf "$tarball" || return 1
        echo "=== line: dependencies from $tarball: FFmpeg $(cat "$deps/FFMPEG"), $(wc -l <"$deps/PACKAGES") Debian packages"
        prefix="$deps/usr/local;$deps/usr"
        deps_env=(env "LD_LIBRARY_PATH=$deps/usr/local/lib:$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            "PATH=$deps/usr/local/bin:$PATH")
    fi
    # LibTorch: the machine's PyTorch ships its CMake package
    local torch_prefix
    torch_prefix=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) &&
        prefix="$prefix${prefix:+;}$torch_prefix"
    local args=(-B "$full" -S "$root" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_CUDA=ON
        -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-native}" -DSIGHTLINE_GTEST_SOURCE_DIR="$gtest"
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_POLICY_VERSION_MINIMUM=3.5)
    step full_configure 240 "${deps_env[@]}" bash -c 'cmake "$@" -DSIGHTLINE_LIBTORCH=ON || {
        echo "=== LibTorch: its CMake package does not configure here (above): configuring without it"
        rm -f "$2/CMakeCache.txt"; cmake "$@" -DSIGHTLINE_LIBTORCH=OFF; }' _ "${args[@]}" || return 1
    step full_build 420 "${deps_env[@]}" cmake --build "$full" -j "$jobs" --target sightline pipeline_media_test \
        pipeline_model_test tools_run_test pipeline_synth_test bench_decode bench_linespeed || return 1
    # the gpu-gated tests of the line, and the model and detector tests beside them
    step line_gpu_tests 300 "${deps_env[@]}" ctest --test-dir "$full" --output-on-failure -j 4 \
        -R 'Nvdec|DeviceFrames|GpuLine|Engine\.|ModelParity|Detector\.|ModelSpec'
    step bench_decode 240 "${deps_env[@]}" "$full/bench/bench_decode" --reps 3
    # the GPU line: LibTorch reading the tensor on the GPU; where LibTorch did not configure, OpenCV DNN (one copy of
    # the tensor per batch to the host) so NVDEC and the CUDA preprocess are still measured
    local engine=opencv
    grep -q '^SIGHTLINE_LIBTORCH:STRING=ON' "$full/CMakeCache.txt" && engine=libtorch
    step line_gpu_demo 300 "${deps_env[@]}" "$full/bench/bench_linespeed" --decode nvdec --engine "$engine" \
        --p99-ms 50 --width 1920 --height 1080 --batch 16 --cameras "${LINE_CAMERAS:-4,16,32,64}" \
        --seconds "${LINE_SECONDS:-10}"
    if [[ $engine != libtorch ]]; then
        echo "=== yolov8n line: skipped: this build has no LibTorch engine (see full_configure.log)" |
            tee "$logs/line_gpu_yolov8n.log"
        return 0
    fi
    # the same line with a YOLOv8n-sized network (untrained: tools/train/yolov8n.py, exported here by PyTorch)
    step yolov8n_export 120 python3 "$root/tools/train/yolov8n.py" --out "$full/yolov8n" &&
        step line_gpu_yolov8n 300 "${deps_env[@]}" "$full/bench/bench_linespeed" --decode nvdec --engine libtorch \
            --model "$full/yolov8n/model.yaml" --p99-ms 50 --width 1920 --height 1080 --batch 16 \
            --cameras "${LINE_YOLO_CAMERAS:-4,8,16,32}" --seconds "${LINE_SECONDS:-10}"
}

[[ $phase == line ]] || run_kernels || echo "kernels: build failed"
[[ $phase == kernels ]] || run_line || echo "line: not run to the end"
echo
cat "$out/steps.md"
echo
grep -h -A3 '^preprocess:' "$logs/bench_gpu.log" 2>/dev/null
grep -h -E '^anchor|us/image|differ|torchvision|PyTorch|COCO|GPU .* ms' "$logs"/bench_gpu.log "$logs"/torch_*.log 2>/dev/null
grep -h -E '^largest|^ +[0-9]+ +[0-9.]+ ' "$logs"/line_gpu_*.log 2>/dev/null
failed=0
for r in "${results[@]}"; do [[ $r == pass* ]] || failed=1; done
exit $failed
