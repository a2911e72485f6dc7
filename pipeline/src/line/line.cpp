#include "sightline/pipeline/line.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <vector>

#include "control/line_control.hpp"
#include "line/samples_outbox.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/curate.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/pipeline/rollout.hpp"
#include "sightline/pipeline/stats.hpp"
#include "sightline/pipeline/versions.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/transport/checks.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"
#include "source/source.hpp"

namespace sightline::pipeline {

std::int64_t wall_clock_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

transport::PredMessage to_pred_message(const FrameOutput& f, const std::string& model,
                                       const std::map<std::string, std::string>& meta, std::int64_t published_ns) {
    transport::PredMessage m;
    m.camera = f.camera;
    m.seq = f.seq;
    m.pts_ns = f.pts_ns;
    m.frame = f.frame;
    m.width = f.width;
    m.height = f.height;
    m.model = model;
    const std::size_t n = f.detections.size();
    m.boxes.reserve(4 * n);
    m.scores.reserve(n), m.classes.reserve(n), m.flags.reserve(n), m.margins.reserve(n), m.entropies.reserve(n);
    m.track_ids.reserve(n);
    for (const Detection& d : f.detections) {
        m.boxes.insert(m.boxes.end(), {d.x1, d.y1, d.x2, d.y2});
        m.scores.push_back(d.score);
        m.classes.push_back(d.cls);
        m.flags.push_back(d.flags);
        m.margins.push_back(d.margin);
        m.entropies.push_back(d.entropy);
        m.track_ids.push_back(d.track_id);
    }
    m.stamps_ns = {{"arrival", f.stamps.arrival_ns},
                   {"decoded", f.stamps.decoded_ns},
                   {"batched", f.stamps.batched_ns},
                   {"inferred", f.stamps.inferred_ns},
                   {"published", published_ns}};
    m.meta = meta;
    m.luma = f.luma.mean;
    m.sharpness = f.luma.sharpness;
    m.contrast = f.luma.stddev;
    m.frame_flags = f.frame_flags;
    m.uncertainty = f.uncertainty;
    return m;
}

namespace {
std::string security_note(const transport::CurveServer& curve) {
    return " (CURVE: " +
           (curve.authorized.empty() ? std::string("any client holding it")
                                     : std::to_string(curve.authorized.size()) + " authorized client key(s)") +
           ")";
}

/// A blank (pad-grey) frame of the model's input size through the whole detect path: its detections' count.
std::size_t blank_frame_detections(Detector& det) {
    const auto& p = det.spec().preprocess;
    std::vector<std::uint8_t> blank(static_cast<std::size_t>(p.input_width) * p.input_height * 3, 114);
    kernels::ImageView v;
    v.format = kernels::PixelFormat::kBGR, v.width = p.input_width, v.height = p.input_height;
    v.planes[0] = blank.data(), v.pitch[0] = 3 * p.input_width;
    return det.detect(std::span(&v, 1))[0].detections.size();
}

/// What a version did on a frame, as the guardrails read it.
FrameMetrics metrics_of(const FrameOutput& f, std::int64_t now_ns) {
    FrameMetrics m;
    m.detections = static_cast<double>(f.detections.size());
    for (const Detection& d : f.detections) m.mean_score += d.score / m.detections;
    m.flagged = (f.frame_flags & ~transport::kFrameDisagree) != 0 ? 1 : 0; // disagreeing is both versions' flag
    m.latency_ms = static_cast<double>(now_ns - f.stamps.arrival_ns) / 1e6;
    return m;
}

} // namespace

struct Line::Impl {
    LineOptions options;
    Runner runner;
    std::vector<std::string> models; ///< per version: name@version as its messages carry it
    std::string model;               ///< the first version's
    std::string line;                ///< the config's, or the default (a config built in code may leave it empty)
    std::string run;                 ///< this run of the line: start time (ns since the epoch) and process id
    transport::Publisher publisher;
    std::unique_ptr<transport::RecordingWriter> recorder;
    bool record_failed = false;
    std::vector<CameraStats> stats;
    std::vector<std::unique_ptr<CocoGroundTruth>> truths;
    std::vector<std::unique_ptr<OnlineEvaluator>> evaluators; ///< per camera; null without ground truth
    std::vector<std::size_t> truth_index;                     ///< per camera: its entry in `truths`
    /// (camera, version) -> its frames matched to the camera's truth with the version's classes (rollout guardrails)
    std::map<std::pair<std::size_t, int>, std::unique_ptr<OnlineEvaluator>> truth_matchers;
    std::unique_ptr<Sampler> sampler; ///< with publish.samples
    std::unique_ptr<detail::SamplesOutbox> outbox;
    std::uint64_t refused_logged = 0;
    transport::LogEvery refused_log;
    /// Per camera, per version beside the serving one: how they agreed in this stat window.
    std::vector<std::map<int, AgreementTally>> agreement;
    /// Per camera under rollout: the guardrails (null elsewhere, and once decided).
    std::vector<std::unique_ptr<Rollout>> rollouts;
    std::vector<bool> passed; ///< per camera: its candidate passed once (promote: false), said in an event
    int candidate = -1, fallback = -1;
    std::unique_ptr<detail::LineControl> control; ///< with publish.control

