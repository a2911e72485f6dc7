#pragma once
/// H.264 MP4 writer over the FFmpeg libraries (libx264 through libavcodec, mp4 through libavformat).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace sightline::pipeline {

struct VideoWriterOptions {
    int width = 640;
    int height = 480;
    int fps = 30;
    std::string preset = "veryfast"; ///< x264 preset
    int crf = 23;                    ///< x264 constant rate factor
    int gop = 60;                    ///< keyframe interval in frames (IP cameras: about 2 s)
    int threads = 1;                 ///< encoder threads (1 keeps parallel cameras from oversubscribing)
    /// The container: "mp4", or "mpegts" (a stream: files of it concatenated play as one, a camera's changes of
    /// resolution and timeline included, as the fault tests need).
    std::string container = "mp4";
    std::int64_t first_pts = 0; ///< the first frame's pts, in frames (a timeline that starts elsewhere)
};

/// Writes frames to `path` through a temporary file that is renamed on finish(); a writer destroyed without
/// finish() removes its temporary file, so no half-written video is ever left under the final name.
class VideoWriter {
  public:
    VideoWriter(std::filesystem::path path, const VideoWriterOptions& options);
    ~VideoWriter();
    VideoWriter(const VideoWriter&) = delete;
    VideoWriter& operator=(const VideoWriter&) = delete;

    /// Encodes one frame given as I420 (Y plane, then U, then V, tightly packed: width*height*3/2 bytes),
    /// BT.601 limited range as produced by cv::cvtColor(COLOR_BGR2YUV_I420).
    void write_i420(const std::uint8_t* i420);
    /// Flushes the encoder, writes the trailer and renames the file into place.
    void finish();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::pipeline
