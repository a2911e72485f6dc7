#pragma once
/// Two model versions on the same frames (issue 26, parts 2 and 5): their detections matched box by box, and a whole
/// comparison of two recordings of the same frames (`sightline compare`).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/rollout.hpp"

namespace sightline::transport {
struct PredMessage;
}

namespace sightline::pipeline {

struct EvalReport; // eval_report.hpp

/// One detection of a version: the box in frame pixels, its score and its class by name (two versions may have
/// different class lists).
struct VersionBox {
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    float score = 0;
    std::string cls;
};

/// How a detection of version a relates to one of b on the same frame.
enum class Agreement : std::uint8_t {
    kBoth,         ///< the same object, the same class
    kClassChanged, ///< the same object (IoU >= the threshold), another class
    kOnlyA,        ///< a found it, b did not
    kOnlyB,        ///< b found it, a did not
};

struct AgreementPair {
    Agreement kind;
    int a = -1, b = -1; ///< indices into the two lists (-1: none)
};

/// A frame's detections as VersionBoxes, classes named by `classes` (the version's model).
std::vector<VersionBox> version_boxes(const std::vector<Detection>& detections,
                                      const std::vector<std::string>& classes);

/// A pred message's detections as VersionBoxes, classes named by `classes` (the recording's header).
std::vector<VersionBox> version_boxes(const transport::PredMessage& p, const std::vector<std::string>& classes);

/// Matches the two versions' detections on one frame, as the online evaluator matches detections to truth: in
/// descending score order of a, each takes the unmatched detection of b of its class with the highest IoU >= iou
/// (both); then the a's left, in the same order, the unmatched b of any class with the highest IoU >= iou
/// (class changed); the rest are only a's or only b's. Every detection appears in exactly one pair.
std::vector<AgreementPair> match_versions(const std::vector<VersionBox>& a, const std::vector<VersionBox>& b,
                                          double iou = 0.5);

struct AgreementTally {
    std::uint64_t frames = 0, frames_disagreeing = 0; ///< frames compared; those with anything but `both`
    std::uint64_t both = 0, class_changed = 0, only_a = 0, only_b = 0;
    /// both / (both + class_changed + only_a + only_b): 1 when the versions agree on every detection
    double agreement() const;
};

/// A camera's stat values' agreement figures (`agreement_<id>_<figure>`, docs/wire.md), by the id of the version beside
/// the serving one: frames, disagree_frames, both, class_changed, only_serving (only_a), only_shadow (only_b).
std::map<std::string, AgreementTally> agreement_in_stats(const std::map<std::string, double>& values);

/// A frame where the versions differ, for a contact sheet.
struct FrameDifference {
    std::string camera;
    std::int64_t frame = 0;
    std::uint64_t differences = 0;            ///< class_changed + only_a + only_b
    std::vector<VersionBox> boxes_a, boxes_b; ///< the two versions' detections on it (for the contact sheet)
};

struct VersionComparison {
    std::filesystem::path a, b;
    bool shadow = false;          ///< b is a's own shadow/ messages (one recording; b == a)
    std::string model_a, model_b; ///< the recordings' name@version
    double iou = 0.5;
    AgreementTally all;
    std::map<std::string, AgreementTally> by_camera;
    /// By class: both, class_changed and only_a count under a's class, only_b under b's.
    std::map<std::string, AgreementTally> by_class;
    std::map<std::pair<std::string, std::string>, std::uint64_t> class_changes; ///< (a's class, b's class) -> count
    std::uint64_t frames_only_in_a = 0, frames_only_in_b = 0; ///< frames one recording has and the other lacks
    std::uint64_t repeated_frames = 0; ///< (camera, frame) seen again in one recording (a looping file): left out
    std::vector<FrameDifference> most_different; ///< the frames with the most differences, most first
    /// With guardrails: per camera, b as a candidate against a, frame by frame in order (Rollout, rollout.hpp).
    struct CameraRollout {
        RolloutDecision decision = RolloutDecision::kUndecided;
        std::size_t frames = 0, decided_at_frame = 0; ///< frames seen; the frame count at the decision
        std::string evidence;
        std::vector<GuardrailState> state;
    };
    std::map<std::string, CameraRollout> rollouts;
    /// With ground truth (add_ground_truth): b against a on it, as `sightline eval --compare` computes it (every COCO
    /// metric and precision, recall, F1 at the operating point, with paired bootstrap intervals over images).
    std::shared_ptr<const EvalReport> accuracy;
};

/// Compares two recordings of the same frames (`sightline run --record` of each version on the same videos), frame
/// by frame by (camera, frame index). Error(kBadInput) naming the file: not a recording, a damaged record, frames
/// without an index; Error(kBadInput) when the two share no frame. `keep` frames are kept in most_different.
/// With `guardrails`, b is also judged as a candidate against a per camera (rollouts). An empty `b`: a's own shadow
/// messages (a line with shadow: or rollout:) against what served its cameras (Error(kBadInput) when it holds none).
VersionComparison compare_recordings(const std::filesystem::path& a, const std::filesystem::path& b, double iou = 0.5,
                                     std::size_t keep = 24, const RolloutConfig* guardrails = nullptr);

/// Scores both sides of `c` on a ground truth (COCO instances; `camera` picks one where the recordings hold several
/// and the truth names none) as `sightline eval --compare` does: b - a per metric with a paired bootstrap 95%
/// interval (`bootstrap` replicates, `seed`), on the images both cover. b is c.b's pred/ messages, or, where c compares
/// one recording's shadow/ messages with what served, those. Errors as eval's, naming the file.
void add_ground_truth(VersionComparison& c, const std::filesystem::path& gt, const std::string& camera = {},
                      int bootstrap = 200, std::uint64_t seed = 1);

std::string comparison_json(const VersionComparison& c);

/// The most different frames as one contact sheet (PNG with `png`, else a JPEG) (tiles 480 px wide, two columns, the
/// most different first), both versions' boxes drawn: both (green, thin), class changed (orange, "a>b"), only a (red),
/// only b (blue, dashed). `videos`: the folder of the cameras' videos as the runs read them, `<camera>.mp4` (as
/// `sightline synth` writes them). Error naming the file: a missing video, a frame the video does not have.
std::string comparison_sheet(const VersionComparison& c, const std::filesystem::path& videos, bool png = false);

/// The comparison as one self-contained HTML page: the versions, per camera and per class agreement, the class
/// changes and, when given (`sheet` non-empty: a JPEG or a PNG, told by its first bytes), the contact sheet with its
/// legend.
std::string render_comparison_html(const VersionComparison& c, const std::string& sheet);
void print_comparison(const VersionComparison& c, std::FILE* out);

} // namespace sightline::pipeline