    Impl(RunConfig config, std::vector<std::unique_ptr<Engine>> engines, LineOptions o)
        : options(std::move(o)), runner(std::move(config), std::move(engines)), models(model_names(runner.models())),
          model(models.front()), line(runner.config().line.empty() ? default_line_name() : runner.config().line),
          run(std::to_string(wall_clock_ns()) + "-" + std::to_string(getpid())),
          publisher({runner.config().publish.predictions, runner.config().publish.send_hwm, options.linger_ms,
                     runner.config().publish.curve}) {
        const RunConfig& cfg = runner.config();
        runner.models().set_side_by_side(options.versions_side_by_side);
        stats.resize(cfg.cameras.size());
        agreement.resize(cfg.cameras.size());
        rollouts.resize(cfg.cameras.size());
        passed.assign(cfg.cameras.size(), false);
        describe_versions();
        start_control();
        load_ground_truth();
        log_publishing();
        start_samples();
        start_recording();
    }

    /// publish.control: the control socket and its operations (hot swap, docs/versions.md).
    void start_control() {
        const RunConfig& cfg = runner.config();
        if (cfg.publish.control.empty()) return;
        control = std::make_unique<detail::LineControl>(
            cfg.publish.control, cfg.publish.curve,
            detail::LineControl::Ops{
                [this] { return control_status(); },
                [this](const ControlRequest& r, std::unique_ptr<Detector> d) { return control_add(r, std::move(d)); },
                [this](const ControlRequest& r) { return control_serve(r); },
                [this](const ControlRequest& r) { return control_unload(r); }},
            [this](const ControlRequest& r, const OwnedFrame* frame, std::vector<std::string>& checks) {
                return prepare_version(r, frame, checks);
            });
        spdlog::info("run: control socket on {} (sightline ctl: load, serve, unload, status)", control->endpoint());
    }

    /// Each camera's ground truth (cameras[].ground_truth) and its online evaluator.
    void load_ground_truth() {
        const RunConfig& cfg = runner.config();
        const ModelSpec& spec = runner.detector().spec();
        evaluators.resize(cfg.cameras.size());
        truth_index.assign(cfg.cameras.size(), 0);
        for (std::size_t i = 0; i < cfg.cameras.size(); ++i) {
            const CameraConfig& cam = cfg.cameras[i];
            if (cam.ground_truth.empty()) continue;
            truths.push_back(std::make_unique<CocoGroundTruth>(load_coco_ground_truth_file(cam.ground_truth)));
            truth_index[i] = truths.size() - 1;
            evaluators[i] = std::make_unique<OnlineEvaluator>(*truths.back(), cam.id, spec.classes, cfg.eval.window_s,
                                                              cfg.eval.iou);
            spdlog::info("run: {}: evaluated online against {} (rolling {} s window, IoU {})", cam.id,
                         cam.ground_truth.string(), cfg.eval.window_s, cfg.eval.iou);
        }
    }

    void log_publishing() const {
        const RunConfig& cfg = runner.config();
        spdlog::info("run: line '{}' publishing on {}{}", line, publisher.bound_endpoint(),
                     cfg.publish.curve ? security_note(*cfg.publish.curve) : std::string(" (plain ZeroMQ)"));
        if (!cfg.publish.curve && cfg.publish.allow_insecure &&
            !(transport::is_local_endpoint(cfg.publish.predictions) &&
              (cfg.publish.samples.empty() || transport::is_local_endpoint(cfg.publish.samples))))
            spdlog::warn("run: binding beyond loopback without security (allow_insecure: true): anyone who reaches "
                         "the port reads every prediction and sample (docs/security.md)");
    }

