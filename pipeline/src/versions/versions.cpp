// Two model versions on the same frames: box-by-box agreement, and the comparison of two recordings.
#include "sightline/pipeline/versions.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "sightline/error.hpp"
#include "sightline/kernels/box.hpp"
#include "sightline/pipeline/eval_report.hpp"
#include "sightline/transport/recording.hpp"

namespace sightline::pipeline {

namespace {

float iou(const VersionBox& a, const VersionBox& b) {
    return kernels::detail::iou_xyxy(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2);
}

/// One recording's frames: (camera, frame) -> its detections.
struct Frames {
    std::string model;
    std::map<std::pair<std::string, std::int64_t>, std::vector<VersionBox>> frames;
    std::map<std::pair<std::string, std::int64_t>, FrameMetrics> metrics;
    std::uint64_t repeated = 0;
};

/// A recording's frames as one version gave them: what served the cameras (pred/), or with `shadow` what ran beside
/// (shadow/). The model is the one its messages name (several, joined, where the cameras' versions differ).
Frames read_frames(const std::filesystem::path& path, bool shadow) {
    transport::RecordingReader reader(path);
    Frames out;
    const auto& header = reader.header();
    std::set<std::string> models;
    std::string topic;
    transport::Message m;
    while (reader.next(topic, m)) {
        const auto* p = std::get_if<transport::PredMessage>(&m);
        if (!p || p->shadow != shadow) continue;
        models.insert(p->model.empty() ? header.model : p->model);
        const auto version = header.versions.find(p->model);
        const auto& classes = version != header.versions.end() ? version->second : header.classes;
        if (p->frame < 0)
            throw Error(ErrorCode::kBadInput, fmt::format("{}: camera {} seq {}: a frame without its index (a "
                                                          "recording from before 0.7 cannot be compared by frame)",
                                                          path.string(), p->camera, p->seq));
        const auto key = std::make_pair(p->camera, p->frame);
        if (!out.frames.emplace(key, version_boxes(*p, classes)).second) {
            ++out.repeated;
            continue;
        }
        FrameMetrics fm;
        fm.detections = static_cast<double>(p->scores.size());
        for (float sc : p->scores) fm.mean_score += sc / static_cast<double>(p->scores.size());
        fm.flagged = p->frame_flags != 0 ? 1 : 0;
        const auto arrival = p->stamps_ns.find("arrival"), published = p->stamps_ns.find("published");
        if (arrival != p->stamps_ns.end() && published != p->stamps_ns.end())
            fm.latency_ms = static_cast<double>(published->second - arrival->second) / 1e6;
        out.metrics[key] = fm;
    }
    for (const auto& name : models) out.model += (out.model.empty() ? "" : ", ") + name;
    if (out.model.empty()) out.model = header.model;
    if (shadow && out.frames.empty())
        throw Error(ErrorCode::kBadInput, path.string() + ": holds no shadow/ messages: compare two recordings, or "
                                                          "record a line that runs a version beside the serving one "
                                                          "(shadow:, rollout:; docs/versions.md)");
    return out;
}

void count(AgreementTally& t, Agreement k) {
    switch (k) {
    case Agreement::kBoth:
        ++t.both;
        break;
    case Agreement::kClassChanged:
        ++t.class_changed;
        break;
    case Agreement::kOnlyA:
        ++t.only_a;
        break;
    case Agreement::kOnlyB:
        ++t.only_b;
        break;
    }
}

nlohmann::ordered_json tally_json(const AgreementTally& t) {
    return {{"frames", t.frames},
            {"frames_disagreeing", t.frames_disagreeing},
            {"both", t.both},
            {"class_changed", t.class_changed},
            {"only_a", t.only_a},
            {"only_b", t.only_b},
            {"agreement", t.agreement()}};
}

} // namespace

std::vector<VersionBox> version_boxes(const transport::PredMessage& p, const std::vector<std::string>& classes) {
    std::vector<VersionBox> boxes(p.scores.size());
    for (std::size_t i = 0; i < boxes.size(); ++i) {
        const float* b = &p.boxes[4 * i];
        const auto k = static_cast<std::size_t>(p.classes[i]); // the reader checked it against the header
        boxes[i] = {b[0], b[1], b[2], b[3], p.scores[i], k < classes.size() ? classes[k] : std::to_string(k)};
    }
    return boxes;
}

std::vector<VersionBox> version_boxes(const std::vector<Detection>& detections,
                                      const std::vector<std::string>& classes) {
    std::vector<VersionBox> boxes;
    boxes.reserve(detections.size());
    for (const Detection& d : detections) {
        const auto k = static_cast<std::size_t>(d.cls);
        boxes.push_back({d.x1, d.y1, d.x2, d.y2, d.score, k < classes.size() ? classes[k] : std::to_string(k)});
    }
    return boxes;
}

std::map<std::string, AgreementTally> agreement_in_stats(const std::map<std::string, double>& values) {
    std::map<std::string, AgreementTally> out;
    const std::string prefix = "agreement_";
    for (const auto& [key, value] : values) {
        if (key.rfind(prefix, 0) != 0 || !(value >= 0) || value > 1e15) continue;
        const auto n = static_cast<std::uint64_t>(value);
        // the id may hold underscores; the figures are known, the longest tried first
        for (const auto& [figure, field] :
             std::initializer_list<std::pair<const char*, std::uint64_t AgreementTally::*>>{
                 {"_disagree_frames", &AgreementTally::frames_disagreeing},
                 {"_frames", &AgreementTally::frames},
                 {"_both", &AgreementTally::both},
                 {"_class_changed", &AgreementTally::class_changed},
                 {"_only_serving", &AgreementTally::only_a},
                 {"_only_shadow", &AgreementTally::only_b}}) {
            const std::string tail = figure;
            if (key.size() > prefix.size() + tail.size() &&
                key.compare(key.size() - tail.size(), tail.size(), tail) == 0) {
                out[key.substr(prefix.size(), key.size() - prefix.size() - tail.size())].*field = n;
                break;
            }
        }
    }
    return out;
}

double AgreementTally::agreement() const {
    const std::uint64_t n = both + class_changed + only_a + only_b;
    return n == 0 ? 1.0 : static_cast<double>(both) / static_cast<double>(n);
}

std::vector<AgreementPair> match_versions(const std::vector<VersionBox>& a, const std::vector<VersionBox>& b,
                                          double iou_threshold) {
    std::vector<int> order(a.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return a[i].score > a[j].score; });
    std::vector<int> b_of(a.size(), -1);
    std::vector<bool> taken(b.size(), false);
    std::vector<AgreementPair> out;
    for (const bool same_class : {true, false}) {
        for (const int i : order) {
            if (b_of[i] >= 0) continue;
            int best = -1;
            float best_iou = 0;
            for (std::size_t j = 0; j < b.size(); ++j) {
                if (taken[j] || (same_class && b[j].cls != a[i].cls)) continue;
                const float o = iou(a[i], b[j]);
                if (o >= iou_threshold && o > best_iou) best = static_cast<int>(j), best_iou = o;
            }
            if (best < 0) continue;
            b_of[i] = best, taken[best] = true;
            out.push_back({same_class ? Agreement::kBoth : Agreement::kClassChanged, i, best});
        }
    }
    for (const int i : order)
        if (b_of[i] < 0) out.push_back({Agreement::kOnlyA, i, -1});
    for (std::size_t j = 0; j < b.size(); ++j)
        if (!taken[j]) out.push_back({Agreement::kOnlyB, -1, static_cast<int>(j)});
    return out;
}

