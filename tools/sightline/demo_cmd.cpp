// sightline demo: the embedded default. Renders the default scene (cached), runs the demo model over it through the
// line as `run` runs it, with a ZeroMQ subscriber as the consumer, and prints what it saw per camera, before and
// after each camera's drift.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "commands.hpp"
#include "demo_table.hpp"
#include "monitor_session.hpp"
#include "progress.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/monitor_store.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/transport/pubsub.hpp"

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

/// The line as `sightline run` would run the scene: every camera at every k-th frame, published losslessly on a
/// socket of this process's own.
pipeline::RunConfig demo_config(const pipeline::synth::CachedScene& scene, const fs::path& model, const DemoArgs& a,
                                const fs::path& sock) {
    pipeline::RunConfig cfg;
    for (int c = 1; c <= scene.cameras; ++c) {
        pipeline::CameraConfig cam;
        cam.id = "cam" + std::to_string(c), cam.url = (scene.dir / (cam.id + ".mp4")).string(), cam.every = a.every;
        cfg.cameras.push_back(cam);
    }
    cfg.model = model;
    cfg.batching.max_batch = a.batch;
    cfg.publish = {"ipc://" + sock.string(), 100000, 1, 10};
    return cfg;
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
    const pipeline::ModelSpec spec = engine->spec();
    spdlog::info("demo: model {} {} ({} classes, input {}x{}) via {}", spec.name, spec.version, spec.classes.size(),
                 spec.preprocess.input_width, spec.preprocess.input_height, engine->describe());

    // the line as `sightline run` runs it: Line -> ZeroMQ -> a consumer (here a C++ Subscriber), losslessly
    const fs::path sock = fs::temp_directory_path() / ("sightline_demo_" + std::to_string(::getpid()) + ".sock");
    pipeline::RunConfig cfg = demo_config(scene, model_yaml, a, sock); // the collector adds its channel
    DemoTable table(scene.dir, spec.classes, cfg.cameras);
    std::atomic<bool> stop{false}, done{false};
    std::atomic<std::uint64_t> published{0}, consumed{0};
    std::exception_ptr consumer_failed;
    // the monitor beside the line, on the same subscriber (a 15 s reference: the scene's drifts start at 20 s)
    const fs::path monitor_dir = scene.dir.parent_path() / "demo-monitor";
    fs::create_directories(monitor_dir);
    fs::remove(monitor_dir / "monitor.db");
    MonitorSessionOptions mo;
    mo.db = (monitor_dir / "monitor.db").string();
    mo.monitor = demo_monitor_options(a.every);
    MonitorSession monitor(mo);
    // the collector beside the line, as `sightline collect` runs (a fresh dataset each demo)
    DemoCollector collector(scene.dir.parent_path() / "demo-collect", cfg);
    std::thread consumer([&] {
        try {
            transport::Subscriber sub(cfg.publish.predictions, {""});
            auto last_tick = std::chrono::steady_clock::now();
            while (!done.load() || consumed.load() < published.load())
                if (auto r = sub.receive(std::chrono::milliseconds(100))) {
                    monitor.feed(r->message, pipeline::wall_clock_ns());
                    if (const auto* p = std::get_if<transport::PredMessage>(&r->message)) {
                        table.add(*p);
                        ++consumed;
                    }
                    if (std::chrono::steady_clock::now() - last_tick > std::chrono::seconds(1))
                        monitor.tick(pipeline::wall_clock_ns()), last_tick = std::chrono::steady_clock::now();
                }
        } catch (...) {
            consumer_failed = std::current_exception();
        }
    });
    ProgressLine progress("demo");
    const std::uint64_t expected = table.expected_frames(a.every);
    pipeline::LineOptions options;
    options.on_frame = [&](const pipeline::FrameOutput&, const transport::PredMessage&) {
        progress.update(++published, expected, "frames");
    };
    pipeline::LineSummary summary;
    try {
        pipeline::Line line(cfg, std::move(engine), options);
        summary = line.run(stop);
    } catch (...) {
        done = true, published = consumed.load();
        consumer.join();
        throw;
    }
    progress.done();
    done = true;
    consumer.join();
    const std::vector<DemoSample> kept = collector.finish(); // the line waited for the last acknowledgements
    fs::remove(sock);
    if (consumer_failed) std::rethrow_exception(consumer_failed);
    table.print(spec, a.every, a.batch, summary);
    monitor.finish(pipeline::wall_clock_ns());
    print_monitor_alarms(monitor.alarms(), table.drifts(), mo.monitor);
    print_collector(kept, table, collector.dir().string());
    {
        const pipeline::MonitorStore store(mo.db);
        pipeline::write_output(monitor_dir / "report.html", pipeline::render_monitor_html(store));
    }
    std::printf("monitor: store %s, report %s\n", mo.db.c_str(), (monitor_dir / "report.html").string().c_str());
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
