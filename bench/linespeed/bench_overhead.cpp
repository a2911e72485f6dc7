// Pipeline overhead excluding the model, against the frame budget at 30 fps (33.3 ms). In one run:
//   anchor: the model alone (engine forward passes on a real preprocessed frame), CPU time per frame;
//   line:   one camera read losslessly through the whole CPU line (decode, frame copy, preprocess, forward pass,
//           head decode, NMS, flags, message encode, ZeroMQ publish), CPU time per frame.
// Overhead = line - anchor, in CPU milliseconds per frame (all threads of the process, FFmpeg's included), and as a
// fraction of the frame budget. CPU time, not wall time, so other load on the machine does not move it much.
//
// The flags' share (issue 15: under 2% of the line's per-frame CPU time), in the same run: the flags stage timed on
// the line's own frames (every detection's and candidate's terms, the per-camera count, unknown objects), plus the
// detector's extra work for the candidates below the threshold (two detectors, with and without a candidate floor,
// on the same frames, alternated round by round: the line's own run-to-run noise is larger than this).
//
//   build/bench/bench_overhead [--scene DIR] [--batch 1] [--reps 200] [--flags-rounds 3]
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

#include "sightline/pipeline/flags.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/transport/pubsub.hpp"

using namespace sightline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {} // namespace