VersionComparison compare_recordings(const std::filesystem::path& a, const std::filesystem::path& b, double iou,
                                     std::size_t keep, const RolloutConfig* guardrails) {
    if (!(iou > 0 && iou <= 1)) throw Error(ErrorCode::kBadInput, "compare: --iou must be in (0, 1]");
    const Frames fa = read_frames(a, false);
    Frames fb = b.empty() ? read_frames(a, true) : read_frames(b, false);
    VersionComparison c;
    c.shadow = b.empty();
    c.a = a, c.b = b.empty() ? a : b, c.model_a = fa.model, c.model_b = fb.model, c.iou = iou;
    c.repeated_frames = fa.repeated + fb.repeated;
    for (const auto& [key, boxes_a] : fa.frames) {
        const auto it = fb.frames.find(key);
        if (it == fb.frames.end()) {
            ++c.frames_only_in_a;
            continue;
        }
        const auto& boxes_b = it->second;
        AgreementTally& cam = c.by_camera[key.first];
        std::map<std::string, bool> classes_here; // class -> it differs on this frame
        AgreementTally frame;
        for (const AgreementPair& p : match_versions(boxes_a, boxes_b, iou)) {
            const std::string& cls = p.kind == Agreement::kOnlyB ? boxes_b[p.b].cls : boxes_a[p.a].cls;
            count(frame, p.kind), count(cam, p.kind), count(c.all, p.kind), count(c.by_class[cls], p.kind);
            classes_here[cls] = classes_here[cls] || p.kind != Agreement::kBoth;
            if (p.kind == Agreement::kClassChanged) ++c.class_changes[{boxes_a[p.a].cls, boxes_b[p.b].cls}];
        }
        const std::uint64_t diff = frame.class_changed + frame.only_a + frame.only_b;
        if (diff > 0) // b's metrics as a candidate's: its disagreement with a (the guardrail has no baseline)
            fb.metrics[key].disagreement = static_cast<double>(diff) / static_cast<double>(diff + frame.both);
        for (AgreementTally* t : {&cam, &c.all}) ++t->frames, t->frames_disagreeing += diff > 0 ? 1 : 0;
        for (const auto& [cls, differs] : classes_here) {
            ++c.by_class[cls].frames;
            c.by_class[cls].frames_disagreeing += differs ? 1 : 0;
        }
        if (diff > 0) c.most_different.push_back({key.first, key.second, diff, boxes_a, boxes_b});
    }
    for (const auto& [key, boxes] : fb.frames) c.frames_only_in_b += fa.frames.count(key) ? 0 : 1;
    if (guardrails) { // b the candidate, a the baseline, each camera's common frames in order
        std::map<std::string, Rollout> per_camera;
        for (const auto& [key, ma] : fa.metrics) {
            const auto it = fb.metrics.find(key);
            if (it == fb.metrics.end()) continue;
            per_camera.try_emplace(key.first, *guardrails).first->second.add(it->second, ma);
        }
        for (const auto& [cam, r] : per_camera)
            c.rollouts[cam] = {r.decision(), r.frames(), r.decided_at_frame(), r.evidence(), r.state()};
    }
    if (c.all.frames == 0)
        throw Error(ErrorCode::kBadInput, fmt::format("compare: {} and {} share no frame (camera and frame index): "
                                                      "record both versions on the same videos",
                                                      a.string(), b.string()));
    std::stable_sort(c.most_different.begin(), c.most_different.end(),
                     [](const FrameDifference& x, const FrameDifference& y) { return x.differences > y.differences; });
    if (c.most_different.size() > keep) c.most_different.resize(keep);
    return c;
}

