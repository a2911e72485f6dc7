// The line as a library: the run config (every error names file and key), the runner's stages (sources and their
// policies, batching, deadlines, pacing, drops), the stats, the flags, and an RTSP camera that reconnects.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "support/config_cases.hpp"
#include "support/gpu.hpp"
#include "support/scenes.hpp"
#include "support/test_support.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/monitor.hpp"
#include "sightline/pipeline/runner.hpp"
#include "sightline/pipeline/stats.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/pipeline/video_writer.hpp"
#include "sightline/transport/messages.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"

#include <nlohmann/json.hpp>

using namespace sightline;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using sightline::testing::one_camera;
using sightline::testing::render_scene;
using sightline::testing::run_binary;
using sightline::testing::temp_dir;

const fs::path kRoot = SIGHTLINE_SOURCE_DIR;

TEST(RunConfig, BadConfigsNameTheKey) {
    auto dir = temp_dir("cfg");
    std::ofstream(dir / "a.mp4") << "x";
    std::ofstream(dir / "m.yaml") << "x"; // the model file must exist (its contents are read later, by the engine)
    const std::string model = "model: m.yaml\n", pub = "publish: {predictions: 'tcp://127.0.0.1:5999'}\n";
    const std::vector<sightline::testing::ConfigCase> cases = {
        {"cameras: []\n" + model + pub, "cameras: expected a list"},
        {"cameras: [{id: c1}]\n" + model + pub, "cameras[0].url: missing"},
        {"cameras: [{id: c1, url: nope.mp4}]\n" + model + pub, "cameras[0].url: "},
        {"cameras: [{id: c1, url: a.mp4}, {id: c1, url: a.mp4}]\n" + model + pub, "cameras[1].id: duplicate"},
        {"cameras: [{id: c1, url: a.mp4, fps: 3}]\n" + model + pub, "cameras[0].fps: unknown key"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + pub, "model: missing"},
        {"cameras: [{id: c1, url: a.mp4}]\nmodel: models/parts-v1/model.yaml\n" + pub,
         "model: " + (dir / "models/parts-v1/model.yaml").string() +
             ": no such file (relative paths are read from the config file's folder, " + dir.string()},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model, "publish: expected a mapping"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "batching: {max_batch: 0}\n",
         "batching.max_batch: must be"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "thresholds: {iou: high}\n", "thresholds.iou: wrong type"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "extra: 1\n", "extra: unknown key"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "thresholds: {confidense: 0.3}\n",
         "thresholds.confidense: unknown key; did you mean 'confidence'? (expected one of: confidence, iou, max_det)"},
        {"cameras: [{id: c1, url: a.mp4\n", "malformed YAML"},
        {"cameras: [{id: c1, url: a.mp4, ground_truth: none.json}]\n" + model + pub, "cameras[0].ground_truth: "},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "eval: {window_s: 0}\n", "eval.window_s: must be"},
        {"cameras: [{id: c1, url: a.mp4, decode: gpu}]\n" + model + pub, "cameras[0].decode: expected cpu or nvdec"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "eval: {iou: 2}\n", "eval.iou: must be"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "sampling: {strategies: [{name: a, type: magic}]}\n",
         "sampling.strategies[0].type: unknown strategy type 'magic'"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub +
             "sampling: {strategies: [{name: a, type: random}, {name: a, type: random}]}\n",
         "sampling.strategies[1].name: duplicate strategy name 'a'"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub +
             "sampling: {strategies: [{name: a, type: random, threshold: 0.5}]}\n",
         "sampling.strategies[0].threshold: unknown key"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub +
             "sampling: {strategies: [{name: a, type: flags, any: [near_threshold, sparkly]}]}\n",
         "sampling.strategies[0].any[1]: unknown flag 'sparkly'"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub +
             "sampling: {strategies: [{name: a, type: detection_count}]}\n",
         "sampling.strategies[0]: a detection_count strategy needs more_than or less_than"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub +
             "sampling: {strategies: [{name: a, type: random, limits: {week: 3}}]}\n",
         "sampling.strategies[0].limits.week: unknown key"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "sampling: {jpeg_quality: 0}\n",
         "sampling.jpeg_quality: must be in 1..100"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "sampling: {share: camera}\n",
         "sampling.share: must be cameras or line"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "sampling: {share_floor: 0}\n",
         "sampling.share_floor: must be > 0"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "sampling: {share_half_life_s: -1}\n",
         "sampling.share_half_life_s: must be in (0, 86400]"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "flags: {candidate_floor: 1.5}\n",
         "flags.candidate_floor: must be below 1"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "flags: {blur_ratio: 0}\n",
         "flags.blur_ratio: must be in (0, 1]"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "flags: {rank_score_band: 1.5}\n",
         "flags.rank_score_band: must be in [0, 1]"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "flags: {background_cell: 1}\n",
         "flags.background_cell: must be in 2..256"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "flags: {unexplained_cells: -2}\n",
         "flags.unexplained_cells: must be in 0..100000"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "engine_threads: -1\n",
         "engine_threads: must be in [0, 1024]"},
    };
    sightline::testing::expect_configs_refused(dir, cases);
    std::ofstream(dir / "run.yaml") << "cameras: [{id: c1, url: a.mp4}]\n" + model + pub;
    auto ok = pipeline::load_run_config(dir / "run.yaml");
    EXPECT_EQ(ok.cameras[0].url, (dir / "a.mp4").string()) << "paths resolve against the config's directory";
    EXPECT_EQ(ok.model, dir / "m.yaml");
    EXPECT_EQ(ok.engine_threads, 0) << "the engine's own default";
    EXPECT_EQ(ok.sampling.strategies.size(), pipeline::default_sampling_strategies().size())
        << "no sampling section: the default strategies";
    fs::remove_all(dir);
}

std::unique_ptr<pipeline::Engine> engine() {
    return pipeline::make_opencv_engine(pipeline::load_model_spec(kRoot / "models/parts-v1/model.yaml"));
}

