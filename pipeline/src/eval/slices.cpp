// Metrics per slice of the evaluation set (image metadata values, time windows, object sizes) and the ranking of
// the worst slices with their support.
#include <algorithm>
#include <cmath>
#include <map>

#include "sightline/error.hpp"
#include "sightline/pipeline/coco.hpp"

namespace sightline::pipeline {

SliceSpec SliceSpec::parse(const std::string& text) {
    SliceSpec s;
    const auto colon = text.find(':');
    s.key = text.substr(0, colon);
    if (s.key.empty()) throw Error(ErrorCode::kBadInput, "slice '" + text + "': empty key (use KEY or KEY:WINDOW)");
    if (colon != std::string::npos) {
        const std::string w = text.substr(colon + 1);
        char* end = nullptr;
        s.window = std::strtod(w.c_str(), &end);
        if (w.empty() || *end || !(s.window > 0) || !std::isfinite(s.window))
            throw Error(ErrorCode::kBadInput,
                        "slice '" + text + "': window '" + w + "' is not a positive number (e.g. timestamp:60)");
    }
    return s;
}

namespace {

/// The slice values an image belongs to under `spec`.
std::vector<std::string> values_of(const CocoImage& im, const SliceSpec& spec) {
    std::vector<std::string> out;
    const auto it = im.meta.find(spec.key);
    if (it == im.meta.end()) return {"(none)"};
    for (const auto& v : it->second) {
        if (spec.window <= 0) {
            out.push_back(v);
            continue;
        }
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end || !std::isfinite(x)) {
            out.push_back("(not a number)");
            continue;
        }
        const double lo = std::floor(x / spec.window) * spec.window;
        char buf[64];
        std::snprintf(buf, sizeof buf, "[%g, %g)", lo, lo + spec.window);
        out.push_back(buf);
    }
    if (out.empty()) out.push_back("(none)");
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

} // namespace

std::vector<SliceResult> evaluate_slices(const CocoGroundTruth& gt, const CocoDetections& dt,
                                         const std::vector<SliceSpec>& specs, const CocoEvalResult& whole,
                                         double threshold, double iou) {
    std::vector<SliceResult> ranked;
    std::map<std::int64_t, int> index_of;
    for (std::size_t i = 0; i < gt.images.size(); ++i) index_of[gt.images[i].id] = static_cast<int>(i);
    std::vector<std::size_t> gt_per_image(gt.images.size(), 0);
    for (const auto& a : gt.annotations)
        if (!a.crowd) ++gt_per_image[index_of.at(a.image_id)];
    for (const SliceSpec& spec : specs) {
        std::map<std::string, std::vector<int>> members;
        for (std::size_t i = 0; i < gt.images.size(); ++i)
            for (const auto& v : values_of(gt.images[i], spec)) members[v].push_back(static_cast<int>(i));
        for (const auto& [value, imgs] : members) {
            CocoEvalOptions opt;
            opt.subset = true;
            opt.images = imgs;
            const CocoEvalResult r = evaluate_coco(gt, dt, opt);
            const OperatingPoint op = evaluate_operating_point(gt, dt, threshold, iou, 0, &imgs);
            SliceResult s;
            s.key = spec.key, s.value = value, s.images = static_cast<int>(imgs.size());
            for (int i : imgs) s.gt_boxes += gt_per_image[i];
            s.ap = r.stats[0], s.ap50 = r.stats[1], s.ar100 = r.stats[8];
            // -1 where undefined (no detection at the threshold; no ground truth), as AP is
            s.precision = op.overall.tp + op.overall.fp ? op.overall.precision() : -1;
            s.recall = op.overall.tp + op.overall.fn ? op.overall.recall() : -1;
            s.ap_drop = (whole.stats[0] >= 0 && s.ap >= 0) ? whole.stats[0] - s.ap : 0;
            s.rank_score = s.ap_drop * s.images / (s.images + 30.0);
            ranked.push_back(s);
        }
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const SliceResult& a, const SliceResult& b) { return a.rank_score > b.rank_score; });
    // object sizes: the COCO area ranges, read off the whole evaluation
    std::size_t by_size[3] = {0, 0, 0};
    for (const auto& a : gt.annotations)
        if (!a.crowd) ++by_size[a.area < 32 * 32 ? 0 : (a.area <= 96 * 96 ? 1 : 2)];
    const char* names[3] = {"small", "medium", "large"};
    for (int k = 0; k < 3; ++k) {
        SliceResult s;
        s.key = "size", s.value = names[k], s.images = whole.num_images, s.gt_boxes = by_size[k];
        s.ap = whole.stats[3 + k], s.ar100 = whole.stats[9 + k];
        s.ap_drop = (whole.stats[0] >= 0 && s.ap >= 0) ? whole.stats[0] - s.ap : 0;
        ranked.push_back(s);
    }
    return ranked;
}

} // namespace sightline::pipeline
