// sightline eval: COCO-exact detection metrics from a ground-truth file and a results file.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/eval_report.hpp"
#include "sightline/pipeline/files.hpp"

namespace sightline::tools {

namespace {

struct EvalArgs {
    pipeline::EvalOptions eval;
    std::vector<std::string> class_map;
    std::string json_out, html_out, results_out;
    bool quiet = false, fail_on_red_flags = false;
};

int run_eval(EvalArgs& a) {
    a.eval.class_map = pipeline::parse_class_map(a.class_map);
    std::error_code ec; // which binary evaluates: sightline-eval, or sightline itself (SIGHTLINE_EVAL_IN_PROCESS)
    spdlog::debug("eval: running in {}", std::filesystem::read_symlink("/proc/self/exe", ec).string());
    const int on_stdout =
        pipeline::is_stdout(a.json_out) + pipeline::is_stdout(a.html_out) + pipeline::is_stdout(a.results_out);
    if (on_stdout > 1)
        throw Error(ErrorCode::kBadInput, "--json, --html, --export-results: only one of them can be - (stdout)");
    const bool quiet = a.quiet || on_stdout > 0; // with an output on stdout, stdout carries that output alone
    int last_tenth = -1;
    const pipeline::EvalReport report = pipeline::build_eval_report(a.eval, [&](int done, int total) {
        if (quiet || done * 10 / total == last_tenth) return;
        last_tenth = done * 10 / total;
        std::fprintf(stderr, "\rcompare: bootstrap %d/%d", done, total);
        if (done == total) std::fprintf(stderr, "\n");
    });
    if (!a.json_out.empty()) pipeline::write_output(a.json_out, pipeline::eval_report_json(report));
    if (!a.html_out.empty()) pipeline::write_output(a.html_out, pipeline::render_eval_html(report));
    if (!a.results_out.empty()) pipeline::write_output(a.results_out, pipeline::coco_results_json(report));
    if (!quiet) {
        pipeline::print_eval_report(report, stdout);
        if (!a.eval.coco_only)
            std::fprintf(stderr, "eval: load %.0f ms, prepare %.0f ms, match %.0f ms, accumulate %.0f ms\n",
                         report.load_ms, report.coco.prepare_ms, report.coco.match_ms, report.coco.accumulate_ms);
    }
    if (a.fail_on_red_flags && !report.red_flags.empty()) {
        spdlog::error("eval: {} red flag(s) and --fail-on-red-flags: exit code 4", report.red_flags.size());
        return 4;
    }
    return 0;
}

/// What is evaluated, and where the figures go.
void add_io_options(CLI::App* sub, EvalArgs* a) {
    sub->add_option("--gt", a->eval.gt, "ground truth, COCO instances JSON")->required();
    sub->add_option("--dt", a->eval.dt,
                    "detections: COCO results JSON ([{image_id, category_id, bbox, score}]) or a recording of "
                    "`sightline run --record`")
        ->required();
    sub->add_option("--class-map", a->class_map,
                    "results' class names (a recording's) or category ids (a results file) -> the ground truth's "
                    "category name or id: c0=part,c1=gear, or a file (JSON object, or NAME=NAME lines); for --dt "
                    "and --compare");
    sub->add_option("--camera", a->eval.camera,
                    "with a recording: evaluate this camera's frames (needed when the recording holds several "
                    "cameras and the ground truth names none)");
    sub->add_option("--json", a->json_out,
                    "write every figure to this JSON file (schema in docs/metrics.md); - for standard output (the text "
                    "report is then left out)");
    sub->add_option("--html", a->html_out,
                    "write a self-contained HTML report (inline SVG: PR curves, confusion matrix, reliability diagram, "
                    "slices, comparison; opens offline); - for standard output");
    sub->add_flag("--all-images", a->eval.all_images,
                  "score every ground-truth image, also those the detections do not cover (a recording's frames "
                  "the run never processed then count as misses); default: only the covered ones, and the text and "
                  "JSON say how many were left out and why");
    sub->add_flag("--allow-unknown-images", a->eval.allow_unknown_images,
                  "evaluate even when some detections are on images the ground truth lacks (reported, left out)");
}

/// How it is scored: the operating point, advice, calibration, slices, comparison, TIDE.
void add_metric_options(CLI::App* sub, EvalArgs* a) {
    sub->add_option(
           "--threshold", a->eval.threshold,
           "operating score threshold for precision/recall/F1 and the confusion matrix (default: the run's, kept in a "
           "recording; else 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--iou", a->eval.iou, "IoU for a match at the operating point (default 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--fps", a->eval.fps, "frame rate of the evaluated images, for false positives per hour of video")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--target-precision", a->eval.target_precision,
                    "threshold advice: the lowest threshold reaching this precision, per class (default 0.9)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--fp-budget", a->eval.fp_budget,
                    "threshold advice: false positives per hour of video allowed, per class (default 10; needs --fps)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--calibration-bins", a->eval.calibration_bins,
                    "confidence bins for the calibration error (default 10)")
        ->check(CLI::Range(1, 1000));
    sub->add_option("--slice", a->eval.slices,
                    "metrics per value of an image metadata key (camera, location, lighting, tags...), or "
                    "KEY:WINDOW for numeric windows (timestamp:60); repeatable; object sizes are always sliced");
    sub->add_option("--compare", a->eval.compare,
                    "a second model's results on the same ground truth: every metric's difference B - A with a "
                    "paired bootstrap 95% interval, and the boxes one finds and the other misses");
    sub->add_option("--bootstrap", a->eval.bootstrap, "bootstrap replicates for --compare (default 200)")
        ->check(CLI::Range(1, 100000));
    sub->add_option("--seed", a->eval.seed, "bootstrap seed (default 1)");
    sub->add_option("--tide-iou", a->eval.tide_pos,
                    "TIDE error breakdown: IoU at which a detection is right (foreground threshold, default 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--tide-bg-iou", a->eval.tide_bg,
                    "TIDE error breakdown: IoU at or below which a detection is background (default 0.1)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_flag("--voc-plus-one", a->eval.voc_plus_one,
                  "Pascal VOC IoU with the devkit's +1 pixel on widths and heights (integer pixel boxes)");
    sub->add_flag("--coco-only", a->eval.coco_only,
                  "only the 12 COCO stats and per-class AP (skips the operating point, advice, calibration, slices)");
}

} // namespace

Run add_eval(CLI::App& app) {
    auto a = std::make_shared<EvalArgs>();
    auto* sub = app.add_subcommand("eval", command_help("eval"));
    add_io_options(sub, a.get());
    add_metric_options(sub, a.get());
    sub->add_flag("-q,--quiet", a->quiet, "print nothing (use with --json)");
    sub->add_flag("--fail-on-red-flags", a->fail_on_red_flags,
                  "exit with code 4 when the evaluation raised any red flag (for CI jobs)");
    sub->add_option("--export-results", a->results_out,
                    "write the detections evaluated as a COCO results file ([{image_id, category_id, bbox, score}], "
                    "what pycocotools' loadRes reads): a recording's frames placed on their ground-truth images; - "
                    "for standard output");
    return [a] { return run_eval(*a); };
}

} // namespace sightline::tools