TEST(Runner, RealtimePacesToTimestamps) {
    auto dir = temp_dir("pace");
    pipeline::Runner r(one_camera(dir, true, false), engine());
    std::atomic<bool> stop{false};
    int frames = 0;
    std::vector<std::pair<std::int64_t, std::int64_t>> arrival_pts; // packet arrival (monotonic), pts
    const auto t0 = std::chrono::steady_clock::now();
    auto s = r.run(
        [&](const pipeline::FrameOutput& f) {
            ++frames;
            arrival_pts.emplace_back(f.stamps.arrival_ns, f.pts_ns);
        },
        stop);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(frames, 15);
    EXPECT_EQ(s.dropped[0], 0u);
    EXPECT_GE(secs, 14.0 / 15 - 0.02) << "15 frames at 15 fps take about a second when paced";
    EXPECT_LT(secs, 14.0 / 15 + 1.0) << "paced, not slower than the timestamps";
    // each packet is released at a fixed offset from its timestamp (start + pts): arrival - pts is the same for all
    // of them, up to scheduling noise. A reader ahead of the timestamps would drift by a frame period (66 ms) per
    // frame; one that falls behind, likewise the other way. (The first packet may come a few ms late: the decoder
    // opens after the pacing clock starts.)
    ASSERT_EQ(arrival_pts.size(), 15u);
    double lo = 1e300, hi = -1e300;
    for (const auto& [arrival, pts] : arrival_pts) {
        const double lag_ms = (arrival - pts) / 1e6;
        lo = std::min(lo, lag_ms), hi = std::max(hi, lag_ms);
    }
    EXPECT_LT(hi - lo, 150.0) << "packets not released at their timestamps: arrival - pts spans " << hi - lo << " ms";
    fs::remove_all(dir);
}

TEST(Runner, LiveSourceDropsOldestFramesWhenBehindAndCountsThem) {
    auto dir = temp_dir("drop");
    pipeline::Runner r(one_camera(dir, true, true), engine());
    std::atomic<bool> stop{false};
    std::vector<std::int64_t> pts;
    const auto t0 = std::chrono::steady_clock::now();
    auto s = r.run(
        [&](const pipeline::FrameOutput& f) {
            pts.push_back(f.pts_ns);
            std::this_thread::sleep_for(150ms); // a line slower than the camera's 15 fps
            if (std::chrono::steady_clock::now() - t0 > 2500ms) stop = true;
        },
        stop);
    EXPECT_GT(s.dropped[0], 5u) << "the camera outran the line: frames must drop";
    EXPECT_EQ(s.frames[0], pts.size());
    const double decoded_s = (pts.back() - pts.front()) / 1e9;
    EXPECT_GT(decoded_s, 1.5) << "the looping source kept its timeline across the end of the file";
    for (std::size_t k = 1; k < pts.size(); ++k) EXPECT_GT(pts[k], pts[k - 1]) << "pts must increase across loops";
    fs::remove_all(dir);
}

TEST(Runner, LiveFramesPastTheirDeadlineAreDroppedAndCounted) {
    auto dir = temp_dir("late");
    auto cfg = one_camera(dir, true, true);
    cfg.batching.max_latency_ms = 50;
    pipeline::Runner r(cfg, engine());
    std::atomic<bool> stop{false};
    std::vector<double> ages_ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto s = r.run(
        [&](const pipeline::FrameOutput& f) {
            ages_ms.push_back((f.stamps.batched_ns - f.stamps.arrival_ns) / 1e6);
            std::this_thread::sleep_for(100ms); // slower than the camera
            if (std::chrono::steady_clock::now() - t0 > 2000ms) stop = true;
        },
        stop);
    EXPECT_GT(s.late[0], 0u);
    for (double a : ages_ms)
        EXPECT_LE(a, 50 + cfg.batching.max_wait_ms + 5) << "a frame past its deadline was processed";
    fs::remove_all(dir);
}

TEST(Runner, LosslessFileModeNeverDrops) {
    auto dir = temp_dir("lossless");
    pipeline::Runner r(one_camera(dir, false, false), engine());
    std::atomic<bool> stop{false};
    std::size_t deepest = 0;
    double oldest_ms = 0;
    pipeline::CameraStats stats;
    auto s = r.run(
        [&](const pipeline::FrameOutput& f) {
            deepest = std::max(deepest, f.queue_depth);
            oldest_ms = std::max(oldest_ms, f.queue_age_ms);
            stats.add(f, f.stamps.inferred_ns);
            std::this_thread::sleep_for(20ms);
        },
        stop);
    EXPECT_EQ(s.frames[0], 15u);
    EXPECT_EQ(s.dropped[0], 0u);
    // the slow sink lets decoded frames pile up: the backlog is reported, not hidden
    EXPECT_GE(deepest, 1u);
    EXPECT_GT(oldest_ms, 20.0) << "frames waited at least one slow sink call";
    const auto v = stats.take(1.0);
    EXPECT_EQ(v.at("queue_depth_max"), static_cast<double>(deepest));
    EXPECT_EQ(v.at("queue_age_ms_max"), oldest_ms);
    EXPECT_EQ(stats.take(1.0).at("queue_age_ms_max"), 0.0) << "a new window starts from zero";
    fs::remove_all(dir);
}