    /// publish.samples: the sampler and the outbox collectors take samples from.
    void start_samples() {
        const RunConfig& cfg = runner.config();
        const ModelSpec& spec = runner.detector().spec();
        if (cfg.publish.samples.empty()) return;
        std::vector<std::vector<std::string>> others; // each version's class names: a sample reads its own
        for (std::size_t v = 1; v < models.size(); ++v)
            others.push_back(runner.models().version(v).detector->spec().classes);
        sampler = std::make_unique<Sampler>(cfg.sampling, spec.classes, runner.confidence(), cfg.cameras.size(),
                                            cfg.path.string(), others);
        std::vector<std::map<std::string, std::string>> meta;
        for (const auto& c : cfg.cameras) meta.push_back(c.meta);
        outbox = std::make_unique<detail::SamplesOutbox>(cfg.publish, cfg.sampling, model, line, spec.classes,
                                                         runner.confidence(), std::move(meta));
        for (std::size_t v = 1; v < models.size(); ++v) // a sample carries the version that served its frame
            outbox->set_version(v, models[v], runner.models().version(v).detector->spec().classes,
                                runner.models().version(v).detector->confidence());
        spdlog::info("run: samples for collectors on {} ({} strategies)", outbox->endpoint(),
                     cfg.sampling.strategies.size());
    }

    /// --record: every message into a recording.
    void start_recording() {
        const RunConfig& cfg = runner.config();
        const ModelSpec& spec = runner.detector().spec();
        if (options.record.empty()) return;
        transport::RecordingHeader h;
        h.model = model;
        h.classes = spec.classes;
        for (const auto& c : cfg.cameras) h.cameras.push_back(c.id);
        h.created_ns = wall_clock_ns();
        h.threshold = runner.confidence(); // eval scores at it by default (docs/metrics.md)
        if (models.size() > 1)
            for (std::size_t v = 0; v < models.size(); ++v)
                h.versions[models[v]] = runner.models().version(v).detector->spec().classes;
        recorder = std::make_unique<transport::RecordingWriter>(options.record, h);
        if (!recorder->guarded())
            spdlog::warn("{}: this file system cannot lock the recording: a second run recording to the same file "
                         "would not be refused",
                         options.record.string());
        spdlog::info("run: recording every message to {}", options.record.string());
    }

    static std::vector<std::string> model_names(const ModelSet& set) {
        std::vector<std::string> out;
        for (std::size_t v = 0; v < set.size(); ++v) out.push_back(set.version(v).model);
        return out;
    }

    /// The versions in the log, which serves each camera and what runs beside it; the rollout's guardrails armed.
    void describe_versions() {
        const RunConfig& cfg = runner.config();
        const ModelSet& set = runner.models();
        if (set.size() == 1) return;
        for (std::size_t v = 0; v < set.size(); ++v)
            spdlog::info("run: version {}: {} ({}, threshold {})", set.version(v).id, set.version(v).model,
                         set.version(v).detector->spec().yaml_path.string(), set.version(v).detector->confidence());
        if (cfg.rollout) candidate = set.find(cfg.rollout->candidate), fallback = set.find(cfg.rollout->fallback);
        for (std::size_t c = 0; c < cfg.cameras.size(); ++c) {
            std::string beside;
            for (std::size_t v = 0; v < set.size(); ++v)
                if (set.beside(c, static_cast<int>(v))) beside += (beside.empty() ? "" : ", ") + set.version(v).id;
            spdlog::info("run: {}: served by {}{}", cfg.cameras[c].id, set.version(set.serving(c)).id,
                         beside.empty() ? std::string() : "; beside it: " + beside);
            if (candidate >= 0 && set.serving(c) == candidate) {
                rollouts[c] = std::make_unique<Rollout>(guard_of(c));
                spdlog::info("run: {}: rollout of {} guarded against {} (blocks of {} frames, alpha {}{})",
                             cfg.cameras[c].id, cfg.rollout->candidate, cfg.rollout->fallback,
                             cfg.rollout->guard.block_frames, cfg.rollout->guard.alpha,
                             cfg.rollout->promote ? ", promotes on a win" : "");
            }
        }
    }

    bool shadowed(int v) const {
        const auto& s = runner.config().shadow;
        return std::find(s.begin(), s.end(), runner.models().version(v).id) != s.end();
    }
    std::size_t camera_index(const std::string& id) const {
        const auto& cams = runner.config().cameras;
        for (std::size_t c = 0; c < cams.size(); ++c)
            if (cams[c].id == id) return c;
        throw Error(ErrorCode::kBadInput, "no camera '" + id + "' on this line");
    }
    int loaded_version(const std::string& id) const {
        const int v = runner.models().find(id);
        if (v < 0) throw Error(ErrorCode::kBadInput, "no version '" + id + "' is loaded (load it first)");
        return v;
    }

