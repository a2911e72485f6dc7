// sightline demo: the embedded default. Generates the default scene (cached), runs the demo model over it and
// prints what it saw, per camera, before and after each camera's drift.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "commands.hpp"
#include "pred_message.hpp"
#include "progress.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/ground_truth.hpp"
#include "sightline/pipeline/runner.hpp"
#include "sightline/pipeline/stats.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/transport/pubsub.hpp"

namespace sightline::tools {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct SceneKey {
    int cameras;
    double seconds;
    std::uint64_t seed;
    std::string text() const {
        std::ostringstream s;
        s << "sightline demo scene v1 cameras=" << cameras << " seconds=" << seconds << " seed=" << seed;
        return s.str();
    }
};

/// Renders the default scene into `dir` unless a complete one with the same key is already there.
void ensure_scene(const fs::path& dir, const SceneKey& key) {
    const fs::path stamp = dir / "scene.stamp";
    bool complete = fs::exists(stamp);
    if (complete) {
        std::ifstream f(stamp);
        std::string line;
        std::getline(f, line);
        complete = line == key.text();
        for (int c = 1; c <= key.cameras && complete; ++c)
            complete = fs::exists(dir / ("cam" + std::to_string(c) + ".mp4")) &&
                       fs::exists(dir / ("cam" + std::to_string(c) + ".json"));
    }
    if (complete) {
        spdlog::info("demo: using the cached scene in {}", dir.string());
        return;
    }
    fs::remove(stamp);
    spdlog::info("demo: rendering the default scene ({} cameras x {} s) into {}", key.cameras, key.seconds,
                 dir.string());
    pipeline::synth::SynthOptions o;
    o.out_dir = dir;
    o.cameras = key.cameras;
    o.seconds = key.seconds;
    o.seed = key.seed;
    o.specs =
        pipeline::synth::make_specs(key.cameras, pipeline::synth::default_scenario_yaml(), "default scenario", {});
    ProgressLine progress("synth");
    const auto t0 = Clock::now();
    pipeline::synth::generate(
        o, [&](const pipeline::synth::Progress& p) { progress.update(p.frames_done, p.frames_total, "frames"); });
    progress.done();
    spdlog::info("demo: scene rendered in {:.1f} s", std::chrono::duration<double>(Clock::now() - t0).count());
    std::ofstream(stamp) << key.text() << "\n";
}

std::string pct(int num, int den) {
    if (den == 0) return "   -  ";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%5.1f%%", 100.0 * num / den);
    return buf;
}

} // namespace