// The GPU line (NVDEC frames in device memory, CUDA preprocess) against the CPU line on the same three synthetic
// cameras: every frame's detections match (IoU >= 0.99, scores within 1e-3, same classes) and the COCO stats of
// each camera's detections against its ground truth agree. Needs a GPU.
TEST(Runner, GpuLineGivesTheCpuLineDetectionsAndStats) {
    SL_GPU_SKIP_UNLESS(kernels::cuda_available(), kernels::describe_device());
    auto dir = temp_dir("gpuline");
    render_scene(dir, 3, 1.0, 5, {"defaults.width=320", "defaults.height=240"});
    using Frames = std::map<std::string, std::vector<std::vector<pipeline::Detection>>>;
    std::map<std::string, std::vector<std::uint8_t>> foreground[2]; // per camera, every frame's cells in a row
    auto run_line = [&](pipeline::Decoder decoder) {
        pipeline::RunConfig cfg;
        for (const char* cam : {"cam1", "cam2", "cam3"}) {
            cfg.cameras.push_back({cam, (dir / (std::string(cam) + ".mp4")).string(), {}, false, false});
            cfg.cameras.back().decode = decoder;
        }
        cfg.model = kRoot / "models/parts-v1/model.yaml";
        cfg.batching.max_batch = 4;
        cfg.flags.background_warmup = 5; // the 30 frames decide foreground from the sixth on
        pipeline::Runner r(cfg, pipeline::make_opencv_engine(pipeline::load_model_spec(cfg.model)));
        std::atomic<bool> stop{false};
        Frames out;
        auto& cells = foreground[decoder == pipeline::Decoder::kNvdec ? 1 : 0];
        const auto summary = r.run(
            [&](const pipeline::FrameOutput& f) {
                out[f.camera].push_back(f.detections);
                cells[f.camera].insert(cells[f.camera].end(), f.foreground.cells.begin(), f.foreground.cells.end());
            },
            stop);
        for (std::size_t i = 0; i < summary.decoders.size(); ++i)
            EXPECT_EQ(summary.decoders[i], decoder)
                << cfg.cameras[i].id << ": the GPU line's frames must come from NVDEC, in device memory";
        return out;
    };
    const Frames cpu = run_line(pipeline::Decoder::kCpu), gpu = run_line(pipeline::Decoder::kNvdec);
    int boxes = 0;
    for (const char* cam : {"cam1", "cam2", "cam3"}) {
        ASSERT_EQ(cpu.at(cam).size(), 30u) << cam;
        ASSERT_EQ(gpu.at(cam).size(), 30u) << cam;
        pipeline::CocoDetections dt[2];
        for (std::size_t k = 0; k < 30; ++k) {
            const auto &a = cpu.at(cam)[k], &b = gpu.at(cam)[k];
            ASSERT_EQ(a.size(), b.size()) << cam << " frame " << k;
            for (std::size_t d = 0; d < a.size(); ++d) {
                const float ix = std::max(0.f, std::min(a[d].x2, b[d].x2) - std::max(a[d].x1, b[d].x1));
                const float iy = std::max(0.f, std::min(a[d].y2, b[d].y2) - std::max(a[d].y1, b[d].y1));
                const float inter = ix * iy, area_a = (a[d].x2 - a[d].x1) * (a[d].y2 - a[d].y1),
                            area_b = (b[d].x2 - b[d].x1) * (b[d].y2 - b[d].y1);
                EXPECT_GE(inter / (area_a + area_b - inter), 0.99f) << cam << " frame " << k << " box " << d;
                EXPECT_NEAR(a[d].score, b[d].score, 1e-3);
                EXPECT_EQ(a[d].cls, b[d].cls);
                ++boxes;
            }
            for (int side = 0; side < 2; ++side)
                for (const auto& d : side ? b : a)
                    dt[side].detections.push_back(
                        {static_cast<std::int64_t>(k), d.cls + 1, {d.x1, d.y1, d.x2 - d.x1, d.y2 - d.y1}, d.score});
        }
        const auto gt = pipeline::load_coco_ground_truth_file(dir / (std::string(cam) + ".json"));
        const auto sa = pipeline::evaluate_coco(gt, dt[0]).stats, sb = pipeline::evaluate_coco(gt, dt[1]).stats;
        for (int i = 0; i < 12; ++i) EXPECT_NEAR(sa[i], sb[i], 1e-2) << cam << " " << pipeline::kCocoStatNames[i];
    }
    EXPECT_GT(boxes, 0);
    // the background: the CUDA twin on NVDEC's frames in device memory, the CPU twin on the same frames decoded by
    // FFmpeg (byte-exact, Nvdec.*): the same cells
    for (const char* cam : {"cam1", "cam2", "cam3"}) {
        EXPECT_FALSE(foreground[0].at(cam).empty()) << cam;
        EXPECT_EQ(foreground[1].at(cam), foreground[0].at(cam)) << cam;
    }
    fs::remove_all(dir);
}

// The blur flag end to end: the synthetic line's blur drift on cam2 (extra motion blur from 4 s) lowers the sharpness
// both preprocess twins measure, and the flags stage flags cam2's frames from the onset on, none before, none of
// the nominal cam1. At the scene's own 640x480 and 30 fps (smaller, its sensor noise dominates the Laplacian;
// slower, its belt's own motion blur).
TEST(Runner, BlurDriftRaisesTheBlurredFlagFromItsOnset) {
    auto dir = temp_dir("blurline");
    render_scene(dir, 2, 4, 7,
                 {"cameras.cam2.blur.start=2", "cameras.cam2.blur.ramp=0", "cameras.cam2.blur.extra_px=10"});
    pipeline::RunConfig cfg;
    for (const char* cam : {"cam1", "cam2"})
        cfg.cameras.push_back({cam, (dir / (std::string(cam) + ".mp4")).string(), {}, false, false});
    cfg.model = kRoot / "models/parts-v1/model.yaml";
    cfg.flags.count_learn_frames = 30;
    pipeline::Runner r(cfg, pipeline::make_opencv_engine(pipeline::load_model_spec(cfg.model)));
    std::atomic<bool> stop{false};
    std::map<std::string, std::vector<std::pair<bool, float>>> seen; // per camera, in order: blurred, sharpness
    r.run(
        [&](const pipeline::FrameOutput& f) {
            seen[f.camera].push_back({(f.frame_flags & transport::kFrameBlurred) != 0, f.luma.sharpness});
        },
        stop);
    ASSERT_EQ(seen["cam1"].size(), 120u);
    ASSERT_EQ(seen["cam2"].size(), 120u);
    int before = 0, after = 0, nominal = 0;
    double sharp_before = 0, sharp_after = 0;
    for (int k = 0; k < 120; ++k) {
        nominal += seen["cam1"][k].first;
        EXPECT_GT(seen["cam1"][k].second, 0.f) << "frame " << k;
        (k < 60 ? before : after) += seen["cam2"][k].first;
        (k < 60 ? sharp_before : sharp_after) += seen["cam2"][k].second / 60;
    }
    EXPECT_EQ(nominal, 0);
    EXPECT_EQ(before, 0);
    EXPECT_GE(after, 57) << "of cam2's 60 blurred frames (sharpness " << sharp_before << " before, " << sharp_after
                         << " after)";
    EXPECT_LT(sharp_after, 0.7 * sharp_before);
    fs::remove_all(dir);
}

