// TIDE error taxonomy on boxes, arranged as tidecv 1.0.1 arranges it (quantify.py: TIDEExample, TIDERun,
// fix_errors; ap.py: APDataObject.get_ap), so that the figures agree with it to rounding, ties included: the
// orders in which tidecv pushes its data points decide how equal scores are ranked.
#include "sightline/pipeline/tide.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <unordered_map>

namespace sightline::pipeline {

namespace {

enum Type { kCls, kLoc, kBoth, kDupe, kBkg, kMiss };

struct Point {
    double score;
    bool correct;
};

/// APDataObject.get_ap as a fraction: points by score (stable), the precision envelope, and the envelope at the
/// first point reaching each recall i / 100 (0 past the last), averaged over the 101 bars.
double tide_ap(std::vector<Point> pts, long num_gt) {
    if (num_gt == 0) return 0;
    std::stable_sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.score > b.score; });
    std::vector<double> precision(pts.size()), recall(pts.size());
    long tp = 0, fp = 0;
    for (std::size_t i = 0; i < pts.size(); ++i) {
        (pts[i].correct ? tp : fp) += 1;
        precision[i] = static_cast<double>(tp) / static_cast<double>(tp + fp);
        recall[i] = static_cast<double>(tp) / static_cast<double>(num_gt);
    }
    for (std::size_t i = pts.size(); i-- > 1;)
        if (precision[i] > precision[i - 1]) precision[i - 1] = precision[i];
    double sum = 0;
    for (int bar = 0; bar <= 100; ++bar) {
        const double x = bar / 100.0;
        const auto at = std::lower_bound(recall.begin(), recall.end(), x) - recall.begin();
        if (static_cast<std::size_t>(at) < precision.size()) sum += precision[at];
    }
    return sum / 101;
}

/// ClassedAPDataObject: per category, data points in push order and the ground-truth count.
struct ClassedPoints {
    std::map<int, std::vector<Point>> points;
    std::map<int, long> num_gt;
    void push(int category, double score, bool correct) { points[category].push_back({score, correct}); }
    /// Mean AP over the categories that have ground truth or data points.
    double map() const {
        std::map<int, bool> seen;
        for (const auto& [c, p] : points) seen[c] = seen[c] || !p.empty();
        for (const auto& [c, n] : num_gt) seen[c] = seen[c] || n != 0;
        double sum = 0;
        int used = 0;
        for (const auto& [c, nonempty] : seen) {
            if (!nonempty) continue;
            const auto p = points.find(c);
            const auto n = num_gt.find(c);
            sum += tide_ap(p == points.end() ? std::vector<Point>{} : p->second, n == num_gt.end() ? 0 : n->second);
            ++used;
        }
        return used ? sum / used : 0;
    }
};

struct Error {
    Type type;
    int det = -1; ///< detection index (errors of a detection)
    int gt = -1;  ///< annotation index (classification, localisation: the box it would take; missed: the box)
};

struct DetInfo {
    int category = 0;
    double score = 0;
    signed char used = 0; ///< 1 true positive, 0 false positive, -1 ignored (on a crowd region)
};

struct GtInfo {
    bool used = false, usable = false;
    double best_score = -1; ///< BestGTMatch: the best-scoring classification/localisation error claiming the box
    int best_det = -1;
};

} // namespace

