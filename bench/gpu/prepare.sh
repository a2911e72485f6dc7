#!/usr/bin/env bash
# Run on the development machine (Debian 12, network to Debian's mirror) before a device call: puts what
# bench/gpu/run.sh needs and the GPU machine lacks into .device/ (git-ignored locally through .git/info/exclude;
# name `.device` in the device call's `carry`):
#   .device/googletest      GoogleTest's sources (Debian's libgtest-dev ships them), built by the kernels build;
#   .device/deps.tar.xz     the full build's dependencies, unpacked there by run.sh into a folder of their own:
#     - FFmpeg 5.1 built here from Debian's source, shared, only what sightline uses (H.264/HEVC decoders with
#       NVDEC, libx264, mov/mp4/matroska/mpegts/RTSP, swscale) plus the `ffmpeg` program for bench_decode's anchor;
#     - Debian 12's packages for ZeroMQ, cppzmq, msgpack-cxx, yaml-cpp, spdlog, fmt, CLI11, nlohmann-json, simdjson,
#       ONNX, protobuf, TBB, OpenCV's core, imgproc and dnn modules, SQLite, libjpeg-turbo, libpng, OpenSSL,
#       mosquitto, prometheus-cpp (civetweb, curl) and cnats, each with the shared libraries they load (found with ldd
#       here; glibc, libstdc++, libgcc and zlib are left to the machine), unpacked with dpkg-deb;
#     - Boost: the few headers of boost/math the pipeline includes (as g++ -M lists them) and Boost's CMake files.
# The GPU machine's own glibc must be at least Debian 12's (2.36; its Ubuntu 24.04 image has 2.39).
# Environment: JOBS (make -j, default nproc), FFMPEG_VERSION (Debian source to build, default the one apt offers).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dev=$root/.device
mkdir -p "$dev"
exclude=$(git -C "$root" rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.device/' "$exclude" 2>/dev/null || echo '/.device/' >>"$exclude"
say() { echo "prepare.sh: $*" >&2; }
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO=sudo

# what this script itself needs here
need=(libgtest-dev libffmpeg-nvenc-dev libx264-dev nasm zlib1g-dev dpkg-dev xz-utils)
missing=()
for p in "${need[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d $dev/googletest ]]; then
    cp -r /usr/src/googletest "$dev/googletest"
fi

if [[ -f $dev/deps.tar.xz && ${FORCE:-0} != 1 ]]; then
    say "$dev/deps.tar.xz exists (FORCE=1 rebuilds it)"
    du -sh "$dev"
    exit 0
fi
work=$dev/work
ffcache=$root/.cache/ffmpeg-nvdec
rm -rf "$work"
stage=$work/stage
mkdir -p "$work/debs" "$stage"

# --- FFmpeg from Debian's source (kept in .cache/ffmpeg-nvdec: FORCE=1 alone does not rebuild it; delete it to) ----
if [[ ! -f $ffcache/usr/local/bin/ffmpeg ]]; then
    if ! apt-get source --download-only --print-uris ffmpeg >/dev/null 2>&1; then
        say "no deb-src line for Debian's mirror: adding /etc/apt/sources.list.d/sightline-src.sources"
        printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
            $SUDO tee /etc/apt/sources.list.d/sightline-src.sources >/dev/null
        $SUDO apt-get update -qq
    fi
    (cd "$work" && apt-get source --download-only -qq "ffmpeg${FFMPEG_VERSION:+=$FFMPEG_VERSION}" 2>/dev/null)
    tar -C "$work" -xf "$work"/ffmpeg_*.orig.tar.xz
    src=$(find "$work" -maxdepth 1 -type d -name 'ffmpeg-*' | head -1)
    say "building $(basename "$src") (about 5 minutes on 2 cores)"
    (
        cd "$src"
        ./configure --prefix=/usr/local --disable-autodetect --disable-static --enable-shared --disable-doc \
            --disable-everything --enable-gpl --enable-libx264 --enable-zlib --enable-ffnvcodec --enable-nvdec \
            --enable-hwaccel=h264_nvdec,hevc_nvdec --enable-decoder=h264,hevc,png,ppm,rawvideo \
            --enable-encoder=libx264,wrapped_avframe,rawvideo,png --enable-parser=h264,hevc,png \
            --enable-demuxer=mov,matroska,mpegts,h264,hevc,image2,rtsp,rtp,sdp,rawvideo \
            --enable-muxer=mp4,mov,matroska,null,rawvideo,h264,mpegts,rtsp,rtp --enable-protocol=file,pipe,tcp,udp,rtp \
            --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,extract_extradata,null \
            --enable-filter=buffer,buffersink,format,null,scale,copy,hwdownload,hwupload,hwupload_cuda,abuffer,abuffersink,anull,aformat,aresample \
            --disable-avdevice --disable-postproc --enable-swresample --disable-ffplay --disable-ffprobe >"$work/ffmpeg-configure.log"
        make -j"${JOBS:-$(nproc)}" >"$work/ffmpeg-build.log" 2>&1
        rm -rf "$ffcache"
        make install DESTDIR="$ffcache" >>"$work/ffmpeg-build.log" 2>&1
        basename "$src" >"$ffcache/FFMPEG"
    ) || { say "FFmpeg build failed: see $work/ffmpeg-*.log"; exit 1; }
fi
cp -a "$ffcache/." "$stage/"

# --- Debian packages and the shared libraries they load --------------------------------------------------------
# (the second lines: what the pipeline, the sinks and the bridge gained since issue 14: SQLite, libjpeg-turbo, libpng,
# OpenSSL, mosquitto, prometheus-cpp with civetweb and curl, cnats; Boost's few headers are staged below)
dev_pkgs=(libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
    nlohmann-json3-dev libsimdjson-dev libonnx-dev libonnxifi libprotobuf-dev libtbb-dev
    libopencv-core-dev libopencv-imgproc-dev libopencv-dnn-dev
    libsqlite3-dev libturbojpeg0-dev libpng-dev zlib1g-dev libssl-dev libmosquitto-dev prometheus-cpp-dev
    civetweb libcivetweb-dev libcurl4-openssl-dev libnats-dev)
lib_pkgs=(libzmq5 libyaml-cpp0.7 libspdlog1.10 libfmt9 libsimdjson14 libonnx1 libprotobuf32 libtbb12 libtbbmalloc2 libtbbbind-2-5
    libopencv-core406 libopencv-imgproc406 libopencv-dnn406 libx264-164
    libsqlite3-0 libturbojpeg0 libpng16-16 libssl3 libmosquitto1 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
    libprometheus-cpp-push1.0 libcivetweb1 libcurl4 libnats3.4)
base_pkgs=" libc6 libgcc-s1 libstdc++6 zlib1g "
# the closure: every library the runtime packages' shared objects (and FFmpeg's) load, by package, as ldd sees it
# here (the packages are installed on this machine by scripts/setup.sh)
closure=("${lib_pkgs[@]}")
declare -A soname_of # library name a binary asks for -> the file it is (Debian's alternatives put some, BLAS and
#                      LAPACK, in a folder of their own with the link made at install time, which unpacking skips)
sos=$(dpkg -L "${lib_pkgs[@]}" 2>/dev/null | grep -E '\.so(\.[0-9]+)*$' || true)
sos+=$'\n'$(find "$stage/usr/local/lib" -name '*.so.*' -type f)
for so in $sos; do
    [[ -f $so ]] || continue
    for dep in $(LD_LIBRARY_PATH=$stage/usr/local/lib ldd "$so" 2>/dev/null | awk '/=> \//{print $3}'); do
        [[ $dep == "$stage"* ]] && continue
        soname_of[$(basename "$dep")]=$(readlink -f "$dep")
        pkg=$(dpkg -S "$(readlink -f "$dep")" 2>/dev/null | head -1 | cut -d: -f1) ||
            pkg=$(dpkg -S "$dep" 2>/dev/null | head -1 | cut -d: -f1) || true
        [[ -z $pkg || $base_pkgs == *" $pkg "* ]] && continue
        closure+=("$pkg")
    done
done
mapfile -t all < <(printf '%s\n' "${dev_pkgs[@]}" "${closure[@]}" | sort -u)
say "downloading ${#all[@]} Debian packages: ${all[*]}"
(cd "$work/debs" && apt-get download -qq "${all[@]}" 2>/dev/null)
for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$stage"; done
libdir=$stage/usr/lib/x86_64-linux-gnu
for name in "${!soname_of[@]}"; do
    real=${soname_of[$name]}
    if [[ ! -e $libdir/$name && -e $stage$real ]]; then ln -s "${real#/usr/lib/x86_64-linux-gnu/}" "$libdir/$name"; fi
done
# Boost: only the headers the pipeline's one use reads (boost/math's erf and incomplete gamma, header-only), as the
# compiler lists them here, and Boost's CMake package files (all of libboost1.74-dev unpacks to about 150 MB)
printf '#include <boost/math/special_functions/erf.hpp>\n#include <boost/math/special_functions/gamma.hpp>\n' \
    >"$work/boost.cpp"
{
    g++ -std=c++20 -M "$work/boost.cpp" | tr ' \\' '\n\n' | grep '^/usr/include/boost/'
    echo /usr/include/boost/version.hpp
    dpkg -L libboost1.74-dev | grep -E '^/usr/lib/x86_64-linux-gnu/cmake/(Boost|boost_headers)[^/]*(/.*\.cmake|\.cmake)$'
} | sort -u | sed 's|^/||' >"$work/boost.list"
tar -C / -cf - -T "$work/boost.list" | tar -C "$stage" -xf -
say "Boost: $(wc -l <"$work/boost.list") files staged of libboost1.74-dev"
# what a build and a run do not need
rm -rf "$stage"/usr/share/{doc,man,lintian,bug} "$stage"/usr/local/share/{man,ffmpeg/examples}
find "$stage" -name '*.a' -size +1M -delete # protobuf's and ZeroMQ's static libraries (their CMake files name none)
printf '%s\n' "${all[@]}" >"$stage/PACKAGES"
tar -C "$stage" -cJf "$dev/deps.tar.xz" .
rm -rf "$work"
du -sh "$dev" "$dev/deps.tar.xz"
