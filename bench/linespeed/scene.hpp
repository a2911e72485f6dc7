#pragma once
// The line benchmarks' input: a synthetic scene of the default scenario, rendered once into `dir` (kept there for
// the next run) when its last camera's video is missing.
#include <cstdio>
#include <filesystem>
#include <string>

#include "sightline/pipeline/synth.hpp"

namespace sightline::bench {

/// Renders `cameras` x `seconds` of the default scenario at width x height into `dir` unless dir/cam<cameras>.mp4
/// exists; says so on stderr as `who`. Returns `dir`.
inline std::filesystem::path ensure_scene(const std::filesystem::path& dir, int cameras, double seconds, int width,
                                          int height, const char* who) {
    if (std::filesystem::exists(dir / ("cam" + std::to_string(cameras) + ".mp4"))) return dir;
    std::fprintf(stderr, "%s: rendering %d camera(s) %dx%d x %.0f s into %s\n", who, cameras, width, height, seconds,
                 dir.c_str());
    pipeline::synth::SynthOptions o;
    o.out_dir = dir;
    o.cameras = cameras;
    o.seconds = seconds;
    o.specs = pipeline::synth::make_specs(
        cameras, pipeline::synth::default_scenario_yaml(), "default",
        {"defaults.width=" + std::to_string(width), "defaults.height=" + std::to_string(height)});
    pipeline::synth::generate(o);
    return dir;
}

} // namespace sightline::bench