int main(int argc, char** argv) {
    fs::path scene = fs::path(SIGHTLINE_SOURCE_DIR) / ".cache" / "demo-scene";
    int batch = 1, reps = 200;
    CLI::App app{"CPU time sightline spends per frame around the model, against the model's forward pass alone"};
    app.add_option("--scene", scene, "folder with cam1.mp4 (rendered there when missing)")->capture_default_str();
    app.add_option("--batch", batch, "frames per forward pass")->check(CLI::Range(1, 4096))->capture_default_str();
    app.add_option("--reps", reps, "batches timed")->check(CLI::Range(1, 100000000))->capture_default_str();
    int flag_rounds = 3;
    app.add_option("--flags-rounds", flag_rounds,
                   "rounds of the detector with and without candidates, alternated, "
                   "for the flags' share (0: not measured)")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    // a folder that has the videos is used as it is (the demo's cache, a user's scene)
    if (!fs::exists(scene / "cam1.mp4") &&
        pipeline::synth::ensure_scene({scene, 1, 20, 1, {"defaults.width=640", "defaults.height=480"}}))
        std::fprintf(stderr, "bench_overhead: rendered 1 camera 640x480 x 20 s into %s\n", scene.c_str());
    const fs::path model = fs::path(SIGHTLINE_SOURCE_DIR) / "models/parts-v1/model.yaml";
    const auto spec = pipeline::load_model_spec(model);

    // anchor: the forward pass alone, on `batch` copies of the video's first frame, preprocessed
    auto engine = pipeline::make_opencv_engine(spec);
    pipeline::VideoReader reader((scene / "cam1.mp4").string());
    pipeline::DecodedFrame first;
    if (!reader.next(first)) return 1;
    const std::size_t per = kernels::preprocess_frame_bytes(spec.preprocess) / sizeof(float);
    std::vector<float> input(per * batch);
    std::vector<kernels::ImageView> views(batch, first.view);
    kernels::preprocess_cpu(views, spec.preprocess, input.data(), nullptr, nullptr);
    const pipeline::TensorView in{input.data(), input.size(), kernels::MemoryLocation::kHost};
    for (int k = 0; k < 5; ++k) engine->infer(in, batch); // warm-up
    double c0 = bench::process_cpu_ms();
    auto t0 = Clock::now();
    for (int k = 0; k < reps; ++k) engine->infer(in, batch);
    const double model_cpu = (bench::process_cpu_ms() - c0) / (double(reps) * batch);
    const double model_wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / (reps * batch);

    // the line: one camera, lossless, as fast as it goes, every message published (no subscriber needed)
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (scene / "cam1.mp4").string(), {}, false, false});
    cfg.model = model;
    cfg.batching.max_batch = batch;
    cfg.publish = {"ipc:///tmp/sightline_overhead_" + std::to_string(::getpid()), 1000, 0, 30};
    std::vector<pipeline::FrameOutput> seen; // the line's frames, for timing the flags stage on them
    const auto run_line = [&](float floor, bool keep, double& wall_ms) {
        pipeline::RunConfig c = cfg;
        c.flags.candidate_floor = floor;
        pipeline::LineOptions options;
        options.linger_ms = 0;
        if (keep)
            options.on_frame = [&](const pipeline::FrameOutput& f, const transport::PredMessage&) {
                seen.push_back(f);
                seen.back().image = nullptr;
            };
        pipeline::Line line(c, pipeline::make_opencv_engine(spec), options);
        std::atomic<bool> stop{false};
        const double c1 = bench::process_cpu_ms();
        const auto t1 = Clock::now();
        const auto r = line.run(stop);
        std::uint64_t n = 0;
        for (auto x : r.run.frames) n += x;
        if (n == 0) throw std::runtime_error("the line processed no frames");
        wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count() / double(n);
        return std::pair{(bench::process_cpu_ms() - c1) / double(n), n};
    };
    double line_wall = 0;
    const auto [line_cpu, frames] = run_line(cfg.flags.candidate_floor, true, line_wall);

    const double budget = 1000.0 / 30, overhead = line_cpu - model_cpu;
    std::printf("pipeline overhead, 1 camera 640x480 lossless, batch %d, %llu frames\n", batch,
                (unsigned long long)frames);
    std::printf("  %-44s %8.2f ms CPU/frame (%.2f ms wall)\n", "line (decode ... publish)", line_cpu, line_wall);
    std::printf("  %-44s %8.2f ms CPU/frame (%.2f ms wall)\n", "anchor: the model's forward pass alone", model_cpu,
                model_wall);
    std::printf("  overhead excluding the model: %.2f ms CPU/frame = %.1f%% of the 33.3 ms frame budget at 30 fps "
                "(goal <= 15%%)\n",
                overhead, 100 * overhead / budget);
    // the flags' share: the stage on the line's own frames, and the candidates' extra detector work
    double flags_stage_ms = 0, candidates_ms = 0, share = 0;
    if (flag_rounds > 0) {
        pipeline::FlagsStage stage(cfg.flags, spec.confidence, 1);
        const int passes = 20;
        const auto w1 = Clock::now(); // one thread, CPU-bound: wall time is its CPU time, at a finer grain
        for (int k = 0; k < passes; ++k)
            for (auto& f : seen) stage.apply(f);
        flags_stage_ms = std::chrono::duration<double, std::milli>(Clock::now() - w1).count() / (passes * seen.size());
        // the detector with and without candidates on the same 300 frames, alternated round by round
        std::vector<pipeline::OwnedFrame> kept;
        pipeline::VideoReader r2((scene / "cam1.mp4").string());
        pipeline::DecodedFrame d;
        while (kept.size() < 300 && r2.next(d)) kept.push_back(pipeline::copy_frame(d));
        pipeline::Detector plain(pipeline::make_opencv_engine(spec), -1, -1, -1, -1, 0);
        pipeline::Detector with(pipeline::make_opencv_engine(spec), -1, -1, -1, cfg.flags.candidate_floor,
                                cfg.flags.max_candidates);
        std::vector<double> a, b;
        std::size_t n_candidates = 0;
        for (int k = 0; k < flag_rounds; ++k)
            for (auto* det : {&plain, &with}) {
                const double c1 = bench::process_cpu_ms();
                for (const auto& f : kept) {
                    const auto res = det->detect(std::span(&f.view, 1));
                    if (det == &with && k == 0) n_candidates += res[0].candidates.size();
                }
                (det == &plain ? a : b).push_back((bench::process_cpu_ms() - c1) / kept.size());
            }
        std::sort(a.begin(), a.end()), std::sort(b.begin(), b.end());
        candidates_ms = b[b.size() / 2] - a[a.size() / 2];
        share = (flags_stage_ms + std::max(0.0, candidates_ms)) / line_cpu;
        std::printf("  flags: the stage %.4f ms/frame (on the line's %zu frames x %d); candidates below the threshold "
                    "%+.3f ms CPU/frame in the detector (median of %d alternated rounds on %zu frames: %.3f with, "
                    "%.3f without; %.1f candidates a frame)\n"
                    "  flags' share of the line's %.2f ms CPU per frame: %.2f%% (goal < 2%%)\n",
                    flags_stage_ms, seen.size(), passes, candidates_ms, flag_rounds, kept.size(), b[b.size() / 2],
                    a[a.size() / 2], double(n_candidates) / kept.size(), line_cpu, 100 * share);
    }
    std::printf("%s\n", nlohmann::json{{"bench", "overhead"},
                                       {"flags_stage_cpu_ms_per_frame", flags_stage_ms},
                                       {"candidates_cpu_ms_per_frame", candidates_ms},
                                       {"flags_share_of_line_cpu", share},
                                       {"frames", frames},
                                       {"batch", batch},
                                       {"line_cpu_ms_per_frame", line_cpu},
                                       {"model_cpu_ms_per_frame", model_cpu},
                                       {"overhead_cpu_ms_per_frame", overhead},
                                       {"budget_fraction", overhead / budget}}
                            .dump()
                            .c_str());
    return 0;
}
