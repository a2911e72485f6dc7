// Two model versions on the same frames (pipeline/include/sightline/pipeline/versions.hpp): the box-by-box match,
// the comparison of two recordings, and `sightline compare` as a user runs it.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "sightline/error.hpp"
#include "sightline/pipeline/control.hpp"
#include "sightline/pipeline/versions.hpp"
#include "sightline/transport/recording.hpp"
#include "support/test_support.hpp"

using namespace sightline;
using pipeline::Agreement;
using pipeline::VersionBox;

namespace {

std::map<Agreement, int> kinds(const std::vector<pipeline::AgreementPair>& pairs) {
    std::map<Agreement, int> n;
    for (const auto& p : pairs) ++n[p.kind];
    return n;
}

/// One frame's prediction: boxes (x1 y1 x2 y2), scores and class indices.
transport::PredMessage pred(const std::string& cam, std::int64_t frame, std::vector<float> boxes,
                            std::vector<float> scores, std::vector<std::int32_t> classes) {
    transport::PredMessage m;
    m.camera = cam, m.seq = static_cast<std::uint64_t>(frame), m.frame = frame;
    m.boxes = std::move(boxes), m.scores = std::move(scores), m.classes = std::move(classes);
    const std::size_t n = m.scores.size();
    m.flags.assign(n, 0), m.margins.assign(n, 0), m.entropies.assign(n, 0);
    return m;
}

} // namespace

TEST(Versions, MatchesSameClassFirstThenAnyClassThenLeftovers) {
    const std::vector<VersionBox> a = {{0, 0, 10, 10, 0.9f, "bolt"},   // b's bolt on the same spot: both
                                       {20, 0, 30, 10, 0.8f, "nut"},   // b calls it a washer: class changed
                                       {40, 0, 50, 10, 0.7f, "nut"},   // nothing in b: only a
                                       {60, 0, 70, 10, 0.6f, "bolt"}}; // b has a washer on it (and a bolt beside it)
    // b[0] (61-71) overlaps a[3] at IoU 9/11 but is a washer: class changed; b[3] (65-80) overlaps a[3] at 5/20: only b
    const std::vector<VersionBox> b = {{61, 0, 71, 10, 0.5f, "washer"},
                                       {20, 0, 30, 10, 0.5f, "washer"},
                                       {0, 0, 10, 10, 0.95f, "bolt"},
                                       {65, 0, 80, 10, 0.5f, "bolt"}};
    const auto pairs = pipeline::match_versions(a, b, 0.5);
    auto n = kinds(pairs);
    EXPECT_EQ(n[Agreement::kBoth], 1);
    EXPECT_EQ(n[Agreement::kClassChanged], 2);
    EXPECT_EQ(n[Agreement::kOnlyA], 1);
    EXPECT_EQ(n[Agreement::kOnlyB], 1);
    std::vector<int> seen_a(a.size()), seen_b(b.size()); // every detection in exactly one pair
    for (const auto& p : pairs) {
        if (p.a >= 0) ++seen_a[p.a];
        if (p.b >= 0) ++seen_b[p.b];
        if (p.kind == Agreement::kBoth) {
            EXPECT_EQ(a[p.a].cls, b[p.b].cls);
        }
        if (p.kind == Agreement::kClassChanged) {
            EXPECT_NE(a[p.a].cls, b[p.b].cls);
        }
    }
    for (int s : seen_a) EXPECT_EQ(s, 1);
    for (int s : seen_b) EXPECT_EQ(s, 1);
    // the same class beats a better-overlapping other class: a bolt matches b's bolt at IoU 0.6, not a nut at 1.0
    const std::vector<VersionBox> a2 = {{0, 0, 10, 10, 0.9f, "bolt"}};
    const std::vector<VersionBox> b2 = {{0, 0, 10, 10, 0.9f, "nut"}, {0, 0, 10, 6, 0.9f, "bolt"}};
    const auto p2 = pipeline::match_versions(a2, b2, 0.5);
    n = kinds(p2);
    EXPECT_EQ(n[Agreement::kBoth], 1);
    EXPECT_EQ(n[Agreement::kOnlyB], 1);
    // the threshold: IoU exactly 0.5 matches, just below does not
    const std::vector<VersionBox> a3 = {{0, 0, 10, 10, 0.9f, "bolt"}}, b3 = {{0, 0, 10, 5, 0.9f, "bolt"}};
    EXPECT_EQ(kinds(pipeline::match_versions(a3, b3, 0.5))[Agreement::kBoth], 1);
    EXPECT_EQ(kinds(pipeline::match_versions(a3, b3, 0.51))[Agreement::kOnlyA], 1);
    EXPECT_TRUE(pipeline::match_versions({}, {}, 0.5).empty());
}

