#pragma once
/// The flags stage: uncertainty flags per detection (transport::Flag bits, docs/wire.md), set on each processed
/// frame in camera order, with room for state per camera (tracking, usual counts) as flags that need history come.
#include <cstddef>
#include <cstdint>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/detector.hpp"

namespace sightline::pipeline {

struct FrameOutput;

/// Flags for one detection given the operating threshold and the config's band and margin.
std::uint32_t uncertainty_flags(const Detection& d, float confidence, const FlagsConfig& config);

class FlagsStage {
  public:
    /// `confidence`: the operating threshold the detector applies.
    FlagsStage(const FlagsConfig& config, float confidence);
    /// Sets the flags of every detection of `frame` (called once per frame, in order within each camera).
    void apply(FrameOutput& frame);

  private:
    FlagsConfig config_;
    float confidence_;
};

} // namespace sightline::pipeline
