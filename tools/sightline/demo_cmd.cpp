// sightline demo: the embedded default. Generates the default scene (cached), runs the demo model over it and
// prints what it saw, per camera, before and after each camera's drift.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "commands.hpp"
#include "progress.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/ground_truth.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"

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
        std::string scene, model;
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
    cmd->add_option("--threads", a->threads, "inference threads (0: OpenCV's default)")->check(CLI::Range(0, 256));
    return [a] {
        const fs::path root = project_dir();
        const fs::path scene = a->scene.empty() ? root / ".cache" / "demo-scene" : fs::path(a->scene);
        const fs::path model_yaml = a->model.empty() ? root / "models" / "parts-v1" / "model.yaml" : fs::path(a->model);
        const SceneKey key{4, 60.0, 1};
        spdlog::info("{}", kernels::describe_device());
        // The model first: a bad model path should fail at once, not after rendering a scene.
        pipeline::Detector detector(pipeline::make_opencv_engine(pipeline::load_model_spec(model_yaml), a->threads));
        ensure_scene(scene, key);

        const auto& spec = detector.spec();
        spdlog::info("demo: model {} {} ({} classes, input {}x{}) via {}", spec.name, spec.version, spec.classes.size(),
                     spec.preprocess.input_width, spec.preprocess.input_height, detector.engine().describe());

        struct Row {
            std::string camera, scenario;
            std::map<std::string, int> parts; // unique tracks per class are not in the JSON; boxes per class instead
            int frames = 0, run_frames = 0, crowd = 0;
            pipeline::MatchCounts nominal, drifted;
            int drifted_frames = 0;
            double decode_s = 0, detect_s = 0;
        };
        std::vector<Row> rows;
        for (int c = 1; c <= key.cameras; ++c) {
            Row row;
            row.camera = "cam" + std::to_string(c);
            const auto gt = pipeline::load_coco_ground_truth(scene / (row.camera + ".json"));
            std::vector<int> class_to_category(spec.classes.size(), -1);
            for (std::size_t k = 0; k < spec.classes.size(); ++k)
                for (const auto& [id, name] : gt.categories)
                    if (name == spec.classes[k]) class_to_category[k] = id;
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

            pipeline::VideoReader reader((scene / (row.camera + ".mp4")).string());
            std::vector<pipeline::OwnedFrame> held; // copies of the frames of one batch
            std::vector<kernels::ImageView> views;
            std::vector<std::int64_t> indices;
            auto flush = [&] {
                if (views.empty()) return;
                const auto t0 = Clock::now();
                auto results = detector.detect(views);
                row.detect_s += std::chrono::duration<double>(Clock::now() - t0).count();
                for (std::size_t i = 0; i < results.size(); ++i) {
                    const auto& im = gt.images.at(indices[i]);
                    const bool nominal = im.tags.size() == 1 && im.tags[0] == "nominal";
                    auto counts = pipeline::match_at_iou(results[i].detections, im, class_to_category, 0.5f);
                    (nominal ? row.nominal : row.drifted) += counts;
                    row.drifted_frames += nominal ? 0 : 1;
                    ++row.run_frames;
                }
                views.clear(), indices.clear(), held.clear();
            };
            pipeline::DecodedFrame f;
            auto t0 = Clock::now();
            while (reader.next(f)) {
                row.decode_s += std::chrono::duration<double>(Clock::now() - t0).count();
                if (f.index % a->every == 0) {
                    if (f.index >= static_cast<std::int64_t>(gt.images.size()))
                        throw Error(ErrorCode::kBadInput,
                                    scene.string() + "/" + row.camera + ".mp4 has more frames than its JSON");
                    held.push_back(pipeline::copy_frame(f)); // the decoder reuses its buffer on the next call
                    views.push_back(held.back().view);
                    indices.push_back(f.index);
                    if (static_cast<int>(views.size()) == a->batch) flush();
                }
                t0 = Clock::now();
            }
            flush();
            spdlog::info("demo: {} done ({} frames, detector on {})", row.camera, row.frames, row.run_frames);
            rows.push_back(std::move(row));
        }

        std::printf(
            "\nsightline demo: %d cameras x %.0f s of the synthetic line, model %s, detector on every %d%s frame\n\n",
            key.cameras, key.seconds, spec.name.c_str(), a->every, a->every == 1 ? "" : "th");
        std::printf("%-5s %-28s %6s %7s %7s | %-22s | %-22s\n", "cam", "scenario", "frames", "boxes", "crowd",
                    "nominal: prec  recall", "drifted: prec  recall");
        double decode = 0, det = 0;
        int decoded = 0, run = 0;
        for (const auto& r : rows) {
            int parts = 0;
            for (const auto& [n, k] : r.parts) parts += k;
            auto pr = [](const pipeline::MatchCounts& m) {
                return pct(m.tp, m.tp + m.fp) + "  " + pct(m.tp, m.tp + m.fn);
            };
            std::printf("%-5s %-28s %6d %7d %7d | %-22s | %-22s\n", r.camera.c_str(), r.scenario.c_str(), r.frames,
                        parts, r.crowd, ("        " + pr(r.nominal)).c_str(),
                        r.drifted_frames ? ("        " + pr(r.drifted)).c_str() : "        (no drift)");
            decode += r.decode_s, det += r.detect_s, decoded += r.frames, run += r.run_frames;
        }
        std::printf(
            "\nboxes = ground-truth boxes over all frames (IoU 0.5 matching, threshold %.2f); crowd = parts more than "
            "occluded_fraction hidden (ignored).\n",
            spec.confidence);
        std::printf("decode %.2f ms/frame, detect (preprocess + %s + decode + NMS) %.2f ms/frame, batch %d\n",
                    1e3 * decode / std::max(1, decoded), "inference", 1e3 * det / std::max(1, run), a->batch);
        std::printf("scene: %s   model: %s\n", scene.string().c_str(), model_yaml.string().c_str());
        return 0;
    };
}

} // namespace sightline::tools
