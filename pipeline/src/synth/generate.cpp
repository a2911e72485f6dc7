// Renders every camera of a scene to DIR/<camera>.mp4 + DIR/<camera>.json, cameras in parallel.
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <thread>

#include "sightline/error.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_writer.hpp"

namespace sightline::pipeline::synth {

namespace {

double round4(double v) {
    return std::round(v * 1e4) / 1e4;
}

nlohmann::json knob_json(const CameraSpec& s) {
    auto ramp = [](const Ramp& r) { return nlohmann::json{{"start", r.start}, {"ramp", r.ramp}}; };
    nlohmann::json j = nlohmann::json::object();
    if (s.lighting_drift) {
        j["lighting_drift"] = ramp(s.lighting_drift->when);
        j["lighting_drift"]["gain"] = s.lighting_drift->gain;
        j["lighting_drift"]["color_temperature"] = s.lighting_drift->color_temperature;
    }
    if (s.camera_shift) {
        j["camera_shift"] = ramp(s.camera_shift->when);
        j["camera_shift"]["dx"] = s.camera_shift->dx;
        j["camera_shift"]["dy"] = s.camera_shift->dy;
        j["camera_shift"]["rotation_deg"] = s.camera_shift->rotation_deg;
    }
    if (s.novel_part) {
        j["novel_part"] = ramp(s.novel_part->when);
        j["novel_part"]["rate"] = s.novel_part->rate;
    }
    if (s.class_mix) {
        j["class_mix"] = ramp(s.class_mix->when);
        j["class_mix"]["weights"] = s.class_mix->weights;
    }
    if (s.blur) {
        j["blur"] = ramp(s.blur->when);
        j["blur"]["extra_px"] = s.blur->extra_px;
    }
    return j;
}

void render_camera(const SynthOptions& o, int index, std::atomic<int>& done) {
    const CameraSpec& spec = o.specs[index];
    const int frames = static_cast<int>(std::lround(o.seconds * spec.fps));
    CameraRenderer renderer(spec, o.seed, index);
    VideoWriterOptions vo;
    vo.width = spec.width;
    vo.height = spec.height;
    vo.fps = spec.fps;
    vo.gop = 2 * spec.fps;
    vo.preset = o.preset;
    vo.crf = o.crf;
    VideoWriter writer(o.out_dir / (spec.id + ".mp4"), vo);

    nlohmann::json images = nlohmann::json::array(), annotations = nlohmann::json::array();
    cv::Mat bgr(spec.height, spec.width, CV_8UC3), i420;
    std::int64_t ann_id = 1;
    for (int k = 0; k < frames; ++k) {
        FrameInfo info = renderer.next(bgr.data);
        cv::cvtColor(bgr, i420, cv::COLOR_BGR2YUV_I420);
        writer.write_i420(i420.data);
        nlohmann::json knobs = nlohmann::json::object();
        for (const auto& [name, f] : info.knobs) knobs[name] = round4(f);
        images.push_back({{"id", info.index},
                          {"file_name", spec.id + ".mp4"},
                          {"frame_index", info.index},
                          {"width", spec.width},
                          {"height", spec.height},
                          {"camera", spec.id},
                          {"timestamp", round4(info.timestamp)},
                          {"tags", info.tags},
                          {"scenario", knobs}});
        for (const auto& b : info.objects) {
            annotations.push_back({{"id", ann_id++},
                                   {"image_id", info.index},
                                   {"category_id", static_cast<int>(b.cls) + 1},
                                   {"bbox", {b.x, b.y, b.w, b.h}},
                                   {"area", b.area},
                                   {"iscrowd", b.crowd ? 1 : 0},
                                   {"visible_fraction", round4(b.visible_fraction)},
                                   {"track_id", b.track_id}});
            if (b.defect_hidden) annotations.back()["defect_hidden"] = true;
        }
        done.fetch_add(1, std::memory_order_relaxed);
    }
    writer.finish();

    nlohmann::json categories = nlohmann::json::array();
    for (int c = 0; c < kNumPartClasses; ++c)
        categories.push_back({{"id", c + 1},
                              {"name", kPartClassNames[c]},
                              {"supercategory", c == static_cast<int>(PartClass::kGear) ? "novel" : "part"}});
    nlohmann::json doc = {
        {"info",
         {{"description", "sightline synthetic production line"},
          {"generator", "sightline synth"},
          {"camera", spec.id},
          {"seed", o.seed},
          {"fps", spec.fps},
          {"width", spec.width},
          {"height", spec.height},
          {"seconds", o.seconds},
          {"defect_rate", spec.defect_rate},
          {"occluded_fraction", spec.occluded_fraction},
          {"scenario", knob_json(spec)},
          {"note", "image id = frame index; iscrowd=1 marks parts hidden more than occluded_fraction"}}},
        {"licenses", nlohmann::json::array()},
        {"categories", categories},
        {"images", std::move(images)},
        {"annotations", std::move(annotations)}};
    write_output(o.out_dir / (spec.id + ".json"), doc.dump());
}

} // namespace

void generate(const SynthOptions& o, const std::function<void(const Progress&)>& on_progress) {
    if (o.specs.empty()) throw Error(ErrorCode::kBadInput, "synth: no cameras to render");
    if (!(o.seconds > 0) || o.seconds > 24 * 3600)
        throw Error(ErrorCode::kBadInput, "--seconds must be in (0, 86400], got " + std::to_string(o.seconds));
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec) throw Error(ErrorCode::kIo, o.out_dir.string() + ": cannot create directory: " + ec.message());

