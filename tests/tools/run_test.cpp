// sightline run end to end: synthetic cameras -> the binary -> ZeroMQ -> a subscriber, losslessly and in order,
// with the same detections as the detector run directly on the same decoded frames.
#include <gtest/gtest.h>

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
#include "sightline/pipeline/runner.hpp"
#include "sightline/pipeline/stats.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"

#include <nlohmann/json.hpp>

using namespace sightline;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using sightline::testing::run_binary;
using sightline::testing::temp_dir;

const fs::path kRoot = SIGHTLINE_SOURCE_DIR;

/// Renders a synthetic scene of `cameras` cameras into `dir` (camN.mp4 + camN.json), scenario keys from `sets`.
void render_scene(const fs::path& dir, int cameras, double seconds, std::uint64_t seed,
                  const std::vector<std::string>& sets) {
    pipeline::synth::SynthOptions o;
    o.out_dir = dir;
    o.cameras = cameras;
    o.seconds = seconds;
    o.seed = seed;
    o.specs = pipeline::synth::make_specs(cameras, "", "test", sets);
    pipeline::synth::generate(o);
}

TEST(Run, ThreeCamerasLosslessInOrderSameDetectionsAsDirect) {
    auto dir = temp_dir("e2e");
    render_scene(dir, 3, 1.0, 5, {"defaults.width=320", "defaults.height=240"});
    const std::string endpoint = "ipc://" + (dir / "pred.sock").string();
    std::ofstream(dir / "run.yaml") << "cameras:\n"
                                       "  - {id: cam1, url: cam1.mp4, meta: {line: L1}}\n"
                                       "  - {id: cam2, url: cam2.mp4}\n"
                                       "  - {id: cam3, url: cam3.mp4}\n"
                                       "model: "
                                    << (kRoot / "models/parts-v1/model.yaml").string() << "\npublish: {predictions: '"
                                    << endpoint << "', wait_for_subscribers: 2}\n"; // the default batching: frames of 3 cameras share batches
    transport::Subscriber sub(endpoint, {"pred/"});
    transport::Subscriber stats_sub(endpoint, {"stat/"});
    FILE* proc = popen((std::string(SIGHTLINE_BINARY) + " --log-level warn run " + (dir / "run.yaml").string() +
                        " --record " + (dir / "rec.slrec").string() + " 2>&1")
                           .c_str(),
                       "r");
    ASSERT_NE(proc, nullptr);
    std::map<std::string, std::vector<transport::PredMessage>> got;
    for (int k = 0; k < 90; ++k) {
        auto r = sub.receive(30s);
        ASSERT_TRUE(r) << "message " << k << " of 90 never came";
        auto m = std::get<transport::PredMessage>(r->message);
        EXPECT_EQ(r->topic, "pred/" + m.camera);
        got[m.camera].push_back(std::move(m));
    }
    std::string output;
    char buf[512];
    while (fgets(buf, sizeof buf, proc)) output += buf;
    EXPECT_EQ(pclose(proc), 0) << output;
    EXPECT_FALSE(sub.receive(200ms)) << "more messages than frames";
    std::map<std::string, transport::StatMessage> last_stat;
    while (auto r = stats_sub.receive(500ms)) {
        auto st = std::get<transport::StatMessage>(r->message);
        last_stat[st.camera] = st;
    }
    ASSERT_EQ(last_stat.size(), 3u) << "final stats for every camera";
    for (const auto& [cam, st] : last_stat) {
        EXPECT_EQ(st.values.at("frames_total"), 30) << cam;
        EXPECT_EQ(st.values.at("dropped_behind_total"), 0) << cam;
        EXPECT_GE(st.values.at("latency_ms_total_p99"), st.values.at("latency_ms_total_p50"));
        EXPECT_EQ(st.values.at("messages_dropped_total"), 0);
    }

    pipeline::Detector direct(
        pipeline::make_opencv_engine(pipeline::load_model_spec(kRoot / "models/parts-v1/model.yaml")));
    for (const char* cam : {"cam1", "cam2", "cam3"}) {
        const auto& msgs = got[cam];
        ASSERT_EQ(msgs.size(), 30u) << cam;
        pipeline::VideoReader reader((dir / (std::string(cam) + ".mp4")).string());
        pipeline::DecodedFrame f;
        for (std::uint64_t k = 0; k < 30; ++k) {
            EXPECT_EQ(msgs[k].seq, k) << cam;
            ASSERT_TRUE(reader.next(f));
            EXPECT_EQ(msgs[k].pts_ns, f.pts_ns);
            auto want = direct.detect(std::span(&f.view, 1))[0].detections;
            ASSERT_EQ(msgs[k].scores.size(), want.size()) << cam << " frame " << k;
            for (std::size_t d = 0; d < want.size(); ++d) {
                EXPECT_EQ(msgs[k].scores[d], want[d].score);
                EXPECT_EQ(msgs[k].classes[d], want[d].cls);
                EXPECT_EQ(msgs[k].boxes[4 * d], want[d].x1);
                EXPECT_EQ(msgs[k].boxes[4 * d + 3], want[d].y2);
            }
            EXPECT_TRUE(msgs[k].stamps_ns.count("published"));
        }
        EXPECT_EQ(msgs[0].meta.count("line"), std::string(cam) == "cam1" ? 1u : 0u);
    }

    // the recording holds what the subscriber received, frame indices included
    transport::RecordingReader rec(dir / "rec.slrec");
    EXPECT_EQ(rec.header().cameras, (std::vector<std::string>{"cam1", "cam2", "cam3"}));
    EXPECT_EQ(rec.header().classes, pipeline::load_model_spec(kRoot / "models/parts-v1/model.yaml").classes);
    std::map<std::string, std::vector<transport::PredMessage>> recorded;
    int stat_messages = 0, events = 0;
    std::string topic;
    transport::Message message;
    while (rec.next(topic, message)) {
        if (auto* p = std::get_if<transport::PredMessage>(&message))
            recorded[p->camera].push_back(*p);
        else if (std::holds_alternative<transport::StatMessage>(message))
            ++stat_messages;
        else
            ++events;
    }
    EXPECT_FALSE(rec.truncated());
    EXPECT_GE(stat_messages, 3);
    EXPECT_GE(events, 2) << "run_start and run_end";
    for (const char* cam : {"cam1", "cam2", "cam3"}) {
        ASSERT_EQ(recorded[cam].size(), 30u) << cam;
        for (std::size_t k = 0; k < 30; ++k) {
            EXPECT_EQ(recorded[cam][k].frame, static_cast<std::int64_t>(k)) << cam;
            EXPECT_EQ(recorded[cam][k].scores, got[cam][k].scores) << cam << " frame " << k;
            EXPECT_EQ(recorded[cam][k].boxes, got[cam][k].boxes) << cam << " frame " << k;
        }
    }
    // eval scores the recording exactly as the received detections written as COCO results (frame k = image k)
    nlohmann::json gt = nlohmann::json::parse(std::ifstream(dir / "cam2.json"));
    std::map<std::string, int> category;
    for (const auto& c : gt["categories"]) category[c["name"]] = c["id"];
    nlohmann::json results = nlohmann::json::array();
    for (const auto& m : got["cam2"])
        for (std::size_t d = 0; d < m.scores.size(); ++d) {
            const float* b = &m.boxes[4 * d];
            results.push_back({{"image_id", m.frame},
                               {"category_id", category.at(rec.header().classes[m.classes[d]])},
                               {"bbox", {b[0], b[1], double(b[2]) - b[0], double(b[3]) - b[1]}},
                               {"score", m.scores[d]}});
        }
    std::ofstream(dir / "cam2_results.json") << results.dump();
    auto eval = [&](const std::string& dt, const std::string& out) {
        auto r = run_binary("--log-level warn eval -q --coco-only --gt " + (dir / "cam2.json").string() + " --dt " +
                            dt + " --json " + (dir / out).string());
        EXPECT_EQ(r.code, 0) << r.output;
        return nlohmann::json::parse(std::ifstream(dir / out));
    };
    const auto from_json = eval((dir / "cam2_results.json").string(), "a.json");
    const auto from_recording = eval((dir / "rec.slrec").string(), "b.json");
    EXPECT_EQ(from_json["coco"], from_recording["coco"]);
    EXPECT_EQ(from_recording["red_flags"].size(), 0u) << from_recording["red_flags"];
    EXPECT_GT(from_recording["coco"]["AP50"].get<double>(), 0.3);
    fs::remove_all(dir);
}

