#include "sightline/pipeline/flags.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <tuple>

#include "sightline/kernels/box.hpp"
#include "sightline/pipeline/frame_output.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::pipeline {

std::uint32_t uncertainty_flags(const Detection& d, float confidence, const FlagsConfig& c) {
    std::uint32_t f = 0;
    if (d.score < confidence + c.near_threshold_band) f |= transport::kFlagNearThreshold;
    if (d.margin < c.ambiguity_margin) f |= transport::kFlagAmbiguousClass;
    if (d.entropy >= c.entropy_threshold) f |= transport::kFlagHighEntropy;
    return f;
}

namespace {
/// detection_uncertainty() with the near-threshold term's band given
float doubt(const Detection& d, float confidence, const FlagsConfig& c, float band) {
    const auto unit = [](float x) { return std::clamp(x, 0.f, 1.f); };
    const float near = band > 0 ? unit(1 - (d.score - confidence) / band) : 0.f;
    const float ambiguous = c.ambiguity_margin > 0 ? unit(1 - d.margin / c.ambiguity_margin) : 0.f;
    const float entropy = d.entropy >= c.entropy_threshold ? unit(d.entropy) : 0.f;
    return std::max({near, ambiguous, entropy});
}
} // namespace

float detection_uncertainty(const Detection& d, float confidence, const FlagsConfig& c) {
    return doubt(d, confidence, c, c.score_band);
}

