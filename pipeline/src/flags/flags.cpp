#include "sightline/pipeline/flags.hpp"

#include "sightline/pipeline/runner.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::pipeline {

std::uint32_t uncertainty_flags(const Detection& d, float confidence, const FlagsConfig& c) {
    std::uint32_t f = 0;
    if (d.score < confidence + c.near_threshold_band) f |= transport::kFlagNearThreshold;
    if (d.margin < c.ambiguity_margin) f |= transport::kFlagAmbiguousClass;
    return f;
}

FlagsStage::FlagsStage(const FlagsConfig& config, float confidence) : config_(config), confidence_(confidence) {}

void FlagsStage::apply(FrameOutput& frame) {
    for (Detection& d : frame.detections) d.flags = uncertainty_flags(d, confidence_, config_);
}

} // namespace sightline::pipeline
