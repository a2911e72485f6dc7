// Several model versions on one line (issue 26, part 1 and 3): the config keys and their refusals, the model set
// (one preprocess per input spec, each version as its own detector would answer), the line publishing serving and
// shadow versions on their topics with their agreement, and a candidate rolled back by its guardrails.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "support/config_cases.hpp"
#include "support/gpu.hpp"
#include "support/scenes.hpp"
#include "support/test_support.hpp"

#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/eval_report.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/models.hpp"
#include "sightline/pipeline/runner.hpp"
#include "sightline/pipeline/versions.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/transport/control.hpp"
#include "sightline/transport/messages.hpp"
#include "sightline/transport/recording.hpp"
#include "sightline/transport/samples.hpp"

#include <nlohmann/json.hpp>
#include <thread>

using namespace sightline;
namespace fs = std::filesystem;

namespace {

using sightline::testing::render_scene;
using sightline::testing::temp_dir;

const fs::path kRoot = SIGHTLINE_SOURCE_DIR;
const fs::path kV1 = kRoot / "models/parts-v1/model.yaml", kV2 = kRoot / "models/parts-v2/model.yaml";

std::unique_ptr<pipeline::Engine> engine(const fs::path& yaml) {
    return pipeline::make_opencv_engine(pipeline::load_model_spec(yaml), 2);
}

TEST(RunConfig, ModelsShadowAndRolloutAreReadAndRefusedByKey) {
    auto dir = temp_dir("cfgmodels");
    std::ofstream(dir / "a.mp4") << "x";
    std::ofstream(dir / "m1.yaml") << "x";
    std::ofstream(dir / "m2.yaml") << "x";
    const std::string pub = "publish: {predictions: 'tcp://127.0.0.1:5999'}\n";
    const std::string models = "models: [{id: v1, file: m1.yaml}, {id: v2, file: m2.yaml, confidence: 0.4}]\n";
    const std::string cams = "cameras: [{id: c1, url: a.mp4}, {id: c2, url: a.mp4, model: v2}]\n";
    const std::vector<sightline::testing::ConfigCase> cases = {
        {cams + models + "model: m1.yaml\n" + pub, "models: give model: (one version) or models:, not both"},
        {cams + "models: []\n" + pub, "models: expected a list of at least one version"},
        {cams + "models: [{id: v1, file: m1.yaml}, {id: v1, file: m2.yaml}]\n" + pub,
         "models[1].id: duplicate version id 'v1'"},
        {cams + "models: [{id: v1, file: m1.yaml}, {id: v2, file: nope.yaml}]\n" + pub, "models[1].file: "},
        {cams + "models: [{id: v1, file: m1.yaml}, {id: v2, file: m2.yaml, confidence: 2}]\n" + pub,
         "models[1].confidence: must be in [0, 1)"},
        {cams + "models: [{id: v1, file: m1.yaml, engine: x}, {id: v2, file: m2.yaml}]\n" + pub,
         "models[0].engine: unknown key"},
        {"cameras: [{id: c1, url: a.mp4, model: v3}]\n" + models + pub, "cameras[0].model: 'v3' is not an id"},
        {"cameras: [{id: c1, url: a.mp4, model: v2}]\nmodel: m1.yaml\n" + pub,
         "cameras[0].model: 'v2' is not the one version of model: ('default')"},
        {cams + models + pub + "shadow: [v9]\n", "shadow[0]: 'v9' is not an id"},
        {cams + models + pub + "rollout: {candidate: v3, fallback: v1}\n", "rollout.candidate: 'v3' is not an id"},
        {cams + models + pub + "rollout: {candidate: v2, fallback: v2}\n", "rollout.fallback: must differ"},
        {"cameras: [{id: c1, url: a.mp4}]\n" + models + pub + "rollout: {candidate: v2, fallback: v1}\n",
         "rollout.candidate: 'v2' serves no camera"},
        {cams + models + pub + "rollout: {candidate: v2, fallback: v1, alpha: 1}\n",
         "rollout.alpha: must be in (0, 1)"},
        {cams + models + pub + "rollout: {candidate: v2, fallback: v1, guardrails: [{metric: fps}]}\n",
         "rollout.guardrails[0].metric: unknown metric 'fps'"},
        {cams + models + pub +
             "rollout: {candidate: v2, fallback: v1, guardrails: [{metric: detections, "
             "worse: up}]}\n",
         "rollout.guardrails[0].worse: must be lower, higher or either"},
        {cams + models + pub + "rollout: {candidate: v2, fallback: v1, canary: [c2]}\n", "rollout.canary: unknown key"},
        {cams + models + pub +
             "eval: {iou: 0.75}\nrollout: {candidate: v2, fallback: v1, guardrails: [{metric: recall}, {metric: "
             "ap50}]}\n",
         "rollout.guardrails[1].metric: ap50 is AP at IoU 0.5"},
    };
    sightline::testing::expect_configs_refused(dir, cases);
    std::ofstream(dir / "run.yaml")
        << cams + models + pub +
               "shadow: [v1]\nrollout: {candidate: v2, fallback: v1, promote: true, "
               "block_frames: 10, guardrails: [{metric: detections, tolerance: 0.3}, {metric: missed, "
               "worse: higher}, {metric: disagreement, worse: higher, tolerance: 0.25}, {metric: ap50, worse: "
               "lower}]}\n";
    const auto ok = pipeline::load_run_config(dir / "run.yaml");
    EXPECT_EQ(ok.publish.control, "") << "no control socket unless asked";
    ASSERT_EQ(ok.models.size(), 2u);
    EXPECT_EQ(ok.models[1].id, "v2");
    EXPECT_EQ(ok.models[1].file, dir / "m2.yaml");
    EXPECT_FLOAT_EQ(ok.models[1].thresholds.confidence, 0.4f);
    EXPECT_LT(ok.models[0].thresholds.confidence, 0) << "the line's thresholds, else the model's";
    EXPECT_EQ(ok.model, dir / "m1.yaml") << "model is the first version's";
    EXPECT_EQ(ok.cameras[0].model, "");
    EXPECT_EQ(ok.cameras[1].model, "v2");
    EXPECT_EQ(ok.shadow, std::vector<std::string>{"v1"});
    ASSERT_TRUE(ok.rollout);
    EXPECT_EQ(ok.rollout->candidate, "v2");
    EXPECT_TRUE(ok.rollout->promote);
    EXPECT_EQ(ok.rollout->guard.block_frames, 10);
    ASSERT_EQ(ok.rollout->guard.guardrails.size(), 4u);
    EXPECT_EQ(ok.rollout->guard.guardrails[2].metric, "disagreement");
    EXPECT_EQ(ok.rollout->guard.guardrails[3].metric, "ap50");
    EXPECT_DOUBLE_EQ(ok.rollout->guard.guardrails[0].tolerance, 0.3);
    EXPECT_EQ(ok.rollout->guard.guardrails[1].metric, "missed") << "a ground-truth guardrail, named";
    EXPECT_TRUE(ok.rollout->guardrails_given) << "so no ground-truth ones are added";
    std::ofstream(dir / "run.yaml") << "cameras: [{id: c1, url: a.mp4}]\nmodel: m1.yaml\n" + pub;
    const auto one = pipeline::load_run_config(dir / "run.yaml");
    ASSERT_EQ(one.versions().size(), 1u) << "model: alone is one version";
    EXPECT_EQ(one.versions()[0].id, "default");
    fs::remove_all(dir);
}

/// Frames of the test scene, decoded on the host.
std::vector<pipeline::OwnedFrame> frames_of(const fs::path& video, int n) {
    pipeline::VideoReader reader(video.string());
    std::vector<pipeline::OwnedFrame> out;
    pipeline::DecodedFrame f;
    for (int k = 0; k < n && reader.next(f); ++k) out.push_back(pipeline::copy_frame(f));
    EXPECT_EQ(out.size(), static_cast<std::size_t>(n));
    return out;
}

/// parts-v1 with another pad value (another input spec), written to `yaml`.
void write_padded_v1(const fs::path& yaml) {
    std::ifstream in(kV1);
    std::string s((std::istreambuf_iterator<char>(in)), {});
    s.replace(s.find("pad_value: 114"), 14, "pad_value: 0  ");
    s.replace(s.find("file: model.onnx"), 16, "file: " + (kRoot / "models/parts-v1/model.onnx").string());
    std::ofstream(yaml) << s;
}

/// The scene's cam1 served by v1 (parts-v1), cam2 by v2 (parts-v2) with v1 beside it (a shadow).
pipeline::RunConfig v2_on_cam2_beside_v1(const fs::path& dir) {
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (dir / "cam1.mp4").string(), {}, false, false});
    cfg.cameras.push_back({"cam2", (dir / "cam2.mp4").string(), {}, false, false});
    cfg.cameras[1].model = "v2";
    cfg.models = {{"v1", kV1, {}}, {"v2", kV2, {}}};
    cfg.model = kV1;
    cfg.shadow = {"v1"};
    return cfg;
}