// The background end to end: the synthetic line's cam2 loses 40% of its light at 2 s (the lighting drift, no ramp);
// its background (learned over the first 50 frames) no longer fits, the change lies mostly where no part is, and
// the frame is flagged `unexplained` from the onset until the background has learned the new light. Nominal cam1:
// never. With flags.unexplained_cells 0 no background is kept: no foreground, no flag.
TEST(Runner, ALightingChangeIsUnexplainedFromItsOnsetUntilTheBackgroundLearnsIt) {
    auto dir = temp_dir("unexplained");
    render_scene(dir, 2, 4, 7,
                 {"cameras.cam2.lighting_drift.start=2", "cameras.cam2.lighting_drift.ramp=0",
                  "cameras.cam2.lighting_drift.gain=0.6"});
    const auto run_line = [&](int cells) {
        pipeline::RunConfig cfg;
        for (const char* cam : {"cam1", "cam2"})
            cfg.cameras.push_back({cam, (dir / (std::string(cam) + ".mp4")).string(), {}, false, false});
        cfg.model = kRoot / "models/parts-v1/model.yaml";
        cfg.flags.unexplained_cells = cells;
        pipeline::Runner r(cfg, pipeline::make_opencv_engine(pipeline::load_model_spec(cfg.model)));
        std::atomic<bool> stop{false};
        std::map<std::string, std::vector<std::pair<bool, std::size_t>>> seen; // flagged, foreground cells
        r.run(
            [&](const pipeline::FrameOutput& f) {
                const auto& c = f.foreground.cells;
                seen[f.camera].push_back({(f.frame_flags & transport::kFrameUnexplained) != 0,
                                          static_cast<std::size_t>(std::count(c.begin(), c.end(), 1))});
                if (cells > 0) {
                    EXPECT_EQ(c.size(), f.foreground.grid.cells());
                }
            },
            stop);
        return seen;
    };
    auto seen = run_line(2);
    ASSERT_EQ(seen["cam1"].size(), 120u);
    ASSERT_EQ(seen["cam2"].size(), 120u);
    int nominal = 0, before = 0, onset = 0;
    for (int k = 0; k < 120; ++k) {
        nominal += seen["cam1"][k].first;
        (k < 60 ? before : onset) += k < 60 || k < 70 ? seen["cam2"][k].first : 0;
    }
    EXPECT_EQ(nominal, 0);
    EXPECT_EQ(before, 0);
    EXPECT_EQ(onset, 10) << "cam2's first 10 frames in the new light are all unexplained";
    EXPECT_GT(seen["cam2"][60].second, seen["cam2"][59].second + 100) << "most of the picture changed at once";
    EXPECT_FALSE(seen["cam2"][119].first) << "two seconds later the background has learned the new light";
    seen = run_line(0);
    for (const char* cam : {"cam1", "cam2"})
        for (const auto& [flagged, cells] : seen[cam]) EXPECT_TRUE(!flagged && cells == 0) << cam;
    fs::remove_all(dir);
}

// A real RTSP server (GStreamer's, tests/python/rtsp_server.py) serving a synthetic video: connect, kill the server,
// restart it: the runner reports the camera down, reconnects, resumes, and reports it up again.
class RtspServer {
  public:
    RtspServer(const fs::path& video, int port, const fs::path& dir) : pidfile_(dir / "rtsp.pid") {
        static int starts = 0;
        const fs::path log_path = dir / ("rtsp" + std::to_string(++starts) + ".log"); // a fresh log per start
        const std::string cmd = "/usr/bin/python3 " + (kRoot / "tests/python/rtsp_server.py").string() + " " +
                                std::to_string(port) + " cam=" + video.string() + " > " + log_path.string() +
                                " 2>&1 & echo $! > " + pidfile_.string();
        EXPECT_EQ(std::system(cmd.c_str()), 0);
        std::ifstream(pidfile_) >> pid_;
        for (int k = 0; k < 100; ++k) { // until it says it listens
            std::ifstream log(log_path);
            std::string line;
            if (std::getline(log, line) && line == "ready") return;
            std::this_thread::sleep_for(100ms);
        }
        ADD_FAILURE() << "the RTSP server did not start (python3-gi, gir1.2-gst-rtsp-server-1.0 installed?)";
    }
    ~RtspServer() { kill(); }
    void kill() {
        if (pid_ > 0) std::system(("kill -9 " + std::to_string(pid_) + " 2>/dev/null").c_str());
        pid_ = 0;
    }

  private:
    fs::path pidfile_;
    int pid_ = 0;
};

TEST(Run, RtspCameraReconnectsAfterTheServerRestarts) {
    auto dir = temp_dir("rtsp");
    render_scene(dir, 1, 20, pipeline::synth::SynthOptions{}.seed, {"defaults.width=160", "defaults.height=120"});
    const int port = 20000 + ::getpid() % 20000;
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"live",
                           "rtsp://127.0.0.1:" + std::to_string(port) + "/cam",
                           {},
                           false,
                           false,
                           {{"rtsp_transport", "tcp"}, {"timeout", "2000000"}}});
    cfg.model = kRoot / "models/parts-v1/model.yaml";
    cfg.reconnect.max_backoff_s = 1;
    pipeline::Runner runner(cfg, engine());
    std::atomic<bool> stop{false};
    std::atomic<int> frames{0}, ups{0}, downs{0};
    std::mutex mu;
    std::vector<std::string> kinds;
    std::vector<double> decode_ms; // packet read -> frame decoded, per frame
    auto server = std::make_unique<RtspServer>(dir / "cam1.mp4", port, dir);
    std::thread line([&] {
        runner.run(
            [&](const pipeline::FrameOutput& f) {
                std::lock_guard lk(mu);
                decode_ms.push_back((f.stamps.decoded_ns - f.stamps.arrival_ns) / 1e6);
                ++frames;
            },
            stop,
            [&](const pipeline::RunEvent& e) {
                std::lock_guard lk(mu);
                kinds.push_back(e.kind);
                (e.kind == "camera_up" ? ups : downs)++;
            });
    });
    auto wait_for = [&](auto pred, std::chrono::seconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (!pred() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
        return pred();
    };
    // 60 frames: the first second comes in a burst (read ahead while the stream's format was probed), then live
    EXPECT_TRUE(wait_for([&] { return frames.load() >= 60; }, 20s)) << "no frames from the RTSP camera";
    EXPECT_EQ(ups.load(), 1);
    {
        // A network camera decodes each frame as its packet arrives: frame threads would hold every live frame back
        // until (threads - 1) more packets came, a frame interval (33 ms at 30 fps) or more each.
        std::lock_guard lk(mu);
        std::vector<double> live(decode_ms.begin() + 40, decode_ms.begin() + 60);
        EXPECT_LT(pipeline::percentile(live, 0.5), 20.0) << "live frames held back by the decoder";
    }
    server->kill();
    EXPECT_TRUE(wait_for([&] { return downs.load() >= 1; }, 20s)) << "the camera going down was not reported";
    const int before = frames.load();
    server = std::make_unique<RtspServer>(dir / "cam1.mp4", port, dir);
    EXPECT_TRUE(wait_for([&] { return ups.load() >= 2 && frames.load() >= before + 20; }, 30s))
        << "no reconnect: " << ups.load() << " ups, " << frames.load() - before << " frames after the restart";
    stop = true;
    line.join();
    server.reset();
    std::lock_guard lk(mu);
    ASSERT_GE(kinds.size(), 3u);
    EXPECT_EQ(kinds[0], "camera_up");
    EXPECT_EQ(kinds[1], "camera_down");
    EXPECT_EQ(kinds[2], "camera_up");
    fs::remove_all(dir);
}

