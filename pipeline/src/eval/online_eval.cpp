// Rolling-window evaluation of a camera's published detections against its ground truth.
#include "sightline/pipeline/online_eval.hpp"
#include <cmath>

#include <algorithm>

#include "sightline/error.hpp"

namespace sightline::pipeline {

std::vector<int> class_to_category(const CocoGroundTruth& gt, const std::vector<std::string>& classes) {
    std::map<std::string, int> category_of;
    for (const auto& c : gt.categories) category_of[c.name] = c.id;
    std::vector<int> out;
    for (const auto& name : classes) {
        const auto it = category_of.find(name);
        out.push_back(it == category_of.end() ? -1 : it->second);
    }
    return out;
}

OnlineEvaluator::OnlineEvaluator(const CocoGroundTruth& gt, const std::string& camera,
                                 const std::vector<std::string>& classes, double window_s, double iou)
    : gt_(gt), window_s_(window_s), iou_(iou), class_to_category_(class_to_category(gt, classes)) {
    auto meta = [](const CocoImage& im, const char* key) -> const std::string* {
        const auto it = im.meta.find(key);
        return it == im.meta.end() || it->second.empty() ? nullptr : &it->second.front();
    };
    const bool named = std::any_of(gt.images.begin(), gt.images.end(),
                                   [&](const CocoImage& im) { return meta(im, "camera") != nullptr; });
    std::unordered_map<std::int64_t, std::int64_t> frame_of_image;
    for (std::size_t i = 0; i < gt.images.size(); ++i) {
        const CocoImage& im = gt.images[i];
        if (named && !(meta(im, "camera") && *meta(im, "camera") == camera)) continue;
        std::int64_t frame = im.id;
        if (const std::string* f = meta(im, "frame_index")) {
            try {
                frame = std::stoll(*f);
            } catch (const std::exception&) {
                throw Error(ErrorCode::kBadInput, gt.source + ": image " + std::to_string(im.id) + ": frame_index '" +
                                                      *f + "' is not an integer");
            }
        }
        frame_of_image[im.id] = frame;
        truth_of_frame_[frame].image = i; // a frame without boxes is still a frame with ground truth
    }
    if (frame_of_image.empty())
        throw Error(ErrorCode::kBadInput, gt.source + ": no image of camera " + camera + " (by its camera metadata)");
    for (std::size_t n = 0; n < gt.annotations.size(); ++n)
        if (const auto it = frame_of_image.find(gt.annotations[n].image_id); it != frame_of_image.end())
            truth_of_frame_[it->second].boxes.push_back(static_cast<int>(n));
}

const CocoImage* OnlineEvaluator::image_of(std::int64_t frame) const {
    const auto it = truth_of_frame_.find(frame);
    return it == truth_of_frame_.end() ? nullptr : &gt_.images[it->second.image];
}

std::optional<FrameMatch> OnlineEvaluator::match(std::int64_t frame, const std::vector<Detection>& detections) const {
    const auto it = truth_of_frame_.find(frame);
    if (it == truth_of_frame_.end()) return std::nullopt;
    FrameMatch f;
    const std::vector<int>& boxes = it->second.boxes;
    std::vector<char> taken(boxes.size(), 0);
    for (const int n : boxes)
        if (!gt_.annotations[n].crowd) ++f.positives[gt_.annotations[n].category_id];
    for (const Detection& d : detections) {
        const int category =
            d.cls >= 0 && static_cast<std::size_t>(d.cls) < class_to_category_.size() ? class_to_category_[d.cls] : -1;
        const kernels::BoxXywh box{d.x1, d.y1, double(d.x2) - d.x1, double(d.y2) - d.y1};
        int best = -1;
        double best_iou = iou_;
        bool on_crowd = false;
        for (std::size_t j = 0; j < boxes.size(); ++j) {
            const CocoAnnotation& a = gt_.annotations[boxes[j]];
            if (a.category_id != category) continue;
            const double o = kernels::coco_box_iou(box, a.box, a.crowd);
            if (a.crowd) {
                on_crowd = on_crowd || o >= iou_;
            } else if (!taken[j] && o >= best_iou) {
                best_iou = o, best = static_cast<int>(j);
            }
        }
        if (best >= 0) taken[best] = 1;
        if (best >= 0 || !on_crowd) {
            f.detections.push_back({category, d.score, best >= 0});
            (best >= 0 ? f.tp : f.fp) += 1;
        }
    }
    for (std::size_t j = 0; j < boxes.size(); ++j) f.fn += !taken[j] && !gt_.annotations[boxes[j]].crowd;
    return f;
}

bool OnlineEvaluator::add(std::int64_t frame, std::int64_t pts_ns, const std::vector<Detection>& detections) {
    return add_match(pts_ns, match(frame, detections));
}

bool OnlineEvaluator::add_match(std::int64_t pts_ns, std::optional<FrameMatch> m) {
    if (!m) {
        ++without_gt_;
        return false;
    }
    if (!window_.empty() && pts_ns < window_.back().pts_ns) window_.clear(); // the stream's clock restarted
    const auto window_ns = static_cast<std::int64_t>(window_s_ * 1e9);
    while (!window_.empty() && window_.front().pts_ns <= pts_ns - window_ns) window_.pop_front();
    window_.push_back({pts_ns, std::move(*m)});
    return true;
}

std::string OnlineEvaluator::ap_key(double iou) {
    return "eval_ap" + std::to_string(static_cast<int>(std::lround(iou * 100)));
}

void MatchTotals::add(const FrameMatch& m) {
    for (const auto& [c, n] : m.positives) positives_[c] += n;
    for (const FrameMatch::Scored& s : m.detections) by_category_[s.category].push_back({s.score, s.tp});
    tp_ += m.tp, fp_ += m.fp, fn_ += m.fn;
}

double MatchTotals::precision() const {
    return tp_ + fp_ ? static_cast<double>(tp_) / static_cast<double>(tp_ + fp_) : 0.0;
}

double MatchTotals::recall() const {
    return tp_ + fn_ ? static_cast<double>(tp_) / static_cast<double>(tp_ + fn_) : 0.0;
}

double MatchTotals::ap() const {
    double recall_points[kernels::kCocoRecallThresholds];
    kernels::coco_recall_thresholds(recall_points);
    double ap_sum = 0;
    int ap_n = 0;
    for (const auto& [c, npos] : positives_) {
        if (npos == 0) continue;
        const auto found = by_category_.find(c);
        auto dets = found == by_category_.end() ? std::vector<std::pair<float, bool>>{} : found->second;
        std::stable_sort(dets.begin(), dets.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        std::vector<double> precision(dets.size()), recall(dets.size());
        long ctp = 0;
        for (std::size_t i = 0; i < dets.size(); ++i) {
            ctp += dets[i].second;
            precision[i] = static_cast<double>(ctp) / static_cast<double>(i + 1);
            recall[i] = static_cast<double>(ctp) / static_cast<double>(npos);
        }
        for (std::size_t i = dets.size(); i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
        double sum = 0;
        for (const double r : recall_points) {
            const auto at = std::lower_bound(recall.begin(), recall.end(), r) - recall.begin();
            if (static_cast<std::size_t>(at) < precision.size()) sum += precision[at];
        }
        ap_sum += sum / kernels::kCocoRecallThresholds;
        ++ap_n;
    }
    return ap_n ? ap_sum / ap_n : -1.0;
}

std::map<std::string, double> OnlineEvaluator::figures() const {
    MatchTotals t;
    for (const Frame& f : window_) t.add(f.match);
    const double p = t.precision(), r = t.recall(), ap = t.ap();
    const long tp = t.tp(), fp = t.fp(), fn = t.fn();
    return {{"eval_window_s", window_s_},
            {"eval_iou", iou_},
            {"eval_frames", static_cast<double>(window_.size())},
            {"eval_tp", static_cast<double>(tp)},
            {"eval_fp", static_cast<double>(fp)},
            {"eval_fn", static_cast<double>(fn)},
            {"eval_precision", p},
            {"eval_recall", r},
            {"eval_f1", p + r > 0 ? 2 * p * r / (p + r) : 0.0},
            {ap_key(iou_), ap},
            {"eval_ap", ap},
            {"eval_frames_without_gt_total", static_cast<double>(without_gt_)}};
}

} // namespace sightline::pipeline
