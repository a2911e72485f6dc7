#pragma once
/// The flags stage: uncertainty flags per detection (transport::Flag bits, docs/wire.md), set on each processed
/// frame in camera order, with room for state per camera (tracking, usual counts) as flags that need history come.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/detector.hpp"

namespace sightline::pipeline {

struct FrameOutput;
struct Foreground;

/// Flags for one detection given the operating threshold and the config's band, margin and entropy threshold.
std::uint32_t uncertainty_flags(const Detection& d, float confidence, const FlagsConfig& config);

/// One detection's uncertainty in [0, 1]: the largest of how near its score is to the threshold within the band
/// (1 at the threshold, 0 at threshold + band), how small its class margin is against the ambiguity margin (1 at 0,
/// 0 at the margin), and its normalised class entropy when at or above the entropy threshold.
float detection_uncertainty(const Detection& d, float confidence, const FlagsConfig& config);

/// detection_uncertainty() for the ranking (expected_errors): the near-threshold term spans flags.rank_score_band
/// (1 at the threshold, 0 at threshold + band), wide enough that every detection's score counts, so that among
/// frames of a darkened or blurred camera the ones whose objects fade most rank first.
float detection_expected_error(const Detection& d, float confidence, const FlagsConfig& config);

/// A sub-threshold candidate's share of uncertainty: flags.candidate_weight x x^2, x where its score lies in
/// [floor, threshold) (0 at the floor, the weight at the threshold): a possible miss, little far below the threshold.
/// Only candidates that overlap no detection count (free_candidates), and only with a weight above 0 (the default
/// is 0: on the demo scene candidates in the score halved the collector's enrichment, bench/README.md).
float candidate_uncertainty(const Detection& candidate, float confidence, const FlagsConfig& config);

/// The candidates that overlap no detection (IoU < 0.3): a candidate on a detected object is its runner-up.
std::vector<const Detection*> free_candidates(const std::vector<Detection>& detections,
                                              const std::vector<Detection>& candidates);

/// Whether two or more sub-threshold candidates overlap one another (IoU >= 0.3) where no detection overlaps
/// them: something the model half-sees and does not name.
bool unknown_object(const std::vector<Detection>& detections, const std::vector<Detection>& candidates);

/// How many of the frame's foreground cells (the background stage's, frame_output.hpp) touch no detection and no
/// candidate box (their rectangles in frame pixels do not overlap): change in the picture that nothing the model
/// reports explains. 0 for a frame without foreground.
int unexplained_cells(const Foreground& foreground, const std::vector<Detection>& detections,
                      const std::vector<Detection>& candidates);

/// The frame's score: 1 - (1 - u_count) x prod over detections (1 - u_i), u_count = 0.5 for an unusual count, else 0:
/// the chance that something in the frame is wrong if each term were one on its own (docs/wire.md).
float frame_uncertainty(const std::vector<float>& detection_uncertainties, bool unusual_count);

/// The frame's ranking score: the sum of its terms (each detection's detection_expected_error() and candidate's
/// uncertainty, 0.5 for an unusual count or an unknown object), a rough count of what is wrong in it. Unlike
/// frame_uncertainty() it does not saturate: of two frames both almost surely wrong somewhere, the one with more
/// doubtful objects ranks first.
float expected_errors(const std::vector<float>& terms, bool unusual);

/// A small IoU tracker per camera (the "IOU tracker" of Bochinski et al., 2017, plus weak observations): each
/// frame, detections continue the tracks they overlap most (IoU >= flags.track_iou, greedy by IoU, class-agnostic so
/// a class switch stays on its track); a track no detection continues may be continued by a candidate below the
/// threshold (it dropped under the threshold: seen, not detected); detections left start new tracks; a track unseen
/// for more than flags.track_max_age frames ends. It sets each detection's track_id and the temporal flags:
/// reappeared (its track went unseen for some frames, then came back: a gap), class_switch (its class differs from
/// the class its track had in most of at least 3 observations), score_oscillation (its track crossed the threshold,
/// detection <-> candidate, at least twice in its last 10 observations).
class Tracker {
  public:
    /// `confidence`: the operating threshold; a crossing of it counts for score_oscillation only from outside
    /// near_threshold_band on one side to outside it on the other (a score wobbling inside the band is noise).
    explicit Tracker(const FlagsConfig& config, float confidence = 0);
    /// Associates one frame (called in order); sets track_id and the temporal bits of `detections`.
    void update(std::vector<Detection>& detections, const std::vector<Detection>& candidates);
    std::size_t tracks() const { return tracks_.size(); }

  private:
    struct Track {
        std::int32_t id;
        float box[4];
        int unseen = 0;               ///< frames since it was last seen (detected or as a candidate)
        std::vector<int> class_count; ///< detections per class
        std::uint32_t above = 0;      ///< its last observations, a bit each: 1 detected, 0 a candidate (newest low)
        int observations = 0;
    };
    FlagsConfig config_;
    float confidence_ = 0;
    std::vector<Track> tracks_;
    std::int32_t next_id_ = 0;
};

class FlagsStage {
  public:
    /// `confidence`: the operating threshold the detector applies; `cameras`: how many (state is kept per camera).
    FlagsStage(const FlagsConfig& config, float confidence, std::size_t cameras = 1);
    /// Sets the flags of every detection of `frame`, its frame flags and its uncertainty (called once per frame, in
    /// order within each camera).
    void apply(FrameOutput& frame);

  private:
    /// A camera's usual range of one number, learned online: Welford over the first count_learn_frames values,
    /// then (with `adapt`) a moving average over as many, or (without) fixed, a reference; a value is outside when
    /// it is further from the mean than max(floor, 4 sigma). Returns -1 below, +1 above, 0 within (0 while learning).
    struct UsualBand {
        double n = 0, mean = 0, var = 0;
        int test_and_learn(double x, double learn, double floor, bool adapt);
    };
    struct Usual { ///< per camera: detections per frame, mean luma, luma spread (contrast), log relative sharpness
        UsualBand count, luma, contrast, sharpness;
    };
    FlagsConfig config_;
    float confidence_;
    std::vector<Usual> usual_;
    std::vector<Tracker> trackers_; ///< per camera
};

} // namespace sightline::pipeline