// Online evaluation: with a window longer than the video, the last stat's figures are those `sightline eval`
// computes offline on the run's own recording (operating point counts at the run's threshold, COCO AP50).
TEST(Run, OnlineEvalEqualsOfflineEvalOfTheRecording) {
    auto dir = temp_dir("online");
    render_scene(dir, 1, 2.0, 11, {"defaults.width=320", "defaults.height=240"});
    std::ofstream(dir / "run.yaml") << "cameras: [{id: cam1, url: cam1.mp4, ground_truth: cam1.json}]\nmodel: "
                                    << (kRoot / "models/parts-v1/model.yaml").string()
                                    << "\npublish: {predictions: 'ipc://" << (dir / "p.sock").string()
                                    << "'}\neval: {window_s: 1000}\n";
    auto r = run_binary("--log-level warn run --json-stats " + (dir / "run.yaml").string() + " --record " +
                        (dir / "rec.slrec").string());
    ASSERT_EQ(r.code, 0) << r.output;
    const auto last = r.output.rfind("{\"camera\":\"cam1\"");
    ASSERT_NE(last, std::string::npos) << r.output;
    const auto online = nlohmann::json::parse(r.output.substr(last, r.output.find('\n', last) - last))["values"];
    EXPECT_EQ(online["eval_frames"].get<double>(), 60);
    EXPECT_EQ(online["eval_frames_without_gt_total"].get<double>(), 0);
    auto e = run_binary("--log-level warn eval -q --threshold 0 --gt " + (dir / "cam1.json").string() + " --dt " +
                        (dir / "rec.slrec").string() + " --json " + (dir / "e.json").string());
    ASSERT_EQ(e.code, 0) << e.output;
    const auto offline = nlohmann::json::parse(std::ifstream(dir / "e.json"));
    const auto& op = offline["operating_point"];
    EXPECT_EQ(online["eval_tp"].get<double>(), op["tp"].get<double>());
    EXPECT_EQ(online["eval_fp"].get<double>(), op["fp"].get<double>());
    EXPECT_EQ(online["eval_fn"].get<double>(), op["fn"].get<double>());
    EXPECT_NEAR(online["eval_ap"].get<double>(), offline["coco"]["AP50"].get<double>(), 1e-9);
    EXPECT_GT(online["eval_tp"].get<double>(), 0);
    fs::remove_all(dir);
}

