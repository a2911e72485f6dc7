// Pascal VOC average precision (all-point and 11-point) over COCO-format inputs.
#include <algorithm>
#include <map>
#include <numeric>

#include "sightline/pipeline/coco.hpp"

namespace sightline::pipeline {

namespace {

double voc_iou(const kernels::BoxXywh& a, const kernels::BoxXywh& b, bool plus_one) {
    const double one = plus_one ? 1.0 : 0.0;
    const double iw = std::min(a.x + a.w, b.x + b.w) - std::max(a.x, b.x) + one;
    const double ih = std::min(a.y + a.h, b.y + b.h) - std::max(a.y, b.y) + one;
    if (iw <= 0 || ih <= 0) return 0;
    const double inter = iw * ih;
    return inter / ((a.w + one) * (a.h + one) + (b.w + one) * (b.h + one) - inter);
}

} // namespace

VocResult evaluate_voc(const CocoGroundTruth& gt, const CocoDetections& dt, double iou, bool plus_one) {
    VocResult out;
    out.iou = iou, out.plus_one = plus_one;
    // ground truth per (class, image)
    std::map<int, std::map<std::int64_t, std::vector<int>>> boxes;
    std::map<int, long> positives;
    for (std::size_t n = 0; n < gt.annotations.size(); ++n) {
        const auto& a = gt.annotations[n];
        boxes[a.category_id][a.image_id].push_back(static_cast<int>(n));
        if (!a.crowd) ++positives[a.category_id];
    }
    std::map<int, std::vector<int>> by_class;
    for (std::size_t n = 0; n < dt.detections.size(); ++n)
        by_class[dt.detections[n].category_id].push_back(static_cast<int>(n));
    double recall_points[11];
    for (int i = 0; i < 11; ++i) recall_points[i] = i * ((1.0 - 0.0) / 10) + 0.0; // np.linspace(0, 1, 11)
    recall_points[10] = 1.0;
    for (const auto& [cat, npos] : positives) {
        VocClassAp ap;
        ap.category_id = cat, ap.positives = npos;
        std::vector<int> dets = by_class[cat];
        std::stable_sort(dets.begin(), dets.end(),
                         [&](int a, int b) { return dt.detections[a].score > dt.detections[b].score; });
        std::map<int, bool> taken;
        std::vector<double> rec, prec;
        long tp = 0, fp = 0;
        for (int d : dets) {
            const auto& det = dt.detections[d];
            double best = 0;
            int match = -1;
            const auto img = boxes[cat].find(det.image_id);
            if (img != boxes[cat].end())
                for (int g : img->second) {
                    const double o = voc_iou(det.box, gt.annotations[g].box, plus_one);
                    if (o > best) best = o, match = g;
                }
            if (match >= 0 && best >= iou) {
                if (gt.annotations[match].crowd) continue; // "difficult": neither
                if (!taken[match]) {
                    taken[match] = true;
                    ++tp;
                } else {
                    ++fp;
                }
            } else {
                ++fp;
            }
            rec.push_back(static_cast<double>(tp) / npos);
            prec.push_back(static_cast<double>(tp) / (tp + fp));
        }
        // all-point: area under the envelope of [0, prec..., 0] over [0, rec..., 1]
        std::vector<double> mrec = {0}, mpre = {0};
        mrec.insert(mrec.end(), rec.begin(), rec.end());
        mpre.insert(mpre.end(), prec.begin(), prec.end());
        mrec.push_back(1), mpre.push_back(0);
        for (std::size_t i = mpre.size() - 1; i > 0; --i) mpre[i - 1] = std::max(mpre[i - 1], mpre[i]);
        for (std::size_t i = 1; i < mrec.size(); ++i)
            if (mrec[i] != mrec[i - 1]) ap.ap_all_point += (mrec[i] - mrec[i - 1]) * mpre[i];
        // 11-point: the best precision at recall >= r
        for (double r : recall_points) {
            double best = 0;
            for (std::size_t i = 0; i < rec.size(); ++i)
                if (rec[i] >= r) best = std::max(best, prec[i]);
            ap.ap_11_point += best / 11;
        }
        out.per_class.push_back(ap);
    }
    for (const auto& c : out.per_class) out.map_all_point += c.ap_all_point, out.map_11_point += c.ap_11_point;
    if (!out.per_class.empty()) {
        out.map_all_point /= static_cast<double>(out.per_class.size());
        out.map_11_point /= static_cast<double>(out.per_class.size());
    }
    return out;
}

} // namespace sightline::pipeline
