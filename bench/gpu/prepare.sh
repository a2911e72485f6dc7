#!/usr/bin/env bash
# Run on the development machine before a device call: puts what bench/gpu/run.sh needs and the GPU machine lacks
# into .device/ (git-ignored locally through .git/info/exclude; name it in the device call's `carry`).
# Today that is GoogleTest's source tree (Debian's libgtest-dev ships it in /usr/src/googletest).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/.device"
mkdir -p "$(dirname "$(git -C "$root" rev-parse --git-path info/exclude)")"
grep -qx '/.device/' "$(git -C "$root" rev-parse --git-path info/exclude)" 2>/dev/null || echo '/.device/' >>"$(git -C "$root" rev-parse --git-path info/exclude)"
if [[ ! -d $root/.device/googletest ]]; then
    [[ -d /usr/src/googletest ]] || { echo "prepare.sh: /usr/src/googletest missing (apt-get install libgtest-dev)" >&2; exit 1; }
    cp -r /usr/src/googletest "$root/.device/googletest"
fi
du -sh "$root/.device"