// A subscriber that never reads must not slow the line: the run finishes, and every message is either accepted by
// ZeroMQ (sent) or counted as dropped: sent + dropped is exactly what the run published, as its recording shows.
// (What ZeroMQ accepted for a subscriber that still has not read it when the run ends is lost after the linger:
// docs/wire.md says so; the subscriber here holds at most what was sent.)
TEST(Run, StalledSubscriberNeverSlowsTheLineAndDropsAreCounted) {
    auto dir = temp_dir("stalled");
    render_scene(dir, 1, 20.0, 3, {"defaults.width=160", "defaults.height=120"}); // 600 frames
    const std::string endpoint = "ipc://" + (dir / "p.sock").string();
    std::ofstream(dir / "run.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: "
                                    << (kRoot / "models/parts-v1/model.yaml").string() << "\npublish: {predictions: '"
                                    << endpoint << "', send_hwm: 1, wait_for_subscribers: 1}\n";
    transport::Subscriber stalled(endpoint, {""}, 1); // joins, then reads nothing until the run is over
    const auto t0 = std::chrono::steady_clock::now();
    auto r =
        run_binary("--log-level info run " + (dir / "run.yaml").string() + " --record " + (dir / "rec.slrec").string());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_LT(secs, 120) << "the line waited for the subscriber";
    const auto at = r.output.find(" messages sent, ");
    ASSERT_NE(at, std::string::npos) << r.output;
    const long sent = std::stol(r.output.substr(r.output.rfind("; ", at) + 2));
    const long dropped = std::stol(r.output.substr(at + std::strlen(" messages sent, ")));
    long received = 0, preds = 0;
    while (auto m = stalled.receive(500ms)) {
        ++received;
        preds += std::holds_alternative<transport::PredMessage>(m->message);
    }
    EXPECT_LE(received, sent);
    EXPECT_LE(preds, received);
    EXPECT_GT(dropped, 0) << "a subscriber holding one message cannot have taken 600";
    // the recording, written by the line itself, has every message whatever the subscriber did
    transport::RecordingReader rec(dir / "rec.slrec");
    std::string topic;
    transport::Message message;
    long recorded = 0, recorded_preds = 0;
    while (rec.next(topic, message)) {
        ++recorded;
        recorded_preds += std::holds_alternative<transport::PredMessage>(message);
    }
    EXPECT_EQ(recorded_preds, 600);
    EXPECT_EQ(sent + dropped, recorded) << "every published message is sent or counted as dropped";
    fs::remove_all(dir);
}

TEST(RunConfig, BadConfigsNameTheKey) {
    auto dir = temp_dir("cfg");
    std::ofstream(dir / "a.mp4") << "x";
    const std::string model = "model: m.yaml\n", pub = "publish: {predictions: 'tcp://127.0.0.1:5999'}\n";
    struct Case {
        std::string yaml, message;
    };
    const Case cases[] = {
        {"cameras: []\n" + model + pub, "cameras: expected a list"},
        {"cameras: [{id: c1}]\n" + model + pub, "cameras[0].url: missing"},
        {"cameras: [{id: c1, url: nope.mp4}]\n" + model + pub, "cameras[0].url: "},
        {"cameras: [{id: c1, url: a.mp4}, {id: c1, url: a.mp4}]\n" + model + pub, "cameras[1].id: duplicate"},
        {"cameras: [{id: c1, url: a.mp4, fps: 3}]\n" + model + pub, "cameras[0].fps: unknown key"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + pub, "model: missing"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model, "publish: expected a mapping"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "batching: {max_batch: 0}\n",
         "batching.max_batch: must be"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "thresholds: {iou: high}\n", "thresholds.iou: wrong type"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "extra: 1\n", "extra: unknown key"},
        {"cameras: [{id: c1, url: a.mp4\n", "malformed YAML"},
        {"cameras: [{id: c1, url: a.mp4, ground_truth: none.json}]\n" + model + pub, "cameras[0].ground_truth: "},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "eval: {window_s: 0}\n", "eval.window_s: must be"},
        {"cameras: [{id: c1, url: a.mp4, decode: gpu}]\n" + model + pub, "cameras[0].decode: expected cpu or nvdec"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + model + pub + "eval: {iou: 2}\n", "eval.iou: must be"},
    };
    for (const auto& c : cases) {
        std::ofstream(dir / "run.yaml") << c.yaml;
        try {
            pipeline::load_run_config(dir / "run.yaml");
            ADD_FAILURE() << "accepted:\n" << c.yaml;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("run.yaml"), std::string::npos) << e.what();
        }
    }
    std::ofstream(dir / "run.yaml") << "cameras: [{id: c1, url: a.mp4}]\n" + model + pub;
    auto ok = pipeline::load_run_config(dir / "run.yaml");
    EXPECT_EQ(ok.cameras[0].url, (dir / "a.mp4").string()) << "paths resolve against the config's directory";
    EXPECT_EQ(ok.model, dir / "m.yaml");
    fs::remove_all(dir);
}