void expect_same(const std::vector<pipeline::Detection>& a, const std::vector<pipeline::Detection>& b,
                 const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (std::size_t d = 0; d < a.size(); ++d) {
        EXPECT_EQ(a[d].cls, b[d].cls) << what;
        EXPECT_EQ(a[d].score, b[d].score) << what;
        EXPECT_EQ(a[d].x1, b[d].x1) << what;
        EXPECT_EQ(a[d].y2, b[d].y2) << what;
    }
}

// Two versions with one input spec read one tensor: one preprocess per batch, and each version's results are the
// ones its own detector gives on the frames it runs (the serving one's, and the shadow's on the other camera's
// frames, its rows gathered from the shared tensor). A third spec (another pad value) preprocesses on its own.
TEST(Models, VersionsOfOneInputShareThePreprocessAndAnswerAsTheirOwnDetectors) {
    auto dir = temp_dir("modelset");
    render_scene(dir, 2, 0.5, 11, {"defaults.width=320", "defaults.height=240"});
    write_padded_v1(dir / "padded.yaml");
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (dir / "cam1.mp4").string(), {}, false, false});
    cfg.cameras.push_back({"cam2", (dir / "cam2.mp4").string(), {}, false, false});
    cfg.cameras[1].model = "v2";
    cfg.models = {{"v1", kV1, {}}, {"v2", kV2, {}}, {"p", dir / "padded.yaml", {}}};
    cfg.model = kV1;
    cfg.shadow = {"v1"};
    std::vector<std::unique_ptr<pipeline::Engine>> engines;
    for (const auto& v : cfg.models) engines.push_back(engine(v.file));
    pipeline::ModelSet set(cfg, std::move(engines));
    EXPECT_EQ(set.version(0).model, "parts-v1@1.0.0#v1") << "two versions of one name@version: told apart by id";
    EXPECT_EQ(set.version(1).model, "parts-v2@1.0.0");
    EXPECT_EQ(set.version(2).model, "parts-v1@1.0.0#p");
    EXPECT_EQ(set.serving(0), 0);
    EXPECT_EQ(set.serving(1), 1);
    EXPECT_TRUE(set.beside(1, 0)) << "v1 shadows the camera v2 serves";
    EXPECT_FALSE(set.beside(0, 0)) << "never beside itself";
    pipeline::Detector d1(engine(kV1)), d2(engine(kV2)), dp(engine(dir / "padded.yaml"));
    const auto a = frames_of(dir / "cam1.mp4", 3), b = frames_of(dir / "cam2.mp4", 3);
    for (int k = 0; k < 3; ++k) {
        const std::vector<kernels::ImageView> views = {a[k].view, b[k].view};
        const std::vector<std::size_t> owners = {0, 1};
        auto results = set.collect(set.submit(views, owners));
        EXPECT_EQ(set.last_preprocesses(), 1) << "v1 (both frames) and v2 (cam2's) share one tensor";
        ASSERT_EQ(results.size(), 2u);
        EXPECT_EQ(results[0].serving, 0);
        EXPECT_TRUE(results[0].beside.empty());
        EXPECT_EQ(results[1].serving, 1);
        ASSERT_EQ(results[1].beside.size(), 1u);
        EXPECT_EQ(results[1].beside[0].first, 0);
        const auto own1 = d1.detect(views);
        const auto own2 = d2.detect(std::span(&views[1], 1));
        expect_same(results[0].result.detections, own1[0].detections, "v1 serving cam1");
        expect_same(results[1].beside[0].second.detections, own1[1].detections, "v1 beside v2 on cam2");
        expect_same(results[1].result.detections, own2[0].detections, "v2 serving cam2 (gathered rows)");
        EXPECT_EQ(results[1].result.luma.mean, own2[0].luma.mean);
        if (k == 2) { // the padded version beside on cam1 too: a second spec, a second preprocess
            set.set_beside(0, 2, true);
            auto r = set.collect(set.submit(views, owners));
            EXPECT_EQ(set.last_preprocesses(), 2);
            ASSERT_EQ(r[0].beside.size(), 1u);
            expect_same(r[0].beside[0].second.detections, dp.detect(std::span(&views[0], 1))[0].detections,
                        "the padded version on cam1");
            // a second padded version: now both specs share a tensor each, all in one batch, the four side by side
            set.add("p2", "parts-v1@1.0.0#p2", std::make_unique<pipeline::Detector>(engine(dir / "padded.yaml")));
            set.set_beside(0, 3, true), set.set_beside(1, 3, true);
            auto r2 = set.collect(set.submit(views, owners));
            EXPECT_EQ(set.last_preprocesses(), 2);
            ASSERT_EQ(r2[0].beside.size(), 2u);
            ASSERT_EQ(r2[1].beside.size(), 2u);
            const auto own_p = dp.detect(views);
            for (std::size_t f = 0; f < 2; ++f)
                for (const auto& [v, result] : r2[f].beside)
                    expect_same(result.detections, v == 0 ? own1[f].detections : own_p[f].detections,
                                "version " + std::to_string(v) + " beside on frame " + std::to_string(f));
            expect_same(r2[1].result.detections, own2[0].detections, "v2 serving cam2 beside three others");
            set.set_beside(0, 3, false), set.set_beside(1, 3, false);
        }
    }
    set.serve(1, 0); // a switch: cam2 served by v1 from the next batch, v2 runs nowhere
    const std::vector<kernels::ImageView> views = {a[0].view, b[0].view};
    const std::vector<std::size_t> owners = {0, 1};
    auto r = set.collect(set.submit(views, owners));
    EXPECT_EQ(r[1].serving, 0);
    EXPECT_TRUE(r[1].beside.empty()) << "v1 no longer runs beside itself";
    fs::remove_all(dir);
}