// Faults (issue 24, item 7): a camera whose stream changes resolution mid-way, then jumps back in time (a camera
// restarting its clock), then forward by an hour (a clock set). The line goes on: every frame is decoded and
// processed at its own size, with the pts the stream gives; the monitor downstream starts a new timeline on the
// jump back and skips at most a window of empty seconds on the jump forward. Segments of MPEG-TS concatenated, as
// a network camera's stream arrives.
TEST(Runner, AStreamThatChangesResolutionAndJumpsInTimeGoesOn) {
    auto dir = temp_dir("faults");
    struct Segment {
        int width, height;
        std::int64_t first_pts; // frames at 15 fps
    };
    const std::vector<Segment> segments = {{320, 240, 0}, {160, 120, 15}, {320, 240, 0}, {320, 240, 15 * 3600}};
    std::ofstream all(dir / "camera.ts", std::ios::binary);
    for (std::size_t k = 0; k < segments.size(); ++k) {
        const Segment& g = segments[k];
        pipeline::VideoWriterOptions o;
        o.width = g.width, o.height = g.height, o.fps = 15, o.gop = 5, o.container = "mpegts";
        o.first_pts = g.first_pts;
        const auto part = dir / ("part" + std::to_string(k) + ".ts");
        pipeline::VideoWriter w(part, o);
        std::vector<std::uint8_t> i420(static_cast<std::size_t>(g.width) * g.height * 3 / 2, 128);
        for (int f = 0; f < 15; ++f) {
            for (int y = 0; y < g.height; ++y) // a bright square moving across a grey field
                for (int x = 0; x < g.width; ++x)
                    i420[static_cast<std::size_t>(y) * g.width + x] =
                        (x / 16 + f) % 8 == 0 && y > g.height / 4 && y < g.height / 2 ? 235 : 90;
            w.write_i420(i420.data());
        }
        w.finish();
        std::ifstream in(part, std::ios::binary);
        all << in.rdbuf();
    }
    all.close();
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (dir / "camera.ts").string(), {}, false, false});
    cfg.model = kRoot / "models/parts-v1/model.yaml";
    cfg.batching.max_batch = 4;
    pipeline::Runner runner(cfg, engine());
    std::atomic<bool> stop{false};
    std::vector<std::pair<int, std::int64_t>> seen; // (width, pts_ns)
    pipeline::MonitorOptions mo;
    pipeline::Monitor monitor(mo);
    const auto s = runner.run(
        [&](const pipeline::FrameOutput& f) {
            seen.emplace_back(f.width, f.pts_ns);
            const auto p = pipeline::to_pred_message(f, "parts-v1@1.0.0", {}, 0);
            monitor.add(p, f.stamps.inferred_ns);
        },
        stop);
    ASSERT_EQ(seen.size(), 60u) << "every frame of the four segments (" << s.corrupt_packets[0] << " corrupt packets)";
    for (std::size_t i = 0; i < seen.size(); ++i) {
        EXPECT_EQ(seen[i].first, segments[i / 15].width) << "frame " << i << " at its own size";
        if (i % 15 == 0) continue;
        EXPECT_NEAR((seen[i].second - seen[i - 1].second) / 1e6, 1000.0 / 15, 1) << "frame " << i;
    }
    EXPECT_LT(seen[30].second, seen[29].second) << "the jump back is passed on as the stream gives it";
    EXPECT_GT(seen[45].second - seen[44].second, 3000'000'000'000LL) << "and the jump forward";
    ASSERT_EQ(monitor.cameras().size(), 1u);
    EXPECT_EQ(monitor.cameras()[0].frames, 60u);
    EXPECT_EQ(monitor.cameras()[0].seq_gaps, 0u) << "the line's sequence has no gap across the jumps";
    fs::remove_all(dir);
}

TEST(Stats, PercentileIsNearestRank) {
    std::vector<double> v = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
    EXPECT_EQ(pipeline::percentile(v, 0.5), 5);
    EXPECT_EQ(pipeline::percentile(v, 0.99), 10);
    EXPECT_EQ(pipeline::percentile(v, 0.1), 1);
    std::vector<double> empty;
    EXPECT_EQ(pipeline::percentile(empty, 0.5), 0);
}

TEST(Run, FlagsFollowThresholdBandAndMargin) {
    pipeline::RunConfig c;
    c.flags.near_threshold_band = 0.1f;
    c.flags.ambiguity_margin = 0.2f;
    pipeline::Detection d{0, 0, 1, 1, 0.30f, 0, 0.5f, 0.1f};
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c.flags), transport::kFlagNearThreshold);
    d.score = 0.9f, d.margin = 0.1f;
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c.flags), transport::kFlagAmbiguousClass);
    d.score = 0.3f;
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c.flags),
              transport::kFlagNearThreshold | transport::kFlagAmbiguousClass);
    d.score = 0.9f, d.margin = 0.8f;
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c.flags), 0u);
    d.entropy = 0.5f; // at the entropy threshold (0.5 by default)
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c.flags), transport::kFlagHighEntropy);
    c.flags.entropy_threshold = 0.6f;
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c.flags), 0u);
}

