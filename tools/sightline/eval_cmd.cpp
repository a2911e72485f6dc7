// sightline eval: COCO-exact detection metrics from a ground-truth file and a results file.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/pipeline/recorded.hpp"
#include "sightline/pipeline/report.hpp"
#include "sightline/pipeline/tide.hpp"
#include "sightline/transport/recording.hpp"

namespace sightline::tools {

namespace {

struct EvalArgs {
    std::string gt, dt, json_out, html_out, camera;
    bool allow_unknown_images = false;
    double threshold = 0.5, iou = 0.5, fps = 0;
    std::vector<std::string> slices;
    double target_precision = 0.9, fp_budget = 10;
    int calibration_bins = 10;
    bool quiet = false;
    bool coco_only = false;
    bool voc_plus_one = false;
    std::string compare;
    int bootstrap = 200;
    std::uint64_t seed = 1;
    double tide_pos = 0.5, tide_bg = 0.1;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// The COCO summary as pycocotools prints it, then the per-class AP table.
void print_coco(const pipeline::CocoEvalResult& r, const nlohmann::ordered_json& classes) {
    using pipeline::kCocoStatNames;
    std::printf("%zu images, %zu ground-truth boxes, %zu detections (after the 100-per-image cut)\n",
                static_cast<std::size_t>(r.num_images), r.num_gt, r.num_dt);
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
    for (int s = 0; s < 12; ++s) std::printf(" %s = %.3f   %-5s\n", lines[s], r.stats[s], kCocoStatNames[s]);
    std::printf("\n%-24s %8s %8s %8s\n", "class", "AP", "AP50", "AP75");
    for (const auto& c : classes)
        std::printf("%-24s %8.3f %8.3f %8.3f\n",
                    (std::to_string(c["id"].get<int>()) + " " + c["name"].get<std::string>()).c_str(),
                    c["AP"].get<double>(), c["AP50"].get<double>(), c["AP75"].get<double>());
}

int run_eval(const EvalArgs& a) {
    using namespace pipeline;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> flags;
    // results: a COCO results file, or a run's recording (placed against the ground truth, so read after it)
    auto detections = [&](const std::string& path, const CocoGroundTruth& gt) {
        if (!transport::is_recording(path)) return load_coco_detections_file(path);
        RecordedDetections rec = load_recorded_detections(path, gt, a.camera);
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
        if (rec.truncated) flags.push_back(path + ": the last record is cut short (the run did not end cleanly)");
        for (const auto& c : rec.unknown_classes)
            flags.push_back(path + ": model class '" + c + "' has no category of that name in the ground truth");
        return std::move(rec.detections);
    };
    CocoGroundTruth gt;
    CocoDetections dt;
    if (transport::is_recording(a.dt)) {
        gt = load_coco_ground_truth_file(a.gt);
        dt = detections(a.dt, gt);
    } else { // the two files parse side by side (results files are the large ones)
        auto gt_future = std::async(std::launch::async, [&] { return load_coco_ground_truth_file(a.gt); });
        dt = load_coco_detections_file(a.dt);
        gt = gt_future.get();
    }
    const double load_ms = ms_since(t0);
    const CocoEvalResult r = evaluate_coco(gt, dt);
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

    nlohmann::ordered_json j;
    j["schema"] = "sightline.eval/1";
    j["ground_truth"] = a.gt;
    j["detections"] = a.dt;
    j["images"] = r.num_images;
    j["gt_boxes"] = r.num_gt;
    j["dt_boxes"] = r.num_dt;
    for (int s = 0; s < 12; ++s) j["coco"][kCocoStatNames[s]] = r.stats[s];
    nlohmann::ordered_json classes = nlohmann::ordered_json::array();
    std::map<int, std::string> names;
    for (const auto& c : gt.categories) names[c.id] = c.name;
    for (std::size_t k = 0; k < r.category_ids.size(); ++k) {
        const int k_ = static_cast<int>(k);
        classes.push_back({{"id", r.category_ids[k]},
                           {"name", names[r.category_ids[k]]},
                           {"AP", r.class_ap(k_)},
                           {"AP50", r.class_ap(k_, 0)},
                           {"AP75", r.class_ap(k_, 5)}});
    }
    // the end of both paths: red flags and timings into the JSON, the files written
    auto write_outputs = [&] {
        j["red_flags"] = flags;
        j["timing_ms"] = {
            {"load", load_ms}, {"prepare", r.prepare_ms}, {"match", r.match_ms}, {"accumulate", r.accumulate_ms}};
        if (!a.json_out.empty()) write_atomically(a.json_out, j.dump(2) + "\n");
        if (!a.html_out.empty()) write_atomically(a.html_out, render_eval_html(j.dump()));
    };
    auto print_flags = [&] {
        for (const auto& f : flags) std::printf("RED FLAG: %s\n", f.c_str());
    };
    if (a.coco_only) { // the COCO stats and per-class AP alone (what pycocotools computes)
        j["per_class"] = classes;
        write_outputs();
        if (!a.quiet) {
            print_coco(r, classes);
            print_flags();
        }
        return 0;
    }
    const OperatingPoint op = evaluate_operating_point(gt, dt, a.threshold, a.iou, a.fps);
    for (std::size_t k = 0; k < classes.size(); ++k) {
        const ClassCounts& c = op.per_class[k];
        classes[k]["at_threshold"] = {{"tp", c.tp},
                                      {"fp", c.fp},
                                      {"fn", c.fn},
                                      {"precision", c.precision()},
                                      {"recall", c.recall()},
                                      {"f1", c.f1()},
                                      {"fn_rate", c.tp + c.fn ? double(c.fn) / double(c.tp + c.fn) : 0.0}};
    }
    j["per_class"] = classes;
    j["operating_point"] = {{"threshold", op.threshold},
                            {"iou", op.iou},
                            {"tp", op.overall.tp},
                            {"fp", op.overall.fp},
                            {"fn", op.overall.fn},
                            {"precision", op.overall.precision()},
                            {"recall", op.overall.recall()},
                            {"f1", op.overall.f1()},
                            {"fp_per_image", op.fp_per_image},
                            {"hours", op.hours},
                            {"fp_per_hour", op.fp_per_hour},
                            {"confusion",
                             {{"rows", "ground-truth class (detected class for false positives)"},
                              {"columns", "detected class..., background (FP), missed (FN)"},
                              {"category_ids", op.category_ids},
                              {"matrix", op.confusion}}}};
    const ScoreAnalysis sa =
        analyse_scores(gt, dt, a.iou, a.target_precision, a.fp_budget, op.hours, a.calibration_bins);
    nlohmann::ordered_json advice = nlohmann::ordered_json::array();
    for (const auto& v : sa.per_class)
        advice.push_back(
            {{"category_id", v.category_id},
             {"max_f1",
              {{"threshold", v.f1_threshold}, {"f1", v.f1}, {"precision", v.f1_precision}, {"recall", v.f1_recall}}},
             {"target_precision",
              {{"precision", a.target_precision},
               {"threshold", v.precision_threshold},
               {"recall", v.recall_at_precision}}},
             {"fp_budget",
              {{"fp_per_hour", op.hours > 0 ? a.fp_budget : -1.0},
               {"threshold", v.budget_threshold},
               {"recall", v.recall_at_budget}}}});
    j["threshold_advice"] = advice;
    j["calibration"] = {{"ece", sa.calibration.ece},          {"iou", a.iou},
                        {"lower", sa.calibration.lower},      {"upper", sa.calibration.upper},
                        {"count", sa.calibration.count},      {"confidence", sa.calibration.confidence},
                        {"accuracy", sa.calibration.accuracy}};
    {
        double recall_thr[kernels::kCocoRecallThresholds];
        kernels::coco_recall_thresholds(recall_thr);
        nlohmann::ordered_json curves = nlohmann::ordered_json::array();
        for (std::size_t k = 0; k < r.category_ids.size(); ++k) {
            std::vector<double> p(kernels::kCocoRecallThresholds);
            for (int i = 0; i < kernels::kCocoRecallThresholds; ++i)
                p[i] = r.precision_at(0, i, static_cast<int>(k), 0, 2);
            curves.push_back({{"id", r.category_ids[k]},
                              {"name", names[r.category_ids[k]]},
                              {"AP50", classes[k]["AP50"]},
                              {"precision", p}});
        }
        j["pr_curves"] = {{"iou", 0.5},
                          {"recall", std::vector<double>(recall_thr, recall_thr + kernels::kCocoRecallThresholds)},
                          {"classes", curves}};
    }
    const VocResult voc = evaluate_voc(gt, dt, 0.5, a.voc_plus_one);
    nlohmann::ordered_json vj = nlohmann::ordered_json::array();
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
    CompareResult cmp;
    if (!a.compare.empty()) {
        const CocoDetections dt_b = detections(a.compare, gt);
        int last_tenth = -1;
        cmp = compare_models(gt, dt, dt_b, a.threshold, a.iou, a.bootstrap, a.seed, [&](int done, int total) {
            if (a.quiet || done * 10 / total == last_tenth) return;
            last_tenth = done * 10 / total;
            std::fprintf(stderr, "\rcompare: bootstrap %d/%d", done, total);
            if (done == total) std::fprintf(stderr, "\n");
        });
        nlohmann::ordered_json mj = nlohmann::ordered_json::object();
        for (const auto& m : cmp.metrics)
            mj[m.name] = {{"a", m.a}, {"b", m.b}, {"diff", m.diff}, {"lower", m.lower}, {"upper", m.upper}};
        auto boxes = [&](const std::vector<int>& idx) {
            nlohmann::ordered_json l = nlohmann::ordered_json::array();
            for (int n : idx)
                l.push_back({{"id", gt.annotations[n].id},
                             {"image_id", gt.annotations[n].image_id},
                             {"category_id", gt.annotations[n].category_id}});
            return l;
        };
        j["compare"] = {{"a", a.dt},
                        {"b", a.compare},
                        {"bootstrap", {{"replicates", cmp.replicates}, {"seed", cmp.seed}, {"level", 0.95}}},
                        {"metrics", mj},
                        {"found_by_b_only", boxes(cmp.found_by_b_only)},
                        {"found_by_a_only", boxes(cmp.found_by_a_only)}};
        if (r.num_images < 30)
            flags.push_back("only " + std::to_string(r.num_images) +
                            " images: too few for the bootstrap interval to mean much");
        else if (!cmp.metrics.empty() && cmp.metrics[0].upper - cmp.metrics[0].lower > 0.1)
            flags.push_back("the AP difference's 95% interval is wider than 0.1: the evaluation set is too small "
                            "to rank these models");
    }
    const TideResult tide = evaluate_tide(gt, dt, a.tide_pos, a.tide_bg);
    {
        nlohmann::ordered_json types = nlohmann::ordered_json::object();
        for (int t = 0; t < kTideTypes; ++t)
            types[kTideTypeNames[t]] = {{"short", kTideShortNames[t]}, {"count", tide.count[t]}, {"dap", tide.dap[t]}};
        j["tide"] = {{"pos_iou", tide.pos_iou},
                     {"bg_iou", tide.bg_iou},
                     {"max_dets", tide.max_dets},
                     {"ap", tide.ap},
                     {"errors", types},
                     {"dap_false_positives", tide.dap_false_pos},
                     {"dap_false_negatives", tide.dap_false_neg}};
    }
    std::vector<SliceSpec> specs;
    for (const auto& text : a.slices) specs.push_back(SliceSpec::parse(text));
    const std::vector<SliceResult> slices = evaluate_slices(gt, dt, specs, r, a.threshold, a.iou);
    nlohmann::ordered_json sj = nlohmann::ordered_json::array();
    for (const auto& s : slices)
        sj.push_back({{"key", s.key},
                      {"value", s.value},
                      {"images", s.images},
                      {"gt_boxes", s.gt_boxes},
                      {"AP", s.ap},
                      {"AP50", s.ap50},
                      {"AR100", s.ar100},
                      {"precision", s.precision},
                      {"recall", s.recall},
                      {"ap_drop", s.ap_drop},
                      {"rank_score", s.rank_score}});
    j["slices"] = sj;
    for (const auto& s : slices)
        if (s.key != "size" && s.images < 30 && s.ap_drop > 0.1)
            flags.push_back("slice " + s.key + "=" + s.value + " has only " + std::to_string(s.images) +
                            " images: its AP drop of " + std::to_string(s.ap_drop) + " is weak evidence");
    write_outputs();

    if (!a.quiet) {
        print_coco(r, classes);
        std::printf("\nPascal VOC mAP at IoU 0.50%s: %.4f all-point, %.4f 11-point\n",
                    voc.plus_one ? " (+1 pixel)" : "", voc.map_all_point, voc.map_11_point);
        std::printf("\nat score >= %.2f, IoU %.2f: precision %.3f, recall %.3f, F1 %.3f, %.2f false positives per "
                    "image",
                    op.threshold, op.iou, op.overall.precision(), op.overall.recall(), op.overall.f1(),
                    op.fp_per_image);
        if (op.fp_per_hour >= 0) std::printf(", %.1f per hour", op.fp_per_hour);
        std::printf("\n%-24s %6s %6s %6s %9s %7s %7s\n", "class", "TP", "FP", "FN", "precision", "recall", "F1");
        for (std::size_t k = 0; k < op.per_class.size(); ++k) {
            const ClassCounts& c = op.per_class[k];
            std::printf("%-24s %6ld %6ld %6ld %9.3f %7.3f %7.3f\n",
                        (std::to_string(c.category_id) + " " + names[c.category_id]).c_str(), c.tp, c.fp, c.fn,
                        c.precision(), c.recall(), c.f1());
        }
        std::printf("\nthreshold advice (IoU %.2f):\n%-24s %18s %26s %26s\n", a.iou, "class", "max F1 (thr: F1)",
                    ("precision >= " + std::to_string(a.target_precision).substr(0, 4) + " (thr: recall)").c_str(),
                    op.hours > 0 ? "FP budget (thr: recall)" : "FP budget (needs --fps)");
        for (const auto& v : sa.per_class) {
            char f1[40], pt[40], bt[40];
            std::snprintf(f1, sizeof f1, "%.3f: %.3f", v.f1_threshold, v.f1);
            std::snprintf(pt, sizeof pt, v.precision_threshold < 0 ? "unreachable" : "%.3f: %.3f",
                          v.precision_threshold, v.recall_at_precision);
            std::snprintf(bt, sizeof bt, v.budget_threshold < 0 ? "-" : "%.3f: %.3f", v.budget_threshold,
                          v.recall_at_budget);
            std::printf("%-24s %18s %26s %26s\n", (std::to_string(v.category_id) + " " + names[v.category_id]).c_str(),
                        f1, pt, bt);
        }
        std::printf("\ncalibration: expected calibration error %.4f over %d bins (box level, IoU %.2f)\n",
                    sa.calibration.ece, a.calibration_bins, a.iou);
        std::printf("\nerror breakdown (TIDE, IoU fg %.2f / bg %.2f; its AP %.3f): dAP gained by fixing each type\n",
                    tide.pos_iou, tide.bg_iou, tide.ap);
        for (int t = 0; t < kTideTypes; ++t)
            std::printf("%-16s %8ld errors  dAP %6.3f\n", kTideTypeNames[t], tide.count[t], tide.dap[t]);
        std::printf("%-16s %15s  dAP %6.3f\n%-16s %15s  dAP %6.3f\n", "false positives", "(all)", tide.dap_false_pos,
                    "false negatives", "(all)", tide.dap_false_neg);
        if (!a.compare.empty()) {
            std::printf("\nB (%s) vs A (%s), paired bootstrap over images, %d replicates, seed %llu:\n%-10s %8s %8s "
                        "%8s %20s\n",
                        a.compare.c_str(), a.dt.c_str(), cmp.replicates, static_cast<unsigned long long>(cmp.seed),
                        "metric", "A", "B", "B - A", "95% interval");
            for (const auto& m : cmp.metrics)
                std::printf("%-10s %8.3f %8.3f %+8.3f   [%+7.3f, %+7.3f]%s\n", m.name.c_str(), m.a, m.b, m.diff,
                            m.lower, m.upper, (m.lower > 0 || m.upper < 0) ? " *" : "");
            std::printf("ground truth found by B only: %zu, by A only: %zu (at the operating point; ids in the JSON)\n",
                        cmp.found_by_b_only.size(), cmp.found_by_a_only.size());
        }
        if (!specs.empty()) {
            std::printf("\nslices, worst first (rank = AP drop x images / (images + 30)):\n%-28s %7s %8s %7s %7s %7s "
                        "%7s %7s\n",
                        "slice", "images", "gt", "AP", "AP50", "prec", "recall", "drop");
            int shown = 0;
            for (const auto& s : slices) {
                if (s.key == "size" || shown++ >= 15) continue;
                std::printf("%-28s %7d %8zu %7.3f %7.3f %7.3f %7.3f %+7.3f\n", (s.key + "=" + s.value).c_str(),
                            s.images, s.gt_boxes, s.ap, s.ap50, s.precision, s.recall, s.ap_drop);
            }
        }
        print_flags();
        std::fprintf(stderr, "eval: load %.0f ms, prepare %.0f ms, match %.0f ms, accumulate %.0f ms\n", load_ms,
                     r.prepare_ms, r.match_ms, r.accumulate_ms);
    }
    return 0;
}

} // namespace

Run add_eval(CLI::App& app) {
    auto a = std::make_shared<EvalArgs>();
    auto* sub = app.add_subcommand("eval", "COCO detection metrics (pycocotools-exact) from ground truth and results");
    sub->add_option("--gt", a->gt, "ground truth, COCO instances JSON")->required();
    sub->add_option("--dt", a->dt,
                    "detections: COCO results JSON ([{image_id, category_id, bbox, score}]) or a recording of "
                    "`sightline run --record`")
        ->required();
    sub->add_option("--camera", a->camera,
                    "with a recording: evaluate this camera's frames (needed when the recording holds several "
                    "cameras and the ground truth names none)");
    sub->add_option("--json", a->json_out, "write every figure to this JSON file (schema in docs/metrics.md)");
    sub->add_option("--html", a->html_out,
                    "write a self-contained HTML report (inline SVG: PR curves, confusion matrix, reliability diagram, "
                    "slices, comparison; opens offline)");
    sub->add_flag("--allow-unknown-images", a->allow_unknown_images,
                  "evaluate even when some detections are on images the ground truth lacks (reported, left out)");
    sub->add_option("--threshold", a->threshold,
                    "operating score threshold for precision/recall/F1 and the confusion matrix (default 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--iou", a->iou, "IoU for a match at the operating point (default 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--fps", a->fps, "frame rate of the evaluated images, for false positives per hour of video")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--target-precision", a->target_precision,
                    "threshold advice: the lowest threshold reaching this precision, per class (default 0.9)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--fp-budget", a->fp_budget,
                    "threshold advice: false positives per hour of video allowed, per class (default 10; needs --fps)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--calibration-bins", a->calibration_bins, "confidence bins for the calibration error (default 10)")
        ->check(CLI::Range(1, 1000));
    sub->add_option("--slice", a->slices,
                    "metrics per value of an image metadata key (camera, location, lighting, tags...), or "
                    "KEY:WINDOW for numeric windows (timestamp:60); repeatable; object sizes are always sliced");
    sub->add_option("--compare", a->compare,
                    "a second model's results on the same ground truth: every metric's difference B - A with a "
                    "paired bootstrap 95% interval, and the boxes one finds and the other misses");
    sub->add_option("--bootstrap", a->bootstrap, "bootstrap replicates for --compare (default 200)")
        ->check(CLI::Range(1, 100000));
    sub->add_option("--seed", a->seed, "bootstrap seed (default 1)");
    sub->add_option("--tide-iou", a->tide_pos,
                    "TIDE error breakdown: IoU at which a detection is right (foreground threshold, default 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--tide-bg-iou", a->tide_bg,
                    "TIDE error breakdown: IoU at or below which a detection is background (default 0.1)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_flag("--voc-plus-one", a->voc_plus_one,
                  "Pascal VOC IoU with the devkit's +1 pixel on widths and heights (integer pixel boxes)");
    sub->add_flag("--coco-only", a->coco_only,
                  "only the 12 COCO stats and per-class AP (skips the operating point, advice, calibration, slices)");
    sub->add_flag("-q,--quiet", a->quiet, "print nothing (use with --json)");
    return [a] { return run_eval(*a); };
}

} // namespace sightline::tools