TEST(Versions, ComparesTwoRecordingsFrameByFrameAndNamesWhatItCannot) {
    const auto dir = sightline::testing::temp_dir("versions");
    {
        transport::RecordingWriter a(dir / "a.slrec", {"parts@1", {"bolt", "nut"}, {"cam1", "cam2"}, 0, 0.25});
        transport::RecordingWriter b(dir / "b.slrec", {"parts@2", {"nut", "bolt", "gear"}, {"cam1", "cam2"}, 0, 0.25});
        // cam1 frame 0: the same bolt (classes by name: a's 0 is b's 1)
        a.write(pred("cam1", 0, {0, 0, 10, 10}, {0.9f}, {0}));
        b.write(pred("cam1", 0, {0, 0, 10, 10}, {0.8f}, {1}));
        // cam1 frame 1: a's nut is b's gear, and b finds a bolt a missed
        a.write(pred("cam1", 1, {0, 0, 10, 10}, {0.9f}, {1}));
        b.write(pred("cam1", 1, {0, 0, 10, 10, 50, 50, 60, 60}, {0.7f, 0.6f}, {2, 1}));
        // cam2 frame 0: a finds a bolt b does not; frame 5 only in a, frame 6 only in b
        a.write(pred("cam2", 0, {0, 0, 10, 10}, {0.9f}, {0}));
        b.write(pred("cam2", 0, {}, {}, {}));
        a.write(pred("cam2", 5, {}, {}, {}));
        b.write(pred("cam2", 6, {}, {}, {}));
        a.close(), b.close();
    }
    const auto c = pipeline::compare_recordings(dir / "a.slrec", dir / "b.slrec");
    EXPECT_EQ(c.model_a, "parts@1");
    EXPECT_EQ(c.model_b, "parts@2");
    EXPECT_EQ(c.all.frames, 3u);
    EXPECT_EQ(c.all.frames_disagreeing, 2u);
    EXPECT_EQ(c.all.both, 1u);
    EXPECT_EQ(c.all.class_changed, 1u);
    EXPECT_EQ(c.all.only_a, 1u);
    EXPECT_EQ(c.all.only_b, 1u);
    EXPECT_DOUBLE_EQ(c.all.agreement(), 0.25);
    EXPECT_EQ(c.by_camera.at("cam1").frames, 2u);
    EXPECT_EQ(c.by_camera.at("cam2").only_a, 1u);
    EXPECT_EQ(c.by_class.at("bolt").both, 1u);
    EXPECT_EQ(c.by_class.at("bolt").only_b, 1u);
    EXPECT_EQ(c.by_class.at("bolt").only_a, 1u);
    EXPECT_EQ(c.by_class.at("nut").class_changed, 1u);
    EXPECT_EQ((c.class_changes.at({"nut", "gear"})), 1u);
    EXPECT_EQ(c.frames_only_in_a, 1u);
    EXPECT_EQ(c.frames_only_in_b, 1u);
    ASSERT_EQ(c.most_different.size(), 2u);
    EXPECT_EQ(c.most_different[0].camera, "cam1"); // two differences on cam1 frame 1, one on cam2 frame 0
    EXPECT_EQ(c.most_different[0].frame, 1);
    const auto j = nlohmann::json::parse(pipeline::comparison_json(c));
    EXPECT_EQ(j["all"]["class_changed"], 1);
    EXPECT_EQ(j["by_camera"]["cam2"]["only_a"], 1);

    // what it cannot compare, named
    {
        transport::RecordingWriter o(dir / "other.slrec", {"parts@2", {"bolt"}, {"cam9"}, 0, 0.25});
        o.write(pred("cam9", 0, {}, {}, {}));
        o.close();
    }
    try {
        pipeline::compare_recordings(dir / "a.slrec", dir / "other.slrec");
        ADD_FAILURE() << "no common frame accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("share no frame"), std::string::npos) << e.what();
    }
    std::ofstream(dir / "not.slrec") << "{\"images\": []}";
    EXPECT_THROW(pipeline::compare_recordings(dir / "a.slrec", dir / "not.slrec"), Error);
    EXPECT_THROW(pipeline::compare_recordings(dir / "a.slrec", dir / "missing.slrec"), Error);

    // as a user runs it
    const auto run =
        sightline::testing::run_binary("compare " + (dir / "a.slrec").string() + " " + (dir / "b.slrec").string() +
                                       " --json " + (dir / "c.json").string());
    EXPECT_EQ(run.code, 0) << run.output;
    EXPECT_NE(run.output.find("nut -> gear: 1"), std::string::npos) << run.output;
    EXPECT_EQ(nlohmann::json::parse(std::ifstream(dir / "c.json"))["all"]["both"], 1);
    const auto bad =
        sightline::testing::run_binary("compare " + (dir / "a.slrec").string() + " " + (dir / "not.slrec").string());
    EXPECT_NE(bad.code, 0);
    EXPECT_NE(bad.output.find("not.slrec"), std::string::npos) << bad.output;
    std::filesystem::remove_all(dir);
}