    /// Hot swap, on the control thread: the version's detector made as the config makes its versions' (the line's
    /// engine, thresholds and candidate floor), its self-test, and one real frame when the line has one.
    std::unique_ptr<Detector> prepare_version(const ControlRequest& r, const OwnedFrame* frame,
                                              std::vector<std::string>& checks) {
        const RunConfig& cfg = runner.config();
        std::filesystem::path file = r.file;
        if (file.is_relative()) file = cfg.path.parent_path() / file;
        auto det = std::make_unique<Detector>(make_engine(cfg.engine, load_model_spec(file), cfg.engine_threads),
                                              cfg.thresholds.confidence, cfg.thresholds.iou, cfg.thresholds.max_det,
                                              cfg.flags.candidate_floor, cfg.flags.max_candidates);
        const auto& p = det->spec().preprocess;
        blank_frame_detections(*det);
        checks.push_back("self_test: a blank " + std::to_string(p.input_width) + "x" + std::to_string(p.input_height) +
                         " frame through the whole detect path");
        if (frame) {
            const auto n = det->detect(std::span(&frame->view, 1))[0].detections.size();
            checks.push_back("a real frame of the line: " + std::to_string(n) + " detections");
        } else {
            checks.push_back("no real frame yet (no camera delivered one within 5 s)");
        }
        return det;
    }
    nlohmann::json control_add(const ControlRequest& r, std::unique_ptr<Detector> det) {
        ModelSet& set = runner.models();
        std::string model = det->spec().name + "@" + det->spec().version;
        if (std::find(models.begin(), models.end(), model) != models.end()) model += "#" + r.id;
        const auto classes = det->spec().classes;
        const float threshold = det->confidence();
        const int v = set.add(r.id, model, std::move(det));
        if (outbox) outbox->set_version(static_cast<std::size_t>(v), model, classes, threshold);
        if (sampler) sampler->add_version(classes); // versions are added in index order: v is the sampler's next
        models.push_back(model);
        const std::int64_t wall = wall_clock_ns();
        transport::EventMessage info = event("model_info", "", model, wall); // its classes, for every consumer
        info.run = run, info.classes = classes;
        send(info);
        send(event("model_loaded", "", r.id + ": " + model + " from " + r.file, wall));
        spdlog::info("run: version {} loaded: {} ({}), serving no camera yet", r.id, model, r.file);
        return {{"id", r.id}, {"model", model}, {"version", v}, {"classes", classes}};
    }
    nlohmann::json control_serve(const ControlRequest& r) {
        ModelSet& set = runner.models();
        const std::size_t cam = camera_index(r.camera);
        const int v = loaded_version(r.id), from = set.serving(cam);
        if (v == from) return {{"camera", r.camera}, {"serving", models[v]}, {"changed", false}};
        set.serve(cam, v);
        set.set_beside(cam, from, shadowed(from));   // a shadow: version keeps running beside
        for (std::size_t w = 0; w < set.size(); ++w) // shadows of the new serving version's camera
            if (shadowed(static_cast<int>(w)) && static_cast<int>(w) != v && set.loaded(static_cast<int>(w)))
                set.set_beside(cam, static_cast<int>(w), true);
        if (rollouts[cam]) {
            spdlog::info("run: {}: its rollout ends: an operator chose {}", r.camera, r.id);
            rollouts[cam].reset();
        }
        transport::EventMessage e =
            event("model_switched", r.camera, "operator: " + models[from] + " -> " + models[v], wall_clock_ns());
        e.switched = transport::ModelSwitch{models[from], models[v], "operator", "sightline ctl serve"};
        send(e);
        spdlog::info("run: {}: served by {} from the next batch (was {})", r.camera, models[v], models[from]);
        return {{"camera", r.camera}, {"serving", models[v]}, {"was", models[from]}, {"changed", true}};
    }
    nlohmann::json control_unload(const ControlRequest& r) {
        ModelSet& set = runner.models();
        const int v = loaded_version(r.id);
        for (std::size_t c = 0; c < rollouts.size(); ++c)
            if (rollouts[c] && (v == candidate || v == fallback))
                throw Error(ErrorCode::kBadInput, "version '" + r.id + "' is in the rollout on " +
                                                      runner.config().cameras[c].id + ": serve another version there");
        for (std::size_t c = 0; c < runner.config().cameras.size(); ++c)
            if (set.serving(c) == v)
                throw Error(ErrorCode::kBadInput, "version '" + r.id + "' serves " + runner.config().cameras[c].id +
                                                      ": serve another version there first");
        for (std::size_t c = 0; c < runner.config().cameras.size(); ++c) set.set_beside(c, v, false);
        if (!set.unload(v))
            throw Error(ErrorCode::kBadInput, "version '" + r.id + "' is still in a batch in flight: ask again");
        send(event("model_unloaded", "", r.id + ": " + models[v], wall_clock_ns()));
        spdlog::info("run: version {} unloaded ({})", r.id, models[v]);
        return {{"id", r.id}, {"model", models[v]}};
    }
    nlohmann::json control_status() const {
        const ModelSet& set = runner.models();
        const auto& cams = runner.config().cameras;
        nlohmann::json versions = nlohmann::json::array(), cameras = nlohmann::json::array();
        for (std::size_t v = 0; v < set.size(); ++v) {
            if (!set.loaded(static_cast<int>(v))) continue;
            nlohmann::json serves = nlohmann::json::array(), beside = nlohmann::json::array();
            for (std::size_t c = 0; c < cams.size(); ++c) {
                if (set.serving(c) == static_cast<int>(v)) serves.push_back(cams[c].id);
                if (set.beside(c, static_cast<int>(v))) beside.push_back(cams[c].id);
            }
            versions.push_back({{"id", set.version(v).id},
                                {"model", models[v]},
                                {"threshold", set.version(v).detector->confidence()},
                                {"classes", set.version(v).detector->spec().classes.size()},
                                {"serving", serves},
                                {"beside", beside}});
        }
        for (std::size_t c = 0; c < cams.size(); ++c)
            cameras.push_back({{"id", cams[c].id},
                               {"serving", set.version(set.serving(c)).id},
                               {"rollout", rollouts[c] ? "guarded"
                                           : passed[c] ? "passed"
                                                       : "none"}});
        return {{"line", line}, {"run", run}, {"versions", versions}, {"cameras", cameras}};
    }

