#pragma once
// RAII owners for FFmpeg handles and the error helper shared by the media code.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
}
#include <memory>
#include <string>

#include "sightline/error.hpp"

namespace sightline::pipeline::detail {

struct CodecContextDeleter {
    void operator()(AVCodecContext* c) const noexcept { avcodec_free_context(&c); }
};
struct FrameDeleter {
    void operator()(AVFrame* f) const noexcept { av_frame_free(&f); }
};
struct PacketDeleter {
    void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

inline std::string av_error_string(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(err, buf, sizeof buf);
    return buf;
}

/// Throws Error(kFFmpeg) naming `what` (the input and the call) when `err` < 0; returns `err` otherwise.
inline int check_av(int err, const std::string& what) {
    if (err < 0) throw Error(ErrorCode::kFFmpeg, what + ": " + av_error_string(err));
    return err;
}

} // namespace sightline::pipeline::detail
