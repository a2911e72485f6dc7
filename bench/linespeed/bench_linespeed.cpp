// Line speed: N synthetic cameras paced in real time (looping the demo scene's videos), through the whole line
// (decode, preprocess, OpenCV DNN, decode, NMS, flags) and ZeroMQ to a subscriber in this process. For each N:
// latency from packet arrival to publish and to consumer receipt (p50/p90/p99/p99.9/max), throughput, drops.
// The camera count sustained = the largest N with zero drops and receipt p99 < 100 ms (--p99-ms).
//
//   build/bench/bench_linespeed [--cameras 1,2,4,8,16] [--seconds 15] [--scene DIR] [--batch 4] [--max-wait-ms 5]
//                               [--decode cpu|nvdec] [--engine auto|opencv|openvino|libtorch] [--threads 0]
//                               [--p99-ms 100]
//                               [--width 640 --height 480] [--model models/parts-v1/model.yaml] [--shadow MODEL]
// The GPU line (issue 5): --decode nvdec --engine libtorch --p99-ms 50 --width 1920 --height 1080 (NVDEC frames in
// device memory, CUDA preprocess, LibTorch reading the tensor on the GPU); a scene of that size is rendered into
// .cache/ the first time. Each camera's decoder as set up (NVDEC or why not) is printed. --model: another model.yaml
// (tools/train/yolov8n.py writes a YOLOv8n-sized one). --shadow: a second model.yaml run beside it on every frame
// (issue 26, part 6: the line's capacity with one shadow).
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "sightline/pipeline/capacity.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/stats.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/transport/pubsub.hpp"

using namespace sightline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::int64_t kSampleFrames = 8;

/// The line's detections on cam1's first frames against the CPU path on the same frames (CPU decode, the CPU
/// preprocess twin, OpenCV DNN, CPU decode + NMS): the same boxes (IoU >= 0.98), classes and scores (5e-3: another
/// engine, TF32 on a GPU), so a fast wrong line fails. A box within 2e-3 of the threshold may be on one side only
/// (TF32 moves scores by about 1e-3: such a box can fall either side of the cut). Prints the comparison; false on
/// a mismatch.
bool check_sample(const std::map<std::int64_t, std::vector<pipeline::Detection>>& sample, const fs::path& video,
                  const pipeline::ModelSpec& spec) {
    pipeline::Detector cpu(pipeline::make_opencv_engine(spec));
    pipeline::VideoReader reader(video.string());
    pipeline::DecodedFrame f;
    int frames = 0, boxes = 0, bad = 0;
    for (std::int64_t k = 0; k < kSampleFrames && reader.next(f); ++k) {
        const auto it = sample.find(k);
        if (it == sample.end()) continue;
        const auto want = cpu.detect(std::span(&f.view, 1))[0].detections;
        const auto& got = it->second;
        ++frames;
        const auto iou = [](const pipeline::Detection& a, const pipeline::Detection& b) {
            const float ix = std::max(0.f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
            const float iy = std::max(0.f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
            const float inter = ix * iy;
            return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
        };
        const float near = spec.confidence + 2e-3f; // a box under this may be on one side of the cut only
        std::vector<bool> used(want.size(), false);
        for (const auto& a : got) { // each of the line's boxes: the CPU's at the same place, class and score
            std::size_t match = want.size();
            for (std::size_t d = 0; d < want.size() && match == want.size(); ++d)
                if (!used[d] && want[d].cls == a.cls && iou(a, want[d]) >= 0.98f) match = d;
            if (match == want.size()) {
                bad += a.score >= near;
                continue;
            }
            used[match] = true, ++boxes;
            bad += std::abs(a.score - want[match].score) > 5e-3f;
        }
        for (std::size_t d = 0; d < want.size(); ++d) bad += !used[d] && want[d].score >= near;
    }
    std::printf("check: cam1's first %d frames, %d boxes, against the CPU path: %s\n", frames, boxes,
                frames == 0 ? "NOTHING TO CHECK"
                : bad       ? "MISMATCH"
                            : "same detections");
    return frames > 0 && bad == 0;
}

nlohmann::json summary(const pipeline::Percentiles& p) {
    return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"p999", p.p999}, {"max", p.max}, {"n", p.n}};
}
struct Options {
    std::vector<int> counts = {1, 2, 4, 8, 16};
    double seconds = 15;
    int batch = 4;
    double max_wait_ms = 10;
    fs::path scene = fs::path(SIGHTLINE_SOURCE_DIR) / ".cache" / "demo-scene";
    pipeline::Decoder decoder = pipeline::Decoder::kCpu;
    std::string engine = "auto";
    int threads = 0;
    double p99_limit = 100;
    int width = 640, height = 480;
    fs::path model = fs::path(SIGHTLINE_SOURCE_DIR) / "models/parts-v1/model.yaml";
    fs::path shadow;                                                   ///< empty: none
    int unexplained_cells = pipeline::FlagsConfig{}.unexplained_cells; ///< 0: no background kept
};

