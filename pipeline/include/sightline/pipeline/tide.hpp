#pragma once
/// TIDE error taxonomy (Bolya et al., ECCV 2020, "TIDE: A General Toolbox for Identifying Object Detection Errors")
/// on boxes, with the semantics of its reference implementation `tidecv` 1.0.1 (`TIDE().evaluate(gt, dt,
/// mode=TIDE.BOX)`): every false positive and every missed ground-truth box gets one error type, and each type's dAP
/// is the AP gained when that type alone is fixed.
#include <array>

#include "sightline/pipeline/coco.hpp"

namespace sightline::pipeline {

inline constexpr int kTideTypes = 6;
/// Error types in TIDE's order: classification, localisation, both, duplicate, background, missed.
inline const char* const kTideTypeNames[kTideTypes] = {"classification", "localisation", "both",
                                                       "duplicate",      "background",   "missed"};
/// TIDE's own short names for them (its summary table).
inline const char* const kTideShortNames[kTideTypes] = {"Cls", "Loc", "Both", "Dupe", "Bkg", "Miss"};

struct TideResult {
    double pos_iou = 0.5, bg_iou = 0.1; ///< foreground and background IoU thresholds
    int max_dets = 100;                 ///< detections per image (all classes together), best first
    /// TIDE's AP at pos_iou (fraction; TIDE prints it x 100). Not COCO's AP50: TIDE caps detections per image rather
    /// than per class, and a class with detections but no ground truth counts as AP 0 instead of being left out.
    double ap = 0;
    std::array<double, kTideTypes> dap{}; ///< AP gained by fixing each type alone (never negative, as TIDE)
    std::array<long, kTideTypes> count{}; ///< errors of each type
    double dap_false_pos = 0;             ///< AP with every false positive scored below every true positive, minus ap
    double dap_false_neg = 0;             ///< AP with every missed box removed from the ground truth, minus ap
    int num_images = 0;
};

/// TIDE on every image of `gt` (detections on images it does not list are left out). Per image, detections sorted
/// by score are cut at `max_dets` and matched greedily, class-aware, at IoU >= pos_iou; crowd boxes are TIDE's
/// ignore regions (a detection of their class covering them by more than pos_iou is neither right nor wrong).
/// Each unmatched detection is, first rule that applies: localisation (same-class IoU in [bg, pos]),
/// classification (other-class IoU >= pos), duplicate (same-class IoU >= pos with a box already taken), background
/// (every IoU <= bg), else both. An unmatched box that no classification or localisation error could claim is missed.
TideResult evaluate_tide(const CocoGroundTruth& gt, const CocoDetections& dt, double pos_iou = 0.5, double bg_iou = 0.1,
                         int max_dets = 100);

} // namespace sightline::pipeline
