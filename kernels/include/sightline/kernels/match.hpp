#pragma once
/// COCO evaluation primitives: IoU with crowd regions, greedy matching across IoU thresholds per (image, category)
/// group, and AP accumulation (stable score sort, cumulative precision/recall, precision envelope, recall
/// interpolation). Both follow pycocotools' COCOeval.evaluateImg / accumulate step for step, in double precision.
#include <cstddef>
#include <cstdint>

#include "sightline/kernels/views.hpp"

namespace sightline::kernels {

inline constexpr int kMaxIouThresholds = 16;
inline constexpr int kCocoIouThresholds = 10;
inline constexpr int kCocoRecallThresholds = 101;

struct BoxXywh {
    double x, y, w, h;
};

/// IoU thresholds .50:.05:.95 and recall thresholds 0:.01:1, bit-identical to pycocotools' np.linspace values.
void coco_iou_thresholds(double out[kCocoIouThresholds]);
void coco_recall_thresholds(double out[kCocoRecallThresholds]);

/// pycocotools' box IoU (maskApi bbIou) of a detection and a ground-truth box; for a crowd box the union is the
/// detection's own area. The host entry to the function the matching kernels use.
double coco_box_iou(const BoxXywh& det, const BoxXywh& gt, bool crowd);

/// Ground truth and detections of many (image, category) groups, CSR: group g owns gt [gt_offsets[g],
/// gt_offsets[g+1]) and detections [dt_offsets[g], dt_offsets[g+1]). Within a group, ground truth is in file order
/// and detections are sorted by score descending (stable in file order) and truncated to the largest maxDets.
struct MatchGroups {
    int num_groups = 0;
    int num_gt = -1; ///< gt_offsets[num_groups]; the CUDA version needs it on the host to size its scratch
    const int* gt_offsets = nullptr;
    const int* dt_offsets = nullptr;
    const BoxXywh* gt_box = nullptr;
    const double* gt_area = nullptr;          ///< the annotation's `area` (not the box's), as pycocotools uses it
    const std::uint8_t* gt_crowd = nullptr;   ///< iscrowd: IoU is intersection / detection area; ignored
    const std::uint8_t* gt_id_zero = nullptr; ///< annotation id == 0: pycocotools then counts its match as none
    const BoxXywh* dt_box = nullptr;
    const double* dt_area = nullptr; ///< w * h, as pycocotools' loadRes sets it
};

struct MatchParams {
    int num_thresholds = kCocoIouThresholds;
    double thresholds[kMaxIouThresholds] = {};
    double area_lo = 0, area_hi = 1e10; ///< objects with area outside [lo, hi] are ignored
};

/// A detection's outcome at one IoU threshold.
enum DetState : std::uint8_t { kFalsePositive = 0, kTruePositive = 1, kIgnoredDet = 2 };

/// Greedy matching in every group, pycocotools' evaluateImg: for each threshold, detections in score order take
/// the best-IoU unmatched ground truth (crowd boxes may match many; non-ignored ground truth preferred), IoU >=
/// min(t, 1 - 1e-10). Writes dt_state[d * num_thresholds + t] for every detection and, per group, the number of
/// ground-truth boxes that count (not crowd, area inside the range) to valid_gt[g].
/// `dt_match` (optional, may be null): the ground-truth index (into the gt arrays) each detection took at each
/// threshold, -1 for none, at dt_match[d * num_thresholds + t].
void coco_match_cpu(const MatchGroups& groups, const MatchParams& params, std::uint8_t* dt_state, int* valid_gt,
                    int* dt_match = nullptr);

/// Detections of many accumulation segments (COCO: one per category, area range and maxDets), each listed in
/// pycocotools' concatenation order (images in order, each image's detections in score order).
struct AccumulateSegments {
    int num_segments = 0;
    int num_dets = -1;             ///< offsets[num_segments]; the CUDA version needs it on the host to size its sort
    const int* offsets = nullptr;  ///< num_segments + 1
    const double* score = nullptr; ///< per detection
    const std::uint8_t* state = nullptr; ///< per detection, num_thresholds DetState values
    const int* valid_gt = nullptr;       ///< per segment: ground truth that counts (npig)
    int num_thresholds = kCocoIouThresholds;
    int num_recall = kCocoRecallThresholds;
    const double* recall_thresholds = nullptr;
    bool presorted = false; ///< each segment already in stable score order (skips the sort)
};

/// pycocotools' accumulate for each segment: stable sort by score descending, cumulative TP/FP, precision envelope,
/// precision and score at each recall threshold. Outputs per segment s: precision[(s * T + t) * R + r],
/// score_at[(s * T + t) * R + r], recall[s * T + t]; all -1 for a segment with no valid ground truth (as
/// pycocotools leaves them). `scratch` holds offsets[num_segments] ints (the sort order).
void coco_accumulate_cpu(const AccumulateSegments& segments, double* precision, double* recall, double* score_at,
                         int* scratch);

/// Device workspace coco_match_cuda needs for `num_gt` ground-truth boxes in all groups.
std::size_t coco_match_cuda_workspace_bytes(int num_gt);

/// coco_match_cpu on the GPU, one thread per group: every pointer in `groups`, and `dt_state`, `valid_gt`,
/// `dt_match` (optional), device memory; asynchronous on `stream`. Identical outputs.
void coco_match_cuda(const MatchGroups& groups, const MatchParams& params, std::uint8_t* dt_state, int* valid_gt,
                     int* dt_match, void* d_workspace, std::size_t workspace_bytes, StreamRef stream);

/// Device workspace coco_accumulate_cuda needs (the sort, when segments are not presorted).
std::size_t coco_accumulate_cuda_workspace_bytes(int num_segments, int num_dets);

/// coco_accumulate_cpu on the GPU: a stable segmented sort by score (CUB) unless presorted, then one thread per
/// (segment, threshold) scanning its detections once from the end. Pointers in `segments`, the outputs and `scratch`
/// (num_dets ints) are device memory; asynchronous on `stream`. Identical outputs. num_recall <= 128.
void coco_accumulate_cuda(const AccumulateSegments& segments, double* precision, double* recall, double* score_at,
                          int* scratch, void* d_workspace, std::size_t workspace_bytes, StreamRef stream);

} // namespace sightline::kernels
