// What a shadow costs the line (issue 26, part 6): the line's CPU per frame with a second model version run beside
// the serving one on every frame, against the same line without it, and against the shadow's own forward pass. In
// one run, rounds alternated (the machine's noise moves all three alike):
//   line:        the demo scene's cameras read losslessly through the whole CPU line (decode, preprocess, the
//                serving model, decode, NMS, flags, encode, publish), CPU ms per frame (all threads);
//   line+shadow: the same line with the shadow model also run on every frame (preprocess shared: same input spec),
//                its results published on shadow/<camera>, matched against the serving ones (agreement, disagree);
//   anchor:      the shadow model's forward pass alone on batches of the line's size, CPU ms per frame.
// Reported: added = (line+shadow) - line, and added / anchor per round, their median (goal <= 1.1: decode and
// preprocess are not paid twice), for the line as it runs (the versions' passes side by side) and with the versions
// one after the other (LineOptions::versions_side_by_side false; the two in turn first, round by round); every
// version's first forward pass (an engine's set-up) runs before the clock; throughput as fast as the line goes, with
// and without the shadow (the capacity ratio when CPU-bound). The output is checked: every frame of every camera
// processed, a shadow result for each.
//
//   build/bench/bench_shadow [--scene DIR] [--cameras 4] [--frames 900] [--rounds 3] [--engine auto]
//                            [--model models/parts-v1/model.yaml] [--shadow models/parts-v2/model.yaml]
#include <CLI/CLI.hpp>

#include "process_cpu.hpp"
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"

using namespace sightline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Measured {
    double cpu_ms_per_frame = 0, wall_ms_per_frame = 0;
};

struct Options {
    fs::path scene = fs::path(SIGHTLINE_SOURCE_DIR) / ".cache" / "bench-shadow-scene";
    fs::path model = fs::path(SIGHTLINE_SOURCE_DIR) / "models/parts-v1/model.yaml";
    fs::path shadow = fs::path(SIGHTLINE_SOURCE_DIR) / "models/parts-v2/model.yaml";
    int cameras = 4, frames = 900, rounds = 3, batch = 4;
    std::string engine = "auto";
};

/// The line (`cfg`) once, losslessly, until cameras x frames are processed: CPU and wall per frame. With
/// `with_shadow`, the shadow model runs beside the serving one on every frame (checked).
Measured run_line(const Options& o, const pipeline::RunConfig& cfg, bool with_shadow, bool side_by_side = true) {
    pipeline::RunConfig c = cfg;
    std::vector<std::unique_ptr<pipeline::Engine>> engines;
    engines.push_back(pipeline::make_engine(o.engine, pipeline::load_model_spec(o.model)));
    if (with_shadow) {
        c.models = {{"serving", o.model, {}}, {"shadow", o.shadow, {}}};
        c.shadow = {"shadow"};
        engines.push_back(pipeline::make_engine(o.engine, pipeline::load_model_spec(o.shadow)));
    }
    const auto wanted = static_cast<std::uint64_t>(o.frames) * static_cast<std::uint64_t>(o.cameras);
    std::atomic<bool> stop{false};
    std::uint64_t n = 0, shadows = 0;
    pipeline::LineOptions options;
    options.versions_side_by_side = side_by_side;
    options.linger_ms = 0;
    options.stat_period_s = 1;
    options.on_frame = [&](const pipeline::FrameOutput& f, const transport::PredMessage&) {
        shadows += f.shadows.size();
        if (++n >= wanted) stop = true;
    };
    pipeline::Line line(c, std::move(engines), options);
    line.self_test(); // every version's first forward pass (an engine's set-up) before the clock: a line runs for hours
    const double c0 = bench::process_cpu_ms();
    const auto t0 = Clock::now();
    const auto r = line.run(stop);
    const double cpu = bench::process_cpu_ms() - c0;
    const double wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::uint64_t processed = 0;
    for (auto x : r.run.frames) processed += x;
    if (processed < wanted)
        throw std::runtime_error("the line processed " + std::to_string(processed) + " frames, fewer than asked");
    if (with_shadow != (shadows == processed))
        throw std::runtime_error("the shadow ran on " + std::to_string(shadows) + " of " + std::to_string(processed) +
                                 " frames");
    return Measured{cpu / static_cast<double>(processed), wall / static_cast<double>(processed)};
}

