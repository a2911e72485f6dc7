#pragma once
/// Detections from a run's recording (`sightline run --record FILE`) as COCO results against a ground truth, so
/// `sightline eval` scores what the line actually published.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sightline/pipeline/coco.hpp"

namespace sightline::pipeline {

struct RecordedDetections {
    CocoDetections detections;
    std::uint64_t frames = 0;                 ///< pred messages turned into detections
    std::uint64_t other_cameras = 0;          ///< pred messages of cameras not evaluated
    std::uint64_t frames_without_image = 0;   ///< pred messages whose frame the ground truth lacks (left out)
    std::uint64_t lost_messages = 0;          ///< per camera, sequence numbers below its largest never seen
    std::uint64_t duplicate_messages = 0;     ///< pred messages whose (camera, seq) came before: left out
    bool truncated = false;                   ///< the recording's last record was cut short
    std::vector<std::string> unknown_classes; ///< model classes with no category of that name in the ground truth
    std::vector<std::string> cameras;         ///< the cameras evaluated
    std::string model;                        ///< the header's model@version
    double threshold = -1;                    ///< the run's operating threshold (-1: an older recording)
};

/// Reads `path` and maps each recorded frame to a ground-truth image: by (camera, frame_index) when the images
/// carry `camera` and `frame_index` metadata (as `sightline synth` writes them), else by image id = frame index.
/// Model classes map to categories by name; boxes go from x1 y1 x2 y2 to COCO x y w h. `camera` picks one camera
/// (required when the recording has several and the ground truth names none); empty: every camera the ground
/// truth names. Errors (Error, naming the file): not a recording, a damaged record, no frame indices, an ambiguous
/// camera, an unknown camera.
/// `class_map` renames model classes before they are matched by name (EvalOptions::class_map); the keys it used are
/// added to `used_keys` when given. Each message's classes are its own version's (the header's `versions`).
/// `shadow`: the versions that ran beside the serving ones (shadow/<camera>) instead of what served (pred/); their
/// frames before a camera's first shadow message are not counted lost (a version loaded while the line ran), and
/// the model is the one their messages name. Error(kBadInput) when a recording holds no shadow message.
RecordedDetections load_recorded_detections(const std::filesystem::path& path, const CocoGroundTruth& gt,
                                            const std::string& camera = {},
                                            const std::map<std::string, std::string>& class_map = {},
                                            std::set<std::string>* used_keys = nullptr, bool shadow = false);

} // namespace sightline::pipeline