// b as a candidate that drops half of a's detections on every frame: rolled back within 10 s of 30 fps
TEST(Versions, GuardrailsRollBackACandidateDroppingHalfTheDetections) {
    const auto dir = sightline::testing::temp_dir("versions-guardrails");
    {
        transport::RecordingWriter base(dir / "base.slrec", {"parts@1", {"bolt"}, {"cam1"}, 0, 0.25});
        transport::RecordingWriter half(dir / "half.slrec", {"parts@2", {"bolt"}, {"cam1"}, 0, 0.25});
        for (int f = 0; f < 600; ++f) {
            const int n = 8 + f % 5;
            std::vector<float> boxes, scores;
            for (int k = 0; k < n; ++k)
                boxes.insert(boxes.end(), {30.f * k, 0, 30.f * k + 20, 20}), scores.push_back(.9f);
            base.write(pred("cam1", f, boxes, scores, std::vector<std::int32_t>(n, 0)));
            const int m = n / 2;
            half.write(pred("cam1", f, std::vector<float>(boxes.begin(), boxes.begin() + 4 * m),
                            std::vector<float>(scores.begin(), scores.begin() + m), std::vector<std::int32_t>(m, 0)));
        }
        base.close(), half.close();
    }
    pipeline::RolloutConfig rc;
    const auto g = pipeline::compare_recordings(dir / "base.slrec", dir / "half.slrec", 0.5, 24, &rc);
    ASSERT_EQ(g.rollouts.count("cam1"), 1u);
    EXPECT_EQ(g.rollouts.at("cam1").decision, pipeline::RolloutDecision::kRollback);
    EXPECT_LE(g.rollouts.at("cam1").decided_at_frame, 300u);
    EXPECT_NE(g.rollouts.at("cam1").evidence.find("detections -"), std::string::npos) << g.rollouts.at("cam1").evidence;
    const auto gj = nlohmann::json::parse(pipeline::comparison_json(g));
    EXPECT_EQ(gj["rollouts"]["cam1"]["decision"], "rollback");

    // the disagreement guardrail alone: half of each frame's boxes are found by one version only (n/2 of n
    // pairs-and-singles when n is even), against a tolerance of a quarter of the boxes
    rc.guardrails = {{"disagreement", "higher", 0.25}};
    const auto d = pipeline::compare_recordings(dir / "base.slrec", dir / "half.slrec", 0.5, 24, &rc);
    EXPECT_EQ(d.rollouts.at("cam1").decision, pipeline::RolloutDecision::kRollback) << d.rollouts.at("cam1").evidence;
    ASSERT_EQ(d.rollouts.at("cam1").state.size(), 1u);
    EXPECT_NEAR(d.rollouts.at("cam1").state[0].difference, 0.52, 0.02) << "(n - n/2) / n over n = 8..12";
    const auto same = pipeline::compare_recordings(dir / "base.slrec", dir / "base.slrec", 0.5, 24, &rc);
    EXPECT_EQ(same.rollouts.at("cam1").decision, pipeline::RolloutDecision::kPromote) << "a version agrees with itself";

    // the same through the command line: --guardrail replaces the defaults (and implies --guardrails)
    const auto cli = sightline::testing::run_binary(
        "compare " + (dir / "base.slrec").string() + " " + (dir / "half.slrec").string() +
        " --guardrail disagreement:higher:0.25 --json " + (dir / "c.json").string());
    ASSERT_EQ(cli.code, 0) << cli.output;
    const auto cj = nlohmann::json::parse(std::ifstream(dir / "c.json"));
    EXPECT_EQ(cj["rollouts"]["cam1"]["decision"], "rollback");
    ASSERT_EQ(cj["rollouts"]["cam1"]["guardrails"].size(), 1u);
    EXPECT_EQ(cj["rollouts"]["cam1"]["guardrails"][0]["metric"], "disagreement");
    for (const auto& [spec, why] : {std::pair<std::string, std::string>{"ap50:lower:0.1", "ap50 needs ground truth"},
                                    {"disagreement:up:0.1", "worse must be lower, higher or either"}}) {
        const auto refused = sightline::testing::run_binary("compare " + (dir / "base.slrec").string() + " " +
                                                            (dir / "half.slrec").string() + " --guardrail " + spec);
        EXPECT_NE(refused.code, 0) << spec;
        EXPECT_NE(refused.output.find("guardrail '" + spec + "': "), std::string::npos) << refused.output;
        EXPECT_NE(refused.output.find(why), std::string::npos) << refused.output;
    }

    std::filesystem::remove_all(dir);
}