TEST(Flags, DetectionAndFrameUncertaintyFollowTheDocumentedFormula) {
    pipeline::FlagsConfig f; // band 0.1, margin 0.2, entropy 0.5
    using pipeline::detection_uncertainty;
    pipeline::Detection d{0, 0, 1, 1, 0.25f, 0, 1.0f, 0.0f};
    EXPECT_FLOAT_EQ(detection_uncertainty(d, 0.25f, f), 1.0f); // at the threshold
    d.score = 0.30f;
    EXPECT_NEAR(detection_uncertainty(d, 0.25f, f), 0.5f, 1e-6); // half way through the band
    d.score = 0.9f;
    EXPECT_FLOAT_EQ(detection_uncertainty(d, 0.25f, f), 0.0f); // sure of itself
    d.margin = 0.05f;
    EXPECT_NEAR(detection_uncertainty(d, 0.25f, f), 0.75f, 1e-6); // margin a quarter of the ambiguity margin
    d.margin = 1.0f, d.entropy = 0.49f;
    EXPECT_FLOAT_EQ(detection_uncertainty(d, 0.25f, f), 0.0f); // entropy under its threshold counts nothing
    d.entropy = 0.8f;
    EXPECT_FLOAT_EQ(detection_uncertainty(d, 0.25f, f), 0.8f);
    EXPECT_FLOAT_EQ(pipeline::frame_uncertainty({}, false), 0.0f);
    EXPECT_NEAR(pipeline::frame_uncertainty({0.5f, 0.5f}, false), 0.75f, 1e-6);
    EXPECT_NEAR(pipeline::frame_uncertainty({0.5f}, true), 0.75f, 1e-6);
    EXPECT_NEAR(pipeline::frame_uncertainty({}, true), 0.5f, 1e-6);
}

TEST(Flags, TheRankingCountsEveryDetectionsScoreNotOnlyThoseNearTheThreshold) {
    pipeline::FlagsConfig f; // rank_score_band 0.75: the whole span above a 0.25 threshold
    using pipeline::detection_expected_error;
    pipeline::Detection d{0, 0, 1, 1, 0.25f, 0, 1.0f, 0.0f};
    EXPECT_FLOAT_EQ(detection_expected_error(d, 0.25f, f), 1.0f);
    d.score = 0.625f;
    EXPECT_NEAR(detection_expected_error(d, 0.25f, f), 0.5f, 1e-6);
    EXPECT_NEAR(pipeline::detection_uncertainty(d, 0.25f, f), 0.0f, 1e-6); // far out of the uncertainty's band
    d.score = 1.0f;
    EXPECT_FLOAT_EQ(detection_expected_error(d, 0.25f, f), 0.0f);
    d.margin = 0.05f; // the margin term is the uncertainty's
    EXPECT_NEAR(detection_expected_error(d, 0.25f, f), 0.75f, 1e-6);

    // through the stage: two frames of 4 objects, one sure (0.95) and one fading (0.6): the uncertainty (on the wire)
    // is 0 for both, the ranking puts the fading frame first; the uncertainty is unchanged by the ranking's band
    pipeline::FlagsStage stage(f, 0.25f, 1);
    const auto frame = [&](float score) {
        pipeline::FrameOutput out;
        for (int i = 0; i < 4; ++i) out.detections.push_back({100.f * i, 0, 100.f * i + 50, 50, score, 0, 1.0f, 0.0f});
        stage.apply(out);
        return out;
    };
    const pipeline::FrameOutput sure = frame(0.95f), fading = frame(0.6f);
    EXPECT_FLOAT_EQ(sure.uncertainty, 0.0f);
    EXPECT_FLOAT_EQ(fading.uncertainty, 0.0f);
    EXPECT_NEAR(sure.expected_errors, 4 * 0.05f / 0.75f, 1e-5);
    EXPECT_NEAR(fading.expected_errors, 4 * 0.4f / 0.75f, 1e-5);
    f.rank_score_band = 0.1f; // the old ranking: neither frame counts
    pipeline::FlagsStage old(f, 0.25f, 1);
    pipeline::FrameOutput o;
    o.detections.push_back({0, 0, 50, 50, 0.6f, 0, 1.0f, 0.0f});
    old.apply(o);
    EXPECT_FLOAT_EQ(o.expected_errors, 0.0f);
}

TEST(Flags, UnusualCountsAreLearnedPerCamera) {
    pipeline::FlagsConfig f;
    f.count_learn_frames = 200;
    f.temporal_weight = 0; // the boxes here all sit in one place: the tracker's flags are tested below
    pipeline::FlagsStage stage(f, 0.25f, 2);
    std::mt19937 rng(5);
    std::poisson_distribution<int> usual(3);
    auto frame = [](std::size_t camera, int n) {
        pipeline::FrameOutput out;
        out.camera_index = camera;
        for (int k = 0; k < n; ++k) out.detections.push_back({0, 0, 1, 1, 0.9f, 0, 0.9f, 0.0f});
        return out;
    };
    int flagged = 0;
    for (int k = 0; k < 600; ++k) { // camera 0's usual: Poisson(3)
        auto out = frame(0, usual(rng));
        stage.apply(out);
        flagged += (out.frame_flags & transport::kFrameUnusualCount) ? 1 : 0;
        constexpr std::uint32_t kTemporal =
            transport::kFlagReappeared | transport::kFlagClassSwitch | transport::kFlagScoreOscillation;
        EXPECT_EQ(out.frame_flags & ~(transport::kFrameUnusualCount | kTemporal), 0u); // sure: no detection bits
    }
    EXPECT_LE(flagged, 3) << "usual counts flagged as unusual";
    auto crowd = frame(0, 15);
    stage.apply(crowd);
    EXPECT_TRUE(crowd.frame_flags & transport::kFrameUnusualCount);
    EXPECT_NEAR(crowd.uncertainty, 0.5f, 1e-6);
    auto other = frame(1, 15); // camera 1 is still learning: nothing is unusual yet
    stage.apply(other);
    EXPECT_FALSE(other.frame_flags & transport::kFrameUnusualCount);
    auto mixed = frame(0, 2); // a frame's flags are the OR of its detections' bits
    mixed.detections[0].score = 0.26f, mixed.detections[1].margin = 0.01f; // within near_threshold_band (0.02)
    stage.apply(mixed);
    EXPECT_EQ(mixed.frame_flags &
                  ~(transport::kFlagReappeared | transport::kFlagClassSwitch | transport::kFlagScoreOscillation),
              transport::kFlagNearThreshold | transport::kFlagAmbiguousClass);
    EXPECT_GT(mixed.uncertainty, 0.9f);
}

} // namespace

