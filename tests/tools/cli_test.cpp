// The sightline binary as a user meets it: exit codes and messages for good and bad invocations.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

using sightline::testing::run_binary;
using sightline::testing::run_binary_env;
using sightline::testing::temp_dir;

/// What `ldd` says a binary loads.
std::string shared_libraries(const fs::path& binary) {
    FILE* p = popen(("ldd " + binary.string() + " 2>&1").c_str(), "r");
    std::string deps;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) deps += buf;
    pclose(p);
    return deps;
}

TEST(Cli, SynthWritesTheScene) {
    auto d = temp_dir("ok");
    auto r = run_binary("synth --out " + d.string() +
                        " --cameras 2 --seconds 0.5 --set defaults.width=160 --set defaults.height=120");
    EXPECT_EQ(r.code, 0) << r.output;
    for (const char* f : {"cam1.mp4", "cam1.json", "cam2.mp4", "cam2.json"}) EXPECT_TRUE(fs::exists(d / f)) << f;
    EXPECT_FALSE(fs::exists(d / "cam3.mp4"));
    fs::remove_all(d);
}

// The embedded default end to end (README command 1): the default scene through the line, ZeroMQ and a consumer.
// Renders the 4-camera, 60 s scene (about 20 s on 2 cores), then every 30th frame of each camera goes through.
TEST(Cli, DemoRunsTheSceneThroughTheLine) {
    auto d = temp_dir("demo");
    auto r = run_binary("demo --scene " + (d / "scene").string() + " --every 30");
    ASSERT_EQ(r.code, 0) << r.output;
    const auto monitor_at = r.output.find("monitor (beside the line");
    ASSERT_NE(monitor_at, std::string::npos) << r.output;
    const std::string table = r.output.substr(0, monitor_at), monitor = r.output.substr(monitor_at);
    for (const char* cam : {"cam1 ", "cam2 ", "cam3 ", "cam4 "}) {
        const auto at = table.rfind(cam);
        ASSERT_NE(at, std::string::npos) << r.output;
        const std::string line = table.substr(at, table.find('\n', at) - at);
        EXPECT_NE(line.find(" 1800 "), std::string::npos) << line;
        EXPECT_NE(line.find("     60     0 "), std::string::npos) << "60 received, no gaps: " << line;
    }
    EXPECT_NE(r.output.find("240 frames through the line"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("0 messages dropped"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("lighting_drift from 30 s"), std::string::npos) << r.output;
    // the monitor beside the line: a row per camera against its drift, its store and report written
    for (const char* row :
         {"cam1   nominal", "cam2   nominal", "cam3   lighting_drift from 30 s", "cam4   novel_part from 20 s"})
        EXPECT_NE(monitor.find(row), std::string::npos) << row << "\n" << monitor;
    EXPECT_TRUE(fs::exists(d / "demo-monitor" / "monitor.db")) << monitor;
    EXPECT_GT(fs::file_size(d / "demo-monitor" / "report.html"), 10000u) << monitor;
    // the collector beside the line: what it kept, by camera and strategy, with the enrichment; a sound dataset
    const auto kept_at = r.output.find("collector: ");
    ASSERT_NE(kept_at, std::string::npos) << r.output;
    const int kept = std::stoi(r.output.substr(kept_at + 11));
    EXPECT_GT(kept, 0) << r.output.substr(kept_at);
    EXPECT_NE(r.output.find("x random", kept_at), std::string::npos) << r.output.substr(kept_at);
    EXPECT_NE(r.output.find("\nline ", kept_at), std::string::npos) << r.output.substr(kept_at);
    const auto v = run_binary("collect validate " + (d / "demo-collect").string());
    EXPECT_EQ(v.code, 0) << v.output;
    EXPECT_NE(v.output.find(std::to_string(kept) + " samples, 0 problems"), std::string::npos) << v.output;
    fs::remove_all(d);
}

TEST(Cli, BadInvocationsFailClearly) {
    auto d = temp_dir("bad");
    std::ofstream(d / "bad.yaml") << "cameras:\n  cam1:\n    lighting_drift: {gain: dark}\n";
    std::ofstream(d / "broken.yaml") << "cameras: {cam1: [\n";
    struct Case {
        std::string args, message;
    };
    const Case cases[] = {
        {"synth", "--out is required"},
        {"synth --out " + (d / "x").string() + " --cameras 0", "--cameras"},
        {"synth --out " + (d / "x").string() + " --scenario " + (d / "nope.yaml").string(), "nope.yaml"},
        {"synth --out " + (d / "x").string() + " --scenario " + (d / "bad.yaml").string(),
         "bad.yaml: cameras.cam1.lighting_drift.gain: expected a number, got 'dark'"},
        {"synth --out " + (d / "x").string() + " --scenario " + (d / "broken.yaml").string(),
         "broken.yaml: malformed YAML"},
        {"synth --out " + (d / "x").string() + " --set cameras.cam1.fog=3", "cameras.cam1.fog: unknown key"},
        {"nosuchcommand", "nosuchcommand"},
        {"demo --model " + (d / "missing.yaml").string() + " --scene " + (d / "scene").string() + " --every 1000",
         "missing.yaml: no such file"},
    };
    for (const auto& c : cases) {
        auto r = run_binary(c.args);
        EXPECT_NE(r.code, 0) << c.args;
        EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
    }
    EXPECT_FALSE(fs::exists(d / "x" / "cam1.mp4"));
    fs::remove_all(d);
}

TEST(Cli, HelpDocumentsEveryOption) {
    auto r = run_binary("synth --help");
    EXPECT_EQ(r.code, 0);
    for (const char* opt :
         {"--out", "--cameras", "--seconds", "--seed", "--scenario", "--nominal", "--set", "--preset", "--crf"})
        EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
}

// sightline eval as a user runs it: every output, a self-contained report, and clear failures.
TEST(Cli, EvalWritesJsonAndSelfContainedHtml) {
    const auto dir = temp_dir("cli_eval");
    const std::string fx = std::string(SIGHTLINE_SOURCE_DIR) + "/tests/fixtures/detection-metrics/";
    const std::string gt = fx + "torchmetrics/coco/tm_v07_inputs/gt.json";
    const std::string dt = fx + "torchmetrics/coco/tm_v07_inputs/dt.json";
    auto r = run_binary("eval --gt " + gt + " --dt " + dt + " --compare " + dt + " --bootstrap 10 --fps 30 --slice x" +
                        " --json " + (dir / "e.json").string() + " --html " + (dir / "e.html").string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("AP50"), std::string::npos);
    EXPECT_NE(r.output.find("RED FLAG"), std::string::npos) << "4 images cannot carry a bootstrap interval";
    std::ifstream jf(dir / "e.json");
    const std::string json((std::istreambuf_iterator<char>(jf)), std::istreambuf_iterator<char>());
    for (const char* key : {"\"coco\"", "\"per_class\"", "\"operating_point\"", "\"confusion\"", "\"voc\"",
                            "\"threshold_advice\"", "\"calibration\"", "\"slices\"", "\"compare\"", "\"pr_curves\"",
                            "\"red_flags\"", "\"tide\"", "\"localisation\""})
        EXPECT_NE(json.find(key), std::string::npos) << key;
    std::ifstream hf(dir / "e.html");
    const std::string html((std::istreambuf_iterator<char>(hf)), std::istreambuf_iterator<char>());
    int svgs = 0;
    for (auto at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++svgs;
    EXPECT_EQ(svgs, 4) << "PR curves, confusion matrix, reliability diagram, error breakdown";
    for (const char* external : {"http://", "https://", "<script", "src=", "<link"})
        EXPECT_EQ(html.find(external), std::string::npos) << external << ": the report must open offline";
    EXPECT_FALSE(fs::exists(dir / "e.json.partial"));

    auto bad = run_binary("eval --gt " + gt + " --dt " + (dir / "missing.json").string());
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.output.find("missing.json"), std::string::npos) << bad.output;
}

// Issue 25, item 9: a figure that is undefined reads "n/a" in the text and HTML and is null in the JSON, never a
// number: a class with no ground truth and no detection, a slice without ground truth, ECE without detections,
// AP_large without large objects.
TEST(Cli, UndefinedFiguresAreNaInTextAndHtmlAndNullInJson) {
    const auto dir = temp_dir("cli_undefined");
    std::ofstream(dir / "gt.json")
        << R"({"images":[{"id":1,"width":640,"height":480,"camera":"a"},{"id":2,"width":640,"height":480,"camera":"a"},
                         {"id":3,"width":640,"height":480,"camera":"b"}],
              "categories":[{"id":1,"name":"part"},{"id":2,"name":"gear"}],
              "annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[10,10,40,40],"area":1600,"iscrowd":0},
                             {"id":2,"image_id":2,"category_id":1,"bbox":[50,50,40,40],"area":1600,"iscrowd":0}]})";
    std::ofstream(dir / "dt.json") << R"([{"image_id":1,"category_id":1,"bbox":[10,10,40,40],"score":0.9},
                                          {"image_id":3,"category_id":1,"bbox":[10,10,40,40],"score":0.2}])";
    std::ofstream(dir / "none.json") << "[]";
    const std::string gt = (dir / "gt.json").string();
    auto r = run_binary("eval --gt " + gt + " --dt " + (dir / "dt.json").string() + " --slice camera --json " +
                        (dir / "e.json").string() + " --html " + (dir / "e.html").string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output.find("-1.000"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("(AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] =   n/a"), std::string::npos)
        << r.output;
    // gear: no ground truth and no detection: no AP, no precision, no recall
    EXPECT_NE(r.output.find("2 gear                        n/a      n/a      n/a"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("2 gear                        0      0      0       n/a     n/a     n/a"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("camera=b"), std::string::npos) << r.output;
    const auto j = nlohmann::json::parse(std::ifstream(dir / "e.json"));
    EXPECT_TRUE(j["coco"]["APl"].is_null()) << j["coco"];
    EXPECT_TRUE(j["per_class"][1]["AP"].is_null()) << j["per_class"];
    EXPECT_TRUE(j["per_class"][1]["at_threshold"]["precision"].is_null()) << j["per_class"];
    bool slice_b = false;
    for (const auto& s : j["slices"])
        if (s["key"] == "camera" && s["value"] == "b") {
            slice_b = true;
            EXPECT_TRUE(s["AP"].is_null() && s["AP50"].is_null() && s["recall"].is_null()) << s;
        }
    EXPECT_TRUE(slice_b) << j["slices"];
    std::ifstream hf(dir / "e.html");
    const std::string html((std::istreambuf_iterator<char>(hf)), std::istreambuf_iterator<char>());
    EXPECT_EQ(html.find(">-1.000<"), std::string::npos);

    auto none = run_binary("eval --gt " + gt + " --dt " + (dir / "none.json").string() + " --json " +
                           (dir / "n.json").string());
    ASSERT_EQ(none.code, 0) << none.output;
    EXPECT_NE(none.output.find("expected calibration error n/a"), std::string::npos) << none.output;
    EXPECT_NE(none.output.find("precision n/a"), std::string::npos) << none.output;
    const auto n = nlohmann::json::parse(std::ifstream(dir / "n.json"));
    EXPECT_TRUE(n["calibration"]["ece"].is_null()) << n["calibration"];
    EXPECT_TRUE(n["operating_point"]["precision"].is_null()) << n["operating_point"];
}

// `sightline eval` runs in the lean sightline-eval beside the binary (issue 17: an evaluation's process without
// OpenCV's and FFmpeg's shared libraries): the same report as in the process itself, and none of those linked.
TEST(Cli, EvalRunsInTheLeanBinaryWithTheSameReport) {
    const std::string fx = std::string(SIGHTLINE_SOURCE_DIR) + "/tests/fixtures/detection-metrics/";
    const std::string args = "eval --gt " + fx + "torchmetrics/coco/tm_v07_inputs/gt.json --dt " + fx +
                             "torchmetrics/coco/tm_v07_inputs/dt.json --fps 30";
    const auto lean = run_binary(args), here = run_binary_env("SIGHTLINE_EVAL_IN_PROCESS=1", args);
    ASSERT_EQ(lean.code, 0) << lean.output;
    ASSERT_EQ(here.code, 0) << here.output;
    const auto table = [](const std::string& out) { return out.substr(0, out.find("eval: load")); }; // timings vary
    EXPECT_EQ(table(lean.output), table(here.output));
    // also with a global option before the subcommand
    const auto where = run_binary("--log-level debug " + args);
    ASSERT_EQ(where.code, 0) << where.output;
    EXPECT_NE(
        where.output.find("eval: running in " + (fs::path(SIGHTLINE_BINARY).parent_path() / "sightline-eval").string()),
        std::string::npos)
        << where.output;
    const fs::path binary = fs::path(SIGHTLINE_BINARY).parent_path() / "sightline-eval";
    ASSERT_TRUE(fs::exists(binary)) << binary;
    const std::string deps = shared_libraries(binary);
    for (const char* heavy : {"libopencv", "libavcodec", "libavformat", "libzmq", "libyaml-cpp", "libsqlite3"})
        EXPECT_EQ(deps.find(heavy), std::string::npos) << heavy << " in\n" << deps;
}

// The binary never links LibTorch (issue 17): its engine is a module opened on demand, so `--help`, eval and synth
// do not pay its start-up. Where the build has the module, a missing one is a clear error naming it and how to point
// at it; the engine itself is tested through it (ModelParity, DeviceFrames).
TEST(Cli, LibTorchIsLoadedOnlyByALibTorchEngine) {
    const fs::path core = fs::path(SIGHTLINE_BINARY).parent_path() / "sightline-core"; // what the launcher runs
    const std::string deps = shared_libraries(core);
    EXPECT_EQ(deps.find("libtorch"), std::string::npos) << deps;
    EXPECT_EQ(deps.find("libc10"), std::string::npos) << deps;
    const auto d = temp_dir("nomodule");
    std::ofstream(d / "a.mp4") << "x";
    std::ofstream(d / "run.yaml") << "cameras: [{id: c1, url: a.mp4}]\nengine: libtorch\nmodel: "
                                  << SIGHTLINE_SOURCE_DIR
                                  << "/models/parts-v1/model.yaml\npublish: {predictions: 'ipc://"
                                  << (d / "p.sock").string() << "'}\n";
    const auto r = run_binary_env("SIGHTLINE_LIBTORCH_MODULE=" + (d / "missing.so").string(),
                                  "run --check " + (d / "run.yaml").string());
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_TRUE(r.output.find("engine libtorch: its module cannot be loaded: " + (d / "missing.so").string()) !=
                    std::string::npos ||
                r.output.find("this build has no LibTorch engine") != std::string::npos)
        << r.output;
    std::filesystem::remove_all(d);
}

} // namespace
