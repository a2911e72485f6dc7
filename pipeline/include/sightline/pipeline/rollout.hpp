#pragma once
/// A candidate version against the one it would replace, on identical frames of one camera (issue 26, part 3): the
/// guardrails. Each frame gives both versions' metrics; every `block_frames` frames the block means' differences
/// (candidate - baseline) go to one always-valid test per guardrail (PairedMsprt, msprt.hpp). A guardrail is
/// breached when its confidence sequence says, with confidence 1 - alpha, that the candidate is worse than the
/// baseline by more than `tolerance` x the baseline's mean (in its bad direction); it is cleared when the sequence
/// says the candidate is not. The camera rolls back at the first breach; it may promote once every guardrail is
/// cleared. Four guardrails are figures of a whole block rather than means of frames (the latency's 99th percentile,
/// and precision, recall and AP50 of the block's frames against their ground truth), and one has no baseline
/// (disagreement: the share of the frame's boxes the two versions do not agree on; its tolerance is that share itself).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sightline/pipeline/msprt.hpp"
#include "sightline/pipeline/online_eval.hpp"

namespace sightline::pipeline {

/// What one version did on one frame.
struct FrameMetrics {
    double detections = 0; ///< published detections
    double mean_score = 0; ///< their mean score (0 with none)
    double flagged = 0;    ///< 1 when the frame carries any flag, else 0
    double latency_ms = 0; ///< arrival to published
    /// With ground truth for the frame (the camera's `ground_truth`, matched as the online evaluator matches, at its
    /// IoU): objects the version missed, and its detections that match no object. 0 on frames without ground truth
    /// (for both versions: their paired difference is 0 there).
    double missed = 0, false_alarms = 0;
    /// The frame's detections matched against its ground truth (as above): a block's precision, recall and AP50
    /// pool them. Nothing on frames without ground truth.
    std::optional<FrameMatch> truth;
    /// The candidate's frame only: the share of the two versions' boxes that do not agree (class changed, found by
    /// one only; IoU 0.5, as `sightline compare` matches), 0 with no box in either. A baseline's is 0.
    double disagreement = 0;
};

/// The guardrail metrics, in the order errors list them: detections, mean_score, flagged, latency_ms, latency_p99,
/// missed, false_alarms, disagreement, precision, recall, ap50.
const std::vector<std::string>& guardrail_metrics();

struct GuardrailConfig {
    /// detections, mean_score, flagged, latency_ms, disagreement (per frame), latency_p99 (per block: its frames'
    /// 99th percentile); with ground truth: missed, false_alarms (per frame), precision, recall, ap50 (per block)
    std::string metric;
    /// The bad direction: "lower" (less is worse: mean_score), "higher" (more is worse: flagged, latency), "either"
    /// (a change either way: detections, where fewer means misses and more means false alarms).
    std::string worse = "either";
    /// How much worse than the baseline's mean counts as a breach (0.1: 10%); for disagreement, which has no
    /// baseline, the share of boxes itself (0.1: 10% of the boxes differ).
    double tolerance = 0.1;
};

/// Throws Error(kBadInput), `who` first, for an unknown metric, a `worse` other than lower, higher or either, or a
/// tolerance that is not a number >= 0.
void check_guardrail(const GuardrailConfig& guardrail, const std::string& who);

/// Whether a guardrail metric is read against ground truth (missed, false_alarms, precision, recall, ap50): only a
/// camera with ground truth gives it values.
bool guardrail_needs_truth(const std::string& metric);

/// A guardrail from the command line, `METRIC:WORSE:TOLERANCE` (`disagreement:higher:0.1`); throws Error(kBadInput)
/// naming the spec for anything else.
GuardrailConfig parse_guardrail(std::string_view spec);

struct RolloutConfig {
    int block_frames = 15; ///< frames per block (0.5 s at 30 fps): consecutive frames are correlated, blocks less
    /// The chance of ever deciding wrongly, over all guardrails (each tests at alpha / their number: Bonferroni)
    double alpha = 0.05;
    int min_blocks = 20; ///< no decision before (msprt.hpp)
    std::vector<GuardrailConfig> guardrails = default_guardrails();
    static std::vector<GuardrailConfig> default_guardrails();
    /// What a camera with ground truth adds to the default guardrails: missed (higher, 20%), false_alarms (higher,
    /// 50%), ap50 (lower, 10%).
    static std::vector<GuardrailConfig> ground_truth_guardrails();
};

enum class RolloutDecision { kUndecided, kRollback, kPromote };
const char* decision_name(RolloutDecision d);

/// One guardrail's state: the evidence a decision names.
struct GuardrailState {
    GuardrailConfig config;
    std::size_t blocks = 0;
    double baseline_mean = 0; ///< the baseline's mean of the metric per frame (a block's figure: per block) so far
    double difference = 0;    ///< the mean block difference, candidate - baseline
    double low = 0, high = 0; ///< its confidence sequence
    double p_value = 1;       ///< against no difference
    bool breached = false, cleared = false;
};

class Rollout {
  public:
    explicit Rollout(RolloutConfig config = {});
    /// One frame both versions processed. Returns the decision so far (it sticks once made).
    RolloutDecision add(const FrameMetrics& candidate, const FrameMetrics& baseline);
    RolloutDecision decision() const { return decision_; }
    std::size_t frames() const { return frames_; }
    std::size_t decided_at_frame() const { return decided_at_; } ///< the frame count at the decision (0: none yet)
    std::vector<GuardrailState> state() const;
    /// The decision's evidence in words, as it stood when the decision was made (the breached guardrail, or every
    /// cleared one, with its interval); before a decision, the state now.
    std::string evidence() const;

  private:
    struct Rail {
        GuardrailConfig config;
        PairedMsprt test;
        double block_c = 0, block_b = 0, base_sum = 0;
        std::size_t base_n = 0;
        bool breached = false, cleared = false;
    };
    RolloutConfig config_;
    std::vector<Rail> rails_;
    /// The current block's frames, pooled once for the guardrails that read a block's figure: both versions'
    /// matches against the truth (precision, recall, ap50) and latencies (latency_p99).
    struct Block {
        MatchTotals truth_c, truth_b;
        std::vector<double> latency_c, latency_b;
    } block_;
    bool needs_truth_ = false, needs_latency_ = false;
    std::size_t frames_ = 0, in_block_ = 0, decided_at_ = 0;
    std::string evidence_; ///< at the decision
    std::string describe() const;
    /// A rail's block ends: its difference to the test (a block figure's only where defined), its state updated.
    void close_block(Rail& r) const;
    RolloutDecision decision_ = RolloutDecision::kUndecided;
};

} // namespace sightline::pipeline
