#pragma once
// Random COCO matching groups and accumulation segments, shared by the CPU and GPU tests of the match kernels.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "sightline/kernels/match.hpp"

namespace testing_coco {

using namespace sightline::kernels;

/// Groups of ground truth (crowd, id-0, polygon-smaller areas) and detections near it; a fifth of the groups have
/// no detections.
struct RandomGroups {
    std::vector<int> gt_off = {0}, dt_off = {0};
    std::vector<BoxXywh> gt_box, dt_box;
    std::vector<double> gt_area, dt_area;
    std::vector<std::uint8_t> crowd, id_zero;
    int groups = 0;
    MatchGroups view() const {
        MatchGroups g;
        g.num_groups = groups, g.num_gt = static_cast<int>(gt_box.size());
        g.gt_offsets = gt_off.data(), g.dt_offsets = dt_off.data(), g.gt_box = gt_box.data();
        g.gt_area = gt_area.data(), g.gt_crowd = crowd.data(), g.gt_id_zero = id_zero.data();
        g.dt_box = dt_box.data(), g.dt_area = dt_area.data();
        return g;
    }
};

inline RandomGroups random_groups(std::mt19937& rng, int groups) {
    std::uniform_real_distribution<double> u(0, 1);
    RandomGroups r;
    r.groups = groups;
    for (int g = 0; g < groups; ++g) {
        const int G = static_cast<int>(u(rng) * 9), D = g % 5 == 0 ? 0 : static_cast<int>(u(rng) * 25);
        std::vector<BoxXywh> mine;
        for (int j = 0; j < G; ++j) {
            const BoxXywh b{u(rng) * 200, u(rng) * 200, 2 + u(rng) * 120, 2 + u(rng) * 120};
            mine.push_back(b);
            r.gt_box.push_back(b);
            r.gt_area.push_back(b.w * b.h * (u(rng) < 0.5 ? 1.0 : 0.6));
            r.crowd.push_back(u(rng) < 0.1);
            r.id_zero.push_back(u(rng) < 0.03);
        }
        for (int d = 0; d < D; ++d) { // near ground truth more than half the time
            BoxXywh b{u(rng) * 200, u(rng) * 200, 2 + u(rng) * 120, 2 + u(rng) * 120};
            if (!mine.empty() && u(rng) < 0.6) {
                b = mine[static_cast<std::size_t>(u(rng) * mine.size()) % mine.size()];
                b.x += (u(rng) - 0.5) * 0.3 * b.w, b.w *= 0.8 + 0.4 * u(rng);
            }
            r.dt_box.push_back(b);
            r.dt_area.push_back(b.w * b.h);
        }
        r.gt_off.push_back(static_cast<int>(r.gt_box.size()));
        r.dt_off.push_back(static_cast<int>(r.dt_box.size()));
    }
    return r;
}

/// Accumulation segments: empty ones, ones without valid ground truth, tied scores in a third of them.
struct RandomSegments {
    std::vector<int> off = {0}, valid;
    std::vector<double> score;
    std::vector<std::uint8_t> state;
    double thresholds[kCocoRecallThresholds];
    int segments = 0;
    bool presorted = false;
    AccumulateSegments view() const {
        AccumulateSegments s;
        s.num_segments = segments, s.num_dets = static_cast<int>(score.size()), s.offsets = off.data(),
        s.score = score.data(), s.state = state.data();
        s.valid_gt = valid.data(), s.recall_thresholds = thresholds, s.presorted = presorted;
        return s;
    }
};

inline RandomSegments random_segments(std::mt19937& rng, int segments, bool presorted) {
    std::uniform_real_distribution<double> u(0, 1);
    RandomSegments r;
    r.segments = segments, r.presorted = presorted;
    coco_recall_thresholds(r.thresholds);
    for (int s = 0; s < segments; ++s) {
        const int n = s % 7 == 0 ? 0 : static_cast<int>(u(rng) * 600);
        std::vector<double> sc(n);
        for (auto& v : sc) v = s % 3 ? std::round(u(rng) * 20) / 20 : u(rng);
        if (presorted) std::stable_sort(sc.begin(), sc.end(), std::greater<>());
        r.score.insert(r.score.end(), sc.begin(), sc.end());
        for (int i = 0; i < n * kCocoIouThresholds; ++i) {
            const double x = u(rng);
            r.state.push_back(x < 0.45 ? kTruePositive : (x < 0.9 ? kFalsePositive : kIgnoredDet));
        }
        r.off.push_back(static_cast<int>(r.score.size()));
        r.valid.push_back(s % 11 == 0 ? 0 : 1 + static_cast<int>(u(rng) * n));
    }
    return r;
}

} // namespace testing_coco