/// A collector in a thread: acknowledges every sample, keeps per camera the models and class-list sizes they carry.
struct SampleCollector {
    std::map<std::string, std::set<std::string>> models;  ///< camera -> models its samples carry
    std::map<std::string, std::set<std::size_t>> classes; ///< camera -> their class lists' sizes
    std::atomic<bool> done{false};
    std::thread thread;
    explicit SampleCollector(const std::string& endpoint) {
        thread = std::thread([this, endpoint] {
            transport::SampleReceiver r({{endpoint}, 16, 0.1});
            while (!done.load())
                if (auto got = r.receive(std::chrono::milliseconds(100))) {
                    const auto s = transport::decode_sample(got->body);
                    models[s.pred.camera].insert(s.pred.model);
                    classes[s.pred.camera].insert(s.classes.size());
                    r.ack(got->source, s.id);
                }
        });
    }
    void stop() {
        done = true;
        if (thread.joinable()) thread.join();
    }
    ~SampleCollector() { stop(); }
};

/// A recording of the shadow line: its predictions by topic, cam2's last stats, the versions named by model_info.
struct ShadowRecording {
    std::map<std::string, std::vector<transport::PredMessage>> by_topic;
    std::map<std::string, double> stat2;
    std::set<std::string> infos;
};

ShadowRecording read_shadow_recording(transport::RecordingReader& rec) {
    ShadowRecording r;
    std::string topic;
    transport::Message m;
    while (rec.next(topic, m)) {
        if (auto* p = std::get_if<transport::PredMessage>(&m)) r.by_topic[topic].push_back(*p);
        if (auto* s = std::get_if<transport::StatMessage>(&m); s && s->camera == "cam2") r.stat2 = s->values;
        if (auto* e = std::get_if<transport::EventMessage>(&m); e && e->kind == "model_info")
            r.infos.insert(e->message);
    }
    return r;
}

/// cam2's serving and shadow messages matched frame by frame as the line matches them; checks that the disagree
/// flag is set on both messages exactly where they differ, and counts those frames in `flagged`.
template <class Versions>
pipeline::AgreementTally agreement_on_cam2(const std::map<std::string, std::vector<transport::PredMessage>>& by_topic,
                                           const Versions& versions, std::uint64_t& flagged) {
    pipeline::AgreementTally tally;
    for (std::size_t k = 0; k < 30; ++k) {
        const auto& serving = by_topic.at("pred/cam2")[k];
        const auto& shadow = by_topic.at("shadow/cam2")[k];
        const auto pairs = pipeline::match_versions(pipeline::version_boxes(serving, versions.at(serving.model)),
                                                    pipeline::version_boxes(shadow, versions.at(shadow.model)));
        bool differs = false;
        for (const auto& pr : pairs) {
            tally.both += pr.kind == pipeline::Agreement::kBoth;
            tally.only_a += pr.kind == pipeline::Agreement::kOnlyA;
            tally.only_b += pr.kind == pipeline::Agreement::kOnlyB;
            tally.class_changed += pr.kind == pipeline::Agreement::kClassChanged;
            differs = differs || pr.kind != pipeline::Agreement::kBoth;
        }
        EXPECT_EQ((serving.frame_flags & transport::kFrameDisagree) != 0, differs) << "frame " << k;
        EXPECT_EQ((shadow.frame_flags & transport::kFrameDisagree) != 0, differs) << "frame " << k;
        flagged += differs;
    }
    return tally;
}

