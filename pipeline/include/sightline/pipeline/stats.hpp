#pragma once
/// Per-camera line statistics over a window: frame rate, drops, per-stage latency percentiles.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sightline/pipeline/frame_output.hpp"

namespace sightline::pipeline {

class CameraStats {
  public:
    /// Records one processed frame; `published_ns` on the same monotonic clock as the frame's stamps.
    void add(const FrameOutput& frame, std::int64_t published_ns);
    /// The figures of the window since the last take (names in docs/wire.md), then starts a new window.
    std::map<std::string, double> take(double window_seconds);

  private:
    std::uint64_t frames_total_ = 0, frames_window_ = 0, dropped_total_ = 0, late_total_ = 0, detections_window_ = 0;
    std::vector<double> decode_ms_, queue_ms_, infer_ms_, total_ms_;
    double luma_sum_ = 0;
    double queue_age_max_ = 0, queue_depth_max_ = 0;
};

/// The q-quantile (0..1) of `values` by the nearest-rank method; 0 for an empty set. Reorders `values`.
double percentile(std::vector<double>& values, double q);

} // namespace sightline::pipeline