    /// A version beside the serving one, published on shadow/<camera> and tallied against it.
    void publish_shadows(const FrameOutput& f) {
        const RunConfig& cfg = runner.config();
        for (const FrameOutput& sh : f.shadows) {
            transport::PredMessage pm =
                to_pred_message(sh, models[sh.version], cfg.cameras[f.camera_index].meta, detail::now_ns());
            pm.time_ns = wall_clock_ns();
            pm.line = line;
            pm.shadow = true;
            send(pm);
            AgreementTally& t = agreement[f.camera_index][sh.version];
            ++t.frames;
            t.frames_disagreeing += sh.agreement.disagree() ? 1 : 0;
            t.both += sh.agreement.both, t.class_changed += sh.agreement.class_changed;
            t.only_a += sh.agreement.only_serving, t.only_b += sh.agreement.only_shadow;
        }
    }

    /// A camera's guardrails: the config's, and where the camera has ground truth and the config names none, the
    /// ground-truth ones (missed, false alarms) too.
    RolloutConfig guard_of(std::size_t cam) const {
        const RunConfig& cfg = runner.config();
        RolloutConfig g = cfg.rollout->guard;
        if (!cfg.rollout->guardrails_given && !cfg.cameras[cam].ground_truth.empty())
            for (const auto& rail : RolloutConfig::ground_truth_guardrails())
                if (rail.metric != "ap50" || cfg.eval.iou == 0.5) g.guardrails.push_back(rail); // AP50 at 0.5 only
        return g;
    }
    /// A version's frame against the camera's ground truth (each version its own classes): its misses, false
    /// alarms and matches (a block's precision, recall, AP50) in the guardrails' metrics; nothing without ground
    /// truth for the frame.
    void add_truth(FrameMetrics& m, const FrameOutput& f) {
        if (!evaluators[f.camera_index]) return;
        m.truth = matcher(f.camera_index, f.version).match(f.frame, f.detections);
        if (m.truth) m.missed = static_cast<double>(m.truth->fn), m.false_alarms = static_cast<double>(m.truth->fp);
    }
    /// The camera's truth with a version's class names (the camera's own evaluator for the first version).
    const OnlineEvaluator& matcher(std::size_t cam, int version) {
        if (version == 0) return *evaluators[cam];
        auto& ev = truth_matchers[{cam, version}];
        if (!ev) {
            const RunConfig& cfg = runner.config();
            ev = std::make_unique<OnlineEvaluator>(*truths[truth_index[cam]], cfg.cameras[cam].id,
                                                   runner.models().version(version).detector->spec().classes,
                                                   cfg.eval.window_s, cfg.eval.iou);
        }
        return *ev;
    }
    /// The camera's online evaluation of what served the frame, matched with the serving version's class names.
    void evaluate(const FrameOutput& f) {
        auto& ev = evaluators[f.camera_index];
        if (!ev) return;
        if (f.version == 0)
            ev->add(f.frame, f.pts_ns, f.detections);
        else
            ev->add_match(f.pts_ns, matcher(f.camera_index, f.version).match(f.frame, f.detections));
    }

