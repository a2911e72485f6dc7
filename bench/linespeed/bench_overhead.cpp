// Pipeline overhead excluding the model, against the frame budget at 30 fps (33.3 ms). In one run:
//   anchor: the model alone (engine forward passes on a real preprocessed frame), CPU time per frame;
//   line:   one camera read losslessly through the whole CPU line (decode, frame copy, preprocess, forward pass,
//           head decode, NMS, flags, message encode, ZeroMQ publish), CPU time per frame.
// Overhead = line - anchor, in CPU milliseconds per frame (all threads of the process, FFmpeg's included), and as a
// fraction of the frame budget. CPU time, not wall time, so other load on the machine does not move it much.
//
//   build/bench/bench_overhead [--scene DIR] [--batch 1] [--reps 200]
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/transport/pubsub.hpp"

using namespace sightline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
double cpu_ms() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
    return ms(u.ru_utime) + ms(u.ru_stime);
}
} // namespace

int main(int argc, char** argv) {
    fs::path scene = fs::path(SIGHTLINE_SOURCE_DIR) / ".cache" / "demo-scene";
    int batch = 1, reps = 200;
    CLI::App app{"CPU time sightline spends per frame around the model, against the model's forward pass alone"};
    app.add_option("--scene", scene, "folder with cam1.mp4 (rendered there when missing)")->capture_default_str();
    app.add_option("--batch", batch, "frames per forward pass")->check(CLI::Range(1, 4096))->capture_default_str();
    app.add_option("--reps", reps, "batches timed")->check(CLI::Range(1, 100000000))->capture_default_str();
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
    double c0 = cpu_ms();
    auto t0 = Clock::now();
    for (int k = 0; k < reps; ++k) engine->infer(in, batch);
    const double model_cpu = (cpu_ms() - c0) / (double(reps) * batch);
    const double model_wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / (reps * batch);

    // the line: one camera, lossless, as fast as it goes, every message published (no subscriber needed)
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (scene / "cam1.mp4").string(), {}, false, false});
    cfg.model = model;
    cfg.batching.max_batch = batch;
    cfg.publish = {"ipc:///tmp/sightline_overhead_" + std::to_string(::getpid()), 1000, 0, 30};
    pipeline::LineOptions options;
    options.linger_ms = 0;
    pipeline::Line line(cfg, pipeline::make_opencv_engine(spec), options);
    std::atomic<bool> stop{false};
    c0 = cpu_ms();
    t0 = Clock::now();
    const auto run = line.run(stop);
    std::uint64_t frames = 0;
    for (auto n : run.run.frames) frames += n;
    const double line_cpu = (cpu_ms() - c0) / double(frames);
    const double line_wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / double(frames);
    if (frames == 0) return 1;

    const double budget = 1000.0 / 30, overhead = line_cpu - model_cpu;
    std::printf("pipeline overhead, 1 camera 640x480 lossless, batch %d, %llu frames\n", batch,
                (unsigned long long)frames);
    std::printf("  %-44s %8.2f ms CPU/frame (%.2f ms wall)\n", "line (decode ... publish)", line_cpu, line_wall);
    std::printf("  %-44s %8.2f ms CPU/frame (%.2f ms wall)\n", "anchor: the model's forward pass alone", model_cpu,
                model_wall);
    std::printf("  overhead excluding the model: %.2f ms CPU/frame = %.1f%% of the 33.3 ms frame budget at 30 fps "
                "(goal <= 15%%)\n",
                overhead, 100 * overhead / budget);
    std::printf("%s\n", nlohmann::json{{"bench", "overhead"},
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