void add_ground_truth(VersionComparison& c, const std::filesystem::path& gt, const std::string& camera, int bootstrap,
                      std::uint64_t seed) {
    EvalOptions o;
    o.gt = gt.string(), o.dt = c.a.string(), o.compare = c.b.string(), o.camera = camera;
    o.compare_shadow = c.shadow; // one recording: what ran beside against what served
    o.bootstrap = bootstrap, o.seed = seed;
    auto report = std::make_shared<EvalReport>(build_eval_report(o));
    report->dt = {}; // the detections are not needed past the evaluation
    c.accuracy = std::move(report);
}

std::string comparison_json(const VersionComparison& c) {
    nlohmann::ordered_json j;
    j["a"] = {{"recording", c.a.string()}, {"model", c.model_a}};
    j["b"] = {{"recording", c.b.string()}, {"model", c.model_b}};
    j["iou"] = c.iou;
    j["all"] = tally_json(c.all);
    for (const auto& [cam, t] : c.by_camera) j["by_camera"][cam] = tally_json(t);
    for (const auto& [cls, t] : c.by_class) j["by_class"][cls] = tally_json(t);
    j["class_changes"] = nlohmann::ordered_json::array();
    for (const auto& [k, n] : c.class_changes)
        j["class_changes"].push_back({{"a", k.first}, {"b", k.second}, {"n", n}});
    j["frames_only_in_a"] = c.frames_only_in_a, j["frames_only_in_b"] = c.frames_only_in_b;
    j["repeated_frames"] = c.repeated_frames;
    for (const auto& [cam, r] : c.rollouts) {
        auto& o = j["rollouts"][cam];
        o = {{"decision", decision_name(r.decision)},
             {"frames", r.frames},
             {"decided_at_frame", r.decided_at_frame},
             {"evidence", r.evidence}};
        for (const auto& g : r.state)
            o["guardrails"].push_back({{"metric", g.config.metric},
                                       {"worse", g.config.worse},
                                       {"tolerance", g.config.tolerance},
                                       {"blocks", g.blocks},
                                       {"baseline_mean", g.baseline_mean},
                                       {"difference", g.difference},
                                       {"low", g.low},
                                       {"high", g.high},
                                       {"p_value", g.p_value},
                                       {"breached", g.breached},
                                       {"cleared", g.cleared}});
    }
    j["most_different"] = nlohmann::ordered_json::array();
    for (const auto& f : c.most_different)
        j["most_different"].push_back({{"camera", f.camera}, {"frame", f.frame}, {"differences", f.differences}});
    if (c.accuracy) {
        j["ground_truth"] = nlohmann::ordered_json::parse(eval_comparison_json(*c.accuracy));
        j["ground_truth"]["gt"] = c.accuracy->options.gt;
        j["ground_truth"]["red_flags"] = c.accuracy->red_flags;
    }
    return j.dump(1);
}

