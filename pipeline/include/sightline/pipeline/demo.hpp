#pragma once
// What `sightline demo` prints: per camera, the scenario, the ground truth, what the consumer received, the latency
// from packet arrival to receipt, and precision/recall at IoU 0.5 on nominal and on drifted frames (matched by the
// online evaluator's matcher against each camera's COCO ground truth).
#include <atomic>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/monitor.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::pipeline {

class DemoTable {
  public:
    /// Loads DIR/<camera>.json for each camera (Error naming the file when it is missing or malformed).
    DemoTable(const std::filesystem::path& dir, const std::vector<std::string>& classes,
              const std::vector<CameraConfig>& cameras);
    /// Pred messages the line will publish when it processes every `every`-th frame of every camera.
    std::uint64_t expected_frames(int every) const;
    /// One received message (from the consumer's thread; only that thread touches the table until print()).
    void add(const transport::PredMessage& m);
    void print(const ModelSpec& spec, int every, int batch, const LineSummary& summary);
    /// Each camera's drift as the ground truth tags it: "lighting_drift from 30 s", or "nominal"; and its onset, s.
    struct Drift {
        std::string scenario;
        double onset_s = -1; ///< -1: nominal
    };
    std::map<std::string, Drift> drifts() const;
    /// A received frame's model errors (false positives + misses at IoU 0.5), -1 when the frame was not seen.
    int errors_of(const std::string& camera, std::int64_t frame) const;
    /// The mean over every received frame of a camera ("" for the whole line): uniform random sampling's figure.
    double mean_errors(const std::string& camera = "") const;

  private:
    struct Counts {
        long tp = 0, fp = 0, fn = 0;
    };
    struct Row {
        std::string camera, scenario;
        double onset_s = -1;
        int frames = 0, boxes = 0, crowd = 0, drifted_frames = 0;
        Counts nominal, drifted;
        std::uint64_t received = 0, gaps = 0, next_seq = 0;
        std::vector<double> latency_ms; ///< packet arrival -> receipt by the consumer
        std::unique_ptr<CocoGroundTruth> truth;
        std::unique_ptr<OnlineEvaluator> matcher;
    };
    std::vector<Row> rows_;
    std::map<std::string, std::size_t> row_of_;
    std::map<std::pair<std::string, std::int64_t>, int> errors_; ///< (camera, frame) -> fp + fn
};

/// The monitor's settings for the demo's 60 s scene: a 15 s reference (the drifts start at 20 and 30 s) and a 5 s
/// window; with the detector on every k-th frame, fewer values per window.
MonitorOptions demo_monitor_options(int every);
/// What the monitor raised, per camera, against the drift the ground truth says (the onset, the delay), and what it
/// raised where nothing drifted.
/// A sample the demo's collector kept.
struct DemoSample {
    std::string camera, strategy;
    std::int64_t frame = -1;
};

/// The demo's collector: a fresh dataset in `dir` and run_collector on a thread of its own, taking the samples the
/// line of `config` sends (the constructor points config.publish.samples at a socket of its own and gives the line
/// the default strategies). finish() stops it and returns what it kept; the destructor stops it in any case.
class DemoCollector {
  public:
    DemoCollector(std::filesystem::path dir, RunConfig& config);
    ~DemoCollector();
    std::vector<DemoSample> finish(); ///< rethrows the collector's failure
    const std::filesystem::path& dir() const { return dir_; }

  private:
    std::filesystem::path dir_, socket_;
    std::vector<DemoSample> kept_;
    std::atomic<bool> stop_{false};
    std::exception_ptr failed_;
    std::thread thread_;
};

/// What the collector kept, by camera and strategy, and its enrichment: errors per collected frame against the
/// line's mean (what uniform random sampling collects at the same budget).
void print_collector(const std::vector<DemoSample>& samples, const DemoTable& table, const std::string& dir);

void print_monitor_alarms(const std::vector<MonitorAlarm>& alarms,
                          const std::map<std::string, DemoTable::Drift>& drifts, const MonitorOptions& o,
                          bool saved_reference = false);

struct DemoRunOptions {
    std::filesystem::path scene; ///< the rendered scene: <camera>.mp4 and <camera>.json, cam1..camN
    /// The monitor's reference (Monitor::references_json), learned from a known-good recording of the same cameras
    /// (learn_demo_reference): the first-day path the README shows. Empty: each camera learns its first 15 s.
    std::filesystem::path reference;
    int cameras = 4;
    std::filesystem::path model_yaml; ///< the model the engine was made from
    int every = 5, batch = 4;
    std::function<void(std::uint64_t published, std::uint64_t expected)> on_progress; ///< each published frame
    std::function<void()> on_done; ///< the line has ended (before the tables are printed)
};
/// Runs a nominal rendering of the demo's cameras (`nominal`: `seconds` of their known-good days) through the line
/// into a monitor with the demo's window and a reference as long as the rendering, and writes the references learned
/// to `out` (what `sightline monitor --replay nominal.slrec --save-reference ref.json` writes), unless `out` holds
/// them already for the same model, scene and frame step (out.stamp says). Returns true when it learned them.
bool ensure_demo_reference(const DemoRunOptions& nominal, const std::function<std::unique_ptr<Engine>()>& make_engine,
                           const std::filesystem::path& out, double seconds);

/// Runs the scene through the line as `sightline run` would (ZeroMQ to a consumer of this process, a monitor on the
/// same subscriber, a collector on the samples channel; the monitor's store and report beside the scene) and prints
/// what each saw. Throws what the line or a consumer throws.
void run_demo_line(const DemoRunOptions& options, std::unique_ptr<Engine> engine);

} // namespace sightline::pipeline