// The whole line with two real versions (parts-v1 serving cam1, parts-v2 serving cam2, v1 in shadow): each camera's
// serving version on pred/<camera> with its model, v1 on shadow/<camera> where it does not serve, every seq once on
// each topic, both class lists in the recording's header, the agreement in the stats equal to matching the recorded
// messages, and the disagree flag exactly on the frames where they differ.
TEST(Line, ServingAndShadowVersionsGoOutOnTheirTopicsWithTheirAgreement) {
    auto dir = temp_dir("shadowline");
    render_scene(dir, 2, 1.0, 12, {"defaults.width=320", "defaults.height=240"});
    pipeline::RunConfig cfg = v2_on_cam2_beside_v1(dir);
    cfg.publish.predictions = "tcp://127.0.0.1:*";
    // every 5th frame sampled: a sample carries the version that served its frame (model, classes)
    cfg.publish.samples = "ipc://" + (dir / "samples").string();
    pipeline::SamplingStrategy every;
    every.name = "every", every.type = "random", every.ranked = false, every.fraction = 0.2;
    cfg.sampling.strategies = {every};
    cfg.sampling.dedupe_distance = -1;
    std::vector<std::unique_ptr<pipeline::Engine>> engines;
    for (const auto& v : cfg.models) engines.push_back(engine(v.file));
    pipeline::LineOptions o;
    o.record = dir / "run.slrec";
    o.stat_period_s = 1000; // one set of stats, at the end: the whole run's agreement
    o.linger_ms = 0;
    pipeline::Line line(cfg, std::move(engines), o);
    std::atomic<bool> stop{false};
    SampleCollector collector(cfg.publish.samples);
    const auto summary = line.run(stop);
    collector.stop();
    EXPECT_GT(summary.samples_acked, 0u);
    EXPECT_EQ(collector.models["cam1"], std::set<std::string>{"parts-v1@1.0.0"});
    EXPECT_EQ(collector.models["cam2"], std::set<std::string>{"parts-v2@1.0.0"}) << "the version that served cam2";
    EXPECT_EQ(collector.classes["cam2"], std::set<std::size_t>{6u}) << "with its six classes";
    EXPECT_EQ(collector.classes["cam1"], std::set<std::size_t>{5u});

    transport::RecordingReader rec(dir / "run.slrec");
    ASSERT_EQ(rec.header().versions.size(), 2u);
    EXPECT_EQ(rec.header().versions.at("parts-v2@1.0.0").back(), "gear") << "v2's own class list";
    const ShadowRecording recorded = read_shadow_recording(rec);
    const auto& by_topic = recorded.by_topic;
    const auto& stat2 = recorded.stat2;
    EXPECT_EQ(recorded.infos, std::set<std::string>{"parts-v2@1.0.0"}) << "the second version's classes for consumers";
    EXPECT_EQ((std::set<std::string>{"pred/cam1", "pred/cam2", "shadow/cam2"}), [&] {
        std::set<std::string> t;
        for (const auto& [k, v] : by_topic) t.insert(k);
        return t;
    }()) << "no shadow of cam1: v1 serves it";
    for (const auto& [t, msgs] : by_topic) {
        ASSERT_EQ(msgs.size(), 30u) << t;
        for (std::size_t k = 0; k < msgs.size(); ++k) EXPECT_EQ(msgs[k].seq, k) << t << ": every seq once, in order";
        const bool shadow = t.rfind("shadow/", 0) == 0;
        for (const auto& p : msgs) {
            EXPECT_EQ(p.shadow, shadow);
            EXPECT_EQ(p.model, t == "pred/cam2" ? "parts-v2@1.0.0" : "parts-v1@1.0.0") << t;
        }
    }
    std::uint64_t flagged = 0;
    const pipeline::AgreementTally tally = agreement_on_cam2(by_topic, rec.header().versions, flagged);
    EXPECT_GT(tally.both, 0u) << "two versions of one lineage agree on most parts";
    EXPECT_EQ(stat2.at("agreement_v1_frames"), 30);
    EXPECT_EQ(stat2.at("agreement_v1_disagree_frames"), static_cast<double>(flagged));
    EXPECT_EQ(stat2.at("agreement_v1_both"), static_cast<double>(tally.both));
    EXPECT_EQ(stat2.at("agreement_v1_only_serving"), static_cast<double>(tally.only_a));
    EXPECT_EQ(stat2.at("agreement_v1_only_shadow"), static_cast<double>(tally.only_b));
    EXPECT_EQ(stat2.at("agreement_v1_class_changed"), static_cast<double>(tally.class_changed));
    EXPECT_NEAR(stat2.at("agreement_v1_rate"), tally.agreement(), 1e-12);
    // sightline compare of the one recording: what ran beside against what served, the same counts
    const auto c = pipeline::compare_recordings(dir / "run.slrec", "");
    EXPECT_EQ(c.model_a, "parts-v1@1.0.0, parts-v2@1.0.0") << "cam1 served by v1, cam2 by v2";
    EXPECT_EQ(c.model_b, "parts-v1@1.0.0");
    ASSERT_EQ(c.by_camera.size(), 1u);
    EXPECT_EQ(c.all.frames, 30u);
    EXPECT_EQ(c.all.frames_disagreeing, flagged);
    EXPECT_EQ(c.all.both, tally.both);
    EXPECT_EQ(c.all.only_a, tally.only_a);
    EXPECT_EQ(c.all.only_b, tally.only_b);
    EXPECT_EQ(c.all.class_changed, tally.class_changed);
    EXPECT_EQ(c.frames_only_in_a, 30u) << "cam1's frames have no shadow";
    fs::remove_all(dir);
}

} // namespace

