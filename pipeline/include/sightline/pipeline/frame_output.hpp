#pragma once
/// What the line's stages pass on: the record of one processed frame (the runner makes it, the flags stage completes
/// it, the sinks read it: publisher, recorder, stats, sampler) and the events of its cameras. Stages depend on this
/// header, not on the runner.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sightline/kernels/background.hpp"
#include "sightline/kernels/preprocess.hpp"
#include "sightline/kernels/views.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline {

/// When a frame passed each stage, steady clock, nanoseconds (0: not reached).
struct StageStamps {
    std::int64_t arrival_ns = 0; ///< its packet was read from the stream
    std::int64_t decoded_ns = 0;
    std::int64_t batched_ns = 0;  ///< its batch left the batcher
    std::int64_t inferred_ns = 0; ///< its batch's results were collected
};

/// A version running beside the serving one, against it on one frame: detections matched as the online evaluator
/// matches (versions.hpp, match_versions, IoU 0.5).
struct FrameAgreement {
    std::uint32_t both = 0, class_changed = 0, only_serving = 0, only_shadow = 0;
    bool disagree() const { return class_changed + only_serving + only_shadow > 0; }
    /// The share of the boxes (pairs and singles) the two do not agree on; 0 with no box in either.
    double disagreement() const {
        const double differ = double(class_changed) + only_serving + only_shadow;
        return differ > 0 ? differ / (differ + both) : 0.0;
    }
};

/// What the background stage found in a frame (sightline/kernels/background.hpp): the cells that differ from its
/// camera's usual picture. Empty when the stage did not run (flags.unexplained_cells 0, a recording read back).
struct Foreground {
    kernels::BackgroundGrid grid;
    int cell = 0;                    ///< a cell's side in resized pixels
    std::vector<std::uint8_t> cells; ///< grid.cells() bytes, row-major, 1: foreground
};

struct FrameOutput {
    std::string camera;
    std::size_t camera_index = 0;
    std::uint64_t seq = 0; ///< per camera, from 0
    std::int64_t pts_ns = 0;
    std::int64_t frame = 0; ///< index in its source since it was (re)opened (a file's frame number)
    int width = 0, height = 0;
    std::vector<Detection> detections; ///< best first, flags set
    std::vector<Detection> candidates; ///< below the threshold, from flags.candidate_floor up, best first
    /// The decoded frame (host or device memory), valid only while the sink runs: what a sample is made of.
    const OwnedFrame* image = nullptr;
    std::uint32_t frame_flags = 0; ///< the OR of the detections' flags, and frame-only flags (the flags stage)
    float uncertainty = 0;         ///< the frame's uncertainty score (the flags stage; docs/wire.md)
    float expected_errors = 0;     ///< the sum of the score's terms: what the sampler ranks by (flags.hpp)
    /// The sum of the uncertainty's own terms (flags.score_band's narrow near-threshold term, margins, entropy,
    /// candidates, unusual count): how many of its detections are in doubt. What the sampler shares the line's
    /// budget between cameras by (sampling.share; set by the flags stage, flags.hpp).
    float doubt = 0;
    kernels::LumaStats luma;
    Foreground foreground; ///< the background stage's, shared by every version's record of the frame
    StageStamps stamps;
    std::uint64_t late_so_far = 0;    ///< this camera's frames dropped so far for missing their deadline
    std::uint64_t dropped_so_far = 0; ///< this camera's decoded frames dropped so far (line behind, live sources)
    std::size_t queue_depth = 0;      ///< this camera's decoded frames still waiting when this one was batched
    double queue_age_ms = 0;          ///< how long the oldest of them had waited since decoding (0: none waiting)
    /// The model version that made these detections (its index in the line's ModelSet, models.hpp).
    int version = 0;
    /// What the versions running beside the serving one (shadows, a rollout's fallback) made of the same frame, in
    /// version order: each a record of its own (detections, candidates, flags from that version's flags stage; the
    /// frame's fields as above; no shadows of its own). Where any disagrees with the serving version, its frame and
    /// the serving one carry the disagree flag (transport::kFrameDisagree).
    std::vector<FrameOutput> shadows;
    FrameAgreement agreement; ///< a shadow's: against the serving version (zero on the serving record)
};

/// Something that happened to a camera: camera_up, camera_down (with the reason; also for a camera that has not
/// come up yet, on its retries).
struct RunEvent {
    std::string kind;
    std::string camera;
    std::string message;
    std::int64_t time_ns = 0; ///< wall clock when it happened, ns since the epoch
};

} // namespace sightline::pipeline
