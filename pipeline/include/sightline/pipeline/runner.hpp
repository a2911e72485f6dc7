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
#include "sightline/pipeline/frame_output.hpp"
#include "sightline/pipeline/models.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline {

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
    /// One engine: the config's one version (model:).
    Runner(RunConfig config, std::unique_ptr<Engine> engine);
    /// One engine per config.versions() entry, in order (make_engines()).
    Runner(RunConfig config, std::vector<std::unique_ptr<Engine>> engines);
    ~Runner();
    /// Runs until every source ends or `stop` becomes true; calls `sink` for every frame, from this thread, in
    /// order per camera. Source errors end the run with an Error naming the camera and its URL.
    /// `on_event` is called from the same thread as `sink`; so is `on_idle`, while the line waits for frames (at
    /// most every 50 ms): what must happen on a timer even when no camera delivers (stats) goes there.
    RunSummary run(const std::function<void(const FrameOutput&)>& sink, const std::atomic<bool>& stop,
                   const std::function<void(const RunEvent&)>& on_event = {},
                   const std::function<void()>& on_idle = {});
    /// The first version's detector (the one serving by default).
    const Detector& detector() const { return *models_.version(0).detector; }
    Detector& detector() { return *models_.version(0).detector; } ///< not while run() runs
    /// Every version. Which serves a camera may change from `sink` (at the next batch); nothing else while run() runs.
    ModelSet& models() { return models_; }
    const ModelSet& models() const { return models_; }
    const RunConfig& config() const { return config_; }
    /// The operating threshold the first version's detector applies (its own, the config's, else the model's).
    float confidence() const;

  private:
    RunConfig config_;
    ModelSet models_;
};

} // namespace sightline::pipeline
