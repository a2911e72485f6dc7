// The evaluation built once (build_eval_report) and its JSON and text renderings.
#include "sightline/pipeline/eval_report.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "sightline/error.hpp"
#include "sightline/pipeline/recorded.hpp"
#include "sightline/transport/recording.hpp"

namespace sightline::pipeline {

namespace {

using Json = nlohmann::ordered_json;

std::string two_decimals(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

/// The category id a --class-map target names in the ground truth (by name, else by id); Error when none.
int category_of(const CocoGroundTruth& gt, const std::string& target) {
    for (const auto& c : gt.categories)
        if (c.name == target) return c.id;
    for (const auto& c : gt.categories)
        if (std::to_string(c.id) == target) return c.id;
    throw Error(ErrorCode::kBadInput,
                "--class-map: '" + target + "' is no category of " + gt.source + " (neither a name nor an id there)");
}

/// A COCO results file's category ids through --class-map (keys: ids).
CocoDetections map_categories(CocoDetections dt, const CocoGroundTruth& gt,
                              const std::map<std::string, std::string>& class_map, std::set<std::string>& used) {
    if (class_map.empty()) return dt;
    std::map<int, int> to;
    for (const auto& [key, target] : class_map) {
        int id = 0;
        if (std::from_chars(key.data(), key.data() + key.size(), id).ec == std::errc{} && std::to_string(id) == key)
            to[id] = category_of(gt, target);
    }
    std::set<int> seen;
    for (auto& d : dt.detections)
        if (const auto it = to.find(d.category_id); it != to.end()) {
            seen.insert(it->first);
            d.category_id = it->second;
        }
    for (const auto& [id, target] : to) { // an id a results file never uses may be a class it found nothing of
        used.insert(std::to_string(id));
        if (!seen.count(id))
            spdlog::warn("eval: --class-map {}: no detection in {} has category {}", id, dt.source, id);
    }
    return dt;
}

/// The operating threshold: --threshold when given; else the run's, when --dt is a recording that keeps it; else
/// 0.5. Says which; and says when the two sides of a comparison differ only by their run's threshold (the
/// difference is then the cut, not the model).
void resolve_threshold(EvalReport& rep) {
    double& t = rep.options.threshold;
    if (t >= 0) {
        rep.threshold_source = "--threshold";
        if (rep.a.threshold >= 0 && std::abs(rep.a.threshold - t) > 1e-9)
            spdlog::info("eval: scoring at --threshold {:.2f}; the run published at {:.2f}", t, rep.a.threshold);
    } else if (rep.a.threshold >= 0) {
        t = rep.a.threshold, rep.threshold_source = "the run's (" + rep.a.file + ")";
        spdlog::info("eval: operating threshold {:.2f}, the run's (kept in {}; --threshold overrides)", t, rep.a.file);
    } else {
        t = 0.5, rep.threshold_source = "the default";
    }
    const EvalSide &a = rep.a, &b = rep.b;
    if (!b.file.empty() && !a.model.empty() && a.model == b.model && a.threshold >= 0 && b.threshold >= 0 &&
        std::abs(a.threshold - b.threshold) > 1e-9)
        rep.red_flags.push_back("A and B are the same model (" + a.model + ") run at different thresholds (" +
                                two_decimals(a.threshold) + " and " + two_decimals(b.threshold) +
                                "): their differences come from the cut alone, not from the model");
}

/// Results: a COCO results file, or a run's recording (placed against the ground truth, so read after it); what a
/// recording leaves out becomes a red flag.
CocoDetections read_detections(const std::string& path, const CocoGroundTruth& gt, const EvalOptions& a,
                               std::vector<std::string>& flags, std::set<std::string>& used, EvalSide& side,
                               bool shadow = false) {
    side.file = path;
    if (!transport::is_recording(path)) {
        if (shadow) throw Error(ErrorCode::kBadInput, path + ": not a recording (a shadow version needs one)");
        return map_categories(load_coco_detections_file(path), gt, a.class_map, used);
    }
    RecordedDetections rec = load_recorded_detections(path, gt, a.camera, a.class_map, &used, shadow);
    side.model = rec.model, side.threshold = rec.threshold;
    std::string cams;
    for (const auto& c : rec.cameras) cams += (cams.empty() ? "" : ", ") + c;
    spdlog::info("eval: {}: a recording; {} frames of camera(s) {} placed on ground-truth images", path, rec.frames,
                 cams);
    if (rec.frames_without_image)
        flags.push_back(path + ": " + std::to_string(rec.frames_without_image) +
                        " recorded frames have no ground-truth image: left out");
    if (rec.lost_messages)
        flags.push_back(path + ": " + std::to_string(rec.lost_messages) +
                        " pred messages missing from the recording (sequence gaps): their frames count as misses");
    if (rec.duplicate_messages)
        flags.push_back(path + ": " + std::to_string(rec.duplicate_messages) +
                        " pred messages repeat a (camera, seq) seen before: left out (each frame counts once)");
    if (rec.truncated) flags.push_back(path + ": the last record is cut short (the run did not end cleanly)");
    for (const auto& c : rec.unknown_classes)
        flags.push_back(path + ": model class '" + c + "' has no category of that name in the ground truth");
    return std::move(rec.detections);
}

/// The image ids the detections say they cover, sorted: A's, or with a comparison the images both A and B cover
/// (it is paired); nothing when neither says.
std::optional<std::vector<std::int64_t>> covered_images(const CocoDetections& a, const CocoDetections* b) {
    std::optional<std::vector<std::int64_t>> covered;
    for (const CocoDetections* d : {&a, b}) {
        if (!d || !d->evaluated_images) continue;
        std::vector<std::int64_t> ids = *d->evaluated_images;
        std::sort(ids.begin(), ids.end());
        if (!covered) {
            covered = std::move(ids);
        } else {
            std::vector<std::int64_t> both;
            std::set_intersection(covered->begin(), covered->end(), ids.begin(), ids.end(), std::back_inserter(both));
            covered = std::move(both);
        }
    }
    return covered;
}

/// Restricts the report's ground truth, and A's detections, to the covered images; says how many were left out and
/// why (the report's fields and a log line).
void leave_out_uncovered(EvalReport& rep, CocoDetections& dt, const std::vector<std::int64_t>& covered, bool compared) {
    CocoGroundTruth kept = restrict_to_images(rep.gt, covered);
    rep.images_left_out = rep.gt.images.size() - kept.images.size();
    if (rep.images_left_out == 0) return;
    rep.left_out_reason = (transport::is_recording(rep.options.dt) ? "the run did not process them (no pred message)"
                                                                   : "the results file's images list leaves them out") +
                          std::string(compared ? " in A or B" : "") + "; --all-images scores them as misses";
    spdlog::info("eval: {} of {} ground-truth images evaluated; {} left out: {}", kept.images.size(), rep.images_in_gt,
                 rep.images_left_out, rep.left_out_reason);
    rep.gt = std::move(kept);
    std::unordered_set<std::int64_t> ids;
    for (const auto& im : rep.gt.images) ids.insert(im.id);
    std::erase_if(dt.detections, [&](const CocoDetection& d) { return !ids.count(d.image_id); });
}

/// The red flags of the COCO evaluation itself; detections on unknown images are an error unless allowed.
void coco_flags(EvalReport& rep, const CocoDetections& dt) {
    const EvalOptions& a = rep.options;
    const CocoEvalResult& r = rep.coco;
    auto& flags = rep.red_flags;
    if (r.check.unknown_image) {
        const std::string msg =
            std::to_string(r.check.unknown_image) +
            " detections are on images the ground truth does not list (first: " + r.check.first_unknown_image + ")";
        if (!a.allow_unknown_images)
            throw Error(ErrorCode::kBadInput, a.dt + ": " + msg +
                                                  "; pycocotools refuses such results too (--allow-unknown-images "
                                                  "evaluates the rest and reports them)");
        flags.push_back(msg + ": left out");
    }
    if (r.check.unknown_category)
        flags.push_back(std::to_string(r.check.unknown_category) +
                        " detections have categories the ground truth does not list (first: " +
                        r.check.first_unknown_category + "): left out, as pycocotools does silently");
    if (r.stats[0] == 1.0) flags.push_back("perfect AP of 1.0: are the detections the ground truth itself?");
    if (r.num_gt == 0) flags.push_back("the ground truth has no boxes on the evaluated images: every AP is -1");
    if (dt.detections.empty()) flags.push_back("the results file holds no detections");
}

std::string label(int id, const std::string& name) {
    return std::to_string(id) + " " + name;
}

} // namespace

const std::string& EvalReport::name_of(int category_id) const {
    static const std::string none;
    for (const auto& c : gt.categories)
        if (c.id == category_id) return c.name;
    return none;
}

std::string EvalSide::label() const {
    const std::string name = std::filesystem::path(file).filename().string();
    if (model.empty()) return name;
    return model + (threshold >= 0 ? " at " + two_decimals(threshold) : std::string()) + " (" + name + ")";
}

EvalReport build_eval_report(const EvalOptions& a, const std::function<void(int, int)>& bootstrap_progress) {
    const auto t0 = std::chrono::steady_clock::now();
    EvalReport rep;
    rep.options = a;
    auto& flags = rep.red_flags;
    CocoDetections dt;
    std::set<std::string> used; // --class-map keys that named something
    if (transport::is_recording(a.dt)) {
        rep.gt = load_coco_ground_truth_file(a.gt);
        dt = read_detections(a.dt, rep.gt, a, flags, used, rep.a);
    } else { // the two files parse side by side (results files are the large ones)
        auto gt_future = std::async(std::launch::async, [&] { return load_coco_ground_truth_file(a.gt); });
        dt = load_coco_detections_file(a.dt);
        rep.gt = gt_future.get();
        dt = map_categories(std::move(dt), rep.gt, a.class_map, used);
        rep.a.file = a.dt;
    }
    std::optional<CocoDetections> dt_b;
    if (!a.compare.empty()) dt_b = read_detections(a.compare, rep.gt, a, flags, used, rep.b, a.compare_shadow);
    resolve_threshold(rep);
    for (const auto& [key, target] : a.class_map) {
        category_of(rep.gt, target);
        if (!used.count(key))
            throw Error(ErrorCode::kBadInput, "--class-map: '" + key + "' names no class of the results (" + a.dt +
                                                  (a.compare.empty() ? "" : ", " + a.compare) + ")");
    }
    // evaluate the images the results cover (a recording: the frames the run processed), unless told otherwise
    rep.images_in_gt = rep.gt.images.size();
    if (const auto covered = covered_images(dt, dt_b ? &*dt_b : nullptr); covered && !a.all_images)
        leave_out_uncovered(rep, dt, *covered, dt_b.has_value());
    const CocoGroundTruth& gt = rep.gt;
    rep.detections = dt.detections.size();
    rep.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    rep.coco = evaluate_coco(gt, dt);
    const CocoEvalResult& r = rep.coco;
    coco_flags(rep, dt);
    for (std::size_t k = 0; k < r.category_ids.size(); ++k) {
        const int k_ = static_cast<int>(k);
        rep.classes.push_back(
            {r.category_ids[k], rep.name_of(r.category_ids[k]), r.class_ap(k_), r.class_ap(k_, 0), r.class_ap(k_, 5)});
    }
    if (a.coco_only) {
        rep.dt = std::move(dt);
        return rep;
    }

    rep.operating_point = evaluate_operating_point(gt, dt, rep.options.threshold, a.iou, a.fps);
    rep.scores =
        analyse_scores(gt, dt, a.iou, a.target_precision, a.fp_budget, rep.operating_point->hours, a.calibration_bins);
    rep.voc = evaluate_voc(gt, dt, 0.5, a.voc_plus_one);
    if (dt_b) {
        rep.compare =
            compare_models(gt, dt, *dt_b, rep.options.threshold, a.iou, a.bootstrap, a.seed, [&](int done, int total) {
                if (bootstrap_progress) bootstrap_progress(done, total);
            });
        if (r.num_images < 30)
            flags.push_back("only " + std::to_string(r.num_images) +
                            " images: too few for the bootstrap interval to mean much");
        else if (!rep.compare->metrics.empty() && rep.compare->metrics[0].upper - rep.compare->metrics[0].lower > 0.1)
            flags.push_back("the AP difference's 95% interval is wider than 0.1: the evaluation set is too small "
                            "to rank these models");
    }
    rep.tide = evaluate_tide(gt, dt, a.tide_pos, a.tide_bg);
    std::vector<SliceSpec> specs;
    for (const auto& text : a.slices) specs.push_back(SliceSpec::parse(text));
    rep.slices = evaluate_slices(gt, dt, specs, r, rep.options.threshold, a.iou);
    for (const auto& s : rep.slices)
        if (s.key != "size" && s.images < 30 && s.ap_drop > 0.1)
            flags.push_back("slice " + s.key + "=" + s.value + " has only " + std::to_string(s.images) +
                            " images: its AP drop of " + std::to_string(s.ap_drop) + " is weak evidence");
    rep.dt = std::move(dt);
    return rep;
}

namespace {

/// A figure that may be undefined (pycocotools' -1: no ground truth of that kind; a precision without detections;
/// an ECE without boxes): null in the JSON, never a number that reads as measured.
Json defined(double v) {
    return v < 0 || !std::isfinite(v) ? Json(nullptr) : Json(v);
}
/// A difference or an interval's end: any sign; NaN (undefined on either side) is null.
Json finite(double v) {
    return std::isfinite(v) ? Json(v) : Json(nullptr);
}
/// Precision, recall and F1 at the operating point, -1 where undefined (no detection; no ground truth).
double precision_of(const ClassCounts& c) {
    return c.tp + c.fp ? c.precision() : -1;
}
double recall_of(const ClassCounts& c) {
    return c.tp + c.fn ? c.recall() : -1;
}
double f1_of(const ClassCounts& c) {
    return precision_of(c) < 0 || recall_of(c) < 0 ? -1 : c.f1();
}

/// per_class: AP per category, and the counts at the operating point when there is one.
Json per_class_json(const EvalReport& rep) {
    Json classes = Json::array();
    for (std::size_t k = 0; k < rep.classes.size(); ++k) {
        const EvalClass& c = rep.classes[k];
        Json cj = {{"id", c.id},
                   {"name", c.name},
                   {"AP", defined(c.ap)},
                   {"AP50", defined(c.ap50)},
                   {"AP75", defined(c.ap75)}};
        if (rep.operating_point) {
            const ClassCounts& n = rep.operating_point->per_class[k];
            cj["at_threshold"] = {{"tp", n.tp},
                                  {"fp", n.fp},
                                  {"fn", n.fn},
                                  {"precision", defined(precision_of(n))},
                                  {"recall", defined(recall_of(n))},
                                  {"f1", defined(f1_of(n))},
                                  {"fn_rate", n.tp + n.fn ? Json(double(n.fn) / double(n.tp + n.fn)) : Json(nullptr)}};
        }
        classes.push_back(std::move(cj));
    }
    return classes;
}

/// operating_point, threshold_advice, calibration, pr_curves and voc.
void add_operating_point(Json& j, const EvalReport& rep) {
    const EvalOptions& a = rep.options;
    const CocoEvalResult& r = rep.coco;
    const auto& op = rep.operating_point;
    j["operating_point"] = {{"threshold", op->threshold},
                            {"threshold_source", rep.threshold_source},
                            {"iou", op->iou},
                            {"tp", op->overall.tp},
                            {"fp", op->overall.fp},
                            {"fn", op->overall.fn},
                            {"precision", defined(precision_of(op->overall))},
                            {"recall", defined(recall_of(op->overall))},
                            {"f1", defined(f1_of(op->overall))},
                            {"fp_per_image", op->fp_per_image},
                            {"hours", op->hours},
                            {"fp_per_hour", op->fp_per_hour},
                            {"confusion",
                             {{"rows", "ground-truth class (detected class for false positives)"},
                              {"columns", "detected class..., background (FP), missed (FN)"},
                              {"category_ids", op->category_ids},
                              {"matrix", op->confusion}}}};
    const ScoreAnalysis& sa = *rep.scores;
    Json advice = Json::array();
    for (const auto& v : sa.per_class)
        advice.push_back({{"category_id", v.category_id},
                          {"max_f1",
                           {{"threshold", defined(v.f1_threshold)},
                            {"f1", v.f1_threshold < 0 ? Json(nullptr) : Json(v.f1)},
                            {"precision", v.f1_threshold < 0 ? Json(nullptr) : Json(v.f1_precision)},
                            {"recall", v.f1_threshold < 0 ? Json(nullptr) : Json(v.f1_recall)}}},
                          {"target_precision",
                           {{"precision", a.target_precision},
                            {"threshold", defined(v.precision_threshold)},
                            {"recall", v.precision_threshold < 0 ? Json(nullptr) : Json(v.recall_at_precision)}}},
                          {"fp_budget",
                           {{"fp_per_hour", op->hours > 0 ? a.fp_budget : -1.0},
                            {"threshold", defined(v.budget_threshold)},
                            {"recall", v.budget_threshold < 0 ? Json(nullptr) : Json(v.recall_at_budget)}}}});
    j["threshold_advice"] = advice;
    j["calibration"] = {{"ece", defined(sa.calibration.ece)}, {"iou", a.iou},
                        {"lower", sa.calibration.lower},      {"upper", sa.calibration.upper},
                        {"count", sa.calibration.count},      {"confidence", sa.calibration.confidence},
                        {"accuracy", sa.calibration.accuracy}};
    double recall_thr[kernels::kCocoRecallThresholds];
    kernels::coco_recall_thresholds(recall_thr);
    Json curves = Json::array();
    for (std::size_t k = 0; k < r.category_ids.size(); ++k) {
        std::vector<double> p(kernels::kCocoRecallThresholds);
        for (int i = 0; i < kernels::kCocoRecallThresholds; ++i) p[i] = r.precision_at(0, i, static_cast<int>(k), 0, 2);
        curves.push_back({{"id", rep.classes[k].id},
                          {"name", rep.classes[k].name},
                          {"AP50", defined(rep.classes[k].ap50)},
                          {"precision", p}});
    }
    j["pr_curves"] = {{"iou", 0.5},
                      {"recall", std::vector<double>(recall_thr, recall_thr + kernels::kCocoRecallThresholds)},
                      {"classes", curves}};
    const VocResult& voc = *rep.voc;
    Json vj = Json::array();
    for (const auto& c : voc.per_class)
        vj.push_back({{"category_id", c.category_id},
                      {"positives", c.positives},
                      {"ap_all_point", c.ap_all_point},
                      {"ap_11_point", c.ap_11_point}});
    j["voc"] = {{"iou", voc.iou},
                {"plus_one", voc.plus_one},
                {"map_all_point", voc.map_all_point},
                {"map_11_point", voc.map_11_point},
                {"per_class", vj}};
}

/// compare: every metric's B - A with its interval, and the boxes one side finds and the other misses.
void add_compare(Json& j, const EvalReport& rep) {
    const EvalOptions& a = rep.options;
    const auto& cmp = rep.compare;
    Json mj = Json::object();
    for (const auto& m : cmp->metrics)
        mj[m.name] = {{"a", defined(m.a)}, // undefined (-1: no ground truth of that size; NaN): null
                      {"b", defined(m.b)},
                      {"diff", finite(m.diff)},
                      {"lower", finite(m.lower)},
                      {"upper", finite(m.upper)}};
    const auto boxes = [&](const std::vector<int>& idx) {
        Json l = Json::array();
        for (int n : idx)
            l.push_back({{"id", rep.gt.annotations[n].id},
                         {"image_id", rep.gt.annotations[n].image_id},
                         {"category_id", rep.gt.annotations[n].category_id}});
        return l;
    };
    const auto side = [](const EvalSide& s) {
        return Json{{"file", s.file}, {"model", s.model}, {"threshold", defined(s.threshold)}, {"label", s.label()}};
    };
    j["compare"] = {{"a", a.dt},
                    {"b", a.compare},
                    {"a_side", side(rep.a)},
                    {"b_side", side(rep.b)},
                    {"bootstrap", {{"replicates", cmp->replicates}, {"seed", cmp->seed}, {"level", 0.95}}},
                    {"metrics", mj},
                    {"found_by_b_only", boxes(cmp->found_by_b_only)},
                    {"found_by_a_only", boxes(cmp->found_by_a_only)}};
}

/// tide: TIDE's error breakdown.
void add_tide(Json& j, const EvalReport& rep) {
    const auto& tide = rep.tide;
    Json types = Json::object();
    for (int t = 0; t < kTideTypes; ++t)
        types[kTideTypeNames[t]] = {{"short", kTideShortNames[t]}, {"count", tide->count[t]}, {"dap", tide->dap[t]}};
    j["tide"] = {{"pos_iou", tide->pos_iou},
                 {"bg_iou", tide->bg_iou},
                 {"max_dets", tide->max_dets},
                 {"ap", tide->ap},
                 {"errors", types},
                 {"dap_false_positives", tide->dap_false_pos},
                 {"dap_false_negatives", tide->dap_false_neg}};
}

/// slices, worst first.
Json slices_json(const EvalReport& rep) {
    Json sj = Json::array();
    for (const auto& s : rep.slices)
        sj.push_back({{"key", s.key},
                      {"value", s.value},
                      {"images", s.images},
                      {"gt_boxes", s.gt_boxes},
                      {"AP", defined(s.ap)},
                      {"AP50", defined(s.ap50)},
                      {"AR100", defined(s.ar100)},
                      {"precision", defined(s.precision)},
                      {"recall", defined(s.recall)},
                      {"ap_drop", s.ap_drop},
                      {"rank_score", s.rank_score}});
    return sj;
}

} // namespace

std::string eval_report_json(const EvalReport& rep) {
    const EvalOptions& a = rep.options;
    const CocoEvalResult& r = rep.coco;
    Json j;
    j["schema"] = "sightline.eval/1";
    j["ground_truth"] = a.gt;
    j["detections"] = a.dt;
    j["images"] = r.num_images;
    j["gt_boxes"] = r.num_gt;
    j["dt_boxes"] = r.num_dt;
    j["images_in_ground_truth"] = rep.images_in_gt;
    j["images_left_out"] = {{"count", rep.images_left_out}, {"reason", rep.left_out_reason}};
    for (int s = 0; s < 12; ++s) j["coco"][kCocoStatNames[s]] = defined(r.stats[s]); // pycocotools' -1: null
    j["per_class"] = per_class_json(rep);
    if (rep.operating_point) add_operating_point(j, rep);
    if (rep.compare) add_compare(j, rep);
    if (rep.tide) add_tide(j, rep);
    if (!a.coco_only) j["slices"] = slices_json(rep);
    j["red_flags"] = rep.red_flags;
    j["timing_ms"] = {
        {"load", rep.load_ms}, {"prepare", r.prepare_ms}, {"match", r.match_ms}, {"accumulate", r.accumulate_ms}};
    return j.dump(2) + "\n";
}

std::string coco_results_json(const EvalReport& rep) {
    std::string out = "[";
    char buf[256];
    for (std::size_t n = 0; n < rep.dt.detections.size(); ++n) {
        const CocoDetection& d = rep.dt.detections[n];
        std::snprintf(buf, sizeof buf,
                      "%s{\"image_id\":%lld,\"category_id\":%d,\"bbox\":[%.9g,%.9g,%.9g,%.9g],\"score\":%.9g}",
                      n ? ",\n" : "\n", static_cast<long long>(d.image_id), d.category_id, d.box.x, d.box.y, d.box.w,
                      d.box.h, d.score);
        out += buf;
    }
    return out + "\n]\n";
}

namespace {

/// A figure in the text: "n/a" where undefined (the HTML's word; null in the JSON), else printf'd with `format`.
std::string text(double v, const char* format, int width) {
    char buf[64];
    if (v < 0 || !std::isfinite(v))
        std::snprintf(buf, sizeof buf, "%*s", width, "n/a");
    else
        std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

/// The text of the operating point: VOC AP, the counts per class, threshold advice, calibration.
void print_operating_point(const EvalReport& rep, std::FILE* out) {
    const EvalOptions& a = rep.options;
    const auto& op = rep.operating_point;
    const VocResult& voc = *rep.voc;
    std::fprintf(out, "\nPascal VOC mAP at IoU 0.50%s: %.4f all-point, %.4f 11-point\n",
                 voc.plus_one ? " (+1 pixel)" : "", voc.map_all_point, voc.map_11_point);
    std::fprintf(
        out, "\nat score >= %.2f (%s), IoU %.2f: precision %s, recall %s, F1 %s, %.2f false positives per image",
        op->threshold, rep.threshold_source.c_str(), op->iou, text(precision_of(op->overall), "%.3f", 0).c_str(),
        text(recall_of(op->overall), "%.3f", 0).c_str(), text(f1_of(op->overall), "%.3f", 0).c_str(), op->fp_per_image);
    if (op->fp_per_hour >= 0) std::fprintf(out, ", %.1f per hour", op->fp_per_hour);
    std::fprintf(out, "\n%-24s %6s %6s %6s %9s %7s %7s\n", "class", "TP", "FP", "FN", "precision", "recall", "F1");
    for (const ClassCounts& c : op->per_class)
        std::fprintf(out, "%-24s %6ld %6ld %6ld %9s %7s %7s\n",
                     label(c.category_id, rep.name_of(c.category_id)).c_str(), c.tp, c.fp, c.fn,
                     text(precision_of(c), "%9.3f", 9).c_str(), text(recall_of(c), "%7.3f", 7).c_str(),
                     text(f1_of(c), "%7.3f", 7).c_str());
    std::fprintf(out, "\nthreshold advice (IoU %.2f):\n%-24s %18s %26s %26s\n", a.iou, "class", "max F1 (thr: F1)",
                 ("precision >= " + std::to_string(a.target_precision).substr(0, 4) + " (thr: recall)").c_str(),
                 op->hours > 0 ? "FP budget (thr: recall)" : "FP budget (needs --fps)");
    for (const auto& v : rep.scores->per_class) {
        char f1[40], pt[40], bt[40];
        std::snprintf(f1, sizeof f1, v.f1_threshold < 0 ? "n/a" : "%.3f: %.3f", v.f1_threshold, v.f1);
        std::snprintf(pt, sizeof pt, v.precision_threshold < 0 ? "unreachable" : "%.3f: %.3f", v.precision_threshold,
                      v.recall_at_precision);
        std::snprintf(bt, sizeof bt, v.budget_threshold < 0 ? "-" : "%.3f: %.3f", v.budget_threshold,
                      v.recall_at_budget);
        std::fprintf(out, "%-24s %18s %26s %26s\n", label(v.category_id, rep.name_of(v.category_id)).c_str(), f1, pt,
                     bt);
    }
    std::fprintf(out, "\ncalibration: expected calibration error %s over %d bins (box level, IoU %.2f)\n",
                 text(rep.scores->calibration.ece, "%.4f", 0).c_str(), a.calibration_bins, a.iou);
}

} // namespace

void print_eval_comparison(const EvalReport& rep, std::FILE* out) {
    if (const auto& cmp = rep.compare) {
        std::fprintf(out,
                     "\nB (%s) vs A (%s), paired bootstrap over images, %d replicates, seed %llu:\n%-10s %8s %8s "
                     "%8s %20s\n",
                     rep.b.label().c_str(), rep.a.label().c_str(), cmp->replicates,
                     static_cast<unsigned long long>(cmp->seed), "metric", "A", "B", "B - A", "95% interval");
        for (const auto& m : cmp->metrics) {
            if (!std::isfinite(m.diff) || !std::isfinite(m.lower)) { // undefined on a side: n/a, as everywhere
                std::fprintf(out, "%-10s %8s %8s %8s   %20s\n", m.name.c_str(), text(m.a, "%8.3f", 8).c_str(),
                             text(m.b, "%8.3f", 8).c_str(), "n/a", "n/a");
                continue;
            }
            std::fprintf(out, "%-10s %8.3f %8.3f %+8.3f   [%+7.3f, %+7.3f]%s\n", m.name.c_str(), m.a, m.b, m.diff,
                         m.lower, m.upper, (m.lower > 0 || m.upper < 0) ? " *" : "");
        }
        std::fprintf(out,
                     "ground truth found by B only: %zu, by A only: %zu (at the operating point; ids in the JSON)\n",
                     cmp->found_by_b_only.size(), cmp->found_by_a_only.size());
    }
}

std::string eval_comparison_json(const EvalReport& rep) {
    if (!rep.compare) return "null";
    Json j;
    add_compare(j, rep);
    return j["compare"].dump();
}

void print_eval_report(const EvalReport& rep, std::FILE* out) {
    const EvalOptions& a = rep.options;
    const CocoEvalResult& r = rep.coco;
    std::fprintf(out, "%zu images, %zu ground-truth boxes, %zu detections (after the 100-per-image cut)\n",
                 static_cast<std::size_t>(r.num_images), r.num_gt, r.num_dt);
    if (rep.images_left_out)
        std::fprintf(out, "%zu of the ground truth's %zu images left out: %s\n", rep.images_left_out, rep.images_in_gt,
                     rep.left_out_reason.c_str());
    const char* lines[12] = {"Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
                             "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
                             "Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
                             "Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
                             "Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
                             "Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
                             "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
                             "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
                             "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
                             "Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
                             "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
                             "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]"};
    for (int s = 0; s < 12; ++s)
        std::fprintf(out, " %s = %s   %-5s\n", lines[s], text(r.stats[s], "%.3f", 5).c_str(), kCocoStatNames[s]);
    std::fprintf(out, "\n%-24s %8s %8s %8s\n", "class", "AP", "AP50", "AP75");
    for (const auto& c : rep.classes)
        std::fprintf(out, "%-24s %8s %8s %8s\n", label(c.id, c.name).c_str(), text(c.ap, "%8.3f", 8).c_str(),
                     text(c.ap50, "%8.3f", 8).c_str(), text(c.ap75, "%8.3f", 8).c_str());
    if (rep.operating_point) print_operating_point(rep, out);
    if (const auto& tide = rep.tide) {
        std::fprintf(out,
                     "\nerror breakdown (TIDE, IoU fg %.2f / bg %.2f; its AP %.3f): dAP gained by fixing each type\n",
                     tide->pos_iou, tide->bg_iou, tide->ap);
        for (int t = 0; t < kTideTypes; ++t)
            std::fprintf(out, "%-16s %8ld errors  dAP %6.3f\n", kTideTypeNames[t], tide->count[t], tide->dap[t]);
        std::fprintf(out, "%-16s %15s  dAP %6.3f\n%-16s %15s  dAP %6.3f\n", "false positives", "(all)",
                     tide->dap_false_pos, "false negatives", "(all)", tide->dap_false_neg);
    }
    print_eval_comparison(rep, out);
    if (!a.slices.empty()) {
        std::fprintf(out,
                     "\nslices, worst first (rank = AP drop x images / (images + 30)):\n%-28s %7s %8s %7s %7s %7s "
                     "%7s %7s\n",
                     "slice", "images", "gt", "AP", "AP50", "prec", "recall", "drop");
        int shown = 0;
        for (const auto& s : rep.slices) {
            if (s.key == "size" || shown++ >= 15) continue;
            std::fprintf(out, "%-28s %7d %8zu %7s %7s %7s %7s %+7.3f\n", (s.key + "=" + s.value).c_str(), s.images,
                         s.gt_boxes, text(s.ap, "%7.3f", 7).c_str(), text(s.ap50, "%7.3f", 7).c_str(),
                         text(s.precision, "%7.3f", 7).c_str(), text(s.recall, "%7.3f", 7).c_str(), s.ap_drop);
        }
    }
    for (const auto& f : rep.red_flags) std::fprintf(out, "RED FLAG: %s\n", f.c_str());
}

} // namespace sightline::pipeline
