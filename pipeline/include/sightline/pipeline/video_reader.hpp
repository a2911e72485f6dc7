#pragma once
/// Sequential decoding of a video file or URL with the FFmpeg libraries (software decode, frame threads).
#include <cstdint>
#include <memory>
#include <string>

#include "sightline/kernels/views.hpp"

namespace sightline::pipeline {

struct DecodedFrame {
    kernels::ImageView view; ///< valid until the next call to next() (the decoder's own buffer, no copy)
    std::int64_t pts_ns = 0; ///< presentation time from the stream, nanoseconds
    std::int64_t index = 0;  ///< 0-based decode-order index
};

class VideoReader {
  public:
    /// Opens `url` (a path or any FFmpeg URL). Throws Error naming the input: kNotFound for a missing file,
    /// kUnsupported when there is no video stream or no decoder, kFFmpeg otherwise.
    explicit VideoReader(const std::string& url, int threads = 0);
    ~VideoReader();
    VideoReader(const VideoReader&) = delete;
    VideoReader& operator=(const VideoReader&) = delete;

    /// Decodes the next frame; false at the end of the stream. Corrupt packets are skipped and counted.
    bool next(DecodedFrame& frame);
    int width() const;
    int height() const;
    double fps() const;
    std::int64_t corrupt_packets() const;
    const std::string& url() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::pipeline