namespace {

// A candidate that drops about half the detections (parts-v1 at a threshold its median detection scores about)
// serves cam1 under rollout with parts-v1 at its own threshold as fallback: the guardrails (the defaults, and with the
// camera's ground truth the missed, false-alarm and AP50 ones) roll it back, with a model_switched event that names
// both versions and the evidence, within 10 s of stream time (300 frames at 30 fps), and from the next batch on cam1 is
// served by the fallback, the candidate running nowhere.
TEST(Line, ACandidateThatDropsHalfTheDetectionsIsRolledBackWithinTenSeconds) {
    auto dir = temp_dir("rollback");
    render_scene(dir, 1, 14.0, 21, {"defaults.width=320", "defaults.height=240"});
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (dir / "cam1.mp4").string(), {}, false, false});
    cfg.cameras[0].model = "cand";
    cfg.cameras[0].ground_truth = dir / "cam1.json"; // the ground-truth guardrails join the defaults
    cfg.models = {{"base", kV1, {}}, {"cand", kV1, {}}};
    cfg.models[1].thresholds.confidence = 0.9f;
    cfg.model = kV1;
    cfg.rollout = pipeline::LineRolloutConfig{"cand", "base", false, {}};
    cfg.publish.predictions = "tcp://127.0.0.1:*";
    cfg.batching.max_batch = 4;
    std::vector<std::unique_ptr<pipeline::Engine>> engines;
    for (const auto& v : cfg.models) engines.push_back(engine(v.file));
    pipeline::LineOptions o;
    o.record = dir / "run.slrec";
    o.linger_ms = 0;
    pipeline::Line line(cfg, std::move(engines), o);
    std::atomic<bool> stop{false};
    line.run(stop);

    transport::RecordingReader rec(dir / "run.slrec");
    std::string topic;
    transport::Message m;
    std::optional<transport::EventMessage> switched;
    std::int64_t switch_pts = -1, first_pts = -1;
    double cand = 0, base = 0, paired = 0;
    std::uint64_t shadows_after = 0, served_by_base_after = 0, served_by_cand_after = 0, last_pred_seq = 0;
    std::uint64_t rest_of_deciding_batch = 0; // the deciding frame's batch-mates: formed before the switch
    std::int64_t last_pts = 0, last_batched = -1, deciding_batch = -1;
    while (rec.next(topic, m)) {
        if (auto* e = std::get_if<transport::EventMessage>(&m); e && e->kind == "model_switched")
            switched = *e, switch_pts = last_pts, deciding_batch = last_batched;
        auto* p = std::get_if<transport::PredMessage>(&m);
        if (!p) continue;
        if (first_pts < 0) first_pts = p->pts_ns;
        const auto batched = p->stamps_ns.count("batched") ? p->stamps_ns.at("batched") : -2;
        if (!switched) {
            (p->shadow ? base : cand) += static_cast<double>(p->scores.size());
            paired += p->shadow ? 1 : 0;
        } else if (batched == deciding_batch) {
            rest_of_deciding_batch += p->shadow ? 0 : 1;
        } else {
            shadows_after += p->shadow;
            if (!p->shadow) {
                served_by_base_after += p->model == "parts-v1@1.0.0#base";
                served_by_cand_after += p->model == "parts-v1@1.0.0#cand";
            }
        }
        if (!p->shadow) last_pts = p->pts_ns, last_pred_seq = p->seq, last_batched = batched;
    }
    ASSERT_GT(base, 0);
    const double kept = cand / base;
    std::printf("candidate kept %.2f of the fallback's detections over %.0f paired frames\n", kept, paired);
    EXPECT_GT(kept, 0.3);
    EXPECT_LT(kept, 0.7) << "the candidate drops about half";
    ASSERT_TRUE(switched) << "no rollback";
    ASSERT_TRUE(switched->switched);
    EXPECT_EQ(switched->camera, "cam1");
    EXPECT_EQ(switched->switched->reason, "rollback");
    EXPECT_EQ(switched->switched->from, "parts-v1@1.0.0#cand");
    EXPECT_EQ(switched->switched->to, "parts-v1@1.0.0#base");
    EXPECT_NE(switched->switched->evidence.find("detections"), std::string::npos) << switched->switched->evidence;
    EXPECT_NE(switched->switched->evidence.find("missed +"), std::string::npos)
        << "against the ground truth, the candidate misses more: " << switched->switched->evidence;
    EXPECT_NE(switched->switched->evidence.find("ap50 -"), std::string::npos)
        << "and its blocks' AP50 falls: " << switched->switched->evidence;
    const double after_s = static_cast<double>(switch_pts - first_pts) / 1e9;
    std::printf("rolled back after %.2f s of stream time: %s\n", after_s, switched->switched->evidence.c_str());
    EXPECT_LE(after_s, 10.0);
    // the switch acts from the next batch on: the deciding frame's batch-mates (none when the batches of 4 happen
    // to end at the deciding frame, as they do when the decoder keeps ahead) ran before it
    EXPECT_LT(rest_of_deciding_batch, 4u);
    EXPECT_EQ(shadows_after, 0u) << "the candidate stops: it is not in shadow:";
    EXPECT_EQ(served_by_cand_after, 0u) << "a batch formed after the switch is served by the fallback";
    EXPECT_GT(served_by_base_after, 60u);
    EXPECT_EQ(last_pred_seq, 14u * 30 - 1) << "no frame lost across the switch";
    fs::remove_all(dir);
}

} // namespace

