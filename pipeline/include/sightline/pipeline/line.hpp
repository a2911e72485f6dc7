#pragma once
/// The assembled line, built once from a RunConfig and used by `sightline run`, `sightline demo` and the line
/// benchmarks alike: the Runner's stages, the ZeroMQ publisher, the recording, per-camera stats on a timer and
/// online evaluation. Every message is encoded once; the same bytes are published and recorded.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/runner.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::transport {
class Publisher;
}

namespace sightline::pipeline {

/// The wall clock, ns since the epoch: what messages carry as time_ns.
std::int64_t wall_clock_ns();

struct LineOptions {
    /// Also write every message to this recording (empty: none). A failed write (full disk) stops the recording,
    /// loudly: an error log line, a `record_failed` event, and LineSummary::record_failed.
    std::filesystem::path record;
    int linger_ms = 2000;     ///< how long the publisher may hold the last messages on shutdown
    double stat_period_s = 1; ///< stat messages per camera this often (and a final set at the end)
    /// Called with every camera's stat message of a period (config order), from the line's thread.
    std::function<void(std::span<const transport::StatMessage>)> on_stats;
    /// Called for every frame once its pred message is published, from the line's thread.
    std::function<void(const FrameOutput&, const transport::PredMessage&)> on_frame;
    /// Several versions on a batch run side by side, each on a thread of its own (ModelSet::set_side_by_side); false
    /// runs them one after the other (for comparison: bench_shadow measures both).
    bool versions_side_by_side = true;
};

struct LineSummary {
    RunSummary run;
    std::uint64_t sent = 0, dropped = 0; ///< messages published, and refused by a subscriber's full queue
    bool record_failed = false;
    double seconds = 0; ///< wall time of run()
    /// With publish.samples: frames the sampling rules selected, acknowledged by a collector, still unacknowledged
    /// at the end (after publish.samples_drain_s), and dropped by the full buffer.
    std::uint64_t samples_selected = 0, samples_acked = 0, samples_unacked = 0, samples_dropped = 0;
};

/// One processed frame as a wire-format pred message (docs/wire.md): detections as columns, the stage stamps
/// with `published` = `published_ns`, the camera's metadata.
transport::PredMessage to_pred_message(const FrameOutput& frame, const std::string& model,
                                       const std::map<std::string, std::string>& meta, std::int64_t published_ns);

class Line {
  public:
    /// Binds the publisher (Error(kTransport) naming the endpoint), opens the recording (Error(kIo) naming the
    /// file) and loads every camera's ground truth (Error naming the file).
    Line(RunConfig config, std::unique_ptr<Engine> engine, LineOptions options = {});
    /// One engine per config.versions() entry, in order (make_engines()): several versions on one line
    /// (docs/versions.md).
    Line(RunConfig config, std::vector<std::unique_ptr<Engine>> engines, LineOptions options = {});
    ~Line();
    Line(const Line&) = delete;
    Line& operator=(const Line&) = delete;

    /// Waits for publish.wait_for_subscribers (Error(kTransport) after wait_timeout_s), sends `run_start`, runs the
    /// line until its sources end or `stop` is set, sends the final stats and `run_end`, closes the recording.
    LineSummary run(const std::atomic<bool>& stop);

    /// One forward pass through the whole detect path (of every version) on a blank frame of the model's input size
    /// (what `run
    /// --check` does): the engine runs, and its output's shape matches model.yaml (else the Error names the model
    /// file, the shape expected and what the output implies). Returns the detections' count (0 on a blank frame,
    /// normally). Not while run() runs.
    std::size_t self_test();
    /// Opens every file camera as the line would (its FFmpeg options) and decodes its first frame: a path that is a
    /// device, a JSON file or a broken video fails here, `run --check`, not when the line starts. Error(kBadInput)
    /// names the camera, its URL and FFmpeg's reason. Network cameras are not dialled (they reconnect by design).
    void check_cameras() const;

    const RunConfig& config() const;
    const Detector& detector() const;
    const std::string& model() const; ///< name@version
    transport::Publisher& publisher();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// One engine per version of the config (config.versions()), each by config.engine: what a Line is built with.
/// Errors name the model file.
std::vector<std::unique_ptr<Engine>> make_engines(const RunConfig& config);

/// The closing log lines of a run: per camera its frames, drops and corrupt packets, then the whole run's frames,
/// rate and messages. False (and an error line) when the recording `record` is incomplete.
bool log_run_summary(const RunConfig& config, const LineSummary& summary, const std::string& record);

} // namespace sightline::pipeline