    /// The guardrails of a camera under rollout: its candidate's frame against the fallback's; a decision switches
    /// the camera (rollback; promote where the config says so) and says so in an event.
    void guard(const FrameOutput& f) {
        auto& rollout = rollouts[f.camera_index];
        if (!rollout) return;
        const auto fb = std::find_if(f.shadows.begin(), f.shadows.end(),
                                     [&](const FrameOutput& s) { return s.version == fallback; });
        if (f.version != candidate || fb == f.shadows.end()) return;
        const std::int64_t now = detail::now_ns();
        FrameMetrics mc = metrics_of(f, now), mb = metrics_of(*fb, now);
        add_truth(mc, f), add_truth(mb, *fb);
        mc.disagreement = fb->agreement.disagreement();
        const RolloutDecision d = rollout->add(mc, mb);
        if (d == RolloutDecision::kUndecided) return;
        const RunConfig& cfg = runner.config();
        ModelSet& set = runner.models();
        const std::size_t cam = f.camera_index;
        const std::string evidence = rollout->evidence();
        std::string why = "rollback";
        if (d == RolloutDecision::kRollback) {
            set.serve(cam, fallback);
            set.set_beside(cam, candidate, shadowed(candidate));
        } else if (cfg.rollout->promote) {
            why = "promote";
            set.set_beside(cam, fallback, shadowed(fallback));
        } else { // a win, not acted on: said once; the fallback keeps running beside it, watched by a fresh test
            if (!passed[cam]) {
                spdlog::info("run: {}: {} passed its guardrails after {} frames (promote: false keeps {} beside it, "
                             "still guarded): {}",
                             f.camera, models[candidate], rollout->frames(), models[fallback], evidence);
                send(event("rollout_passed", f.camera, evidence, wall_clock_ns()));
                passed[cam] = true;
            }
            rollout = std::make_unique<Rollout>(guard_of(cam));
            return;
        }
        const std::string from = models[candidate], to = d == RolloutDecision::kRollback ? models[fallback] : from;
        spdlog::warn("run: {}: {} after {} frames: {} -> {}: {}", f.camera, why, rollout->frames(), from,
                     d == RolloutDecision::kRollback ? to : from + " (the fallback stops)", evidence);
        transport::EventMessage e = event("model_switched", f.camera, why + ": " + from + " -> " + to, wall_clock_ns());
        e.switched = transport::ModelSwitch{from, to, why, evidence};
        send(e);
        rollout.reset();
    }

    void add_sample_figures(std::map<std::string, double>& v, const detail::OutboxFigures& o) const {
        const auto& c = sampler->counters();
        v["samples_selected_total"] = static_cast<double>(c.selected);
        v["samples_duplicates_total"] = static_cast<double>(c.duplicates);
        v["samples_context_total"] = static_cast<double>(c.context);
        v["samples_acked_total"] = static_cast<double>(o.sender.acked);
        v["samples_resent_total"] = static_cast<double>(o.sender.resent);
        v["samples_rejected_total"] = static_cast<double>(o.sender.rejected);
        v["samples_dropped_total"] = static_cast<double>(o.sender.dropped + o.queue_dropped);
        v["samples_buffered"] = static_cast<double>(o.buffered);
        v["samples_collectors"] = static_cast<double>(o.collectors);
    }

    /// A recording step; a failure stops the recording, loudly, and the run goes on.
    template <class Step> void recorded(Step&& step) {
        if (!recorder) return;
        try {
            step(*recorder);
        } catch (const Error& e) {
            spdlog::error("run: the recording stopped: {}", e.what());
            record_failed = true;
            recorder.reset();
            publisher.publish(event("record_failed", "", e.what(), wall_clock_ns()));
        }
    }

    /// An event of this line.
    transport::EventMessage event(std::string kind, std::string camera, std::string message, std::int64_t wall) const {
        transport::EventMessage e{std::move(kind), std::move(camera), std::move(message), wall};
        e.line = line;
        return e;
    }
    /// Encodes once; the same bytes go to the subscribers and the recording.
    void send(const transport::Message& m) {
        const transport::EncodedMessage bytes = transport::encode_message(m);
        publisher.publish(bytes);
        recorded([&](transport::RecordingWriter& w) { w.write(bytes); });
    }

    /// CURVE handshakes refused on both sockets; logged when the count grows (at most once per 5 s).
    std::uint64_t refused_handshakes() {
        const std::uint64_t n =
            publisher.refused_handshakes() + (outbox ? outbox->figures().sender.refused_handshakes : 0);
        if (n > refused_logged && refused_log.due()) {
            spdlog::warn("run: {} CURVE handshake(s) refused so far (a client without a key, with a wrong server key, "
                         "or whose key security.authorized does not list)",
                         n);
            refused_logged = n;
        }
        return n;
    }

