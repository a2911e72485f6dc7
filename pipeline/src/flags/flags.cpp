#include "sightline/pipeline/flags.hpp"

#include <algorithm>
#include <cmath>

#include "sightline/kernels/box.hpp"
#include "sightline/pipeline/runner.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::pipeline {

std::uint32_t uncertainty_flags(const Detection& d, float confidence, const FlagsConfig& c) {
    std::uint32_t f = 0;
    if (d.score < confidence + c.near_threshold_band) f |= transport::kFlagNearThreshold;
    if (d.margin < c.ambiguity_margin) f |= transport::kFlagAmbiguousClass;
    if (d.entropy >= c.entropy_threshold) f |= transport::kFlagHighEntropy;
    return f;
}

float detection_uncertainty(const Detection& d, float confidence, const FlagsConfig& c) {
    const auto unit = [](float x) { return std::clamp(x, 0.f, 1.f); };
    const float near = c.near_threshold_band > 0 ? unit(1 - (d.score - confidence) / c.near_threshold_band) : 0.f;
    const float ambiguous = c.ambiguity_margin > 0 ? unit(1 - d.margin / c.ambiguity_margin) : 0.f;
    const float entropy = d.entropy >= c.entropy_threshold ? unit(d.entropy) : 0.f;
    return std::max({near, ambiguous, entropy});
}

float candidate_uncertainty(const Detection& c, float confidence, const FlagsConfig& config) {
    const float span = confidence - config.candidate_floor;
    if (span <= 0) return 0.f;
    const float x = std::clamp((c.score - config.candidate_floor) / span, 0.f, 1.f);
    return config.candidate_weight * x * x;
}

namespace {
bool overlap(const Detection& a, const Detection& b) {
    return kernels::detail::iou_xyxy(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2) >= 0.3f;
}
} // namespace

std::vector<const Detection*> free_candidates(const std::vector<Detection>& detections,
                                              const std::vector<Detection>& candidates) {
    std::vector<const Detection*> free;
    for (const Detection& c : candidates)
        if (std::none_of(detections.begin(), detections.end(), [&](const Detection& d) { return overlap(c, d); }))
            free.push_back(&c);
    return free;
}

bool unknown_object(const std::vector<Detection>& detections, const std::vector<Detection>& candidates) {
    const std::vector<const Detection*> free = free_candidates(detections, candidates);
    for (std::size_t i = 0; i < free.size(); ++i)
        for (std::size_t j = i + 1; j < free.size(); ++j)
            if (overlap(*free[i], *free[j])) return true;
    return false;
}

float frame_uncertainty(const std::vector<float>& u, bool unusual_count) {
    double certain = unusual_count ? 0.5 : 1.0;
    for (float x : u) certain *= 1.0 - std::clamp(x, 0.f, 1.f);
    return static_cast<float>(1.0 - certain);
}

float expected_errors(const std::vector<float>& terms, bool unusual) {
    double sum = unusual ? 0.5 : 0.0;
    for (float x : terms) sum += std::clamp(x, 0.f, 1.f);
    return static_cast<float>(sum);
}

FlagsStage::FlagsStage(const FlagsConfig& config, float confidence, std::size_t cameras)
    : config_(config), confidence_(confidence), counts_(std::max<std::size_t>(1, cameras)) {}

void FlagsStage::apply(FrameOutput& frame) {
    std::vector<float> u;
    u.reserve(frame.detections.size());
    frame.frame_flags = 0;
    for (Detection& d : frame.detections) {
        d.flags = uncertainty_flags(d, confidence_, config_);
        frame.frame_flags |= d.flags;
        u.push_back(detection_uncertainty(d, confidence_, config_));
    }
    // the camera's usual count: Welford over its first count_learn_frames, then a moving average over as many
    UsualCount& c = counts_[std::min(frame.camera_index, counts_.size() - 1)];
    const double x = static_cast<double>(frame.detections.size());
    const double learn = config_.count_learn_frames;
    bool unusual = false;
    if (c.n >= learn) {
        unusual = std::fabs(x - c.mean) > std::max(2.0, 4 * std::sqrt(c.var));
        const double a = 1 / learn, dx = x - c.mean;
        c.mean += a * dx;
        c.var = (1 - a) * (c.var + a * dx * dx);
    } else {
        c.n += 1;
        const double dx = x - c.mean;
        c.mean += dx / c.n;
        c.var += (dx * (x - c.mean) - c.var) / c.n; // population variance, running
    }
    if (unusual) frame.frame_flags |= transport::kFrameUnusualCount;
    if (!frame.candidates.empty()) frame.frame_flags |= transport::kFrameCandidateBelow;
    // a candidate on a detected object is that object's runner-up class or box; only the others may be misses
    if (config_.candidate_weight > 0)
        for (const Detection* c : free_candidates(frame.detections, frame.candidates))
            u.push_back(candidate_uncertainty(*c, confidence_, config_));
    const bool unknown = unknown_object(frame.detections, frame.candidates);
    if (unknown) frame.frame_flags |= transport::kFrameUnknownObject;
    frame.uncertainty = frame_uncertainty(u, unusual || unknown);
    frame.expected_errors = expected_errors(u, unusual || unknown);
}

} // namespace sightline::pipeline