void add_options(CLI::App& app, Options& o, std::string& decode) {
    app.add_option("--cameras", o.counts, "camera counts to run, comma separated")
        ->delimiter(',')
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    app.add_option("--seconds", o.seconds, "seconds per camera count")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    app.add_option("--scene", o.scene, "folder of cam1..cam4.mp4 (rendered there when missing)");
    app.add_option("--batch", o.batch, "largest batch")->check(CLI::Range(1, 4096))->capture_default_str();
    app.add_option("--max-wait-ms", o.max_wait_ms, "longest wait to fill a batch")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app.add_option("--decode", decode, "decoder")->check(CLI::IsMember({"cpu", "nvdec"}))->capture_default_str();
    app.add_option("--threads", o.threads, "the engine's inference threads (0: its default)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    app.add_option("--engine", o.engine, "engine")
        ->check(CLI::IsMember({"auto", "opencv", "openvino", "libtorch"}))
        ->capture_default_str();
    app.add_option("--p99-ms", o.p99_limit, "receipt p99 a sustained count stays under")
        ->check(CLI::Range(0.1, 1e6))
        ->capture_default_str();
    app.add_option("--width", o.width, "scene width (another size renders its own scene)")
        ->check(CLI::Range(16, 16384))
        ->capture_default_str();
    app.add_option("--height", o.height, "scene height")->check(CLI::Range(16, 16384))->capture_default_str();
    app.add_option("--model", o.model, "model.yaml")->check(CLI::ExistingFile)->capture_default_str();
    app.add_option("--shadow", o.shadow,
                   "a second model.yaml run beside --model on every frame (shadow:, docs/versions.md): the line's "
                   "capacity with a shadow")
        ->check(CLI::ExistingFile);
    app.add_option("--unexplained-cells", o.unexplained_cells,
                   "flags.unexplained_cells (docs/config.md); 0 keeps no background: the line's capacity without it")
        ->check(CLI::Range(0, 100000))
        ->capture_default_str();
}

/// The scene's folder: the demo's cache (or a user's --scene) when it has the videos, else rendered once.
void prepare_scene(Options& o) {
    if (o.width != 640 || o.height != 480)
        o.scene = fs::path(SIGHTLINE_SOURCE_DIR) / ".cache" /
                  ("linespeed-" + std::to_string(o.width) + "x" + std::to_string(o.height));
    if (!fs::exists(o.scene / "cam4.mp4") && o.width == 640 && o.height == 480)
        o.scene = fs::temp_directory_path() / "sightline_linespeed_scene";
    if (!fs::exists(o.scene / "cam4.mp4") &&
        pipeline::synth::ensure_scene(
            {o.scene,
             4,
             20,
             1,
             {"defaults.width=" + std::to_string(o.width), "defaults.height=" + std::to_string(o.height)}}))
        std::fprintf(stderr, "bench_linespeed: rendered 4 cameras %dx%d x 20 s into %s\n", o.width, o.height,
                     o.scene.c_str());
}

/// One camera count through the line for --seconds: prints its row and returns its JSON; `failed` is set when
/// a check fails (a camera not decoding where asked, detections off the CPU path).
/// N cameras of the scene, looped at real time, with this run's model (and shadow), engines made for them.
pipeline::RunConfig line_config(int n, const Options& o, const pipeline::ModelSpec& spec,
                                std::vector<std::unique_ptr<pipeline::Engine>>& engines) {
    pipeline::RunConfig cfg;
    for (int i = 0; i < n; ++i)
        cfg.cameras.push_back({"cam" + std::to_string(i + 1),
                               (o.scene / ("cam" + std::to_string(i % 4 + 1) + ".mp4")).string(),
                               {},
                               true,
                               true});
    for (auto& c : cfg.cameras) c.decode = o.decoder;
    cfg.model = o.model;
    engines.push_back(pipeline::make_engine(o.engine, spec, o.threads));
    if (!o.shadow.empty()) { // the serving model and a shadow on every frame
        cfg.models = {{"serving", o.model, {}}, {"shadow", o.shadow, {}}};
        cfg.shadow = {"shadow"};
        engines.push_back(pipeline::make_engine(o.engine, pipeline::load_model_spec(o.shadow), o.threads));
    }
    cfg.batching.max_batch = o.batch;
    cfg.batching.max_wait_ms = o.max_wait_ms;
    cfg.flags.unexplained_cells = o.unexplained_cells;
    return cfg;
}

/// This benchmark's checks on a run: decoders as asked, no corrupt packet, steady CUDA graphs, a shadow on every
/// frame. Prints what fails; false then.
bool run_checks(const Options& o, const pipeline::RunConfig& cfg, const pipeline::RunSummary& s, int captures,
                std::uint64_t frames, std::uint64_t shadows) {
    bool failed = false;
    // the decoders the line's readers actually used: a camera asked for NVDEC that decoded on the CPU would make
    // these CPU-decode figures
    for (std::size_t i = 0; i < s.decoders.size(); ++i)
        if (s.decoders[i] != o.decoder) {
            std::printf("decoder: %s decoded on the CPU, not on NVDEC as asked: these are not NVDEC figures\n",
                        cfg.cameras[i].id.c_str());
            failed = true;
        }
    // a lossy line is not a sustained one: a corrupt packet is a frame that never came (NVDEC out of surfaces
    // reads as one), whatever the queues say
    std::int64_t corrupt = 0;
    for (auto c : s.corrupt_packets) corrupt += c;
    if (corrupt > 0) {
        std::printf("decoder: %lld corrupt packets skipped: frames were lost before the queues\n",
                    static_cast<long long>(corrupt));
        failed = true;
    }
    // decode + NMS replay one CUDA graph per slot and batch size: a capture count that grows with the batches
    // means the graph's key changes every batch (LibTorch's caching allocator handing out another head buffer)
    if (captures > 0) {
        std::printf("graphs: %d captures for %.0f batches or more\n", captures,
                    static_cast<double>(frames) / std::max(1, cfg.batching.max_batch));
        if (captures > 4 * cfg.batching.max_batch) {
            std::printf("graphs: RECAPTURED every few batches: the key (head pointer) is not steady\n");
            failed = true;
        }
    }
    if (!o.shadow.empty() && shadows != frames) {
        std::printf("shadow: %llu shadow results for %llu frames: the shadow did not run on every frame\n",
                    (unsigned long long)shadows, (unsigned long long)frames);
        failed = true;
    }
    return !failed;
}

nlohmann::json run_count(int n, const Options& o, const pipeline::ModelSpec& spec, bool& failed) {
    std::vector<std::unique_ptr<pipeline::Engine>> engines;
    const pipeline::RunConfig cfg = line_config(n, o, spec, engines);
    // the measuring code `sightline bench` runs (pipeline/capacity.hpp), with this benchmark's checks beside it
    std::uint64_t shadows = 0;
    std::map<std::int64_t, std::vector<pipeline::Detection>> sample; // cam1's first frames, checked below
    pipeline::CapacityOptions co;
    co.seconds = o.seconds, co.p99_ms = o.p99_limit;
    co.on_frame = [&](const pipeline::FrameOutput& f, const transport::PredMessage&) {
        shadows += f.shadows.size();
        if (f.camera == "cam1" && f.frame < kSampleFrames && !sample.count(f.frame)) sample[f.frame] = f.detections;
    };
    pipeline::RunSummary s;
    int captures = 0;
    co.after = [&](pipeline::Line& line, const pipeline::LineSummary& run) {
        s = run.run;
        captures = line.detector().graph_captures();
    };
    const pipeline::CapacityRow row = pipeline::measure_line(cfg, std::move(engines), co);
    const std::uint64_t frames = row.frames;
    if (!run_checks(o, cfg, s, captures, frames, shadows)) failed = true;
    if (!check_sample(sample, o.scene / "cam1.mp4", spec)) failed = true;
    auto pj = summary(row.publish_ms), rj = summary(row.receipt_ms);
    char a[64], b[64];
    std::snprintf(a, sizeof a, "%.1f / %.1f / %.1f", row.publish_ms.p50, row.publish_ms.p99, row.publish_ms.max);
    std::snprintf(b, sizeof b, "%.1f / %.1f / %.1f", row.receipt_ms.p50, row.receipt_ms.p99, row.receipt_ms.p999);
    std::printf("%8d %9.1f %9llu %9llu | %-34s | %-34s %s\n", n, row.fps, (unsigned long long)row.dropped_frames,
                (unsigned long long)row.dropped_messages, a, b, row.sustained ? "ok" : "NOT sustained");
    return {{"cameras", n},
            {"fps", row.fps},
            {"frames", frames},
            {"received", row.received},
            {"dropped_frames", row.dropped_frames},
            {"dropped_messages", row.dropped_messages},
            {"publish_ms", pj},
            {"receipt_ms", rj},
            {"cpu_ms_per_frame", row.cpu_ms_per_frame},
            {"sustained", row.sustained}};
}
} // namespace