namespace {

nlohmann::json ask(const std::string& endpoint, const std::string& body) {
    return nlohmann::json::parse(transport::control_request(endpoint, body, std::chrono::seconds(30)));
}

/// A hot-swap run's recording: its switch events, each camera's model per seq (checked in order), its drops.
struct SwapRecording {
    std::vector<std::string> events;
    std::map<std::string, std::vector<std::string>> models; ///< camera -> model per seq
    std::map<std::string, double> dropped; ///< camera -> frames the live source dropped (the line behind), last stat
    explicit SwapRecording(const fs::path& file) {
        transport::RecordingReader rec(file);
        std::string topic;
        transport::Message m;
        std::map<std::string, std::uint64_t> next;
        while (rec.next(topic, m)) { // v2's gear class is read against v2's classes: learned from its model_info
            if (auto* st = std::get_if<transport::StatMessage>(&m))
                dropped[st->camera] = st->values.at("dropped_behind_total") + st->values.at("dropped_late_total");
            if (auto* e = std::get_if<transport::EventMessage>(&m);
                e && (e->kind == "model_loaded" || e->kind == "model_switched"))
                events.push_back(e->kind + (e->switched ? " " + e->camera + " " + e->switched->reason : ""));
            auto* p = std::get_if<transport::PredMessage>(&m);
            if (!p) continue;
            EXPECT_EQ(p->seq, next[p->camera]++) << p->camera << ": every seq once, in order";
            models[p->camera].push_back(p->model);
        }
    }
};

/// The control socket refuses each malformed or impossible request with its reason.
void expect_bad_requests_refused(const std::string& ep) {
    for (const auto& [body, why] : std::vector<std::pair<std::string, std::string>>{
             {"{", "malformed JSON"},
             {R"({"command": "fly"})", "unknown command 'fly'"},
             {R"({"command": "serve", "camera": "cam1"})", "'id' missing"},
             {R"({"command": "load", "id": "v2", "file": "nope/model.yaml"})", "nope/model.yaml"},
             {R"({"command": "serve", "camera": "cam1", "id": "v2"})", "no version 'v2' is loaded"},
             {R"({"command": "serve", "camera": "cam9", "id": "default"})", "no camera 'cam9'"},
             {R"({"command": "unload", "id": "default"})", "serves cam1: serve another version there first"}}) {
        const auto r = ask(ep, body);
        EXPECT_FALSE(r["ok"]) << body;
        EXPECT_NE(r.value("error", "").find(why), std::string::npos) << body << " -> " << r;
    }
}

/// The hot swap's recording: the events in order, and each camera served by v1, then v2, then v1 to the end, with
/// every frame accounted for.
void expect_swapped_there_and_back(const fs::path& recording) {
    SwapRecording swap(recording);
    auto& [events, models, dropped] = swap;
    EXPECT_EQ(events,
              (std::vector<std::string>{"model_loaded", "model_switched cam1 operator", "model_switched cam2 operator",
                                        "model_switched cam1 operator", "model_switched cam2 operator"}));
    for (const auto& [cam, seq] : models) {
        // every frame accounted for: published (each seq once) or counted as dropped by a line that fell behind
        // real time (never on a plain build of this test; a sanitizer's slowdown can make it drop: the swap's own
        // loss is measured by bench/linespeed/bench_swap.py)
        EXPECT_EQ(static_cast<double>(seq.size()) + dropped[cam], 180.0) << cam << ": no frame lost unaccounted";
        // v1, then v2 from its switch, then v1 again to the end: two changes
        const auto first_v2 = std::find(seq.begin(), seq.end(), "parts-v2@1.0.0");
        ASSERT_NE(first_v2, seq.end()) << cam;
        EXPECT_GT(first_v2 - seq.begin(), 0) << cam;
        const auto back = std::find(first_v2, seq.end(), "parts-v1@1.0.0");
        ASSERT_NE(back, seq.end()) << cam << ": served by v1 again";
        EXPECT_EQ(std::count(first_v2, back, "parts-v2@1.0.0"), back - first_v2) << cam;
        EXPECT_EQ(std::count(back, seq.end(), "parts-v1@1.0.0"), seq.end() - back) << cam;
    }
}

// Hot swap (issue 26, part 4): a running line (two cameras at real time, parts-v1) takes parts-v2 through its control
// socket: bad requests are refused with their reason and change nothing, the load is checked on a real frame, each
// camera switches at a batch boundary with a model_switched event, the first version cannot be unloaded, and the
// consumer's view (the recording) has every seq of each camera once and every frame accounted for, the model
// changing to v2 and back. `sightline ctl` speaks to the same socket.
TEST(Line, HotSwapLoadsServesAndUnloadsWithoutLosingAFrame) {
    auto dir = temp_dir("hotswap");
    render_scene(dir, 2, 6.0, 31, {"defaults.width=320", "defaults.height=240"});
    pipeline::RunConfig cfg;
    for (const char* cam : {"cam1", "cam2"})
        cfg.cameras.push_back({cam, (dir / (std::string(cam) + ".mp4")).string(), {}, true, false});
    cfg.model = kV1;
    cfg.engine = "opencv";
    cfg.path = dir / "run.yaml";
    cfg.publish.predictions = "tcp://127.0.0.1:*";
    cfg.publish.control = "ipc://" + (dir / "control").string();
    pipeline::LineOptions o;
    o.record = dir / "run.slrec";
    o.linger_ms = 0;
    pipeline::Line line(cfg, engine(kV1), o);
    std::atomic<bool> stop{false};
    bool summary_ok = false;
    std::thread running([&] {
        line.run(stop);
        summary_ok = true;
    });
    struct Join { // a failed assertion still ends the line and its thread
        std::atomic<bool>& stop;
        std::thread& t;
        ~Join() {
            if (t.joinable()) stop = true, t.join();
        }
    } join{stop, running};
    const std::string ep = cfg.publish.control;
    nlohmann::json status = nlohmann::json::object();
    for (int k = 0; k < 100 && !status.value("ok", false); ++k) {
        status = ask(ep, R"({"command": "status"})");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(status["ok"]) << status;
    EXPECT_EQ(status["versions"].size(), 1u);
    EXPECT_EQ(status["cameras"][0]["serving"], "default");
    expect_bad_requests_refused(ep);
    const auto loaded = ask(ep, nlohmann::json{{"command", "load"}, {"id", "v2"}, {"file", kV2.string()}}.dump());
    ASSERT_TRUE(loaded["ok"]) << loaded;
    EXPECT_EQ(loaded["model"], "parts-v2@1.0.0");
    EXPECT_NE(loaded["checks"].dump().find("a real frame of the line"), std::string::npos) << loaded;
    EXPECT_TRUE(ask(ep, R"({"command": "serve", "camera": "cam1", "id": "v2"})")["ok"]);
    const auto cli = sightline::testing::run_binary("ctl " + ep + " serve cam2 v2");
    EXPECT_EQ(cli.code, 0) << cli.output;
    EXPECT_NE(cli.output.find("\"changed\": true"), std::string::npos) << cli.output;
    const auto refused = sightline::testing::run_binary("ctl " + ep + " unload v2");
    EXPECT_EQ(refused.code, 1) << refused.output;
    EXPECT_NE(refused.output.find("serves cam1"), std::string::npos) << refused.output;
    status = ask(ep, R"({"command": "status"})");
    EXPECT_EQ(status["cameras"][1]["serving"], "v2") << status;
    const auto first = ask(ep, R"({"command": "unload", "id": "default"})");
    EXPECT_NE(first.value("error", "").find("the line's first"), std::string::npos) << first;
    // and back: cam1 to the first version, v2 unloaded from cam2 once it serves nothing; the line runs on (its stats
    // and events keep going out after the unload)
    EXPECT_TRUE(ask(ep, R"({"command": "serve", "camera": "cam1", "id": "default"})")["ok"]);
    EXPECT_TRUE(ask(ep, R"({"command": "serve", "camera": "cam2", "id": "default"})")["ok"]);
    const auto unloaded = ask(ep, R"({"command": "unload", "id": "v2"})");
    EXPECT_TRUE(unloaded["ok"]) << unloaded;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500)); // a stat period after the unload
    status = ask(ep, R"({"command": "status"})");
    EXPECT_EQ(status["versions"].size(), 1u) << status;
    running.join();
    EXPECT_EQ(sightline::testing::run_binary("ctl " + ep + " status --timeout-s 0.5").code, 2) << "no line there";
    EXPECT_TRUE(summary_ok) << "the line ran to its end";

    expect_swapped_there_and_back(dir / "run.slrec");
    fs::remove_all(dir);
}

} // namespace

