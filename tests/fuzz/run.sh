#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time on a copy of its seed corpus (the corpus in the tree is read, never
# written): tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]. BUILD_DIR is a SIGHTLINE_FUZZ=ON build (clang).
# Prints per target: executions, edges covered (cov), features (ft), corpus size, executions per second; exits 1
# on the first crash, leak, timeout or sanitizer report, naming the input that caused it (kept in $FUZZ_ARTIFACTS,
# default a temp dir): copy it into tests/fuzz/corpus/TARGET/ as a regression input once fixed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build=$(cd "${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}" && pwd)
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then # every target the build has
  for b in "$build"/tests/fuzz/fuzz_*; do [ -x "$b" ] && targets+=("${b##*/fuzz_}"); done
fi
work=$(mktemp -d /tmp/sightline-fuzz.XXXXXX)
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
printf '%-20s %10s %8s %8s %8s %10s\n' target runs cov ft corpus exec/s
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin missing (configure with -DSIGHTLINE_FUZZ=ON, CXX=clang++-14)"; exit 2; }
  mkdir -p "$work/$t"
  log="$work/$t.log"
  if ! (cd "$work" && "$bin" "$work/$t" "$here/corpus/$t" -max_total_time="$seconds" -print_final_stats=1 \
          -timeout=20 -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$artifacts/$t-" >"$log" 2>&1); then
    echo "fuzz: $t FAILED; the last lines of its log ($log):"
    tail -40 "$log"
    ls -la "$artifacts" | grep -- "$t-" || true
    status=1
    break
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo 0)
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo 0)
  corp=$(echo "$last" | grep -o 'corp: [0-9]*' | grep -o '[0-9]*' || echo 0)
  printf '%-20s %10s %8s %8s %8s %10s\n' "$t" "$runs" "$cov" "$ft" "$corp" "$speed"
done
[ $status -eq 0 ] && rm -rf "$work"
exit $status
