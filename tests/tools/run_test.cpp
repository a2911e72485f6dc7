// sightline run end to end: synthetic cameras -> the binary -> ZeroMQ -> a subscriber, losslessly and in order,
// with the same detections as the detector run directly on the same decoded frames.
#include <gtest/gtest.h>

#include "support/scenes.hpp"
#include "support/test_support.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

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

using sightline::testing::one_camera;
using sightline::testing::render_scene;
using sightline::testing::run_binary;
using sightline::testing::run_binary_split;
using sightline::testing::temp_dir;

const fs::path kRoot = SIGHTLINE_SOURCE_DIR;

TEST(Run, ThreeCamerasLosslessInOrderSameDetectionsAsDirect) {
    auto dir = temp_dir("e2e");
    render_scene(dir, 3, 1.0, 5, {"defaults.width=320", "defaults.height=240"});
    const std::string endpoint = "ipc://" + (dir / "pred.sock").string();
    std::ofstream(dir / "run.yaml")
        << "cameras:\n"
           "  - {id: cam1, url: cam1.mp4, meta: {line: L1}}\n"
           "  - {id: cam2, url: cam2.mp4}\n"
           "  - {id: cam3, url: cam3.mp4}\n"
           "model: "
        << (kRoot / "models/parts-v1/model.yaml").string() << "\npublish: {predictions: '" << endpoint
        << "', wait_for_subscribers: 2}\n"; // the default batching: frames of 3 cameras share batches
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

    pipeline::Detector direct( // the engine the run's default (auto) picks
        pipeline::make_engine("auto", pipeline::load_model_spec(kRoot / "models/parts-v1/model.yaml")));
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
    EXPECT_NEAR(online["eval_ap50"].get<double>(), offline["coco"]["AP50"].get<double>(), 1e-9);
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
         "model.onnx: " + std::string(pipeline::openvino_available() ? "OpenVINO" : "OpenCV DNN") +
             " cannot read this model"},
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

// Machine output apart from logs (issue 13): with --json-stats every stdout line is a JSON stat message (the info
// log at its default level goes to stderr), and `eval -q` prints nothing on stdout.
TEST(Run, StdoutCarriesOnlyWhatWasAskedFor) {
    auto dir = temp_dir("stdout");
    auto cfg = one_camera(dir, false, false);
    std::ofstream(dir / "run.yaml") << "cameras: [{id: cam1, url: cam1.mp4, ground_truth: cam1.json}]\nmodel: "
                                    << cfg.model.string() << "\npublish: {predictions: 'ipc://"
                                    << (dir / "p.sock").string() << "'}\n";
    auto r = run_binary_split("run --json-stats " + (dir / "run.yaml").string() + " --record " +
                              (dir / "rec.slrec").string());
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream lines(r.out);
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << "stdout line " << n << " is not JSON: " << line;
        EXPECT_EQ(j.at("camera"), "cam1");
    }
    EXPECT_GE(n, 1);
    EXPECT_NE(r.err.find("[info]"), std::string::npos) << "the log goes to stderr: " << r.err;
    auto e = run_binary_split("eval -q --gt " + (dir / "cam1.json").string() + " --dt " + (dir / "rec.slrec").string());
    EXPECT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.out, "") << "eval -q printed on stdout";
    fs::remove_all(dir);
}

/// Writes DIR/run.yaml (`cameras`, the demo model, an ipc endpoint in DIR), runs it with --record DIR/rec.slrec and
/// returns the start of an eval command over that recording against DIR/cam1.json.
std::string recorded_run(const fs::path& dir, const std::string& cameras) {
    std::ofstream(dir / "run.yaml") << "cameras: " << cameras
                                    << "\nmodel: " << (kRoot / "models/parts-v1/model.yaml").string()
                                    << "\npublish: {predictions: 'ipc://" << (dir / "p.sock").string() << "'}\n";
    const auto r =
        run_binary("--log-level warn run " + (dir / "run.yaml").string() + " --record " + (dir / "rec.slrec").string());
    EXPECT_EQ(r.code, 0) << r.output;
    return "eval --gt " + (dir / "cam1.json").string() + " --dt " + (dir / "rec.slrec").string();
}