TideResult evaluate_tide(const CocoGroundTruth& gt, const CocoDetections& dt, double pos_iou, double bg_iou,
                         int max_dets) {
    TideResult out;
    out.pos_iou = pos_iou, out.bg_iou = bg_iou, out.max_dets = max_dets;
    out.num_images = static_cast<int>(gt.images.size());

    std::unordered_map<std::int64_t, int> image_at;
    for (std::size_t i = 0; i < gt.images.size(); ++i) image_at.emplace(gt.images[i].id, static_cast<int>(i));
    // per image, in file order: annotations and detections (CSR by counting)
    const std::size_t I = gt.images.size();
    std::vector<int> ann_off(I + 1, 0), det_off(I + 1, 0);
    std::vector<int> ann_image(gt.annotations.size()), det_image(dt.detections.size(), -1);
    for (std::size_t n = 0; n < gt.annotations.size(); ++n)
        ++ann_off[1 + (ann_image[n] = image_at.at(gt.annotations[n].image_id))];
    for (std::size_t n = 0; n < dt.detections.size(); ++n)
        if (const auto it = image_at.find(dt.detections[n].image_id); it != image_at.end())
            ++det_off[1 + (det_image[n] = it->second)];
    std::partial_sum(ann_off.begin(), ann_off.end(), ann_off.begin());
    std::partial_sum(det_off.begin(), det_off.end(), det_off.begin());
    std::vector<int> anns(gt.annotations.size()), dets(det_off[I]);
    {
        std::vector<int> fill(ann_off.begin(), ann_off.end() - 1);
        for (std::size_t n = 0; n < gt.annotations.size(); ++n) anns[fill[ann_image[n]]++] = static_cast<int>(n);
        fill.assign(det_off.begin(), det_off.end() - 1);
        for (std::size_t n = 0; n < dt.detections.size(); ++n)
            if (det_image[n] >= 0) dets[fill[det_image[n]]++] = static_cast<int>(n);
    }

    ClassedPoints main;
    std::vector<int> main_dets; // detections pushed to `main`, in push order (their `used` says TP or FP)
    std::vector<DetInfo> det(dt.detections.size());
    std::vector<GtInfo> gti(gt.annotations.size());
    std::vector<Error> errors;
    std::map<int, long> false_negatives; // unmatched ground truth per category (missed or claimed)

    std::vector<int> preds, boxes, crowds;
    std::vector<double> iou, buffer;
    for (std::size_t i = 0; i < I; ++i) {
        boxes.clear(), crowds.clear();
        for (int k = ann_off[i]; k < ann_off[i + 1]; ++k)
            (gt.annotations[anns[k]].crowd ? crowds : boxes).push_back(anns[k]);
        for (const int g : boxes) main.num_gt[gt.annotations[g].category_id] += 1;
        preds.assign(dets.begin() + det_off[i], dets.begin() + det_off[i + 1]);
        if (preds.empty()) {
            for (const int g : boxes) {
                false_negatives[gt.annotations[g].category_id] += 1;
                errors.push_back({kMiss, -1, g});
            }
            continue;
        }
        std::stable_sort(preds.begin(), preds.end(),
                         [&](int a, int b) { return dt.detections[a].score > dt.detections[b].score; });
        if (preds.size() > static_cast<std::size_t>(max_dets)) preds.resize(max_dets);
        const std::size_t D = preds.size(), G = boxes.size();
        for (const int d : preds) det[d] = {dt.detections[d].category_id, dt.detections[d].score, 0};
        auto same_class = [&](std::size_t p, std::size_t j) {
            return dt.detections[preds[p]].category_id == gt.annotations[boxes[j]].category_id;
        };
        iou.resize(D * G);
        for (std::size_t p = 0; p < D; ++p)
            for (std::size_t j = 0; j < G; ++j)
                iou[p * G + j] =
                    kernels::coco_box_iou(dt.detections[preds[p]].box, gt.annotations[boxes[j]].box, false);
        // greedy matching in score order: the first box with the highest same-class IoU, if >= pos_iou
        buffer.resize(D * G);
        for (std::size_t k = 0; k < D * G; ++k) buffer[k] = same_class(k / G, k % G) ? iou[k] : 0.0;
        for (std::size_t p = 0; p < D && G; ++p) {
            const double* row = &buffer[p * G];
            const std::size_t j = std::max_element(row, row + G) - row;
            if (row[j] >= pos_iou) {
                det[preds[p]].used = 1;
                gti[boxes[j]].used = true;
                for (std::size_t q = 0; q < D; ++q) buffer[q * G + j] = 0;
            }
        }
        for (const int g : boxes) gti[g].usable = false;
        // crowd regions: an unmatched detection of the region's class covering it by more than pos_iou is ignored
        for (const int c : crowds)
            for (const int d : preds)
                if (det[d].used != 1 && det[d].category == gt.annotations[c].category_id &&
                    kernels::coco_box_iou(dt.detections[d].box, gt.annotations[c].box, true) > pos_iou)
                    det[d].used = -1;

        // first index of a row's maximum of f(p, j) and the value there
        auto argmax = [&](std::size_t p, auto f) {
            std::size_t best = 0;
            double v = f(p, 0);
            for (std::size_t j = 1; j < G; ++j)
                if (const double w = f(p, j); w > v) v = w, best = j;
            return std::pair{best, v};
        };
        auto claim = [&](int d, int g) { // BestGTMatch
            GtInfo& b = gti[g];
            if (b.used) return;
            b.usable = true;
            if (b.best_score < det[d].score) b.best_score = det[d].score, b.best_det = d;
        };
        for (std::size_t p = 0; p < D; ++p) {
            const int d = preds[p];
            if (det[d].used != -1) {
                main.push(det[d].category, det[d].score, det[d].used == 1);
                main_dets.push_back(d);
            }
            if (det[d].used == 1) continue;
            if (G == 0) {
                errors.push_back({kBkg, d});
                continue;
            }
            if (const auto [j, v] =
                    argmax(p, [&](std::size_t q, std::size_t k) { return same_class(q, k) ? iou[q * G + k] : 0.0; });
                bg_iou <= v && v <= pos_iou) {
                claim(d, boxes[j]);
                errors.push_back({kLoc, d, boxes[j]});
                continue;
            }
            if (const auto [j, v] =
                    argmax(p, [&](std::size_t q, std::size_t k) { return same_class(q, k) ? 0.0 : iou[q * G + k]; });
                v >= pos_iou) {
                claim(d, boxes[j]);
                errors.push_back({kCls, d, boxes[j]});
                continue;
            }
            if (const auto [j, v] = argmax(p,
                                           [&](std::size_t q, std::size_t k) {
                                               return gti[boxes[k]].used && same_class(q, k) ? iou[q * G + k] : 0.0;
                                           });
                v >= pos_iou) {
                errors.push_back({kDupe, d});
                continue;
            }
            if (argmax(p, [&](std::size_t q, std::size_t k) { return iou[q * G + k]; }).second <= bg_iou) {
                errors.push_back({kBkg, d});
                continue;
            }
            errors.push_back({kBoth, d});
        }
        for (const int g : boxes) {
            if (gti[g].used) continue;
            false_negatives[gt.annotations[g].category_id] += 1;
            if (!gti[g].usable) errors.push_back({kMiss, -1, g});
        }
    }

    for (const Error& e : errors) ++out.count[e.type];
    out.ap = main.map();

    // fix_errors: the errors first (each as it was, or fixed when `fix` says so), then the true positives
    auto rerun = [&](int fix, bool fp_to_zero, bool drop_false_negatives) {
        ClassedPoints run;
        run.num_gt = main.num_gt;
        for (const Error& e : errors) {
            const bool fixing = e.type == fix;
            if (e.type == kMiss) {
                if (fixing) run.num_gt[gt.annotations[e.gt].category_id] -= 1;
                continue;
            }
            const DetInfo& d = det[e.det];
            if (!fixing) {
                if (d.used == 0) run.push(d.category, fp_to_zero ? 0.0 : d.score, false);
                continue;
            }
            if (e.type != kCls && e.type != kLoc) continue; // fixed: the detection goes away
            const GtInfo& g = gti[e.gt];
            if (g.used || g.best_det != e.det) continue; // another error fixes that box
            run.push(e.type == kCls ? gt.annotations[e.gt].category_id : d.category, d.score, true);
        }
        for (const int n : main_dets)
            if (det[n].used == 1) run.push(det[n].category, fp_to_zero ? 1.0 : det[n].score, true);
        if (drop_false_negatives)
            for (const auto& [c, n] : false_negatives) run.num_gt[c] -= n;
        return run.map();
    };
    for (int t = 0; t < kTideTypes; ++t) out.dap[t] = std::max(rerun(t, false, false) - out.ap, 0.0);
    out.dap_false_pos = rerun(-1, true, false) - out.ap;
    out.dap_false_neg = rerun(-1, false, true) - out.ap;
    return out;
}

} // namespace sightline::pipeline
