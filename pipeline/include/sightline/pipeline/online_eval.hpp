#pragma once
/// Online evaluation in `sightline run`: a camera with `ground_truth:` is scored over a rolling window of stream
/// time, frame by frame as its predictions are published, and the figures go out on stat/<camera>.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/detector.hpp"

namespace sightline::pipeline {

/// Model class index -> COCO category id, by name; -1 where the ground truth has no category of that name.
std::vector<int> class_to_category(const CocoGroundTruth& gt, const std::vector<std::string>& classes);

/// One frame's detections matched against its ground-truth image: class-aware, greedily in score order at one IoU
/// (COCO's rule: the best unmatched box of the class at >= IoU; a detection on a crowd box counts neither way).
struct FrameMatch {
    struct Scored {
        int category;
        float score;
        bool tp;
    };
    std::vector<Scored> detections; ///< best first, crowd hits left out
    std::map<int, int> positives;   ///< non-crowd ground truth per category
    long tp = 0, fp = 0, fn = 0;
};

/// Frames' matches pooled: the figures of a window (the online evaluation) or of a block of frames (a rollout's
/// guardrails), as COCO computes them at the matches' IoU.
class MatchTotals {
  public:
    void add(const FrameMatch& m);
    long tp() const { return tp_; }
    long fp() const { return fp_; }
    long fn() const { return fn_; }
    bool has_positives() const { return tp_ + fn_ > 0; }
    /// tp / (tp + fp); 0 without detections
    double precision() const;
    /// tp / (tp + fn); 0 without ground truth
    double recall() const;
    /// COCO's AP (stable score order, precision envelope, 101 recall points) per category with ground truth,
    /// averaged over those categories; -1 when no category has any.
    double ap() const;

  private:
    long tp_ = 0, fp_ = 0, fn_ = 0;
    std::map<int, long> positives_;
    std::map<int, std::vector<std::pair<float, bool>>> by_category_; ///< frame order, best first within a frame
};

class OnlineEvaluator {
  public:
    /// `gt`: COCO ground truth holding this camera's frames: the images whose `camera` metadata is `camera` (all
    /// images when none carries any), placed by `frame_index` metadata, else image id = frame index. `classes`:
    /// the model's class names, mapped to categories by name. Throws Error(kBadInput) naming the file when no image
    /// is this camera's.
    OnlineEvaluator(const CocoGroundTruth& gt, const std::string& camera, const std::vector<std::string>& classes,
                    double window_s, double iou);
    /// One processed frame (its detections best first, as published): matched against its image (match()) and
    /// added to the window. False when the ground truth has no image for the frame (counted in figures()).
    bool add(std::int64_t frame, std::int64_t pts_ns, const std::vector<Detection>& detections);
    /// A frame matched elsewhere (by an evaluator of the same truth with another model version's classes: a camera
    /// served by another version) added to this window; nothing: the frame had no ground truth (counted).
    bool add_match(std::int64_t pts_ns, std::optional<FrameMatch> match);
    /// The frame's match without adding it to the window; nothing when the ground truth has no image for it.
    std::optional<FrameMatch> match(std::int64_t frame, const std::vector<Detection>& detections) const;
    /// The ground-truth image of a frame; nullptr when there is none.
    const CocoImage* image_of(std::int64_t frame) const;
    /// The window's figures, keys as published on stat/<camera> (docs/wire.md): eval_window_s, eval_iou,
    /// eval_frames, eval_tp, eval_fp, eval_fn, eval_precision, eval_recall, eval_f1, eval_apNN (COCO's AP at IoU
    /// eval_iou, named as `sightline eval` names it: eval_ap50 at 0.5, eval_ap75 at 0.75; -1 without ground truth in
    /// the window), eval_ap (the same value: the name before 0.9, kept for consumers of wire v1),
    /// eval_frames_without_gt_total.
    std::map<std::string, double> figures() const;
    /// The AP figure's key for an IoU: "eval_ap50" at 0.5 (eval's AP50), "eval_ap75" at 0.75, "eval_ap65" at 0.65.
    static std::string ap_key(double iou);

  private:
    struct Frame {
        std::int64_t pts_ns;
        FrameMatch match;
    };
    struct Truth {
        std::size_t image;      ///< index into gt_.images
        std::vector<int> boxes; ///< annotation indices
    };
    const CocoGroundTruth& gt_;
    double window_s_, iou_;
    std::vector<int> class_to_category_;
    std::unordered_map<std::int64_t, Truth> truth_of_frame_;
    std::deque<Frame> window_;
    std::uint64_t without_gt_ = 0;
};

} // namespace sightline::pipeline