pipeline::RunConfig one_camera(const fs::path& dir, bool realtime, bool loop) {
    pipeline::synth::SynthOptions o;
    o.out_dir = dir;
    o.cameras = 1;
    o.seconds = 1.0;
    o.specs =
        pipeline::synth::make_specs(1, "", "test", {"defaults.width=160", "defaults.height=120", "defaults.fps=15"});
    if (!fs::exists(dir / "cam1.mp4")) pipeline::synth::generate(o);
    pipeline::RunConfig c;
    c.cameras.push_back({"cam1", (dir / "cam1.mp4").string(), {}, realtime, loop});
    c.model = kRoot / "models/parts-v1/model.yaml";
    c.max_batch = 1;
    return c;
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
            arrival_pts.emplace_back(f.stamps_ns.at("arrival"), f.pts_ns);
        },
        stop);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(frames, 15);
    EXPECT_EQ(s.dropped[0], 0u);
    EXPECT_GE(secs, 14.0 / 15 - 0.02) << "15 frames at 15 fps take about a second when paced";
    EXPECT_LT(secs, 14.0 / 15 + 1.0) << "paced, not slower than the timestamps";
    // each packet is released at its timestamp: arrival - first arrival follows pts - first pts (not early, and
    // not late by more than scheduling noise)
    ASSERT_EQ(arrival_pts.size(), 15u);
    for (const auto& [arrival, pts] : arrival_pts) {
        const double ahead_ms =
            ((pts - arrival_pts[0].second) - (arrival - arrival_pts[0].first)) / 1e6; // > 0: released early
        EXPECT_LT(ahead_ms, 5.0) << "a packet released before its timestamp";
        EXPECT_GT(ahead_ms, -150.0) << "a packet released long after its timestamp";
    }
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
    cfg.max_latency_ms = 50;
    pipeline::Runner r(cfg, engine());
    std::atomic<bool> stop{false};
    std::vector<double> ages_ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto s = r.run(
        [&](const pipeline::FrameOutput& f) {
            ages_ms.push_back((f.stamps_ns.at("batched") - f.stamps_ns.at("arrival")) / 1e6);
            std::this_thread::sleep_for(100ms); // slower than the camera
            if (std::chrono::steady_clock::now() - t0 > 2000ms) stop = true;
        },
        stop);
    EXPECT_GT(s.late[0], 0u);
    for (double a : ages_ms) EXPECT_LE(a, 50 + cfg.max_wait_ms + 5) << "a frame past its deadline was processed";
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
            stats.add(f, f.stamps_ns.at("inferred"));
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

