#pragma once
/// `sightline eval` as a library: the evaluation built once into an EvalReport, then rendered from the struct as
/// JSON (schema sightline.eval/1, docs/metrics.md), as text, and as a self-contained HTML page.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/tide.hpp"

namespace sightline::pipeline {

struct EvalOptions {
    std::string gt, dt; ///< ground truth (COCO instances); detections (COCO results, or a run's recording)
    std::string camera; ///< with a recording: the camera to evaluate (when it holds several)
    bool allow_unknown_images = false;
    /// Score every ground-truth image, also those the detections were not made on (a recording's unprocessed
    /// frames count as misses); default: only the images the results say they cover (docs/metrics.md).
    bool all_images = false;
    /// The operating point. threshold < 0: the run's threshold when --dt is a recording that keeps it, else 0.5.
    double threshold = -1, iou = 0.5;
    double fps = 0;                  ///< frame rate of the images, for false positives per hour (0: unknown)
    std::vector<std::string> slices; ///< KEY or KEY:WINDOW
    double target_precision = 0.9, fp_budget = 10;
    int calibration_bins = 10;
    bool coco_only = false; ///< only the 12 COCO stats and per-class AP
    bool voc_plus_one = false;
    std::string compare; ///< a second model's results: B - A with paired bootstrap intervals
    /// B is the versions that ran beside the serving ones in `compare` (a recording's shadow/ messages; `sightline
    /// compare A.slrec --gt`), on the frames they ran (the images both sides cover).
    bool compare_shadow = false;
    int bootstrap = 200;
    std::uint64_t seed = 1;
    double tide_pos = 0.5, tide_bg = 0.1;
    /// Results' class names (a recording's model classes) or category ids (a COCO results file) -> the ground
    /// truth's category name or id, for results whose names differ from the ground truth's (a model trained with
    /// classes c0..c4). Applies to --dt and --compare alike; a key that neither uses, or a target the ground truth
    /// lacks, is an error.
    std::map<std::string, std::string> class_map;
};

/// --class-map values: "a=b" pairs (comma-separated allowed), or a file: a JSON object {"a": "b"} or lines "a=b"
/// (# comments). Throws Error(kBadInput) naming the value, file and line that is malformed, or a key given twice.
std::map<std::string, std::string> parse_class_map(const std::vector<std::string>& values);

struct EvalClass {
    int id = 0;
    std::string name;
    double ap = -1, ap50 = -1, ap75 = -1;
};

/// One side of an evaluation (A: --dt, B: --compare): the file, and what a recording says of it.
struct EvalSide {
    std::string file;
    std::string model;         ///< model@version (a recording's; empty for a results file)
    double threshold = -1;     ///< the run's operating threshold (a recording's; -1 unknown)
    std::string label() const; ///< "parts-v1@1.0.0 at 0.30 (run.slrec)", or the file alone
};

struct EvalReport {
    EvalOptions options;          ///< as resolved: options.threshold is the one applied
    EvalSide a, b;                ///< b: with --compare
    std::string threshold_source; ///< where the operating threshold came from (--threshold, the recording, default)
    CocoGroundTruth gt;
    std::size_t detections = 0;      ///< detections read (before any cut)
    std::size_t images_in_gt = 0;    ///< images of the ground-truth file
    std::size_t images_left_out = 0; ///< of them, not evaluated: the results do not cover them
    std::string left_out_reason;     ///< why (empty when none were left out)
    CocoEvalResult coco;
    std::vector<EvalClass> classes; ///< one per category of coco.category_ids, same order
    // the rest is empty with options.coco_only
    std::optional<OperatingPoint> operating_point;
    std::optional<ScoreAnalysis> scores;
    std::optional<VocResult> voc;
    std::optional<CompareResult> compare;
    std::optional<TideResult> tide;
    std::vector<SliceResult> slices;
    std::vector<std::string> red_flags; ///< what a reader must not miss (docs/metrics.md, Red flags)
    CocoDetections dt;                  ///< the detections evaluated (A)
    double load_ms = 0;
    const std::string& name_of(int category_id) const;
};

/// Reads the inputs and evaluates everything the options ask for. Error(kBadInput) naming the file for bad input,
/// and for detections on images the ground truth lacks unless allow_unknown_images. `bootstrap_progress(done,
/// total)` is called during --compare's bootstrap.
EvalReport build_eval_report(const EvalOptions& options, const std::function<void(int, int)>& bootstrap_progress = {});

/// The report as JSON text (sightline.eval/1).
std::string eval_report_json(const EvalReport& report);

/// The detections evaluated (those on the evaluated images, after a recording was placed on the ground truth) as
/// a COCO results array, [{image_id, category_id, bbox, score}, ...], as pycocotools' loadRes reads it.
std::string coco_results_json(const EvalReport& report);

/// The report as text, as `sightline eval` prints it.
void print_eval_report(const EvalReport& report, std::FILE* out);

/// Only its comparison (with --compare): B - A per metric with its paired bootstrap interval, as print_eval_report
/// prints it; nothing without one.
void print_eval_comparison(const EvalReport& report, std::FILE* out);

/// Only its comparison as JSON text (the `compare` object of sightline.eval/1); "null" without one.
std::string eval_comparison_json(const EvalReport& report);

/// The report as one HTML page: inline SVG and CSS, nothing fetched, opens offline (COCO stats, per-class table,
/// precision-recall curves, confusion-matrix heat map, reliability diagram, TIDE breakdown, threshold advice, slices,
/// comparison, red flags, each where the report has it).
std::string render_eval_html(const EvalReport& report);

/// Only its comparison (with --compare) as an HTML table, B - A per metric with its interval ("n/a" where undefined),
/// and the boxes one side finds and the other misses, as render_eval_html shows it; empty without one.
std::string render_eval_comparison_table(const EvalReport& report);

} // namespace sightline::pipeline