namespace {

// For the next GPU run (bench/gpu/run.sh): with NVDEC frames in device memory each version preprocesses them on the
// GPU itself (one device tensor shared by several engines is not built), and the serving and shadow versions find
// what they find on the CPU line, frame by frame.
/// A host frame's planes copied into one device buffer, and the view of them there.
kernels::ImageView to_device(const kernels::ImageView& host, kernels::DeviceBuffer& buffer) {
    kernels::ImageView dev = host;
    std::size_t bytes[3] = {}, total = 0;
    for (int i = 0; i < 3 && host.planes[i]; ++i) {
        const bool full = i == 0 || host.format == kernels::PixelFormat::kBGR;
        bytes[i] = static_cast<std::size_t>(host.pitch[i]) * (full ? host.height : (host.height + 1) / 2);
        total += bytes[i];
    }
    buffer.reserve(total);
    auto* at = static_cast<std::uint8_t*>(buffer.data());
    for (int i = 0; i < 3 && host.planes[i]; ++i) {
        kernels::copy_host_to_device(at, host.planes[i], bytes[i]);
        dev.planes[i] = at, at += bytes[i];
    }
    dev.where = kernels::MemoryLocation::kDevice;
    return dev;
}

// Frames in device memory (as NVDEC leaves them): versions of one input spec share one CUDA preprocess, an engine
// that reads device memory (LibTorch with CUDA) reading the tensor where it lies, one that reads host memory
// (OpenCV) getting it copied back once; a version running on some of the frames gets its rows gathered on the
// device. Every version answers as its own Detector does on the same device frames.
class DeviceBatch : public ::testing::TestWithParam<const char*> {};

TEST_P(DeviceBatch, VersionsOfOneInputShareOneCudaPreprocess) {
    SL_GPU_SKIP_UNLESS(kernels::cuda_available(), kernels::describe_device());
    const std::string name = GetParam();
    SL_GPU_SKIP_UNLESS(name != "libtorch" || pipeline::libtorch_available(), "no LibTorch in this build");
    auto dir = temp_dir("devicebatch");
    render_scene(dir, 2, 0.5, 12, {"defaults.width=320", "defaults.height=240"});
    const auto make = [&](const fs::path& yaml) {
        return pipeline::make_engine(name, pipeline::load_model_spec(yaml));
    };
    pipeline::RunConfig cfg = v2_on_cam2_beside_v1(dir); // v1 on both frames, v2 on cam2's: its row gathered
    write_padded_v1(dir / "padded.yaml"); // two versions of a second input spec: a second shared device tensor
    cfg.models.push_back({"p", dir / "padded.yaml", {}});
    cfg.models.push_back({"p2", dir / "padded.yaml", {}});
    std::vector<std::unique_ptr<pipeline::Engine>> engines;
    for (const auto& v : cfg.models) engines.push_back(make(v.file));
    pipeline::ModelSet set(cfg, std::move(engines));
    pipeline::Detector d1(make(kV1)), d2(make(kV2)), dp(make(dir / "padded.yaml"));
    const auto a = frames_of(dir / "cam1.mp4", 2), b = frames_of(dir / "cam2.mp4", 2);
    for (int k = 0; k < 2; ++k) {
        kernels::DeviceBuffer ba, bb;
        const std::vector<kernels::ImageView> views = {to_device(a[k].view, ba), to_device(b[k].view, bb)};
        const std::vector<std::size_t> owners = {0, 1};
        auto results = set.collect(set.submit(views, owners));
        EXPECT_EQ(set.last_preprocesses(), 1) << "v1 and v2 read one device tensor";
        ASSERT_EQ(results.size(), 2u);
        ASSERT_EQ(results[1].beside.size(), 1u);
        const auto own1 = d1.detect(views);
        const auto own2 = d2.detect(std::span(&views[1], 1));
        expect_same(results[0].result.detections, own1[0].detections, name + ": v1 serving cam1");
        expect_same(results[1].beside[0].second.detections, own1[1].detections, name + ": v1 beside v2 on cam2");
        expect_same(results[1].result.detections, own2[0].detections, name + ": v2 serving cam2 (gathered row)");
        EXPECT_NEAR(results[1].result.luma.mean, own2[0].luma.mean, 1e-3);
        EXPECT_NEAR(results[1].result.luma.sharpness, own2[0].luma.sharpness, 1e-2 * own2[0].luma.sharpness + 1e-3);
        if (k == 1) { // the padded pair beside on cam1: two shared tensors in one batch, each intact for its jobs
            set.set_beside(0, 2, true), set.set_beside(0, 3, true);
            auto r = set.collect(set.submit(views, owners));
            EXPECT_EQ(set.last_preprocesses(), 2);
            ASSERT_EQ(r[0].beside.size(), 2u);
            const auto own = dp.detect(std::span(&views[0], 1));
            expect_same(r[0].result.detections, own1[0].detections, name + ": v1 beside the padded pair");
            for (const auto& [v, result] : r[0].beside) expect_same(result.detections, own[0].detections, name);
        }
    }
    fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Engines, DeviceBatch, ::testing::Values("opencv", "libtorch"));

TEST(Models, GpuLineRunsEveryVersionAsTheCpuLine) {
    SL_GPU_SKIP_UNLESS(kernels::cuda_available(), kernels::describe_device());
    auto dir = temp_dir("gpumodels");
    render_scene(dir, 2, 1.0, 41, {"defaults.width=320", "defaults.height=240"});
    using Frames = std::map<std::string, std::vector<std::vector<pipeline::Detection>>>; // camera/version -> frames
    const auto run_line = [&](pipeline::Decoder decoder) {
        pipeline::RunConfig cfg;
        for (const char* cam : {"cam1", "cam2"}) {
            cfg.cameras.push_back({cam, (dir / (std::string(cam) + ".mp4")).string(), {}, false, false});
            cfg.cameras.back().decode = decoder;
        }
        cfg.models = {{"v1", kV1, {}}, {"v2", kV2, {}}};
        cfg.model = kV1;
        cfg.shadow = {"v2"};
        std::vector<std::unique_ptr<pipeline::Engine>> engines;
        for (const auto& v : cfg.models) engines.push_back(engine(v.file));
        pipeline::Runner r(cfg, std::move(engines));
        std::atomic<bool> stop{false};
        Frames out;
        const auto summary = r.run(
            [&](const pipeline::FrameOutput& f) {
                out[f.camera + "/serving"].push_back(f.detections);
                for (const auto& s : f.shadows) out[f.camera + "/shadow"].push_back(s.detections);
            },
            stop);
        for (auto d : summary.decoders) EXPECT_EQ(d, decoder) << "the GPU line's frames must come from NVDEC";
        return out;
    };
    const Frames cpu = run_line(pipeline::Decoder::kCpu), gpu = run_line(pipeline::Decoder::kNvdec);
    ASSERT_EQ(cpu.size(), 4u);
    for (const auto& [key, frames] : cpu) {
        ASSERT_EQ(gpu.at(key).size(), frames.size()) << key;
        for (std::size_t k = 0; k < frames.size(); ++k) {
            const auto &a = frames[k], &b = gpu.at(key)[k];
            ASSERT_EQ(a.size(), b.size()) << key << " frame " << k;
            for (std::size_t d = 0; d < a.size(); ++d) {
                EXPECT_EQ(a[d].cls, b[d].cls) << key << " frame " << k;
                EXPECT_NEAR(a[d].score, b[d].score, 1e-3) << key << " frame " << k;
                EXPECT_NEAR(a[d].x1, b[d].x1, 1.0) << key << " frame " << k;
                EXPECT_NEAR(a[d].y2, b[d].y2, 1.0) << key << " frame " << k;
            }
        }
    }
    fs::remove_all(dir);
}

} // namespace

