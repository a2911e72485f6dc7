#pragma once
// FFmpeg's log through sightline's logger: each line tagged with the camera whose thread wrote it (or "ffmpeg"),
// at FFmpeg's error level and above, so `[tcp @ 0x...] Connection refused` reads `camera cam2: ffmpeg: tcp:
// Connection refused`.
#include <string>

namespace sightline::pipeline::detail {

/// Installs the callback (once per process; later calls do nothing).
void route_ffmpeg_log();

/// While alive, FFmpeg lines logged from this thread name `camera`.
class FfmpegLogCamera {
  public:
    explicit FfmpegLogCamera(std::string camera);
    ~FfmpegLogCamera();
    FfmpegLogCamera(const FfmpegLogCamera&) = delete;
    FfmpegLogCamera& operator=(const FfmpegLogCamera&) = delete;

  private:
    std::string previous_;
};

} // namespace sightline::pipeline::detail