TEST(Run, BadInputsAreClearErrorsNotCrashesOrHangs) {
    auto dir = temp_dir("bad");
    const auto model = (kRoot / "models/parts-v1/model.yaml").string();
    std::ofstream(dir / "garbage.mp4") << std::string(20000, '\x42');
    { // a 64x64 binary PPM: decodes, but to RGB, not 4:2:0
        std::ofstream ppm(dir / "still.ppm", std::ios::binary);
        ppm << "P6\n64 64\n255\n";
        for (int i = 0; i < 64 * 64; ++i) ppm << '\x03' << '\x02' << '\x01';
    }
    fs::create_directories(dir / "badmodel");
    fs::copy_file(model, dir / "badmodel/model.yaml");
    std::ofstream(dir / "badmodel/model.onnx") << "not an onnx file";
    transport::Publisher squatter({"tcp://127.0.0.1:*"});
    const std::string taken = squatter.bound_endpoint();
    auto config = [&](const std::string& name, const std::string& url, const std::string& model_path,
                      const std::string& endpoint) {
        std::ofstream(dir / name) << "cameras:\n  - {id: cam1, url: " << url << "}\nmodel: " << model_path
                                  << "\npublish: {predictions: '" << endpoint << "'}\n";
        return (dir / name).string();
    };
    const std::string ipc = "ipc://" + (dir / "p.sock").string();
    struct Case {
        std::string args, message;
    };
    const Case cases[] = {
        {"run " + (dir / "nothere.yaml").string(), "nothere.yaml: no such file"},
        {"run " + config("missing.yaml", "nope.mp4", model, ipc), "cameras[0].url"},
        {"run " + config("garbage.yaml", "garbage.mp4", model, ipc), "camera cam1"},
        {"run " + config("still.yaml", "still.ppm", model, ipc), "pixel format"},
        {"run " + config("badmodel.yaml", "still.ppm", (dir / "badmodel/model.yaml").string(), ipc),
         "OpenCV DNN cannot read this model"},
        {"run " + config("taken.yaml", "still.ppm", model, taken), taken},
    };
    for (const auto& c : cases) {
        auto r = run_binary(c.args);
        EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
        EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
    }
    std::ofstream(dir / "broken.yaml") << "cameras: [{id: cam1, url: x.mp4\n";
    auto r = run_binary("run " + (dir / "broken.yaml").string());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.output.find("malformed YAML"), std::string::npos) << r.output;
    fs::remove_all(dir);
}

