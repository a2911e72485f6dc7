#pragma once
// Synthetic scenes the line tests run on.
#include <filesystem>
#include <string>
#include <vector>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/synth.hpp"

namespace sightline::testing {

/// Renders a synthetic scene of `cameras` cameras into `dir` (camN.mp4 + camN.json), scenario keys from `sets`.
inline void render_scene(const std::filesystem::path& dir, int cameras, double seconds, std::uint64_t seed,
                         const std::vector<std::string>& sets) {
    pipeline::synth::SynthOptions o;
    o.out_dir = dir;
    o.cameras = cameras;
    o.seconds = seconds;
    o.seed = seed;
    o.specs = pipeline::synth::make_specs(cameras, "", "test", sets);
    pipeline::synth::generate(o);
}

/// One camera (cam1: 1 s at 15 fps, 160x120) rendered into `dir` once, as a RunConfig with the demo model and
/// batches of 1.
inline pipeline::RunConfig one_camera(const std::filesystem::path& dir, bool realtime, bool loop) {
    pipeline::synth::SynthOptions o;
    o.out_dir = dir;
    o.cameras = 1;
    o.seconds = 1.0;
    o.specs =
        pipeline::synth::make_specs(1, "", "test", {"defaults.width=160", "defaults.height=120", "defaults.fps=15"});
    if (!std::filesystem::exists(dir / "cam1.mp4")) pipeline::synth::generate(o);
    pipeline::RunConfig c;
    c.cameras.push_back({"cam1", (dir / "cam1.mp4").string(), {}, realtime, loop});
    c.model = std::filesystem::path(SIGHTLINE_SOURCE_DIR) / "models/parts-v1/model.yaml";
    c.batching.max_batch = 1;
    return c;
}

} // namespace sightline::testing