// The control socket's requests (docs/versions.md, "Hot swap"): every refusal a kBadInput naming the key; what is
// accepted round-trips through control_request_json.
TEST(ControlRequest, BadRequestsAreRefusedNamingTheKey) {
    const std::pair<std::string, std::string> bad[] = {
        {"", "malformed JSON"},
        {"{", "malformed JSON"},
        {"[1, 2]", "expected a JSON object"},
        {R"({})", "'command' missing"},
        {R"({"command": 3})", "'command' is not a string"},
        {R"({"command": "reboot"})", "unknown command 'reboot'"},
        {R"({"command": "status", "id": "v1"})", "'id': unknown key for status"},
        {R"({"command": "load", "id": "v2"})", "'file' missing"},
        {R"({"command": "load", "id": "v2", "file": ""})", "'file': empty"},
        {R"({"command": "load", "id": "a/b", "file": "m.yaml"})", "'id': "},
        {R"({"command": "serve", "camera": "cam1"})", "'id' missing"},
        {R"({"command": "serve", "camera": "..", "id": "v2"})", "'camera': "},
        {R"({"command": "unload", "id": ["v1"]})", "'id' is not a string"},
    };
    for (const auto& [body, why] : bad) {
        try {
            sightline::pipeline::parse_control_request(body);
            ADD_FAILURE() << "accepted: " << body;
        } catch (const sightline::Error& e) {
            EXPECT_EQ(e.code(), sightline::ErrorCode::kBadInput) << body;
            EXPECT_NE(std::string(e.what()).find("control request: " + why), std::string::npos) << e.what();
        }
    }
    const auto r = sightline::pipeline::parse_control_request(
        R"({"command": "load", "id": "v2", "file": "models/parts-v2/model.yaml"})");
    EXPECT_EQ(r.command, "load");
    EXPECT_EQ(r.id, "v2");
    EXPECT_EQ(r.file, "models/parts-v2/model.yaml");
    const auto again = sightline::pipeline::parse_control_request(sightline::pipeline::control_request_json(r));
    EXPECT_EQ(again.file, r.file);
}
