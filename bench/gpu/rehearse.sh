#!/usr/bin/env bash
# Rehearses bench/gpu/run.sh on a machine like the GPU machine, without a GPU: a bare Debian 12 root (debootstrap
# minbase with only build-essential, CMake, Ninja and Python: no development packages, no pkg-config) with this
# machine's CUDA toolkit bind-mounted, the working tree and .device copied in, then `run.sh` inside it with
# CUDA_ARCH=90 (no GPU to detect). It shows that the carried dependencies alone configure, build and run the tests
# (the gpu-gated ones skip) before device time is spent. Needs root and Debian's mirror (debootstrap, once).
# Usage: sudo bench/gpu/rehearse.sh   Environment: ROOTFS (default /srv/sightline-bare), and run.sh's own
# (LINE_CAMERAS, LINE_SECONDS: small values keep the CPU-only line short). Without a GPU the gpu steps fail and
# the gpu-gated tests skip (SIGHTLINE_REQUIRE_GPU=0 here): what it shows is that probes, configure and build work
# from the carried dependencies alone, and how long each step takes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rootfs=${ROOTFS:-/srv/sightline-bare}
cuda=$(readlink -f /usr/local/cuda)
[[ $(id -u) == 0 ]] || { echo "rehearse.sh: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
[[ -d $cuda ]] || { echo "rehearse.sh: no CUDA toolkit at /usr/local/cuda" >&2; exit 2; }
[[ -f $root/.device/deps.tar.xz ]] || { echo "rehearse.sh: run bench/gpu/prepare.sh first" >&2; exit 2; }
if [[ ! -x $rootfs/usr/bin/cmake ]]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    echo "rehearse.sh: making a bare Debian 12 root in $rootfs (a few minutes, once)"
    debootstrap --variant=minbase --include=build-essential,cmake,ninja-build,python3 bookworm "$rootfs" \
        http://deb.debian.org/debian >/dev/null
fi
mkdir -p "$rootfs/usr/local/cuda" "$rootfs/work/sl"
mountpoint -q "$rootfs/usr/local/cuda" || mount --bind "$cuda" "$rootfs/usr/local/cuda"
mountpoint -q "$rootfs/proc" || mount -t proc proc "$rootfs/proc"
mountpoint -q "$rootfs/dev" || mount --bind /dev "$rootfs/dev"
# the tree as a device call sends it: tracked and untracked-not-ignored files, and .device
(cd "$root" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -C "$rootfs/work/sl" -xf -
rm -rf "$rootfs/work/sl/.device" && cp -a "$root/.device" "$rootfs/work/sl/"
rm -rf "$rootfs/tmp/out"
chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    CUDA_ARCH=90 OUT=/tmp/out LINE_CAMERAS="${LINE_CAMERAS:-1,2}" LINE_SECONDS="${LINE_SECONDS:-5}" \
    SIGHTLINE_REQUIRE_GPU=0 bash -c "cd /work/sl && bash bench/gpu/run.sh"
status=$?
echo "rehearse.sh: \$OUT as the device call would bring it back: $(ls "$rootfs/tmp/out" | tr '\n' ' ')"
exit $status
