#pragma once
// What one node carries (issue 28, item 8; `sightline bench CONFIG`, bench/linespeed): a run config's line with N
// cameras, each looped at real time, publishing to a subscriber in this process, for a while; per N the frame rate,
// drops, latency per stage and to receipt, CPU per frame; sustained = no drop and receipt p99 under a bound.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

struct Percentiles {
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
    std::size_t n = 0;
};
Percentiles percentiles(std::vector<double> values);

struct CapacityRow {
    int cameras = 0;
    double seconds = 0, fps = 0;
    std::uint64_t frames = 0, received = 0;
    std::uint64_t dropped_frames = 0;   ///< frames the live sources dropped (the line behind), every cause
    std::uint64_t dropped_messages = 0; ///< messages the subscriber's full queue refused
    Percentiles publish_ms, receipt_ms; ///< packet arrival to publish, and to receipt by the subscriber
    /// decode (arrival -> decoded), wait (decoded -> batched), infer (batched -> inferred), publish (inferred ->
    /// published)
    std::map<std::string, Percentiles> stage_ms;
    double cpu_ms_per_frame = 0; ///< this process's CPU time (every thread) over the frames processed
    bool sustained = false;      ///< no frame or message dropped, every frame received, receipt p99 under the bound
};

struct CapacityOptions {
    double seconds = 15;
    double p99_ms = 100; ///< the receipt p99 a sustained count stays under
    /// Each frame as the line hands it over (a benchmark keeps what it checks afterwards).
    std::function<void(const FrameOutput&, const transport::PredMessage&)> on_frame;
    /// After the run, with the line (its detector) and its summary: a benchmark's own checks.
    std::function<void(Line&, const LineSummary&)> after;
};

/// `config` run as it is for options.seconds (its cameras as given: the caller makes them N and live), publishing on
/// a private ipc endpoint to a subscriber in this process. `engines`: one per config.versions() entry.
CapacityRow measure_line(RunConfig config, std::vector<std::unique_ptr<Engine>> engines, const CapacityOptions& o);

/// `base`'s cameras grown to `n`: camera i plays base camera (i mod size)'s source under id "<id>-<k>" (the first
/// round keeps the ids), files looped at real time; the config's publish, control and samples endpoints dropped
/// (the measurement publishes on its own).
RunConfig with_cameras(const RunConfig& base, int n);

/// Live cameras (URLs) cannot be looped: each plays a synthetic scene of w x h instead (rendered once into
/// `scene_dir`), logged per camera. Returns how many were replaced.
int play_live_cameras_as_scene(RunConfig& config, int w, int h, const std::filesystem::path& scene_dir);

/// What `sightline bench` measured, as JSON: the run's description and each row.
struct CapacityReport {
    std::string config, models, engine;
    double p99_ms = 100, seconds = 15;
    int sustained = 0; ///< the largest camera count sustained
    std::vector<CapacityRow> rows;
};
std::string capacity_json(const CapacityReport& report);

/// The rows as an SVG plot: receipt p99 and frame rate against the camera count, the bound, the largest sustained.
std::string capacity_svg(const std::vector<CapacityRow>& rows, double p99_ms, const std::string& title);

} // namespace sightline::pipeline
