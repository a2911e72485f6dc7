#include "sightline/pipeline/stats.hpp"

#include <algorithm>
#include <cmath>

namespace sightline::pipeline {

double percentile(std::vector<double>& v, double q) {
    if (v.empty()) return 0;
    const std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    const std::size_t k = rank == 0 ? 0 : std::min(v.size() - 1, rank - 1);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

void CameraStats::add(const FrameOutput& f, std::int64_t published_ns) {
    ++frames_total_, ++frames_window_;
    dropped_total_ = f.dropped_so_far;
    late_total_ = f.late_so_far;
    detections_window_ += f.detections.size();
    luma_sum_ += f.luma.mean;
    queue_depth_max_ = std::max(queue_depth_max_, static_cast<double>(f.queue_depth));
    queue_age_max_ = std::max(queue_age_max_, f.queue_age_ms);
    const StageStamps& t = f.stamps;
    decode_ms_.push_back((t.decoded_ns - t.arrival_ns) / 1e6);
    queue_ms_.push_back((t.batched_ns - t.decoded_ns) / 1e6);
    infer_ms_.push_back((t.inferred_ns - t.batched_ns) / 1e6);
    total_ms_.push_back((published_ns - t.arrival_ns) / 1e6);
}

std::map<std::string, double> CameraStats::take(double window_s) {
    std::map<std::string, double> v;
    v["window_s"] = window_s;
    v["fps"] = window_s > 0 ? frames_window_ / window_s : 0;
    v["frames_total"] = static_cast<double>(frames_total_);
    v["dropped_behind_total"] = static_cast<double>(dropped_total_);
    v["dropped_late_total"] = static_cast<double>(late_total_);
    v["detections_per_frame"] = frames_window_ ? static_cast<double>(detections_window_) / frames_window_ : 0;
    v["luma_mean"] = frames_window_ ? luma_sum_ / frames_window_ : 0;
    v["queue_depth_max"] = queue_depth_max_;
    v["queue_age_ms_max"] = queue_age_max_;
    queue_depth_max_ = queue_age_max_ = 0;
    for (auto [name, samples] :
         {std::pair{"decode", &decode_ms_}, {"queue", &queue_ms_}, {"infer", &infer_ms_}, {"total", &total_ms_}}) {
        v[std::string("latency_ms_") + name + "_p50"] = percentile(*samples, 0.50);
        v[std::string("latency_ms_") + name + "_p99"] = percentile(*samples, 0.99);
        v[std::string("latency_ms_") + name + "_max"] = percentile(*samples, 1.0);
        samples->clear();
    }
    frames_window_ = detections_window_ = 0;
    luma_sum_ = 0;
    return v;
}

} // namespace sightline::pipeline
