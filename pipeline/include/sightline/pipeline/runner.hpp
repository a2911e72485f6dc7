#pragma once
/// The line's stages wired together: one source thread per camera feeding bounded queues (pipeline/src/source),
/// the round-robin batcher (pipeline/src/batch), the detector, the flags stage, and a sink that receives every
/// processed frame in order. Files read as fast as possible are lossless (a source waits while its queue is full);
/// live sources (URLs, realtime files) never wait: every packet is decoded, and when the line is behind the oldest
/// decoded frame is dropped and counted.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/flags.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline {

/// When a frame passed each stage, steady clock, nanoseconds (0: not reached).
struct StageStamps {
    std::int64_t arrival_ns = 0; ///< its packet was read from the stream
    std::int64_t decoded_ns = 0;
    std::int64_t batched_ns = 0;  ///< its batch left the batcher
    std::int64_t inferred_ns = 0; ///< its batch's results were collected
};

struct FrameOutput {
    std::string camera;
    std::size_t camera_index = 0;
    std::uint64_t seq = 0; ///< per camera, from 0
    std::int64_t pts_ns = 0;
    std::int64_t frame = 0; ///< index in its source since it was (re)opened (a file's frame number)
    int width = 0, height = 0;
    std::vector<Detection> detections; ///< best first, flags set
    std::vector<Detection> candidates; ///< below the threshold, from flags.candidate_floor up, best first
    /// The decoded frame (host or device memory), valid only while the sink runs: what a sample is made of.
    const OwnedFrame* image = nullptr;
    std::uint32_t frame_flags = 0; ///< the OR of the detections' flags, and frame-only flags (the flags stage)
    float uncertainty = 0;         ///< the frame's uncertainty score (the flags stage; docs/wire.md)
    float expected_errors = 0;     ///< the sum of the score's terms: what the sampler ranks by (flags.hpp)
    kernels::LumaStats luma;
    StageStamps stamps;
    std::uint64_t late_so_far = 0;    ///< this camera's frames dropped so far for missing their deadline
    std::uint64_t dropped_so_far = 0; ///< this camera's decoded frames dropped so far (line behind, live sources)
    std::size_t queue_depth = 0;      ///< this camera's decoded frames still waiting when this one was batched
    double queue_age_ms = 0;          ///< how long the oldest of them had waited since decoding (0: none waiting)
};

/// Something that happened to a camera: camera_up, camera_down (with the reason; also for a camera that has not
/// come up yet, on its retries).
struct RunEvent {
    std::string kind;
    std::string camera;
    std::string message;
    std::int64_t time_ns = 0; ///< wall clock when it happened, ns since the epoch
};

struct RunSummary {
    std::vector<std::uint64_t> frames;  ///< per camera: processed and handed to the sink
    std::vector<std::uint64_t> dropped; ///< per camera: decoded frames dropped because the line was behind (live)
    std::vector<std::uint64_t> late;    ///< per camera: live frames dropped for missing max_latency_ms
    std::vector<std::int64_t> corrupt_packets;
    /// per camera: where its frames were decoded (the reader's own answer once it decoded a frame: a camera asked
    /// for nvdec that fell back says kCpu here)
    std::vector<Decoder> decoders;
};

class Runner {
  public:
    Runner(RunConfig config, std::unique_ptr<Engine> engine);
    ~Runner();
    /// Runs until every source ends or `stop` becomes true; calls `sink` for every frame, from this thread, in
    /// order per camera. Source errors end the run with an Error naming the camera and its URL.
    /// `on_event` is called from the same thread as `sink`; so is `on_idle`, while the line waits for frames (at
    /// most every 50 ms): what must happen on a timer even when no camera delivers (stats) goes there.
    RunSummary run(const std::function<void(const FrameOutput&)>& sink, const std::atomic<bool>& stop,
                   const std::function<void(const RunEvent&)>& on_event = {},
                   const std::function<void()>& on_idle = {});
    const Detector& detector() const { return detector_; }
    Detector& detector() { return detector_; } ///< not while run() runs
    const RunConfig& config() const { return config_; }
    /// The operating threshold the detector applies (the config's, else the model's).
    float confidence() const;

  private:
    RunConfig config_;
    Detector detector_;
};

} // namespace sightline::pipeline