    int total = 0;
    for (const auto& s : o.specs) total += static_cast<int>(std::lround(o.seconds * s.fps));
    const int n = static_cast<int>(o.specs.size());
    const int workers =
        std::max(1, std::min(n, o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency())));
    std::atomic<int> next{0}, done{0}, running{workers};
    std::mutex err_mu;
    std::exception_ptr first_error;
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w)
        pool.emplace_back([&] {
            for (int i; (i = next.fetch_add(1)) < n;) {
                {
                    std::lock_guard lk(err_mu);
                    if (first_error) break;
                }
                try {
                    render_camera(o, i, done);
                } catch (...) {
                    std::lock_guard lk(err_mu);
                    if (!first_error) first_error = std::current_exception();
                }
            }
            running.fetch_sub(1);
        });
    while (running.load() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (on_progress) on_progress({done.load(), total});
    }
    for (auto& t : pool) t.join();
    if (first_error) std::rethrow_exception(first_error);
    if (on_progress) on_progress({done.load(), total});
}

bool ensure_scene(const CachedScene& scene, const std::function<void(const Progress&)>& on_progress) {
    namespace fs = std::filesystem;
    std::ostringstream key;
    key << "sightline demo scene v2 cameras=" // v2: the generator's seeding fixed (0.10)
        << scene.cameras << " seconds=" << scene.seconds << " seed=" << scene.seed << (scene.nominal ? " nominal" : "");
    for (const auto& o : scene.overrides) key << " set=" << o;
    const fs::path stamp = scene.dir / "scene.stamp";
    bool complete = fs::exists(stamp);
    if (complete) {
        std::ifstream f(stamp);
        std::string line;
        std::getline(f, line);
        complete = line == key.str();
        for (int c = 1; c <= scene.cameras && complete; ++c)
            complete = fs::exists(scene.dir / ("cam" + std::to_string(c) + ".mp4")) &&
                       fs::exists(scene.dir / ("cam" + std::to_string(c) + ".json"));
    }
    if (complete) return false;
    fs::remove(stamp);
    SynthOptions o;
    o.out_dir = scene.dir;
    o.cameras = scene.cameras;
    o.seconds = scene.seconds;
    o.seed = scene.seed;
    o.specs = make_specs(scene.cameras, scene.nominal ? "" : default_scenario_yaml(),
                         scene.nominal ? "nominal" : "default scenario", scene.overrides);
    generate(o, on_progress);
    std::ofstream(stamp) << key.str() << "\n";
    return true;
}

} // namespace sightline::pipeline::synth