    /// run_start, and line_info with every set of stats: the model, the endpoint and the class names.
    transport::EventMessage line_info(const char* kind, std::int64_t wall) {
        transport::EventMessage e = event(kind, "", model, wall);
        e.run = run;
        e.endpoint = publisher.bound_endpoint();
        e.classes = runner.detector().spec().classes;
        return e;
    }
    /// model_info per loaded version after the first: its name@version and classes (shadow messages index them).
    void send_model_info(std::int64_t wall) {
        for (std::size_t v = 1; v < models.size(); ++v) {
            if (!runner.models().loaded(static_cast<int>(v))) continue; // unloaded (hot swap)
            transport::EventMessage e = event("model_info", "", models[v], wall);
            e.run = run;
            e.classes = runner.models().version(v).detector->spec().classes;
            send(e);
        }
    }
    void publish_stats(double window_s) {
        const RunConfig& cfg = runner.config();
        const std::int64_t wall = wall_clock_ns();
        std::vector<transport::StatMessage> all;
        for (std::size_t i = 0; i < stats.size(); ++i) {
            auto values = stats[i].take(window_s);
            values["messages_sent_total"] = static_cast<double>(publisher.sent());
            values["messages_dropped_total"] = static_cast<double>(publisher.dropped());
            values["ffmpeg_frames_alive"] = static_cast<double>(ffmpeg_frames_alive());
            if (cfg.publish.curve) values["handshakes_refused_total"] = static_cast<double>(refused_handshakes());
            if (outbox) add_sample_figures(values, outbox->figures());
            if (evaluators[i]) values.merge(evaluators[i]->figures());
            for (const auto& [v, t] : agreement[i]) { // docs/versions.md, "Agreement"
                const std::string k = "agreement_" + runner.models().version(v).id + "_";
                values[k + "frames"] = static_cast<double>(t.frames);
                values[k + "disagree_frames"] = static_cast<double>(t.frames_disagreeing);
                values[k + "both"] = static_cast<double>(t.both);
                values[k + "class_changed"] = static_cast<double>(t.class_changed);
                values[k + "only_serving"] = static_cast<double>(t.only_a);
                values[k + "only_shadow"] = static_cast<double>(t.only_b);
                values[k + "rate"] = t.agreement();
            }
            agreement[i].clear();
            all.push_back({cfg.cameras[i].id, wall, std::move(values), model, line});
            send(all.back());
        }
        send(line_info("line_info", wall)); // a consumer that joins late learns the model and its classes here
        send_model_info(wall);
        recorded([](transport::RecordingWriter& w) { w.flush(); });
        if (options.on_stats) options.on_stats(all);
    }
};

Line::Line(RunConfig config, std::unique_ptr<Engine> engine, LineOptions options)
    : Line(std::move(config), one_version(std::move(engine)), std::move(options)) {}

Line::Line(RunConfig config, std::vector<std::unique_ptr<Engine>> engines, LineOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(engines), std::move(options))) {}

std::vector<std::unique_ptr<Engine>> make_engines(const RunConfig& config) {
    std::vector<std::unique_ptr<Engine>> out;
    for (const ModelVersionConfig& v : config.versions())
        out.push_back(make_engine(config.engine, load_model_spec(v.file), config.engine_threads));
    return out;
}

Line::~Line() = default;

const RunConfig& Line::config() const {
    return impl_->runner.config();
}
std::size_t Line::self_test() {
    std::size_t first = 0;
    ModelSet& set = impl_->runner.models();
    for (std::size_t k = set.size(); k-- > 0;) { // every version; the first's count is the answer
        if (!set.loaded(static_cast<int>(k))) continue;
        first = blank_frame_detections(*set.version(k).detector);
    }
    return first;
}

void Line::check_cameras() const {
    for (const CameraConfig& cam : config().cameras) {
        if (cam.network()) continue;
        const std::string what = "camera " + cam.id + ": ";
        try {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(cam.url, ec))
                throw Error(ErrorCode::kBadInput, cam.url + ": not a regular file (a device or a pipe is not a video "
                                                            "file)");
            VideoReader reader(cam.url, 1, nullptr, cam.options);
            DecodedFrame frame;
            if (!reader.next(frame)) throw Error(ErrorCode::kBadInput, cam.url + ": no frame could be decoded");
        } catch (const Error& e) {
            throw Error(ErrorCode::kBadInput, what + e.what());
        }
    }
}

const Detector& Line::detector() const {
    return impl_->runner.detector();
}
const std::string& Line::model() const {
    return impl_->model;
}
transport::Publisher& Line::publisher() {
    return impl_->publisher;
}

