#include "media/ffmpeg_log.hpp"

#include <spdlog/spdlog.h>

#include <cstdarg>
#include <mutex>
#include <string_view>

extern "C" {
#include <libavutil/log.h>
}

namespace sightline::pipeline::detail {

namespace {

thread_local std::string t_camera;

void callback(void* avcl, int level, const char* fmt, va_list vl) {
    if (level > av_log_get_level()) return;
    char line[1024];
    int prefix = 1;
    va_list copy;
    va_copy(copy, vl);
    av_log_format_line2(avcl, level, fmt, copy, line, sizeof line, &prefix);
    va_end(copy);
    std::string_view text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty()) return;
    // "[tcp @ 0x55d1c0] Connection refused" -> "tcp: Connection refused": the address means nothing to a reader
    std::string out(text);
    if (out.front() == '[') {
        const auto at = out.find(" @ 0x"), close = out.find("] ");
        if (at != std::string::npos && close != std::string::npos && at < close)
            out = out.substr(1, at - 1) + ": " + out.substr(close + 2);
    }
    const auto lvl = level <= AV_LOG_ERROR ? spdlog::level::warn : spdlog::level::info;
    if (t_camera.empty())
        spdlog::log(lvl, "ffmpeg: {}", out);
    else
        spdlog::log(lvl, "camera {}: ffmpeg: {}", t_camera, out);
}

} // namespace

void route_ffmpeg_log() {
    static std::once_flag once;
    std::call_once(once, [] {
        av_log_set_level(AV_LOG_ERROR);
        av_log_set_callback(callback);
    });
}

FfmpegLogCamera::FfmpegLogCamera(std::string camera) : previous_(std::move(t_camera)) {
    t_camera = std::move(camera);
}

FfmpegLogCamera::~FfmpegLogCamera() {
    t_camera = std::move(previous_);
}

} // namespace sightline::pipeline::detail