namespace {
pipeline::Detection box_at(float x, int cls = 0, float score = 0.9f) {
    return {x, 10, x + 20, 30, score, cls, 0.9f, 0.0f};
}
} // namespace

// The tracker on crafted sequences: ids kept while an object moves, a gap within max_age flagged when it comes back
// (same id), a new id after max_age; a class switch within a track; a score oscillating across the threshold
// (detection <-> candidate); two objects keep their own ids.
TEST(Tracker, KeepsIdsAndFlagsGapsSwitchesAndOscillation) {
    pipeline::FlagsConfig f;
    f.track_max_age = 5;
    pipeline::Tracker tr(f, 0.25f);
    using D = std::vector<pipeline::Detection>;
    const D none;
    auto step = [&](D dets, const D& cands = {}) {
        tr.update(dets, cands);
        return dets;
    };
    std::vector<std::int32_t> ids;
    for (int k = 0; k < 5; ++k) ids.push_back(step({box_at(10.f + 2 * k), box_at(200.f - 2 * k, 1)})[0].track_id);
    EXPECT_EQ(std::set<std::int32_t>(ids.begin(), ids.end()).size(), 1u) << "one object, one id while it moves";
    auto two = step({box_at(20), box_at(190, 1)});
    EXPECT_NE(two[0].track_id, two[1].track_id);
    EXPECT_EQ(two[0].flags, 0u) << "seen every frame: nothing temporal";
    for (int k = 0; k < 3; ++k)
        step({box_at(190, 1)}); // object 0 missing for 3 frames (neither detected nor a candidate)
    auto back = step({box_at(21), box_at(190, 1)});
    EXPECT_EQ(back[0].track_id, two[0].track_id) << "back within max_age: the same track";
    EXPECT_TRUE(back[0].flags & transport::kFlagReappeared);
    EXPECT_FALSE(back[1].flags & transport::kFlagReappeared);
    for (int k = 0; k < 7; ++k) step({box_at(190, 1)}); // gone longer than max_age
    auto fresh = step({box_at(21), box_at(190, 1)});
    EXPECT_NE(fresh[0].track_id, two[0].track_id) << "past max_age: a new track";
    EXPECT_FALSE(fresh[0].flags & transport::kFlagReappeared);
    // class switch: object 1 has been class 1 for many frames
    auto sw = step({box_at(21), box_at(190, 2)});
    EXPECT_TRUE(sw[1].flags & transport::kFlagClassSwitch);
    EXPECT_EQ(sw[1].track_id, fresh[1].track_id) << "class-agnostic: the switch stays on its track";
    EXPECT_FALSE(sw[0].flags & transport::kFlagClassSwitch);
    // oscillation: object 0 detected, then a candidate well below the threshold (0.25 - score_band 0.1), then
    // detected, then a candidate, then detected: four crossings
    step({box_at(21), box_at(190, 1)});
    step({box_at(190, 1)}, {box_at(21, 0, 0.1f)});
    auto up = step({box_at(21), box_at(190, 1)});
    EXPECT_FALSE(up[0].flags & transport::kFlagReappeared) << "a candidate kept the track seen";
    EXPECT_FALSE(up[0].flags & transport::kFlagScoreOscillation) << "two crossings: not yet";
    step({box_at(190, 1)}, {box_at(21, 0, 0.1f)});
    auto osc = step({box_at(21), box_at(190, 1)});
    EXPECT_TRUE(osc[0].flags & transport::kFlagScoreOscillation);
    EXPECT_FALSE(osc[1].flags & transport::kFlagScoreOscillation);
    // a score wobbling inside the band around the threshold (candidates at 0.2, 0.05 below it) crosses nothing
    pipeline::Tracker calm(f, 0.25f);
    for (int k = 0; k < 5; ++k) {
        D near = {box_at(21)}, empty;
        calm.update(near, {});
        calm.update(empty, {box_at(21, 0, 0.2f)});
        EXPECT_FALSE(near[0].flags & transport::kFlagScoreOscillation) << "round " << k;
    }
}

TEST(Tracker, TemporalFlagsRaiseTheFrameScoreAndReachThePredMessage) {
    pipeline::FlagsConfig f;
    f.track_max_age = 5;
    f.temporal_weight = 0.5f;
    pipeline::FlagsStage stage(f, 0.25f, 1);
    auto frame = [](std::vector<pipeline::Detection> d) {
        pipeline::FrameOutput out;
        out.camera = "cam1";
        out.detections = std::move(d);
        return out;
    };
    for (int k = 0; k < 8; ++k) { // a class switch needs a track that held its class in at least 8 detections
        auto f0 = frame({box_at(10, 0)});
        stage.apply(f0);
        EXPECT_FLOAT_EQ(f0.uncertainty, 0.f);
    }
    auto gap = frame({});
    stage.apply(gap);
    auto sw = frame({box_at(10, 1)}); // back after a gap, as another class
    stage.apply(sw);
    EXPECT_TRUE(sw.frame_flags & transport::kFlagReappeared);
    EXPECT_TRUE(sw.frame_flags & transport::kFlagClassSwitch);
    EXPECT_FLOAT_EQ(sw.uncertainty, 0.5f) << "temporal_weight";
    const auto m = pipeline::to_pred_message(sw, "m@1", {}, 0);
    ASSERT_EQ(m.track_ids.size(), 1u);
    EXPECT_EQ(m.track_ids[0], sw.detections[0].track_id);
    const auto back = std::get<transport::PredMessage>(transport::decode(transport::encode(transport::Message{m})));
    EXPECT_EQ(back.track_ids, m.track_ids);
    EXPECT_EQ(transport::flag_names(back.flags[0]), (std::vector<std::string>{"reappeared", "class_switch"}));
}