/// The anchor: the shadow's forward pass alone, on batches of the line's size of real preprocessed frames.
class ForwardAnchor {
  public:
    explicit ForwardAnchor(const Options& o)
        : o_(o), engine_(pipeline::make_engine(o.engine, pipeline::load_model_spec(o.shadow))) {
        const auto& p = engine_->spec().preprocess;
        std::vector<pipeline::OwnedFrame> kept;
        pipeline::VideoReader reader((o.scene / "cam1.mp4").string());
        pipeline::DecodedFrame d;
        while (kept.size() < 64 && reader.next(d)) kept.push_back(pipeline::copy_frame(d));
        const std::size_t per = kernels::preprocess_frame_bytes(p) / sizeof(float);
        for (std::size_t k = 0; k + o.batch <= kept.size(); k += o.batch) {
            std::vector<kernels::ImageView> views;
            for (int b = 0; b < o.batch; ++b) views.push_back(kept[k + b].view);
            inputs_.emplace_back(per * o.batch);
            kernels::preprocess_cpu(views, p, inputs_.back().data(), nullptr, nullptr);
        }
        for (int k = 0; k < 3; ++k) cpu_ms_per_frame(); // warm-up
    }
    /// As many passes as the line makes: CPU ms per frame.
    double cpu_ms_per_frame() {
        const int passes = o_.frames * o_.cameras / o_.batch;
        const double c0 = bench::process_cpu_ms();
        for (int k = 0; k < passes; ++k) {
            const auto& in = inputs_[static_cast<std::size_t>(k) % inputs_.size()];
            engine_->infer({in.data(), in.size(), kernels::MemoryLocation::kHost}, o_.batch);
        }
        return (bench::process_cpu_ms() - c0) / (static_cast<double>(passes) * o_.batch);
    }

  private:
    const Options& o_;
    std::unique_ptr<pipeline::Engine> engine_;
    std::vector<std::vector<float>> inputs_;
};
/// Every round's figures: the line, the line with the shadow (side by side; and one after the other), the anchor.
struct Rounds {
    std::vector<double> line_cpu, shadow_cpu, anchor_cpu, line_wall, shadow_wall, ratios, series_ratios;
};

Rounds measure(const Options& o, const pipeline::RunConfig& cfg, ForwardAnchor& forward) {
    Rounds m;
    for (int r = 0; r < o.rounds; ++r) {
        const Measured a = run_line(o, cfg, false);
        Measured b, c; // the versions side by side (the line's default) and one after the other, in turn first
        if (r % 2 == 0)
            b = run_line(o, cfg, true, true), c = run_line(o, cfg, true, false);
        else
            c = run_line(o, cfg, true, false), b = run_line(o, cfg, true, true);
        m.anchor_cpu.push_back(forward.cpu_ms_per_frame());
        m.line_cpu.push_back(a.cpu_ms_per_frame), m.line_wall.push_back(a.wall_ms_per_frame);
        m.shadow_cpu.push_back(b.cpu_ms_per_frame), m.shadow_wall.push_back(b.wall_ms_per_frame);
        m.ratios.push_back((b.cpu_ms_per_frame - a.cpu_ms_per_frame) / m.anchor_cpu.back());
        m.series_ratios.push_back((c.cpu_ms_per_frame - a.cpu_ms_per_frame) / m.anchor_cpu.back());
        std::printf("round %d: line %.2f ms CPU/frame (%.2f wall), line+shadow %.2f (%.2f wall; in series %.2f, %.2f "
                    "wall), shadow's forward pass %.2f: added %.2fx (in series %.2fx)\n",
                    r + 1, a.cpu_ms_per_frame, a.wall_ms_per_frame, b.cpu_ms_per_frame, b.wall_ms_per_frame,
                    c.cpu_ms_per_frame, c.wall_ms_per_frame, m.anchor_cpu.back(), m.ratios.back(),
                    m.series_ratios.back());
    }
    return m;
}