namespace {

/// A camera's final online evaluation figures from a run of `cfg` (one set of stats at the end).
std::map<std::string, double> final_eval(pipeline::RunConfig cfg, const fs::path& record) {
    std::vector<std::unique_ptr<pipeline::Engine>> engines;
    for (const auto& v : cfg.versions()) engines.push_back(engine(v.file));
    pipeline::LineOptions o;
    o.record = record;
    o.stat_period_s = 1000;
    o.linger_ms = 0;
    pipeline::Line line(cfg, std::move(engines), o);
    std::atomic<bool> stop{false};
    line.run(stop);
    transport::RecordingReader rec(record);
    std::string topic;
    transport::Message m;
    std::map<std::string, double> out;
    while (rec.next(topic, m))
        if (auto* st = std::get_if<transport::StatMessage>(&m))
            for (const auto& [k, v] : st->values)
                if (k.rfind("eval_", 0) == 0) out[k] = v;
    return out;
}

// A camera served by another version than the line's first is evaluated online with the serving version's class
// names: parts-v1 with its class list reversed (another version's class order) scores exactly as on a line where it
// is the only version (scored by the first version's names, its nuts would be washers).
TEST(Line, ACameraServedByAnotherVersionIsEvaluatedWithItsClasses) {
    auto dir = temp_dir("versioneval");
    render_scene(dir, 1, 2.0, 51, {"defaults.width=320", "defaults.height=240"});
    std::ofstream(dir / "reversed.yaml") << [&] {
        std::ifstream in(kV1);
        std::string s((std::istreambuf_iterator<char>(in)), {});
        s.replace(s.find("classes: [bolt, nut, washer, bracket, defect]"), 45,
                  "classes: [defect, bracket, washer, nut, bolt]");
        s.replace(s.find("file: model.onnx"), 16, "file: " + (kRoot / "models/parts-v1/model.onnx").string());
        return s;
    }();
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (dir / "cam1.mp4").string(), {}, false, false});
    cfg.cameras[0].ground_truth = dir / "cam1.json";
    cfg.publish.predictions = "tcp://127.0.0.1:*";
    cfg.model = dir / "reversed.yaml";
    const auto alone = final_eval(cfg, dir / "alone.slrec");
    cfg.models = {{"v1", kV1, {}}, {"reversed", dir / "reversed.yaml", {}}};
    cfg.cameras[0].model = "reversed";
    const auto served = final_eval(cfg, dir / "served.slrec");
    ASSERT_GT(alone.at("eval_fp"), 0) << "the reversed names are wrong on most parts";
    for (const char* k : {"eval_tp", "eval_fp", "eval_fn", "eval_ap50"})
        EXPECT_EQ(served.at(k), alone.at(k)) << k << ": the same detections, scored with the same class names";
    // and `sightline eval` of the recordings reads each message by its own version's class names
    const auto offline = [&](const fs::path& rec) {
        pipeline::EvalOptions e;
        e.gt = (dir / "cam1.json").string(), e.dt = rec.string(), e.coco_only = true;
        return pipeline::build_eval_report(e).coco.stats;
    };
    const auto alone_stats = offline(dir / "alone.slrec"), served_stats = offline(dir / "served.slrec");
    EXPECT_GT(alone_stats[1], 0.05) << "AP50 with the reversed names: low, not undefined";
    for (int k : {0, 1, 8}) EXPECT_DOUBLE_EQ(served_stats[k], alone_stats[k]) << "COCO stat " << k;
    fs::remove_all(dir);
}

// `sightline compare` of one recording with ground truth (compare --gt): the version that ran beside the serving one
// is scored on the frames it ran exactly as a run of that version alone, the serving one as a run of it alone, the
// paired intervals as `sightline eval --compare` of the two separate runs gives them.
TEST(Line, CompareScoresAShadowOnTheGroundTruthAsARunOfThatVersionAlone) {
    auto dir = temp_dir("shadowtruth");
    render_scene(dir, 1, 2.0, 52, {"defaults.width=320", "defaults.height=240"});
    pipeline::RunConfig cfg;
    cfg.cameras.push_back({"cam1", (dir / "cam1.mp4").string(), {}, false, false});
    cfg.publish.predictions = "tcp://127.0.0.1:*";
    cfg.model = kV2;
    final_eval(cfg, dir / "v2.slrec");
    cfg.model = kV1;
    final_eval(cfg, dir / "v1.slrec");
    cfg.models = {{"v1", kV1, {}}, {"v2", kV2, {}}};
    cfg.shadow = {"v2"}; // v1 serves, v2 beside it on every frame
    final_eval(cfg, dir / "both.slrec");

    auto c = pipeline::compare_recordings(dir / "both.slrec", {}, 0.5, 24, nullptr);
    pipeline::add_ground_truth(c, dir / "cam1.json", "", 50, 7);
    ASSERT_TRUE(c.accuracy && c.accuracy->compare);
    EXPECT_NE(c.accuracy->b.model.find("parts-v2"), std::string::npos) << c.accuracy->b.model;
    EXPECT_NE(c.accuracy->a.model.find("parts-v1"), std::string::npos) << c.accuracy->a.model;
    pipeline::EvalOptions e;
    e.gt = (dir / "cam1.json").string(), e.dt = (dir / "v1.slrec").string(), e.compare = (dir / "v2.slrec").string();
    e.bootstrap = 50, e.seed = 7;
    const auto separate = pipeline::build_eval_report(e);
    ASSERT_TRUE(separate.compare);
    const auto& got = c.accuracy->compare->metrics;
    const auto& want = separate.compare->metrics;
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
        EXPECT_DOUBLE_EQ(got[k].a, want[k].a) << got[k].name;
        EXPECT_DOUBLE_EQ(got[k].b, want[k].b) << got[k].name;
        const auto same = [](double x, double y) { return (std::isnan(x) && std::isnan(y)) || x == y; };
        EXPECT_TRUE(same(got[k].lower, want[k].lower)) << got[k].name << ": " << got[k].lower << " " << want[k].lower;
        EXPECT_TRUE(same(got[k].upper, want[k].upper)) << got[k].name << ": " << got[k].upper << " " << want[k].upper;
    }
    EXPECT_NE(got[1].a, got[1].b) << "two versions, two AP50s";
    const auto j = nlohmann::json::parse(pipeline::comparison_json(c));
    EXPECT_DOUBLE_EQ(j["ground_truth"]["metrics"]["AP50"]["b"].get<double>(), want[1].b);
    // a recording without a version beside the serving one has no shadow to score
    auto plain = pipeline::compare_recordings(dir / "v1.slrec", dir / "v2.slrec", 0.5, 24, nullptr);
    pipeline::add_ground_truth(plain, dir / "cam1.json", "", 50, 7);
    EXPECT_DOUBLE_EQ(plain.accuracy->compare->metrics[1].b, want[1].b) << "two recordings: b's own pred messages";
    fs::remove_all(dir);
}

} // namespace
