// sightline demo: the embedded default. Renders the default scene (cached), runs the demo model over it through the
// line as `run` runs it, with a ZeroMQ subscriber as the consumer, and prints what it saw per camera, before and
// after each camera's drift.
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "commands.hpp"
#include "progress.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/demo.hpp"
#include "sightline/pipeline/synth.hpp"

namespace sightline::tools {

namespace fs = std::filesystem;

namespace {

struct DemoArgs {
    std::string scene, model, engine = "auto";
    int every = 5, batch = 4, threads = 0;
};

/// The default scene, rendered into its cache the first time (with a progress line), else used as it is.
void ensure_demo_scene(const pipeline::synth::CachedScene& scene) {
    ProgressLine progress("synth");
    const auto t0 = std::chrono::steady_clock::now();
    if (pipeline::synth::ensure_scene(scene, [&](const pipeline::synth::Progress& p) {
            progress.update(p.frames_done, p.frames_total, "frames");
        }))
        spdlog::info("demo: rendered the default scene into {} in {:.1f} s", scene.dir.string(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    else
        spdlog::info("demo: using the cached scene in {}", scene.dir.string());
}

int run_demo(const DemoArgs& a) {
    const fs::path root = project_dir();
    const pipeline::synth::CachedScene scene{
        a.scene.empty() ? root / ".cache" / "demo-scene" : fs::path(a.scene), 4, 60.0, 1, {}};
    const fs::path model_yaml = a.model.empty() ? root / "models" / "parts-v1" / "model.yaml" : fs::path(a.model);
    spdlog::info("{}", kernels::describe_device());
    // The model first: a bad model path should fail at once, not after rendering a scene.
    auto engine = pipeline::make_engine(a.engine, pipeline::load_model_spec(model_yaml), a.threads);
    ensure_demo_scene(scene);
    // the first-day path: each camera's reference from a known-good recording of it (two minutes of the same
    // cameras without drift), learned once and kept beside the scene
    const pipeline::synth::CachedScene nominal{scene.dir.parent_path() / "demo-nominal", 4, 120.0, 1, {}, true};
    ensure_demo_scene(nominal);
    const fs::path reference = scene.dir.parent_path() / "demo-monitor" / "reference.json";
    pipeline::DemoRunOptions n;
    n.scene = nominal.dir, n.cameras = nominal.cameras, n.model_yaml = model_yaml, n.every = a.every, n.batch = a.batch;
    const auto t0 = std::chrono::steady_clock::now();
    if (pipeline::ensure_demo_reference(
            n, [&] { return pipeline::make_engine(a.engine, pipeline::load_model_spec(model_yaml), a.threads); },
            reference, nominal.seconds))
        spdlog::info("demo: learned the monitor's reference from {:.0f} s of the cameras' known-good recording in "
                     "{:.1f} s ({})",
                     nominal.seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                     reference.string());
    const pipeline::ModelSpec spec = engine->spec();
    spdlog::info("demo: model {} {} ({} classes, input {}x{}) via {}", spec.name, spec.version, spec.classes.size(),
                 spec.preprocess.input_width, spec.preprocess.input_height, engine->describe());
    ProgressLine progress("demo");
    pipeline::DemoRunOptions o;
    o.scene = scene.dir, o.cameras = scene.cameras, o.model_yaml = model_yaml, o.every = a.every, o.batch = a.batch;
    o.reference = reference;
    o.on_progress = [&](std::uint64_t done, std::uint64_t total) { progress.update(done, total, "frames"); };
    o.on_done = [&] { progress.done(); };
    pipeline::run_demo_line(o, std::move(engine));
    std::printf("scene: %s   model: %s\n", scene.dir.string().c_str(), model_yaml.string().c_str());
    return 0;
}

} // namespace

Run add_demo(CLI::App& app) {
    auto a = std::make_shared<DemoArgs>();
    auto* cmd = app.add_subcommand("demo", command_help("demo"));
    cmd->add_option("--scene", a->scene, "scene directory (default: .cache/demo-scene in the project)");
    cmd->add_option("--model", a->model, "model.yaml (default: models/parts-v1/model.yaml in the project)");
    cmd->add_option("--every", a->every, "run the detector on every k-th frame")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    cmd->add_option("--batch", a->batch, "frames per forward pass")->check(CLI::Range(1, 256))->capture_default_str();
    cmd->add_option("--threads", a->threads, "inference threads (0: the engine's default)")->check(CLI::Range(0, 256));
    cmd->add_option("--engine", a->engine,
                    "auto (OpenVINO where this build has it, else OpenCV DNN), opencv or openvino (the ONNX file), "
                    "libtorch (the TorchScript file)")
        ->check(CLI::IsMember({"auto", "opencv", "openvino", "libtorch"}))
        ->capture_default_str();
    return [a] { return run_demo(*a); };
}

} // namespace sightline::tools