int main(int argc, char** argv) {
    Options o;
    std::string decode = "cpu";
    CLI::App app{"Line speed: N synthetic cameras paced in real time through the whole line and ZeroMQ; the camera "
                 "count sustained with zero drops and receipt p99 under --p99-ms"};
    add_options(app, o, decode);
    CLI11_PARSE(app, argc, argv);
    o.decoder = decode == "nvdec" ? pipeline::Decoder::kNvdec : pipeline::Decoder::kCpu;
    const auto spec = pipeline::load_model_spec(o.model);
    pipeline::make_engine(o.engine, spec); // an engine this build lacks, or a bad model, fails before any rendering
    prepare_scene(o);
    std::printf("line speed: cameras %dx%d@30 paced in real time, %.0f s each, batch <= %d, max wait %.0f ms, "
                "model %s%s%s (%s engine), decode %s, sustained = zero drops and receipt p99 < %.0f ms\n",
                o.width, o.height, o.seconds, o.batch, o.max_wait_ms, spec.name.c_str(),
                o.shadow.empty() ? "" : " with a shadow ", o.shadow.empty() ? "" : o.shadow.string().c_str(),
                o.engine.c_str(), decode.c_str(), o.p99_limit);
    if (o.decoder == pipeline::Decoder::kNvdec) {
        pipeline::VideoReader probe((o.scene / "cam1.mp4").string(), 0, nullptr, {}, o.decoder);
        std::printf("decoder: %s\n", probe.decoder() == pipeline::Decoder::kNvdec ? "NVDEC (device memory)"
                                                                                  : probe.decode_note().c_str());
    }
    std::printf("%8s %9s %9s %9s | %-34s | %-34s\n", "cameras", "fps", "dropped", "msg drop",
                "arrival->publish ms p50/p99/max", "arrival->receipt ms p50/p99/p99.9");
    int sustained = 0;
    bool failed = false;
    nlohmann::json all = nlohmann::json::array();
    for (int n : o.counts) {
        all.push_back(run_count(n, o, spec, failed));
        if (all.back()["sustained"].get<bool>()) sustained = std::max(sustained, n);
        if (all.back()["frames"].get<std::uint64_t>() == 0) return 1;
    }
    std::printf("largest camera count sustained (zero drops, receipt p99 < %.0f ms): %d\n", o.p99_limit, sustained);
    std::printf("%s\n", nlohmann::json{{"bench", "linespeed"},
                                       {"model", spec.name},
                                       {"engine", o.engine},
                                       {"decode", decode},
                                       {"width", o.width},
                                       {"height", o.height},
                                       {"batch", o.batch},
                                       {"runs", all},
                                       {"sustained", sustained},
                                       {"checks_passed", !failed}}
                            .dump()
                            .c_str());
    return failed ? 3 : 0;
}