Run add_demo(CLI::App& app) {
    struct Args {
        std::string scene, model, engine = "opencv";
        int every = 5, batch = 4, threads = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand(
        "demo", "The embedded default: render the demo scene (cached) and run what exists end to end");
    cmd->add_option("--scene", a->scene, "scene directory (default: .cache/demo-scene in the project)");
    cmd->add_option("--model", a->model, "model.yaml (default: models/parts-v1/model.yaml in the project)");
    cmd->add_option("--every", a->every, "run the detector on every k-th frame")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    cmd->add_option("--batch", a->batch, "frames per forward pass")->check(CLI::Range(1, 256))->capture_default_str();
    cmd->add_option("--threads", a->threads, "inference threads (0: the engine's default)")->check(CLI::Range(0, 256));
    cmd->add_option("--engine", a->engine, "opencv (the ONNX file) or libtorch (the TorchScript file)")
        ->check(CLI::IsMember({"opencv", "libtorch"}))
        ->capture_default_str();
    return [a] {
        const fs::path root = project_dir();
        const fs::path scene = a->scene.empty() ? root / ".cache" / "demo-scene" : fs::path(a->scene);
        const fs::path model_yaml = a->model.empty() ? root / "models" / "parts-v1" / "model.yaml" : fs::path(a->model);
        const SceneKey key{4, 60.0, 1};
        spdlog::info("{}", kernels::describe_device());
        // The model first: a bad model path should fail at once, not after rendering a scene.
        auto engine = pipeline::make_engine(a->engine, pipeline::load_model_spec(model_yaml), a->threads);
        ensure_scene(scene, key);

        const pipeline::ModelSpec spec = engine->spec();
        spdlog::info("demo: model {} {} ({} classes, input {}x{}) via {}", spec.name, spec.version, spec.classes.size(),
                     spec.preprocess.input_width, spec.preprocess.input_height, engine->describe());

        struct Row {
            std::string camera, scenario;
            std::map<std::string, int> parts; // unique tracks per class are not in the JSON; boxes per class instead
            int frames = 0, run_frames = 0, crowd = 0;
            pipeline::MatchCounts nominal, drifted;
            int drifted_frames = 0;
            std::uint64_t received = 0, gaps = 0, next_seq = 0;
            std::vector<double> latency_ms; ///< packet arrival -> receipt by the consumer
        };
        std::vector<Row> rows(key.cameras);
        std::vector<pipeline::GroundTruth> truths;
        std::vector<std::vector<int>> class_to_category(key.cameras);
        pipeline::RunConfig cfg;
        for (int c = 1; c <= key.cameras; ++c) {
            Row& row = rows[c - 1];
            row.camera = "cam" + std::to_string(c);
            truths.push_back(pipeline::load_coco_ground_truth(scene / (row.camera + ".json")));
            const auto& gt = truths.back();
            auto& map = class_to_category[c - 1];
            map.assign(spec.classes.size(), -1);
            for (std::size_t k = 0; k < spec.classes.size(); ++k)
                for (const auto& [id, name] : gt.categories)
                    if (name == spec.classes[k]) map[k] = id;
            std::map<std::string, double> first_seen; // drift tag -> when it first appears
            for (const auto& im : gt.images)
                for (const auto& t : im.tags)
                    if (t != "nominal" && !first_seen.count(t)) first_seen[t] = im.timestamp;
            for (const auto& [t, when] : first_seen)
                row.scenario +=
                    (row.scenario.empty() ? "" : ", ") + t + " from " + std::to_string(static_cast<int>(when)) + " s";
            if (row.scenario.empty()) row.scenario = "nominal";
            for (const auto& im : gt.images)
                for (const auto& b : im.boxes) {
                    if (b.crowd)
                        ++row.crowd;
                    else
                        ++row.parts[gt.categories.at(b.category_id)];
                }
            row.frames = static_cast<int>(gt.images.size());
            pipeline::CameraConfig cam;
            cam.id = row.camera, cam.url = (scene / (row.camera + ".mp4")).string(), cam.every = a->every;
            cfg.cameras.push_back(cam);
        }
        // the line as `sightline run` runs it: Runner -> ZeroMQ -> a consumer (here a C++ Subscriber), losslessly
        const fs::path sock = fs::temp_directory_path() / ("sightline_demo_" + std::to_string(::getpid()) + ".sock");
        cfg.model = model_yaml;
        cfg.max_batch = a->batch;
        cfg.predictions_endpoint = "ipc://" + sock.string();
        pipeline::Runner runner(cfg, std::move(engine));
        transport::Publisher pub({cfg.predictions_endpoint, 100000, 2000});
        std::atomic<bool> stop{false}, done{false};
        std::atomic<std::uint64_t> published{0}, consumed{0};
        std::thread consumer([&] {
            transport::Subscriber sub(cfg.predictions_endpoint, {"pred/"});
            while (!done.load() || consumed.load() < published.load()) {
                auto r = sub.receive(std::chrono::milliseconds(100));
                if (!r) continue;
                const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
                const auto& m = std::get<transport::PredMessage>(r->message);
                const int c = std::stoi(m.camera.substr(3)) - 1;
                Row& row = rows[c];
                ++row.received;
                row.gaps += m.seq - row.next_seq;
                row.next_seq = m.seq + 1;
                row.latency_ms.push_back((now - m.stamps_ns.at("arrival")) / 1e6);
                const auto& im = truths[c].images.at(m.frame);
                std::vector<pipeline::Detection> dets;
                for (std::size_t k = 0; k < m.scores.size(); ++k)
                    dets.push_back({m.boxes[4 * k], m.boxes[4 * k + 1], m.boxes[4 * k + 2], m.boxes[4 * k + 3],
                                    m.scores[k], m.classes[k], m.margins[k], m.entropies[k]});
                const bool nominal = im.tags.size() == 1 && im.tags[0] == "nominal";
                (nominal ? row.nominal : row.drifted) += pipeline::match_at_iou(dets, im, class_to_category[c], 0.5f);
                row.drifted_frames += nominal ? 0 : 1;
                ++row.run_frames;
                ++consumed;
            }
        });
        if (!pub.wait_for_subscribers(1, std::chrono::seconds(10)))
            throw Error(ErrorCode::kTransport, cfg.predictions_endpoint + ": the demo's consumer did not join");
        ProgressLine progress("demo");
        const std::uint64_t expected = [&] {
            std::uint64_t n = 0;
            for (const auto& r : rows) n += (r.frames + a->every - 1) / a->every;
            return n;
        }();
        const auto t0 = Clock::now();
        const auto summary = runner.run(
            [&](const pipeline::FrameOutput& f) {
                pub.publish(to_pred_message(f, spec.name + "@" + spec.version, {}));
                progress.update(++published, expected, "frames");
            },
            stop);
        progress.done();
        const double run_s = std::chrono::duration<double>(Clock::now() - t0).count();
        done = true;
        consumer.join();
        fs::remove(sock);

        std::printf(
            "\nsightline demo: %d cameras x %.0f s of the synthetic line, model %s, detector on every %d%s frame\n\n",
            key.cameras, key.seconds, spec.name.c_str(), a->every, a->every == 1 ? "" : "th");
        std::printf("%-5s %-28s %6s %7s %7s %9s %5s %15s | %-22s | %-22s\n", "cam", "scenario", "frames", "boxes",
                    "crowd", "received", "gaps", "latency p50/p99", "nominal: prec  recall", "drifted: prec  recall");
        std::uint64_t received = 0;
        for (auto& r : rows) {
            int parts = 0;
            for (const auto& [n, k] : r.parts) parts += k;
            auto pr = [](const pipeline::MatchCounts& m) {
                return pct(m.tp, m.tp + m.fp) + "  " + pct(m.tp, m.tp + m.fn);
            };
            char lat[32];
            std::snprintf(lat, sizeof lat, "%.0f / %.0f ms", pipeline::percentile(r.latency_ms, 0.5),
                          pipeline::percentile(r.latency_ms, 0.99));
            std::printf("%-5s %-28s %6d %7d %7d %9llu %5llu %15s | %-22s | %-22s\n", r.camera.c_str(),
                        r.scenario.c_str(), r.frames, parts, r.crowd, static_cast<unsigned long long>(r.received),
                        static_cast<unsigned long long>(r.gaps), lat, ("        " + pr(r.nominal)).c_str(),
                        r.drifted_frames ? ("        " + pr(r.drifted)).c_str() : "        (no drift)");
            received += r.received;
        }
        std::printf(
            "\nboxes = ground-truth boxes over all frames (IoU 0.5 matching, threshold %.2f); crowd = parts more than "
            "occluded_fraction hidden (ignored).\nreceived = pred messages the consumer (a ZeroMQ subscriber) got; "
            "latency = packet arrival -> receipt (files are read as fast as the line takes them, so it includes "
            "queueing).\n",
            spec.confidence);
        std::printf(
            "%llu frames through the line (decode, batch %d, preprocess + %s + decode + NMS, ZeroMQ) in %.1f s: "
            "%.1f frames/s; %llu messages dropped\n",
            static_cast<unsigned long long>(received), a->batch, "inference", run_s, received / run_s,
            static_cast<unsigned long long>(pub.dropped()));
        (void)summary;
        std::printf("scene: %s   model: %s\n", scene.string().c_str(), model_yaml.string().c_str());
        return 0;
    };
}

} // namespace sightline::tools