/// The medians, in words and as one JSON line.
void report(const Options& o, const Rounds& m, const std::string& serving, const std::string& shadow) {
    const double line = median(m.line_cpu), with = median(m.shadow_cpu), anchor = median(m.anchor_cpu);
    const double added = with - line, ratio = median(m.ratios), series = median(m.series_ratios);
    const double fps = 1000 / median(m.line_wall), fps_shadow = 1000 / median(m.shadow_wall);
    std::printf("%d cameras x %d frames, batch %d, %s engine, %s serving, %s in shadow (medians of %d rounds)\n",
                o.cameras, o.frames, o.batch, o.engine.c_str(), serving.c_str(), shadow.c_str(), o.rounds);
    std::printf(
        "  the shadow adds %.2f ms CPU per frame to the line's %.2f; its own forward pass %.2f ms; added over "
        "forward, the median of the rounds' ratios: %.2fx [rounds %.2f-%.2f] (goal <= 1.1x); with the versions "
        "one after the other %.2fx [%.2f-%.2f]\n",
        added, line, anchor, ratio, *std::min_element(m.ratios.begin(), m.ratios.end()),
        *std::max_element(m.ratios.begin(), m.ratios.end()), series,
        *std::min_element(m.series_ratios.begin(), m.series_ratios.end()),
        *std::max_element(m.series_ratios.begin(), m.series_ratios.end()));
    std::printf("  throughput as fast as it goes: %.1f fps without, %.1f fps with the shadow (%.2fx)\n", fps,
                fps_shadow, fps_shadow / fps);
    std::printf("%s\n", nlohmann::json{{"bench", "shadow"},
                                       {"cameras", o.cameras},
                                       {"frames", o.frames},
                                       {"batch", o.batch},
                                       {"engine", o.engine},
                                       {"line_cpu_ms_per_frame", line},
                                       {"line_with_shadow_cpu_ms_per_frame", with},
                                       {"shadow_forward_cpu_ms_per_frame", anchor},
                                       {"added_over_forward", ratio},
                                       {"added_over_forward_rounds", m.ratios},
                                       {"added_over_forward_in_series", series},
                                       {"added_over_forward_in_series_rounds", m.series_ratios},
                                       {"fps", fps},
                                       {"fps_with_shadow", fps_shadow}}
                            .dump()
                            .c_str());
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"The line's CPU per frame with a shadow model version, against the line without it and against the "
                 "shadow's own forward pass"};
    app.add_option("--scene", o.scene, "folder with cam1..cam4.mp4 (rendered there when missing)")
        ->capture_default_str();
    app.add_option("--cameras", o.cameras, "cameras (the scene's four, repeated)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--frames", o.frames, "frames per camera (about: the line stops after cameras x frames)")
        ->check(CLI::Range(10, 100000))
        ->capture_default_str();
    app.add_option("--rounds", o.rounds, "alternated rounds of each measurement (medians reported)")
        ->check(CLI::Range(1, 50))
        ->capture_default_str();
    app.add_option("--batch", o.batch, "the line's largest batch")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--engine", o.engine, "engine of both versions")
        ->check(CLI::IsMember({"auto", "opencv", "openvino"}))
        ->capture_default_str();
    app.add_option("--model", o.model, "the serving model.yaml")->check(CLI::ExistingFile)->capture_default_str();
    app.add_option("--shadow", o.shadow, "the shadow model.yaml")->check(CLI::ExistingFile)->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    const double seconds = o.frames / 30.0 + 2; // the line stops after cameras x frames: enough video for them
    if (!fs::exists(o.scene / "cam4.mp4") &&
        pipeline::synth::ensure_scene({o.scene, 4, seconds, 1, {"defaults.width=640", "defaults.height=480"}}))
        std::fprintf(stderr, "bench_shadow: rendered 4 cameras 640x480 x %.0f s into %s\n", seconds, o.scene.c_str());
    const auto spec = pipeline::load_model_spec(o.model), shadow_spec = pipeline::load_model_spec(o.shadow);
    const fs::path cut = fs::temp_directory_path() / ("sightline_bench_shadow_" + std::to_string(::getpid()));
    fs::create_directories(cut);
    pipeline::RunConfig cfg;
    for (int i = 0; i < o.cameras; ++i)
        cfg.cameras.push_back({"cam" + std::to_string(i + 1),
                               (o.scene / ("cam" + std::to_string(i % 4 + 1) + ".mp4")).string(),
                               {},
                               false,
                               false});
    cfg.model = o.model;
    cfg.engine = o.engine;
    cfg.batching.max_batch = o.batch;
    cfg.publish = {"ipc://" + (cut / "line").string(), 100000, 0, 30};
    ForwardAnchor forward(o);
    report(o, measure(o, cfg, forward), spec.name, shadow_spec.name);
    fs::remove_all(cut);
    return 0;
}
