// sightline synth: writes a synthetic multi-camera production line with exact ground truth.
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "commands.hpp"
#include "progress.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/synth.hpp"

namespace sightline::tools {

namespace {
std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(ErrorCode::kNotFound, path + ": cannot open scenario file");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}
} // namespace

Run add_synth(CLI::App& app) {
    struct Args {
        std::string out, scenario, preset = "superfast";
        int cameras = 4, threads = 0, crf = 23;
        double seconds = 60;
        std::uint64_t seed = 1;
        bool nominal = false;
        std::vector<std::string> sets;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("synth", command_help("synth"));
    cmd->add_option("--out", a->out, "output directory")->required();
    cmd->add_option("--cameras", a->cameras, "number of cameras, named cam1..camN")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--seconds", a->seconds, "length of every video")
        ->check(CLI::Range(0.01, 86400.0))
        ->capture_default_str();
    cmd->add_option("--seed", a->seed, "scene seed: same seed, same videos and ground truth")->capture_default_str();
    auto* sc = cmd->add_option("--scenario", a->scenario, "scenario YAML (docs/synth.md); default: the demo scene");
    cmd->add_flag("--nominal", a->nominal, "every camera nominal (no drift), e.g. for training data")->excludes(sc);
    cmd->add_option("--set", a->sets,
                    "override a scenario key, e.g. --set cameras.cam2.blur.start=5 or --set defaults.fps=25");
    cmd->add_option("--threads", a->threads, "cameras rendered in parallel (0: one per core)")
        ->check(CLI::Range(0, 256));
    cmd->add_option("--preset", a->preset, "x264 preset")
        ->capture_default_str()
        ->check(CLI::IsMember({"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"}));
    cmd->add_option("--crf", a->crf, "x264 quality (lower is better)")->check(CLI::Range(0, 51))->capture_default_str();
    return [a] {
        pipeline::synth::SynthOptions o;
        o.out_dir = a->out;
        o.cameras = a->cameras;
        o.seconds = a->seconds;
        o.seed = a->seed;
        o.threads = a->threads;
        o.preset = a->preset;
        o.crf = a->crf;
        std::string yaml = a->nominal            ? ""
                           : a->scenario.empty() ? pipeline::synth::default_scenario_yaml()
                                                 : read_text(a->scenario);
        o.specs = pipeline::synth::make_specs(a->cameras, yaml, a->scenario.empty() ? "default scenario" : a->scenario,
                                              a->sets);
        const auto t0 = std::chrono::steady_clock::now();
        ProgressLine progress("synth");
        pipeline::synth::generate(
            o, [&](const pipeline::synth::Progress& p) { progress.update(p.frames_done, p.frames_total, "frames"); });
        progress.done();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        spdlog::info("synth: {} cameras x {:.1f} s written to {} in {:.1f} s ({:.1f}x real time)", a->cameras,
                     a->seconds, a->out, secs, a->seconds * a->cameras / secs);
        return 0;
    };
}

} // namespace sightline::tools