LineSummary Line::run(const std::atomic<bool>& stop) {
    Impl& s = *impl_;
    const RunConfig& cfg = s.runner.config();
    const PublishConfig& pub = cfg.publish;
    if (pub.wait_for_subscribers > 0) {
        spdlog::info("run: waiting for {} subscriber(s) on {}", pub.wait_for_subscribers, pub.predictions);
        if (!s.publisher.wait_for_subscribers(pub.wait_for_subscribers,
                                              std::chrono::milliseconds(static_cast<long>(pub.wait_timeout_s * 1000))))
            throw Error(ErrorCode::kTransport, pub.predictions + ": " + std::to_string(pub.wait_for_subscribers) +
                                                   " subscriber(s) did not join within " +
                                                   std::to_string(pub.wait_timeout_s) + " s");
    }
    s.send(s.line_info("run_start", wall_clock_ns()));
    s.send_model_info(wall_clock_ns());
    if (s.control) s.control->start();
    const auto t0 = std::chrono::steady_clock::now();
    auto window_start = t0;
    const auto period = std::chrono::duration<double>(s.options.stat_period_s);
    LineSummary out;
    out.run = s.runner.run(
        [&](const FrameOutput& f) {
            // built once as a Message: publishing and recording it copies no detections
            transport::PredMessage pm =
                to_pred_message(f, s.models[f.version], cfg.cameras[f.camera_index].meta, detail::now_ns());
            pm.time_ns = wall_clock_ns();
            pm.line = s.line;
            const transport::Message m = std::move(pm);
            s.send(m);
            const auto& pred = std::get<transport::PredMessage>(m);
            s.stats[f.camera_index].add(f, pred.stamps_ns.at("published"));
            s.evaluate(f);
            if (s.options.on_frame) s.options.on_frame(f, pred);
            s.publish_shadows(f);
            s.guard(f);
            if (s.control) s.control->apply(&f);
            if (s.sampler)
                for (Selected& sel : s.sampler->offer(f)) s.outbox->push(std::move(sel));
            const auto now = std::chrono::steady_clock::now();
            if (now - window_start >= period) {
                s.publish_stats(std::chrono::duration<double>(now - window_start).count());
                window_start = now;
            }
        },
        stop, [&](const RunEvent& e) { s.send(s.event(e.kind, e.camera, e.message, e.time_ns)); },
        [&] { // stats on the timer also when no camera delivers (a camera that is down still reports)
            if (s.control) s.control->apply(nullptr);
            const auto now = std::chrono::steady_clock::now();
            if (now - window_start >= period) {
                s.publish_stats(std::chrono::duration<double>(now - window_start).count());
                window_start = now;
            }
        });
    if (s.control) s.control->stop();
    if (s.sampler) {
        for (Selected& sel : s.sampler->flush()) s.outbox->push(std::move(sel));
        const detail::OutboxFigures o = s.outbox->finish();
        out.samples_selected = s.sampler->counters().selected;
        out.samples_acked = o.sender.acked;
        out.samples_unacked = o.buffered;
        out.samples_dropped = o.sender.dropped + o.queue_dropped;
        spdlog::info("run: samples: {} selected, {} acknowledged, {} never acknowledged, {} dropped (buffer full); "
                     "{} context frames (counted in the acknowledged)",
                     out.samples_selected, out.samples_acked, out.samples_unacked, out.samples_dropped,
                     s.sampler->counters().context);
        if (out.samples_unacked > 0)
            spdlog::warn("run: {} samples were not acknowledged by a collector within publish.samples_drain_s = {} s",
                         out.samples_unacked, cfg.publish.samples_drain_s);
    }
    s.publish_stats(std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count());
    s.send(s.event("run_end", "", stop ? "stopped by signal" : "sources ended", wall_clock_ns()));
    s.recorded([](transport::RecordingWriter& w) { w.close(); });
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.sent = s.publisher.sent();
    out.dropped = s.publisher.dropped();
    out.record_failed = s.record_failed;
    return out;
}

bool log_run_summary(const RunConfig& cfg, const LineSummary& summary, const std::string& record) {
    std::uint64_t frames = 0;
    for (std::size_t i = 0; i < cfg.cameras.size(); ++i) {
        frames += summary.run.frames[i];
        spdlog::info("run: {}: {} frames, {} dropped (line behind), {} dropped (past max_latency_ms), {} corrupt "
                     "packets skipped",
                     cfg.cameras[i].id, summary.run.frames[i], summary.run.dropped[i], summary.run.late[i],
                     summary.run.corrupt_packets[i]);
    }
    spdlog::info("run: {} frames in {:.1f} s ({:.1f} fps); {} messages sent, {} dropped at the high-water mark", frames,
                 summary.seconds, frames / std::max(summary.seconds, 1e-9), summary.sent, summary.dropped);
    if (summary.record_failed) {
        spdlog::error("run: the recording {} is incomplete (see the error above)", record);
        return false;
    }
    if (!record.empty()) spdlog::info("run: recording complete: {}", record);
    return true;
}

} // namespace sightline::pipeline
