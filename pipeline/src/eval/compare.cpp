// Two models on the same ground truth: differences with a paired bootstrap over images, and the boxes one model
// finds that the other misses.
#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include "sightline/pipeline/coco.hpp"

namespace sightline::pipeline {

namespace {

constexpr int kMetrics = 15;
const char* const kExtra[3] = {"precision", "recall", "F1"};

std::array<double, kMetrics> metrics_of(const CocoGroundTruth& gt, const CocoDetections& dt, double threshold,
                                        double iou, OperatingPoint* keep = nullptr) {
    std::array<double, kMetrics> m{};
    const CocoEvalResult r = evaluate_coco(gt, dt);
    std::copy(r.stats.begin(), r.stats.end(), m.begin());
    OperatingPoint op = evaluate_operating_point(gt, dt, threshold, iou);
    m[12] = op.overall.precision(), m[13] = op.overall.recall(), m[14] = op.overall.f1();
    if (keep) *keep = std::move(op);
    return m;
}

/// A dataset made of the sampled images (repeats get fresh ids), with both models' detections on them.
struct Resampled {
    CocoGroundTruth gt;
    CocoDetections a, b;
};

} // namespace

CompareResult compare_models(const CocoGroundTruth& gt, const CocoDetections& a, const CocoDetections& b,
                             double threshold, double iou, int replicates, std::uint64_t seed,
                             const std::function<void(int, int)>& progress) {
    CompareResult out;
    out.replicates = replicates, out.seed = seed;
    OperatingPoint opa, opb;
    const auto ma = metrics_of(gt, a, threshold, iou, &opa);
    const auto mb = metrics_of(gt, b, threshold, iou, &opb);
    for (std::size_t n = 0; n < gt.annotations.size(); ++n) {
        if (opb.gt_found[n] && !opa.gt_found[n]) out.found_by_b_only.push_back(static_cast<int>(n));
        if (opa.gt_found[n] && !opb.gt_found[n]) out.found_by_a_only.push_back(static_cast<int>(n));
    }
    // per image: its annotations and each model's detections
    std::unordered_map<std::int64_t, int> index_of;
    for (std::size_t i = 0; i < gt.images.size(); ++i) index_of[gt.images[i].id] = static_cast<int>(i);
    const std::size_t I = gt.images.size();
    std::vector<std::vector<int>> anns(I), da(I), db(I);
    for (std::size_t n = 0; n < gt.annotations.size(); ++n)
        anns[index_of.at(gt.annotations[n].image_id)].push_back(static_cast<int>(n));
    for (std::size_t n = 0; n < a.detections.size(); ++n)
        if (auto it = index_of.find(a.detections[n].image_id); it != index_of.end())
            da[it->second].push_back(static_cast<int>(n));
    for (std::size_t n = 0; n < b.detections.size(); ++n)
        if (auto it = index_of.find(b.detections[n].image_id); it != index_of.end())
            db[it->second].push_back(static_cast<int>(n));

    std::vector<std::array<double, kMetrics>> diffs;
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, I ? I - 1 : 0);
    for (int r = 0; r < replicates && I; ++r) {
        Resampled s;
        s.gt.categories = gt.categories;
        std::int64_t next_ann = 1;
        for (std::size_t k = 0; k < I; ++k) {
            const std::size_t i = pick(rng);
            const std::int64_t id = static_cast<std::int64_t>(k) + 1;
            CocoImage im = gt.images[i];
            im.id = id;
            s.gt.images.push_back(std::move(im));
            for (int n : anns[i]) {
                CocoAnnotation x = gt.annotations[n];
                x.image_id = id, x.id = next_ann++;
                s.gt.annotations.push_back(x);
            }
            for (int n : da[i]) {
                CocoDetection x = a.detections[n];
                x.image_id = id;
                s.a.detections.push_back(x);
            }
            for (int n : db[i]) {
                CocoDetection x = b.detections[n];
                x.image_id = id;
                s.b.detections.push_back(x);
            }
        }
        const auto ra = metrics_of(s.gt, s.a, threshold, iou), rb = metrics_of(s.gt, s.b, threshold, iou);
        std::array<double, kMetrics> d{};
        for (int m = 0; m < kMetrics; ++m) d[m] = (ra[m] < 0 || rb[m] < 0) ? std::nan("") : rb[m] - ra[m];
        diffs.push_back(d);
        if (progress) progress(r + 1, replicates);
    }
    for (int m = 0; m < kMetrics; ++m) {
        MetricDiff md;
        md.name = m < 12 ? kCocoStatNames[m] : kExtra[m - 12];
        md.a = ma[m], md.b = mb[m];
        md.diff = (ma[m] < 0 || mb[m] < 0) ? std::nan("") : mb[m] - ma[m];
        std::vector<double> v;
        for (const auto& d : diffs)
            if (!std::isnan(d[m])) v.push_back(d[m]);
        if (v.empty()) {
            md.lower = md.upper = std::nan("");
        } else {
            std::sort(v.begin(), v.end());
            auto q = [&](double p) { // linear interpolation between order statistics (numpy's default)
                const double at = p * static_cast<double>(v.size() - 1);
                const std::size_t lo = static_cast<std::size_t>(at);
                const std::size_t hi = std::min(lo + 1, v.size() - 1);
                return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
            };
            md.lower = q(0.025), md.upper = q(0.975);
        }
        out.metrics.push_back(md);
    }
    return out;
}

} // namespace sightline::pipeline