// Two versions on one video: the second recorded at a higher threshold (a subset of the first's detections), drawn
// as `sightline compare` draws them; the differences draw counts are those compare counts on the same recordings.
TEST(Run, DrawOverlaysTwoVersionsAsCompareCountsThem) {
    auto dir = temp_dir("draw2");
    render_scene(dir, 1, 1.0, 3, {"defaults.width=320", "defaults.height=240"}); // 30 frames
    recorded_run(dir, "[{id: cam1, url: cam1.mp4}]");
    fs::rename(dir / "rec.slrec", dir / "a.slrec");
    std::ofstream(dir / "run_b.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: "
                                      << (kRoot / "models/parts-v1/model.yaml").string()
                                      << "\nthresholds: {confidence: 0.7}\npublish: {predictions: 'ipc://"
                                      << (dir / "p.sock").string() << "'}\n";
    ASSERT_EQ(
        run_binary("--log-level warn run " + (dir / "run_b.yaml").string() + " --record " + (dir / "b.slrec").string())
            .code,
        0);
    const auto cmp = run_binary("--log-level warn compare " + (dir / "a.slrec").string() + " " +
                                (dir / "b.slrec").string() + " --json " + (dir / "c.json").string());
    ASSERT_EQ(cmp.code, 0) << cmp.output;
    const auto j = nlohmann::json::parse(std::ifstream(dir / "c.json"));
    const std::uint64_t differences = j["all"]["class_changed"].get<std::uint64_t>() +
                                      j["all"]["only_a"].get<std::uint64_t>() + j["all"]["only_b"].get<std::uint64_t>();
    EXPECT_GT(j["all"]["only_a"].get<std::uint64_t>(), 0u) << "the higher threshold dropped some detections";
    const auto d = run_binary("draw --rec " + (dir / "a.slrec").string() + " --rec-b " + (dir / "b.slrec").string() +
                              " --video " + (dir / "cam1.mp4").string() + " --out " + (dir / "drawn.mp4").string());
    ASSERT_EQ(d.code, 0) << d.output;
    EXPECT_NE(d.output.find("30 compared: " + std::to_string(differences) + " differences"), std::string::npos)
        << d.output << "\ncompare counted " << differences;
    const auto wrong =
        run_binary("draw --rec " + (dir / "a.slrec").string() + " --rec-b " + (dir / "nope.slrec").string() +
                   " --video " + (dir / "cam1.mp4").string() + " --out " + (dir / "x.mp4").string());
    EXPECT_NE(wrong.code, 0);
    EXPECT_NE(wrong.output.find("nope.slrec"), std::string::npos) << wrong.output;
    fs::remove_all(dir);
}

// `-` is standard output; a device or FIFO (or a symlink to one) is written in place, never replaced by a file.
TEST(Run, OutputPathsDashDevicesAndFifos) {
    auto dir = temp_dir("outputs");
    one_camera(dir, false, false);
    const std::string eval = recorded_run(dir, "[{id: cam1, url: cam1.mp4}]");
    auto r = run_binary_split(eval + " --json -");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "stdout is the JSON alone: " << r.out.substr(0, 300);
    EXPECT_EQ(j.at("schema"), "sightline.eval/1");
    EXPECT_FALSE(fs::exists("-")) << "a file named '-' was written";
    // a recording to stdout is a recording
    const auto rec = run_binary_split("--log-level warn run " + (dir / "run.yaml").string() + " --record -");
    ASSERT_EQ(rec.code, 0) << rec.err;
    std::ofstream(dir / "piped.slrec", std::ios::binary) << rec.out;
    transport::RecordingReader piped(dir / "piped.slrec");
    std::string topic;
    transport::Message m;
    int preds = 0;
    while (piped.next(topic, m)) preds += std::holds_alternative<transport::PredMessage>(m);
    EXPECT_EQ(preds, 15);
    EXPECT_FALSE(piped.truncated());
    // a symlink to a device stays a symlink to the device
    fs::create_symlink("/dev/null", dir / "devnull");
    EXPECT_EQ(run_binary(eval + " -q --json " + (dir / "devnull").string()).code, 0);
    EXPECT_TRUE(fs::is_symlink(dir / "devnull"));
    EXPECT_EQ(fs::read_symlink(dir / "devnull"), "/dev/null");
    // a FIFO stays a FIFO, and its reader gets the JSON
    const auto fifo = dir / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::string got;
    std::thread reader([&] {
        std::ifstream in(fifo);
        got.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    });
    EXPECT_EQ(run_binary(eval + " -q --json " + fifo.string()).code, 0);
    reader.join();
    EXPECT_TRUE(fs::is_fifo(fifo));
    EXPECT_NE(got.find("\"schema\": \"sightline.eval/1\""), std::string::npos) << got.substr(0, 200);
    // a symlink to a regular file: the target is replaced, the link kept
    std::ofstream(dir / "target.json") << "old";
    fs::create_symlink(dir / "target.json", dir / "link.json");
    EXPECT_EQ(run_binary(eval + " -q --json " + (dir / "link.json").string()).code, 0);
    EXPECT_TRUE(fs::is_symlink(dir / "link.json"));
    std::ifstream t(dir / "target.json");
    EXPECT_NE(std::string(std::istreambuf_iterator<char>(t), {}).find("sightline.eval/1"), std::string::npos);
    fs::remove_all(dir);
}

// A recording of a run that processed every 5th frame is scored on those frames: the unprocessed ground-truth
// images are left out by default (and the output says how many and why); --all-images scores them as misses.
TEST(Run, EvalOfAPartialRecordingScoresTheProcessedFrames) {
    auto dir = temp_dir("partial");
    render_scene(dir, 1, 2.0, 11, {"defaults.width=320", "defaults.height=240"}); // 60 frames
    const std::string eval = recorded_run(dir, "[{id: cam1, url: cam1.mp4, every: 5}]");
    auto r = run_binary_split(eval + " --json -");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto part = nlohmann::json::parse(r.out);
    EXPECT_EQ(part["images"], 12);
    EXPECT_EQ(part["images_in_ground_truth"], 60);
    EXPECT_EQ(part["images_left_out"]["count"], 48);
    EXPECT_NE(part["images_left_out"]["reason"].get<std::string>().find("did not process"), std::string::npos);
    EXPECT_GT(part["coco"]["AP50"].get<double>(), 0.8);
    auto text = run_binary(eval);
    EXPECT_NE(text.output.find("48 of the ground truth's 60 images left out"), std::string::npos) << text.output;
    auto all = nlohmann::json::parse(run_binary_split(eval + " --all-images --json -").out);
    EXPECT_EQ(all["images"], 60);
    EXPECT_EQ(all["images_left_out"]["count"], 0);
    EXPECT_LT(all["coco"]["AP50"].get<double>(), 0.5 * part["coco"]["AP50"].get<double>())
        << "48 unprocessed frames scored as misses";
    // a COCO results object with an images list: the same rule
    nlohmann::json res = {{"images", nlohmann::json::array()}, {"annotations", nlohmann::json::array()}};
    const auto gt = nlohmann::json::parse(std::ifstream(dir / "cam1.json"));
    for (const auto& im : gt["images"])
        if (im["id"].get<int>() < 10) res["images"].push_back(im["id"]);
    for (const auto& a : gt["annotations"])
        if (a["image_id"].get<int>() < 10 && a["iscrowd"] == 0)
            res["annotations"].push_back(
                {{"image_id", a["image_id"]}, {"category_id", a["category_id"]}, {"bbox", a["bbox"]}, {"score", 0.9}});
    std::ofstream(dir / "res.json") << res.dump();
    auto sub = nlohmann::json::parse(run_binary_split("eval --gt " + (dir / "cam1.json").string() + " --dt " +
                                                      (dir / "res.json").string() + " --json -")
                                         .out);
    EXPECT_EQ(sub["images"], 10);
    EXPECT_EQ(sub["images_left_out"]["count"], 50);
    EXPECT_NEAR(sub["coco"]["AP"].get<double>(), 1.0, 1e-9);
    fs::remove_all(dir);
}

/// Runs `sightline run CONFIG --record REC` for `seconds`, then SIGINT (as a user's Ctrl-C); the recording's events.
std::vector<transport::EventMessage> events_of_run(const fs::path& config, const fs::path& rec, int seconds,
                                                   std::string& log) {
    const auto r = run_binary_split("--log-level info run " + config.string() + " --record " + rec.string(),
                                    /*timeout_s=*/seconds, /*signal=*/"INT");
    log = r.err;
    std::vector<transport::EventMessage> events;
    transport::RecordingReader reader(rec);
    std::string topic;
    transport::Message m;
    while (reader.next(topic, m))
        if (const auto* e = std::get_if<transport::EventMessage>(&m)) events.push_back(*e);
    return events;
}

// A camera that never answers is reported (issue 13): an event and a log line naming the camera and URL with the
// reason, again on later retries (rate-limited), FFmpeg's own lines routed through the log with the camera named;
// events carry the wall-clock time they happened.
TEST(Run, ACameraThatNeverAnswersIsReported) {
    auto dir = temp_dir("unreachable");
    auto cfg = one_camera(dir, true, true);
    std::ofstream(dir / "run.yaml") << "cameras:\n  - {id: cam1, url: cam1.mp4, realtime: true, loop: true}\n"
                                       "  - {id: door, url: 'rtsp://127.0.0.1:9/x'}\nmodel: "
                                    << cfg.model.string() << "\npublish: {predictions: 'ipc://"
                                    << (dir / "p.sock").string() << "'}\nreconnect: {max_backoff_s: 1}\n";
    std::string log;
    const auto t0 = std::chrono::system_clock::now();
    const auto events = events_of_run(dir / "run.yaml", dir / "rec.slrec", 12, log);
    // without a terminal the status line is logged every 10 s (a long headless run says how it goes)
    EXPECT_NE(log.find("] run: cam1 "), std::string::npos) << log;
    std::vector<std::int64_t> down;
    for (const auto& e : events) {
        EXPECT_GT(e.time_ns, 0) << e.kind << " has no time";
        if (e.kind == "camera_down" && e.camera == "door") {
            down.push_back(e.time_ns);
            EXPECT_NE(e.message.find("rtsp://127.0.0.1:9/x"), std::string::npos) << e.message;
            EXPECT_NE(e.message.find("has not come up"), std::string::npos) << e.message;
            EXPECT_NE(e.message.find("retrying in"), std::string::npos) << e.message;
        }
    }
    ASSERT_GE(down.size(), 2u) << "reported at the first failure and again on a later retry\n" << log;
    EXPECT_LE(down.size(), 3u) << "rate-limited (one per 5 s)";
    EXPECT_GE(down[1] - down[0], 4'500'000'000) << "stamped when they happened";
    const auto t0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
    EXPECT_LT(down[0] - t0_ns, 4'000'000'000) << "the first report comes within seconds";
    EXPECT_NE(log.find("camera door: camera_down: rtsp://127.0.0.1:9/x: has not come up"), std::string::npos) << log;
    EXPECT_NE(log.find("camera door: ffmpeg:"), std::string::npos) << "FFmpeg's lines name the camera\n" << log;
    EXPECT_EQ(log.find("[tcp @ 0x"), std::string::npos) << "FFmpeg's raw log line\n" << log;
    fs::remove_all(dir);
}

// A URL that opens and then ends at once does not storm (issue 13): the backoff starts again only after a
// connection delivered frames for a while, so 6 s give a handful of reconnects, not one every 0.25 s.
TEST(Run, AStreamThatEndsAtOnceBacksOffInsteadOfStorming) {
    auto dir = temp_dir("storm");
    pipeline::synth::SynthOptions o;
    o.out_dir = dir, o.cameras = 1, o.seconds = 0.07; // one frame
    o.specs = pipeline::synth::make_specs(1, "", "test", {"defaults.width=160", "defaults.height=120"});
    pipeline::synth::generate(o);
    std::ofstream(dir / "run.yaml") << "cameras: [{id: blink, url: 'file://" << (dir / "cam1.mp4").string()
                                    << "'}]\nmodel: " << (kRoot / "models/parts-v1/model.yaml").string()
                                    << "\npublish: {predictions: 'ipc://" << (dir / "p.sock").string()
                                    << "'}\nreconnect: {max_backoff_s: 4}\n";
    std::string log;
    const auto events = events_of_run(dir / "run.yaml", dir / "rec.slrec", 6, log);
    int ups = 0;
    for (const auto& e : events) ups += e.kind == "camera_up";
    EXPECT_GE(ups, 2) << "it does reconnect\n" << log;
    EXPECT_LE(ups, 6) << "0.25, 0.5, 1, 2, 4 s apart: not 20 reconnects in 6 s\n" << log;
    fs::remove_all(dir);
}

// What a user of the field expects beside run and eval (issue 13): `run --check` validates a config and exits
// (files, the model with one forward pass, the endpoint, its port resolved), writing nothing.
TEST(Run, CheckValidatesAConfigAndExits) {
    auto dir = temp_dir("check");
    render_scene(dir, 1, 1.0, 3, {"defaults.width=320", "defaults.height=240"});
    const std::string model = (kRoot / "models/parts-v1/model.yaml").string();
    std::ofstream(dir / "run.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: " << model
                                    << "\npublish: {predictions: 'tcp://127.0.0.1:*'}\n";
    auto c =
        run_binary_split("run --check " + (dir / "run.yaml").string() + " --record " + (dir / "rec.slrec").string());
    EXPECT_EQ(c.code, 0) << c.err;
    EXPECT_NE(c.out.find(": OK: 1 camera(s), model parts-v1@1.0.0"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("(a forward pass checked)"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("publishing on tcp://127.0.0.1:"), std::string::npos) << c.out;
    EXPECT_EQ(c.out.find("tcp://127.0.0.1:*"), std::string::npos) << "the port is resolved: " << c.out;
    EXPECT_FALSE(fs::exists(dir / "rec.slrec")) << "a check records nothing";
    std::ofstream(dir / "bad.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: " << model
                                    << "\npublish: {predictions: 'tcp://256.0.0.1:1'}\n";
    auto bad = run_binary("run --check " + (dir / "bad.yaml").string());
    EXPECT_EQ(bad.code, 2) << bad.output;
    EXPECT_NE(bad.output.find("256.0.0.1"), std::string::npos) << bad.output;
    fs::remove_all(dir);
}

// `eval --fail-on-red-flags` fails a CI job (exit 4); `eval --export-results` writes a recording's evaluated
// detections as a COCO results array that eval (and pycocotools) read back.
TEST(Run, EvalFailsOnRedFlagsAndExportsResults) {
    auto dir = temp_dir("redflags");
    render_scene(dir, 1, 1.0, 3, {"defaults.width=320", "defaults.height=240"}); // 30 frames
    const std::string eval = recorded_run(dir, "[{id: cam1, url: cam1.mp4, every: 2}]");
    EXPECT_EQ(run_binary(eval + " -q").code, 0);
    // red flag: only 15 images for the comparison's bootstrap
    EXPECT_EQ(run_binary(eval + " -q --compare " + (dir / "rec.slrec").string()).code, 0);
    auto flagged = run_binary(eval + " -q --fail-on-red-flags --compare " + (dir / "rec.slrec").string());
    EXPECT_EQ(flagged.code, 4) << flagged.output;
    EXPECT_NE(flagged.output.find("red flag"), std::string::npos) << flagged.output;
    auto ex = run_binary_split(eval + " --json " + (dir / "e.json").string() + " --export-results -");
    ASSERT_EQ(ex.code, 0) << ex.err;
    const auto results = nlohmann::json::parse(ex.out);
    ASSERT_TRUE(results.is_array());
    ASSERT_GT(results.size(), 10u);
    for (const auto& d : results) EXPECT_EQ(d["image_id"].get<int>() % 2, 0) << "every 2nd frame processed";
    std::ofstream(dir / "res.json") << ex.out;
    const auto a = nlohmann::json::parse(std::ifstream(dir / "e.json"));
    const auto b = nlohmann::json::parse(run_binary_split("eval --gt " + (dir / "cam1.json").string() + " --dt " +
                                                          (dir / "res.json").string() + " --json -")
                                             .out);
    EXPECT_GT(a["coco"]["AP50"].get<double>(), b["coco"]["AP50"].get<double>())
        << "scored on the processed frames, the recording does better than the array scored on every image";
    EXPECT_NEAR(
        b["coco"]["AP50"].get<double>(),
        // the exported array covers every image: scored on all 30, the unprocessed ones as misses
        nlohmann::json::parse(run_binary_split(eval + " --all-images --json -").out)["coco"]["AP50"].get<double>(),
        1e-9);

    fs::remove_all(dir);
}

// `draw` puts the predictions on the video: every frame written, the processed ones drawn on; a camera the
// recording lacks is a clear error.
TEST(Run, DrawPutsThePredictionsOnTheVideo) {
    auto dir = temp_dir("draw");
    render_scene(dir, 1, 1.0, 3, {"defaults.width=320", "defaults.height=240"}); // 30 frames
    recorded_run(dir, "[{id: cam1, url: cam1.mp4, every: 2}]");
    auto d = run_binary("draw --rec " + (dir / "rec.slrec").string() + " --video " + (dir / "cam1.mp4").string() +
                        " --out " + (dir / "drawn.mp4").string());
    ASSERT_EQ(d.code, 0) << d.output;
    EXPECT_NE(d.output.find("30 frames written"), std::string::npos) << d.output;
    EXPECT_NE(d.output.find("15 with predictions"), std::string::npos) << d.output;
    pipeline::VideoReader drawn((dir / "drawn.mp4").string()), orig((dir / "cam1.mp4").string());
    EXPECT_EQ(drawn.width(), 320);
    pipeline::DecodedFrame fd, fo;
    double changed = 0;
    int frames = 0;
    while (drawn.next(fd) && orig.next(fo)) {
        ++frames;
        long diff = 0;
        for (int y = 0; y < fd.view.height; ++y)
            for (int x = 0; x < fd.view.width; ++x)
                diff += std::abs(int(fd.view.planes[0][y * fd.view.pitch[0] + x]) -
                                 int(fo.view.planes[0][y * fo.view.pitch[0] + x])) > 40;
        changed += double(diff) / (fd.view.width * fd.view.height);
    }
    EXPECT_EQ(frames, 30);
    EXPECT_GT(changed / frames, 0.01) << "boxes and captions drawn on the frames";
    auto wrong = run_binary("draw --rec " + (dir / "rec.slrec").string() + " --video " + (dir / "cam1.mp4").string() +
                            " --out " + (dir / "x.mp4").string() + " --camera nope");
    EXPECT_EQ(wrong.code, 2);
    EXPECT_NE(wrong.output.find("no camera 'nope'"), std::string::npos) << wrong.output;
    fs::remove_all(dir);
}

// A real Ultralytics export used as "my own model" (issue 13): OpenCV's failure on the unmodified graph says what to
// write in model.yaml (layout yolov8_dfl and the tensor to cut at, read from the graph); OpenVINO runs the
// unmodified graph whole (its decoded output, layout yolov8); a class-count mismatch states the expected shape, the
// layout in use, and the class count the output implies.
TEST(Run, UltralyticsExportsSayHowToRunThem) {
    auto dir = temp_dir("ultra");
    auto cfg = one_camera(dir, false, false);
    const fs::path fx = kRoot / "tests/fixtures/ultralytics";
    fs::copy_file(fx / "yolov8t.onnx", dir / "yolov8t.onnx");
    std::ifstream in(fx / "model.yaml");
    std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string plain; // as a user would first write it: no cut, the plain yolov8 layout
    std::istringstream lines(yaml);
    for (std::string l; std::getline(lines, l);)
        if (l.find("cut:") == std::string::npos && l.find("reg_max") == std::string::npos)
            plain += (l.find("layout: yolov8_dfl") != std::string::npos ? "  layout: yolov8" : l) + "\n";
    std::ofstream(dir / "plain.yaml") << plain;
    std::string three = yaml;
    three.replace(three.find("[c0, c1, c2, c3, c4]"), 20, "[c0, c1, c2]");
    std::ofstream(dir / "three.yaml") << three;
    for (const char* m : {"plain", "three"})
        std::ofstream(dir / (std::string(m) + "_run.yaml"))
            << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: " << m
            << ".yaml\nengine: opencv\npublish: {predictions: 'ipc://" << (dir / "p.sock").string() << "'}\n";
    auto plain_run = run_binary("run --check " + (dir / "plain_run.yaml").string());
    EXPECT_EQ(plain_run.code, 2) << plain_run.output;
    EXPECT_NE(plain_run.output.find("unmodified Ultralytics export"), std::string::npos) << plain_run.output;
    EXPECT_NE(plain_run.output.find("output.layout: yolov8_dfl"), std::string::npos) << plain_run.output;
    EXPECT_NE(plain_run.output.find("output.cut: '/model.22/Concat_3_output_0'"), std::string::npos)
        << plain_run.output;
    auto three_run = run_binary("run --check " + (dir / "three_run.yaml").string()); // caught by the check's pass
    EXPECT_EQ(three_run.code, 2) << three_run.output;
    EXPECT_NE(three_run.output.find("layout yolov8_dfl with 3 classes expects [1, 67, N]"), std::string::npos)
        << three_run.output;
    EXPECT_NE(three_run.output.find("5 classes with layout yolov8_dfl"), std::string::npos) << three_run.output;
    // the model.yaml that is wrong is named, not the network file it shares with the right one
    EXPECT_NE(three_run.output.find((dir / "three.yaml").string() + ": the output of yolov8t.onnx"), std::string::npos)
        << three_run.output;
    if (pipeline::openvino_available()) { // OpenVINO runs the unmodified export as a user first wrote it
        std::ofstream(dir / "plain_ov.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: plain.yaml\nengine: "
                                                "openvino\npublish: {predictions: 'ipc://"
                                             << (dir / "p.sock").string() << "'}\n";
        auto ov = run_binary("run --check " + (dir / "plain_ov.yaml").string());
        EXPECT_EQ(ov.code, 0) << ov.output;
        EXPECT_NE(ov.output.find("OpenVINO"), std::string::npos) << ov.output;
    }
    fs::remove_all(dir);
}

// Issue 25, item 13: results whose class names (a recording's) or category ids (a results file) differ from the
// ground truth's are compared through --class-map: the Ultralytics fixture's c0..c4 against the scene's names, and
// a results file with other ids scored exactly as the original; a map naming nothing, or a category the ground
// truth lacks, fails naming it.
TEST(Run, EvalClassMapMatchesNamesThatDiffer) {
    auto dir = temp_dir("classmap");
    one_camera(dir, false, false);
    const std::string eval = recorded_run(dir, "[{id: cam1, url: cam1.mp4}]");
    const auto gt = nlohmann::json::parse(std::ifstream(dir / "cam1.json"));
    std::string names, ids;
    int k = 0;
    for (const auto& c : gt["categories"]) {
        if (k < 5) // the fixture's five classes
            names += (k ? "," : "") + ("c" + std::to_string(k)) + "=" + c["name"].get<std::string>();
        ids += (k ? "," : "") + std::to_string(100 + c["id"].get<int>()) + "=" + std::to_string(c["id"].get<int>());
        ++k;
    }
    // a results file whose category ids are 100 + the ground truth's: scored as the original through the map
    auto ex = run_binary_split(eval + " -q --export-results -");
    ASSERT_EQ(ex.code, 0) << ex.err;
    auto results = nlohmann::json::parse(ex.out);
    ASSERT_FALSE(results.empty());
    for (auto& d : results) d["category_id"] = d["category_id"].get<int>() + 100;
    std::ofstream(dir / "other_ids.json") << results.dump();
    const std::string gt_arg = "eval --gt " + (dir / "cam1.json").string();
    const auto ap = [&](const std::string& args) {
        const auto r = run_binary_split(gt_arg + " " + args + " --json -");
        EXPECT_EQ(r.code, 0) << r.err;
        return nlohmann::json::parse(r.out, nullptr, false)["coco"]["AP50"];
    };
    const auto original = ap("--dt " + (dir / "rec.slrec").string());
    ASSERT_TRUE(original.is_number());
    EXPECT_GT(original.get<double>(), 0.3);
    EXPECT_EQ(ap("--dt " + (dir / "other_ids.json").string() + " --all-images").get<double>(), 0.0);
    EXPECT_NEAR(ap("--dt " + (dir / "other_ids.json").string() + " --class-map " + ids).get<double>(),
                original.get<double>(), 1e-12);
    // a recording of a model whose classes are c0..c4 (the Ultralytics fixture), beside parts-v1's
    fs::copy_file(kRoot / "tests/fixtures/ultralytics/yolov8t.onnx", dir / "yolov8t.onnx");
    fs::copy_file(kRoot / "tests/fixtures/ultralytics/model.yaml", dir / "ultra.yaml");
    std::ofstream(dir / "ultra_run.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: ultra.yaml\nengine: "
                                             "opencv\npublish: {predictions: 'ipc://"
                                          << (dir / "u.sock").string() << "'}\n";
    const auto u = run_binary("--log-level warn run " + (dir / "ultra_run.yaml").string() + " --record " +
                              (dir / "ultra.slrec").string());
    ASSERT_EQ(u.code, 0) << u.output;
    const std::string both =
        gt_arg + " --dt " + (dir / "rec.slrec").string() + " --compare " + (dir / "ultra.slrec").string();
    const auto unmapped = run_binary_split(both + " --bootstrap 20 --json -");
    ASSERT_EQ(unmapped.code, 0) << unmapped.err;
    EXPECT_NE(unmapped.out.find("model class 'c0' has no category of that name"), std::string::npos);
    const auto mapped = run_binary_split(both + " --bootstrap 20 --json - --class-map " + names);
    ASSERT_EQ(mapped.code, 0) << mapped.err;
    EXPECT_EQ(mapped.out.find("has no category of that name"), std::string::npos) << mapped.out.substr(0, 2000);
    EXPECT_TRUE(nlohmann::json::parse(mapped.out)["compare"]["metrics"].contains("AP50"));
    // the same map from a file
    std::ofstream(dir / "map.txt") << "# the fixture's names\n" << std::regex_replace(names, std::regex(","), "\n");
    EXPECT_EQ(run_binary_split(both + " --bootstrap 20 -q --class-map " + (dir / "map.txt").string()).code, 0);
    // mistakes name themselves
    const auto typo = run_binary(gt_arg + " --dt " + (dir / "rec.slrec").string() + " --class-map c9=nothing_here");
    EXPECT_EQ(typo.code, 2) << typo.output;
    EXPECT_NE(typo.output.find("'nothing_here' is no category"), std::string::npos) << typo.output;
    const auto unused = run_binary(gt_arg + " --dt " + (dir / "rec.slrec").string() +
                                   " --class-map c9=" + gt["categories"][0]["name"].get<std::string>());
    EXPECT_EQ(unused.code, 2) << unused.output;
    EXPECT_NE(unused.output.find("'c9' names no class of the results"), std::string::npos) << unused.output;
    const auto bad = run_binary(gt_arg + " --dt " + (dir / "rec.slrec").string() + " --class-map c0=a,c0=b");
    EXPECT_EQ(bad.code, 2) << bad.output;
    EXPECT_NE(bad.output.find("'c0' is mapped twice"), std::string::npos) << bad.output;
    fs::remove_all(dir);
}

// Issue 25, item 8: a recording keeps the run's operating threshold and model; eval scores at the run's threshold
// unless told otherwise (saying which), and a comparison names each side by model, version and threshold and says
// when two sides differ only by threshold.
TEST(Run, EvalUsesTheRunsThresholdAndNamesTheSidesOfAComparison) {
    auto dir = temp_dir("runthreshold");
    one_camera(dir, false, false);
    const std::string eval = recorded_run(dir, "[{id: cam1, url: cam1.mp4}]"); // the model's threshold
    fs::rename(dir / "rec.slrec", dir / "low.slrec");
    std::ofstream(dir / "high.yaml") << "cameras: [{id: cam1, url: cam1.mp4}]\nmodel: "
                                     << (kRoot / "models/parts-v1/model.yaml").string()
                                     << "\nthresholds: {confidence: 0.6}\npublish: {predictions: 'ipc://"
                                     << (dir / "h.sock").string() << "'}\n";
    ASSERT_EQ(run_binary("--log-level warn run " + (dir / "high.yaml").string() + " --record " +
                         (dir / "high.slrec").string())
                  .code,
              0);
    const transport::RecordingReader low(dir / "low.slrec"), high(dir / "high.slrec");
    ASSERT_GE(low.header().threshold, 0.0);
    EXPECT_LT(low.header().threshold, 0.6);
    EXPECT_NEAR(high.header().threshold, 0.6, 1e-6); // the cut the detector applied (a float)
    EXPECT_EQ(low.header().model, high.header().model);
    const std::string gt = "eval --gt " + (dir / "cam1.json").string();
    auto r = run_binary_split(gt + " --dt " + (dir / "high.slrec").string() + " --json -");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_NEAR(j["operating_point"]["threshold"].get<double>(), 0.6, 1e-6);
    EXPECT_NE(j["operating_point"]["threshold_source"].get<std::string>().find("the run's"), std::string::npos);
    EXPECT_NE(r.err.find("operating threshold 0.60, the run's"), std::string::npos) << r.err;
    auto forced = run_binary_split(gt + " --dt " + (dir / "high.slrec").string() + " --threshold 0.5 --json -");
    EXPECT_DOUBLE_EQ(nlohmann::json::parse(forced.out)["operating_point"]["threshold"].get<double>(), 0.5);
    // the same model at two thresholds: named by model and threshold, and flagged
    auto cmp = run_binary(gt + " --dt " + (dir / "low.slrec").string() + " --compare " + (dir / "high.slrec").string() +
                          " --bootstrap 20");
    ASSERT_EQ(cmp.code, 0) << cmp.output;
    const std::string model = low.header().model;
    EXPECT_NE(cmp.output.find("B (" + model + " at 0.60 (high.slrec)) vs A (" + model + " at "), std::string::npos)
        << cmp.output;
    EXPECT_NE(cmp.output.find("run at different thresholds"), std::string::npos) << cmp.output;
    EXPECT_NE(cmp.output.find("differences come from the cut alone"), std::string::npos) << cmp.output;
    fs::remove_all(dir);
}

// A line whose only camera never comes up still sends its stat messages on the timer (fps 0, nothing processed), so
// a monitor sees the camera, and its silence; its camera_down event goes out while nothing else happens, stamped
// when it happened.
TEST(Run, StatsAndEventsGoOutWhenNoCameraDelivers) {
    auto dir = temp_dir("silent");
    std::ofstream(dir / "run.yaml") << "cameras: [{id: door, url: 'rtsp://127.0.0.1:9/x'}]\nmodel: "
                                    << (kRoot / "models/parts-v1/model.yaml").string()
                                    << "\npublish: {predictions: 'ipc://" << (dir / "p.sock").string() << "'}\n";
    const auto r = run_binary_split(
        "--log-level warn run " + (dir / "run.yaml").string() + " --record " + (dir / "rec.slrec").string(), 4, "INT");
    EXPECT_EQ(r.code, 0) << r.err;
    transport::RecordingReader reader(dir / "rec.slrec");
    std::string topic;
    transport::Message m;
    int stats = 0, down = 0;
    std::int64_t first_stat_ns = 0, down_ns = 0;
    while (reader.next(topic, m))
        if (const auto* st = std::get_if<transport::StatMessage>(&m)) {
            EXPECT_EQ(st->camera, "door");
            EXPECT_EQ(st->values.at("frames_total"), 0);
            EXPECT_EQ(st->values.at("fps"), 0);
            if (!stats++) first_stat_ns = st->time_ns;
        } else if (const auto* e = std::get_if<transport::EventMessage>(&m); e && e->kind == "camera_down") {
            if (!down++) down_ns = e->time_ns;
        }
    EXPECT_GE(stats, 3) << "one a second for a silent camera (and the final one)";
    ASSERT_EQ(down, 1) << "reported once in 4 s (rate-limited)";
    EXPECT_LT(down_ns, first_stat_ns) << "the event is stamped when it happened, before the first second's stats";
    fs::remove_all(dir);
}

// One stop request can arrive twice: coreutils' timeout signals the process, then its process group; systemd signals
// every process of the unit. Two signals 1 ms apart are one request (a clean end, exit 0, run_end recorded), not
// the "asked again: stop now" of a second Ctrl-C (CI saw exit 130 from `timeout -s INT`).
TEST(Run, OneStopRequestDeliveredTwiceStillEndsCleanly) {
    auto dir = temp_dir("twice");
    std::ofstream(dir / "run.yaml") << "cameras: [{id: door, url: 'rtsp://127.0.0.1:9/x'}]\nmodel: "
                                    << (kRoot / "models/parts-v1/model.yaml").string()
                                    << "\npublish: {predictions: 'ipc://" << (dir / "p.sock").string() << "'}\n";
    const std::string cfg = (dir / "run.yaml").string(), rec = (dir / "rec.slrec").string();
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        execl(SIGHTLINE_BINARY, SIGHTLINE_BINARY, "--log-level", "error", "run", cfg.c_str(), "--record", rec.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));
    kill(pid, SIGTERM); // as timeout does: the process, then (a moment later) its group
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    transport::RecordingReader reader(rec);
    std::string topic;
    transport::Message m;
    bool run_end = false;
    while (reader.next(topic, m))
        if (const auto* e = std::get_if<transport::EventMessage>(&m); e && e->kind == "run_end") run_end = true;
    EXPECT_TRUE(run_end);
    fs::remove_all(dir);
}

} // namespace