void print_comparison(const VersionComparison& c, std::FILE* out) {
    fmt::print(out, "a: {} ({})\nb: {} ({})\nmatched at IoU >= {:g}, class-aware first, then any class\n\n", c.model_a,
               c.a.string(), c.model_b, c.b.string(), c.iou);
    const auto row = [&](const std::string& name, const AgreementTally& t) {
        fmt::print(out, "{:<16} {:>7} {:>9.1f}% {:>8} {:>8} {:>8} {:>8} {:>9.1f}%\n", name, t.frames,
                   t.frames ? 100.0 * static_cast<double>(t.frames_disagreeing) / static_cast<double>(t.frames) : 0.0,
                   t.both, t.class_changed, t.only_a, t.only_b, 100 * t.agreement());
    };
    const auto head = [&](const char* what) {
        fmt::print(out, "{:<16} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>10}\n", what, "frames", "differ", "both",
                   "class", "only a", "only b", "agreement");
    };
    head("camera");
    for (const auto& [cam, t] : c.by_camera) row(cam, t);
    row("all", c.all);
    fmt::print(out, "\n");
    head("class");
    for (const auto& [cls, t] : c.by_class) row(cls, t);
    if (!c.class_changes.empty()) {
        fmt::print(out, "\nclass changes (a -> b):");
        for (const auto& [k, n] : c.class_changes) fmt::print(out, "  {} -> {}: {}", k.first, k.second, n);
        fmt::print(out, "\n");
    }
    if (c.frames_only_in_a || c.frames_only_in_b || c.repeated_frames)
        fmt::print(out, "\nnot compared: {} frames only in a, {} only in b, {} repeated (a looping file)\n",
                   c.frames_only_in_a, c.frames_only_in_b, c.repeated_frames);
    if (!c.rollouts.empty()) {
        fmt::print(out, "\nb as a candidate against a (guardrails per camera, frames in order):\n");
        for (const auto& [cam, r] : c.rollouts)
            fmt::print(out, "  {}: {}{} after {} frames; {}\n", cam, decision_name(r.decision),
                       r.decision == RolloutDecision::kUndecided ? "" : fmt::format(" at frame {}", r.decided_at_frame),
                       r.frames, r.evidence);
    }
    if (c.accuracy) {
        fmt::print(out, "\nagainst the ground truth ({}):", c.accuracy->options.gt);
        std::fflush(out);
        print_eval_comparison(*c.accuracy, out);
        for (const auto& f : c.accuracy->red_flags) fmt::print(out, "RED FLAG: {}\n", f);
    }
    if (!c.most_different.empty()) {
        fmt::print(out, "\nmost different frames (camera#frame: differences):");
        for (std::size_t i = 0; i < std::min<std::size_t>(10, c.most_different.size()); ++i)
            fmt::print(out, "  {}#{}: {}", c.most_different[i].camera, c.most_different[i].frame,
                       c.most_different[i].differences);
        fmt::print(out, "\n");
    }
}

} // namespace sightline::pipeline