// decode: nvdec runs everywhere: on NVDEC where there is one, else on the CPU with one warning saying why.
TEST(Run, NvdecCameraRunsAndSaysWhereItDecodes) {
    auto dir = temp_dir("nvdecrun");
    auto cfg = one_camera(dir, false, false); // renders cam1.mp4: 15 frames
    std::ofstream(dir / "run.yaml") << "cameras: [{id: cam1, url: cam1.mp4, decode: nvdec}]\nmodel: "
                                    << cfg.model.string() << "\npublish: {predictions: 'ipc://"
                                    << (dir / "p.sock").string() << "'}\n";
    auto r = run_binary("--log-level info run --json-stats " + (dir / "run.yaml").string());
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("\"frames_total\":15.0"), std::string::npos) << r.output;
    const std::string said = kernels::cuda_available()
                                 ? "camera cam1: NVDEC decoding into device memory"
                                 : "camera cam1: " + (dir / "cam1.mp4").string() + ": decoding on the CPU: ";
    EXPECT_NE(r.output.find(said), std::string::npos) << r.output;
    fs::remove_all(dir);
}

// The GPU line (NVDEC frames in device memory, CUDA preprocess) against the CPU line on the same three synthetic
// cameras: every frame's detections match (IoU >= 0.99, scores within 1e-3, same classes) and the COCO stats of
// each camera's detections against its ground truth agree. Needs a GPU.
TEST(Runner, GpuLineGivesTheCpuLineDetectionsAndStats) {
    if (!kernels::cuda_available()) GTEST_SKIP() << kernels::describe_device();
    auto dir = temp_dir("gpuline");
    render_scene(dir, 3, 1.0, 5, {"defaults.width=320", "defaults.height=240"});
    using Frames = std::map<std::string, std::vector<std::vector<pipeline::Detection>>>;
    auto run_line = [&](pipeline::Decoder decoder) {
        pipeline::RunConfig cfg;
        for (const char* cam : {"cam1", "cam2", "cam3"}) {
            cfg.cameras.push_back({cam, (dir / (std::string(cam) + ".mp4")).string(), {}, false, false});
            cfg.cameras.back().decoder = decoder;
        }
        cfg.model = kRoot / "models/parts-v1/model.yaml";
        cfg.max_batch = 4;
        pipeline::Runner r(cfg, pipeline::make_opencv_engine(pipeline::load_model_spec(cfg.model)));
        std::atomic<bool> stop{false};
        Frames out;
        r.run([&](const pipeline::FrameOutput& f) { out[f.camera].push_back(f.detections); }, stop);
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
    fs::remove_all(dir);
}

TEST(Run, JsonStatsForMachines) {
    auto dir = temp_dir("json");
    auto cfg = one_camera(dir, false, false); // renders cam1.mp4: 15 frames
    std::ofstream(dir / "run.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: " << cfg.model.string()
                                    << "\npublish: {predictions: 'ipc://" << (dir / "p.sock").string() << "'}\n";
    auto r = run_binary("--log-level warn run --json-stats " + (dir / "run.yaml").string());
    EXPECT_EQ(r.code, 0) << r.output;
    const auto last = r.output.rfind("{\"camera\":\"cam1\"");
    ASSERT_NE(last, std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"frames_total\":15.0", last), std::string::npos) << r.output.substr(last);
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
                                video.string() + " " + std::to_string(port) + " > " + log_path.string() +
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
    cfg.reconnect_max_s = 1;
    pipeline::Runner runner(cfg, engine());
    std::atomic<bool> stop{false};
    std::atomic<int> frames{0}, ups{0}, downs{0};
    std::mutex mu;
    std::vector<std::string> kinds;
    auto server = std::make_unique<RtspServer>(dir / "cam1.mp4", port, dir);
    std::thread line([&] {
        runner.run([&](const pipeline::FrameOutput&) { ++frames; }, stop,
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
    EXPECT_TRUE(wait_for([&] { return frames.load() >= 20; }, 20s)) << "no frames from the RTSP camera";
    EXPECT_EQ(ups.load(), 1);
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
    c.near_threshold_band = 0.1f;
    c.ambiguity_margin = 0.2f;
    pipeline::Detection d{0, 0, 1, 1, 0.30f, 0, 0.5f, 0.1f};
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c), pipeline::kNearThreshold);
    d.score = 0.9f, d.margin = 0.1f;
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c), pipeline::kAmbiguousClass);
    d.score = 0.3f;
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c), pipeline::kNearThreshold | pipeline::kAmbiguousClass);
    d.score = 0.9f, d.margin = 0.8f;
    EXPECT_EQ(pipeline::uncertainty_flags(d, 0.25f, c), 0u);
}

} // namespace