float detection_expected_error(const Detection& d, float confidence, const FlagsConfig& c) {
    return doubt(d, confidence, c, c.rank_score_band);
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

namespace {
bool clustered(const std::vector<const Detection*>& free) {
    for (std::size_t i = 0; i < free.size(); ++i)
        for (std::size_t j = i + 1; j < free.size(); ++j)
            if (overlap(*free[i], *free[j])) return true;
    return false;
}
} // namespace

bool unknown_object(const std::vector<Detection>& detections, const std::vector<Detection>& candidates) {
    return clustered(free_candidates(detections, candidates));
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

int FlagsStage::UsualBand::test_and_learn(double x, double learn, double floor, bool adapt) {
    int side = 0;
    if (n >= learn) {
        const double reach = std::max(floor, 4 * std::sqrt(var));
        side = x < mean - reach ? -1 : x > mean + reach ? 1 : 0;
        if (!adapt) return side;
        const double a = 1 / learn, dx = x - mean;
        mean += a * dx;
        var = (1 - a) * (var + a * dx * dx);
    } else {
        n += 1;
        const double dx = x - mean;
        mean += dx / n;
        var += (dx * (x - mean) - var) / n; // population variance, running
    }
    return side;
}

Tracker::Tracker(const FlagsConfig& config, float confidence) : config_(config), confidence_(confidence) {}

void Tracker::update(std::vector<Detection>& dets, const std::vector<Detection>& candidates) {
    constexpr std::uint32_t kTemporal =
        transport::kFlagReappeared | transport::kFlagClassSwitch | transport::kFlagScoreOscillation;
    const auto iou = [](const float* t, const Detection& d) {
        return kernels::detail::iou_xyxy(t[0], t[1], t[2], t[3], d.x1, d.y1, d.x2, d.y2);
    };
    // greedy by IoU: the best overlapping (track, box) pairs first, each used once
    const auto associate = [&](const std::vector<Detection>& boxes, std::vector<int>& track_of,
                               std::vector<bool>& used) {
        std::vector<std::tuple<float, std::size_t, std::size_t>> pairs;
        for (std::size_t t = 0; t < tracks_.size(); ++t)
            if (!used[t])
                for (std::size_t k = 0; k < boxes.size(); ++k)
                    if (const float v = iou(tracks_[t].box, boxes[k]); v >= config_.track_iou)
                        pairs.emplace_back(v, t, k);
        std::sort(pairs.begin(), pairs.end(),
                  [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
        track_of.assign(boxes.size(), -1);
        for (const auto& [v, t, k] : pairs)
            if (!used[t] && track_of[k] < 0) used[t] = true, track_of[k] = static_cast<int>(t);
    };
    std::vector<bool> used(tracks_.size(), false);
    std::vector<int> det_track, cand_track;
    associate(dets, det_track, used);
    associate(candidates, cand_track, used);
    const auto observe = [&](Track& t, const Detection& d, bool detected) {
        t.box[0] = d.x1, t.box[1] = d.y1, t.box[2] = d.x2, t.box[3] = d.y2;
        t.unseen = 0;
        // inside the band around the threshold, the side it was on stands (hysteresis)
        const float band = config_.score_band;
        const bool inside =
            t.observations > 0 && (detected ? d.score < confidence_ + band : d.score >= confidence_ - band);
        t.above = (t.above << 1) | (inside ? (t.above & 1u) : (detected ? 1u : 0u));
        ++t.observations;
    };
    for (std::size_t k = 0; k < dets.size(); ++k) {
        Detection& d = dets[k];
        d.flags &= ~kTemporal;
        if (det_track[k] < 0) { // a new track
            Track t{next_id_++, {}, 0, {}, 0, 0};
            observe(t, d, true);
            if (d.cls >= 0) t.class_count.assign(static_cast<std::size_t>(d.cls) + 1, 0), ++t.class_count[d.cls];
            d.track_id = t.id;
            tracks_.push_back(std::move(t));
            used.push_back(true); // seen this frame
            continue;
        }
        Track& t = tracks_[det_track[k]];
        d.track_id = t.id;
        if (t.unseen > 0) d.flags |= transport::kFlagReappeared;
        int seen = 0, usual = -1;
        for (std::size_t c = 0; c < t.class_count.size(); ++c) {
            seen += t.class_count[c];
            if (usual < 0 || t.class_count[c] > t.class_count[static_cast<std::size_t>(usual)])
                usual = static_cast<int>(c);
        }
        // a class switch: the track held one class in at least 9 of 10 of at least 8 detections, and this one
        // differs (a track flickering between two classes all along is ambiguous_class's business)
        if (seen >= 8 && 10 * t.class_count[static_cast<std::size_t>(usual)] >= 9 * seen && d.cls != usual)
            d.flags |= transport::kFlagClassSwitch;
        observe(t, d, true);
        if (d.cls >= 0) {
            if (t.class_count.size() <= static_cast<std::size_t>(d.cls))
                t.class_count.resize(static_cast<std::size_t>(d.cls) + 1, 0);
            ++t.class_count[d.cls];
        }
        // crossings of the threshold among its last 10 observations: neighbouring bits that differ; three (it went,
        // came back and went again), each from outside score_band on one side to outside it on the other
        const int n = std::min(t.observations, 10);
        const std::uint32_t crossings = (t.above ^ (t.above >> 1)) & ((1u << (n - 1)) - 1);
        if (std::popcount(crossings) >= 3) d.flags |= transport::kFlagScoreOscillation;
    }
    for (std::size_t k = 0; k < candidates.size(); ++k)
        if (cand_track[k] >= 0) observe(tracks_[cand_track[k]], candidates[k], false);
    for (std::size_t t = 0; t < tracks_.size(); ++t)
        if (!used[t]) ++tracks_[t].unseen;
    std::erase_if(tracks_, [&](const Track& t) { return t.unseen > config_.track_max_age; });
}

int unexplained_cells(const Foreground& fg, const std::vector<Detection>& detections,
                      const std::vector<Detection>& candidates) {
    const auto touches = [](const float cell[4], const Detection& d) {
        return cell[0] < d.x2 && d.x1 < cell[2] && cell[1] < d.y2 && d.y1 < cell[3];
    };
    if (fg.cells.size() != fg.grid.cells()) return 0;
    int n = 0;
    for (int r = 0; r < fg.grid.rows; ++r)
        for (int c = 0; c < fg.grid.cols; ++c) {
            if (!fg.cells[static_cast<std::size_t>(r) * fg.grid.cols + c]) continue;
            float cell[4];
            fg.grid.cell_box(c, r, fg.cell, cell);
            const auto explains = [&](const Detection& d) { return touches(cell, d); };
            if (std::none_of(detections.begin(), detections.end(), explains) &&
                std::none_of(candidates.begin(), candidates.end(), explains))
                ++n;
        }
    return n;
}

FlagsStage::FlagsStage(const FlagsConfig& config, float confidence, std::size_t cameras)
    : config_(config), confidence_(confidence), usual_(std::max<std::size_t>(1, cameras)),
      trackers_(std::max<std::size_t>(1, cameras), Tracker(config, confidence)) {}

void FlagsStage::apply(FrameOutput& frame) {
    std::vector<float> u;
    u.reserve(frame.detections.size());
    frame.frame_flags = 0;
    for (Detection& d : frame.detections) d.flags = uncertainty_flags(d, confidence_, config_);
    trackers_[std::min(frame.camera_index, trackers_.size() - 1)].update(frame.detections, frame.candidates);
    constexpr std::uint32_t kTemporal =
        transport::kFlagReappeared | transport::kFlagClassSwitch | transport::kFlagScoreOscillation;
    // u: the terms of the frame's uncertainty (wire); e: the same with the ranking's wider band (expected errors)
    std::vector<float> e;
    e.reserve(frame.detections.size());
    for (Detection& d : frame.detections) {
        frame.frame_flags |= d.flags;
        const float floor = (d.flags & kTemporal) ? config_.temporal_weight : 0.f;
        u.push_back(std::max(detection_uncertainty(d, confidence_, config_), floor));
        e.push_back(std::max(detection_expected_error(d, confidence_, config_), floor));
    }
    // the camera's usual count and picture: detections per frame, mean luma, luma spread
    Usual& usual = usual_[std::min(frame.camera_index, usual_.size() - 1)];
    const double learn = config_.count_learn_frames;
    const bool unusual =
        usual.count.test_and_learn(static_cast<double>(frame.detections.size()), learn, 2.0, true) != 0;
    if (unusual) frame.frame_flags |= transport::kFrameUnusualCount;
    if (frame.luma.mean > 0 || frame.luma.stddev > 0) { // a frame the preprocess measured
        // the picture's band is a reference: learned once, then fixed (a slow drift must not become the usual)
        const int light = usual.luma.test_and_learn(frame.luma.mean, learn, config_.luma_band, false);
        if (light < 0) frame.frame_flags |= transport::kFrameTooDark;
        if (light > 0) frame.frame_flags |= transport::kFrameTooBright;
        if (usual.contrast.test_and_learn(frame.luma.stddev, learn, config_.contrast_band, false) < 0)
            frame.frame_flags |= transport::kFrameLowContrast;
        const double variance = static_cast<double>(frame.luma.stddev) * frame.luma.stddev;
        if (variance > 0 && frame.luma.sharpness > 0 &&
            usual.sharpness.test_and_learn(std::log(frame.luma.sharpness / variance), learn,
                                           -std::log(config_.blur_ratio), false) < 0)
            frame.frame_flags |= transport::kFrameBlurred;
    }
    // a candidate on a detected object is that object's runner-up class or box; only the others may be misses
    const std::vector<const Detection*> free = free_candidates(frame.detections, frame.candidates);
    if (std::any_of(free.begin(), free.end(),
                    [&](const Detection* c) { return c->score >= confidence_ - config_.near_threshold_band; }))
        frame.frame_flags |= transport::kFrameCandidateBelow;
    const auto both = [&](float term) { u.push_back(term), e.push_back(term); };
    if (config_.candidate_weight > 0)
        for (const Detection* c : free) both(candidate_uncertainty(*c, confidence_, config_));
    if (config_.unexplained_cells > 0 &&
        unexplained_cells(frame.foreground, frame.detections, frame.candidates) >= config_.unexplained_cells) {
        frame.frame_flags |= transport::kFrameUnexplained;
        if (config_.unexplained_weight > 0) both(config_.unexplained_weight);
    }
    const bool unknown = clustered(free);
    if (unknown) frame.frame_flags |= transport::kFrameUnknownObject;
    frame.uncertainty = frame_uncertainty(u, unusual || unknown);
    frame.expected_errors = expected_errors(e, unusual || unknown);
    frame.doubt = expected_errors(u, unusual || unknown);
}

} // namespace sightline::pipeline