// Frame quality against the camera's usual picture, learned online like the count: too dark, too bright, low
// contrast (the luma statistics both preprocess twins compute), per camera.
// unexplained: foreground cells touching no detection and no candidate, counted on a 4 x 3 grid of 16 px cells over
// a frame shown at scale 0.5 (a cell is 32 frame pixels); the flag at flags.unexplained_cells, the score's term at
// flags.unexplained_weight.
TEST(Flags, ForegroundNoBoxTouchesIsUnexplained) {
    pipeline::Foreground fg;
    fg.grid.lb.scale = 0.5f, fg.grid.lb.resized_width = 64, fg.grid.lb.resized_height = 48;
    fg.grid.cols = 4, fg.grid.rows = 3, fg.cell = 16;
    fg.cells = {1, 1, 0, 0, //
                0, 0, 0, 0, //
                0, 0, 0, 1};
    const auto det = [](float x1, float y1, float x2, float y2) {
        pipeline::Detection d;
        d.x1 = x1, d.y1 = y1, d.x2 = x2, d.y2 = y2, d.score = 0.9f, d.cls = 0, d.margin = 0.8f, d.entropy = 0.1f;
        return d;
    };
    EXPECT_EQ(pipeline::unexplained_cells(fg, {}, {}), 3);
    EXPECT_EQ(pipeline::unexplained_cells(fg, {det(10, 10, 40, 20)}, {}), 1) << "a box across cells (0,0), (1,0)";
    EXPECT_EQ(pipeline::unexplained_cells(fg, {}, {det(100, 70, 101, 71)}), 2) << "a candidate in cell (3,2)";
    EXPECT_EQ(pipeline::unexplained_cells(fg, {det(64, 0, 96, 32)}, {}), 3) << "edges that only meet do not touch";
    EXPECT_EQ(pipeline::unexplained_cells(pipeline::Foreground{}, {}, {}), 0) << "no background kept";
    pipeline::FlagsConfig f;
    f.unexplained_cells = 2;
    for (const float weight : {0.f, 0.5f}) {
        f.unexplained_weight = weight;
        pipeline::FlagsStage stage(f, 0.25f, 1);
        pipeline::FrameOutput out;
        out.foreground = fg;
        out.detections = {det(10, 10, 40, 20)}; // leaves one cell unexplained: below 2
        stage.apply(out);
        EXPECT_FALSE(out.frame_flags & transport::kFrameUnexplained);
        const float base = out.expected_errors;
        out.detections = {det(200, 200, 210, 210)}; // leaves all three
        stage.apply(out);
        EXPECT_TRUE(out.frame_flags & transport::kFrameUnexplained);
        EXPECT_FLOAT_EQ(out.expected_errors - base, weight) << "the flag's term in the score";
    }
}

TEST(Flags, FrameQualityOutsideTheCamerasUsualBand) {
    pipeline::FlagsConfig f;
    f.count_learn_frames = 100;
    pipeline::FlagsStage stage(f, 0.25f, 2);
    std::mt19937 rng(3);
    std::normal_distribution<float> mean(120, 3), spread(50, 2);
    const auto frame = [](std::size_t camera, float m, float sd) {
        pipeline::FrameOutput out;
        out.camera_index = camera;
        out.luma.mean = m, out.luma.stddev = sd;
        return out;
    };
    constexpr std::uint32_t kQuality =
        transport::kFrameTooDark | transport::kFrameTooBright | transport::kFrameLowContrast;
    int flagged = 0;
    for (int k = 0; k < 400; ++k) {
        auto out = frame(0, mean(rng), spread(rng));
        stage.apply(out);
        flagged += (out.frame_flags & kQuality) ? 1 : 0;
    }
    EXPECT_EQ(flagged, 0) << "the usual picture is never flagged";
    const auto flags_of = [&](std::size_t camera, float m, float sd) {
        auto out = frame(camera, m, sd);
        stage.apply(out);
        return out.frame_flags & kQuality;
    };
    EXPECT_EQ(flags_of(0, 70, 50), transport::kFrameTooDark);
    EXPECT_EQ(flags_of(0, 190, 50), transport::kFrameTooBright);
    EXPECT_EQ(flags_of(0, 120, 20), transport::kFrameLowContrast);
    EXPECT_EQ(flags_of(0, 60, 15), transport::kFrameTooDark | transport::kFrameLowContrast);
    EXPECT_EQ(flags_of(0, 121, 49), 0u);
    EXPECT_EQ(flags_of(1, 60, 15), 0u) << "camera 1 is still learning its own picture";
    EXPECT_EQ(transport::flag_names(transport::kFrameTooDark | transport::kFrameLowContrast),
              (std::vector<std::string>{"too_dark", "low_contrast"}));
}

// blurred: the sharpness (variance of the luma's Laplacian) against the camera's usual, relative to the luma's
// variance, so a change of gain (spread and Laplacian scale together) is not blur, while a defocus (the Laplacian
// falls, the spread stays) is.
TEST(Flags, BlurredAgainstTheCamerasUsualSharpness) {
    pipeline::FlagsConfig f;
    f.count_learn_frames = 100;
    pipeline::FlagsStage stage(f, 0.25f, 1);
    std::mt19937 rng(5);
    std::normal_distribution<float> jitter(1, 0.05f);
    const auto flags_of = [&](float mean, float sd, float sharpness) {
        pipeline::FrameOutput out;
        out.luma.mean = mean, out.luma.stddev = sd, out.luma.sharpness = sharpness;
        stage.apply(out);
        return out.frame_flags & transport::kFrameBlurred;
    };
    int flagged = 0;
    for (int k = 0; k < 300; ++k) flagged += flags_of(120, 50, 900 * jitter(rng)) ? 1 : 0;
    EXPECT_EQ(flagged, 0) << "the usual sharpness is never flagged";
    EXPECT_EQ(flags_of(120, 50, 300), transport::kFrameBlurred) << "a third of the usual sharpness";
    EXPECT_EQ(flags_of(120, 48, 700), 0u) << "a little softer, within the band";
    EXPECT_EQ(flags_of(60, 25, 225), 0u) << "half the gain: spread / 2, Laplacian variance / 4, as sharp as before";
    EXPECT_EQ(flags_of(60, 25, 60), transport::kFrameBlurred) << "darker and blurred";
    EXPECT_EQ(flags_of(120, 50, 0), 0u) << "no sharpness measured (an older message, a tiny frame)";
    EXPECT_EQ(transport::flag_names(transport::kFrameBlurred), (std::vector<std::string>{"blurred"}));
}
