#pragma once
/// COCO ground truth as the pipeline uses it, and a quick count of matches at one IoU threshold (the demo's
/// summary; the full COCO evaluation is `sightline eval`).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sightline/pipeline/detector.hpp"

namespace sightline::pipeline {

struct GtBox {
    float x, y, w, h; ///< COCO xywh, frame pixels
    int category_id;
    bool crowd;
};
struct GtImage {
    std::int64_t id;
    std::vector<std::string> tags;
    double timestamp = 0; ///< seconds, when the JSON has it
    std::vector<GtBox> boxes;
};
struct GroundTruth {
    std::map<int, std::string> categories; ///< id -> name
    std::vector<GtImage> images;           ///< sorted by id: frame k of the video is images[k]
};

/// Throws Error naming the file and the element for a missing file, malformed JSON or missing keys.
GroundTruth load_coco_ground_truth(const std::filesystem::path& path);

struct MatchCounts {
    int tp = 0, fp = 0, fn = 0;
    MatchCounts& operator+=(const MatchCounts& o) {
        tp += o.tp, fp += o.fp, fn += o.fn;
        return *this;
    }
};

/// Greedy matching in score order at `iou_threshold`, classes compared through `class_to_category` (model class
/// index -> COCO category id, -1 when the ground truth has no such category). A detection on a crowd box counts
/// neither way; an unmatched crowd box is not a miss.
MatchCounts match_at_iou(const std::vector<Detection>& detections, const GtImage& image,
                         const std::vector<int>& class_to_category, float iou_threshold);

} // namespace sightline::pipeline
