#pragma once
/// COCO datasets for evaluation: ground truth (instances format) and detections (results format), read with
/// simdjson, and the COCO detection evaluation with pycocotools' exact semantics.
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sightline/kernels/match.hpp"

namespace sightline::pipeline {

struct CocoImage {
    std::int64_t id = 0;
    int width = 0, height = 0;
    /// Every other scalar field of the image object, as text (numbers as written), and string arrays as their
    /// elements: the keys slices are made of (camera, location, lighting, tags, timestamp...).
    std::map<std::string, std::vector<std::string>> meta;
};

/// The most categories a ground truth may list: the evaluation's tables grow with their number (10 x 101 x 4 x 3
/// precisions per category, as pycocotools'), and the largest public sets have about 1200 (LVIS).
inline constexpr std::size_t kMaxCategories = 2048;
/// Category ids must lie within +-this (classes the ground truth lacks get ids past its largest: no overflow).
inline constexpr std::int64_t kMaxCategoryId = 1'000'000'000;

struct CocoCategory {
    int id = 0;
    std::string name;
};

struct CocoAnnotation {
    std::int64_t id = 0, image_id = 0;
    int category_id = 0;
    kernels::BoxXywh box{};
    double area = 0;
    bool crowd = false;
};

struct CocoGroundTruth {
    std::string source; ///< file it came from (for messages)
    std::vector<CocoImage> images;
    std::vector<CocoCategory> categories;
    std::vector<CocoAnnotation> annotations;
};

struct CocoDetection {
    std::int64_t image_id = 0;
    int category_id = 0;
    kernels::BoxXywh box{};
    double score = 0;
};

struct CocoDetections {
    std::string source;
    std::vector<CocoDetection> detections;
    /// The image ids the detections were made on, when the source says (a run's recording: the frames it
    /// processed; a results object with `images`); unset: every image of the ground truth.
    std::optional<std::vector<std::int64_t>> evaluated_images;
};

/// The ground truth restricted to `image_ids` (images and their annotations; categories kept). Ids the ground
/// truth lacks are ignored.
CocoGroundTruth restrict_to_images(const CocoGroundTruth& gt, const std::vector<std::int64_t>& image_ids);

/// Reads a COCO instances file. Throws Error(kBadInput) naming the file and the element (e.g. "annotations[12]:
/// bbox width -3 is negative") for a missing file, malformed JSON, missing keys, negative sizes, a non-finite
/// number, an annotation on an image or category the file does not list, more than kMaxCategories categories or
/// an id outside +-kMaxCategoryId, non-UTF-8 text, or anything after the JSON document.
CocoGroundTruth load_coco_ground_truth_file(const std::filesystem::path& path);

/// Reads a COCO results file: a JSON array of {image_id, category_id, bbox: [x, y, w, h], score}. Same errors.
CocoDetections load_coco_detections_file(const std::filesystem::path& path);

/// What evaluation does with detections that do not fit the ground truth.
struct CocoCheck {
    std::size_t unknown_image = 0;    ///< detections on images the ground truth does not list
    std::size_t unknown_category = 0; ///< detections of categories the ground truth does not list
    std::string first_unknown_image;  ///< the first such element, for the message
    std::string first_unknown_category;
};

struct CocoEvalOptions {
    /// Evaluate only `images` (indices into CocoGroundTruth::images), as slices do; false: every image.
    bool subset = false;
    std::vector<int> images;
    std::array<int, 3> max_dets = {1, 10, 100};
};

inline constexpr int kCocoAreas = 4; ///< all, small (< 32^2), medium (< 96^2), large
inline const char* const kCocoAreaNames[kCocoAreas] = {"all", "small", "medium", "large"};
inline const char* const kCocoStatNames[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                               "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

struct CocoEvalResult {
    std::array<double, 12> stats{}; ///< pycocotools' summarize() order and values; -1 where undefined
    std::vector<int> category_ids;  ///< sorted, the K axis below
    /// pycocotools' eval['precision'] [T][R][K][A][M], eval['recall'] [T][K][A][M], eval['scores'] like precision
    std::vector<double> precision, recall, scores;
    int num_images = 0;
    std::size_t num_gt = 0, num_dt = 0; ///< boxes taking part (gt incl. crowd; detections after the maxDets cut)
    CocoCheck check;
    double prepare_ms = 0, match_ms = 0, accumulate_ms = 0; ///< where the time went (wall clock)
    double precision_at(int t, int r, int k, int a, int m) const;
    /// AP of one category (index into category_ids) at IoU index t (-1: mean over .50:.95), area "all", 100 dets.
    double class_ap(int k, int t = -1) const;
};

/// COCO bbox evaluation: all 12 stats equal to pycocotools' COCOeval (iouType "bbox", useCats 1) on the same
/// files. Detections on images or categories the ground truth lacks are left out and counted in `check` (pycocotools
/// refuses unknown images and silently drops unknown categories; callers decide what to say).
CocoEvalResult evaluate_coco(const CocoGroundTruth& gt, const CocoDetections& dt, const CocoEvalOptions& options = {});

/// Counts at one operating point: detections scoring >= threshold, COCO greedy matching at one IoU.
struct ClassCounts {
    int category_id = 0;
    long tp = 0, fp = 0, fn = 0;
    double precision() const { return tp + fp ? static_cast<double>(tp) / (tp + fp) : 0.0; }
    double recall() const { return tp + fn ? static_cast<double>(tp) / (tp + fn) : 0.0; }
    double f1() const {
        const double p = precision(), r = recall();
        return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    }
};

struct OperatingPoint {
    double threshold = 0.5, iou = 0.5;
    std::vector<int> category_ids;      ///< sorted; the rows of per_class and confusion
    std::vector<ClassCounts> per_class; ///< class-aware matching (a right box with the wrong class is FP + FN)
    ClassCounts overall;                ///< sums over classes
    /// Class-agnostic matching, K rows (the ground truth's class; for false positives the detection's class) by K + 2
    /// columns: the detected class, then false positives (background), then misses (false negatives). Crowd regions
    /// are neither: detections on them are ignored, and an unmatched crowd box is not a miss.
    std::vector<std::vector<long>> confusion;
    std::vector<std::uint8_t> gt_found; ///< per gt.annotations entry: a true positive took it (class-aware)
    int num_images = 0;
    double fp_per_image = 0;
    double hours = 0;        ///< video time the images cover (from --fps), 0 when unknown
    double fp_per_hour = -1; ///< -1 when the duration is unknown
};

/// Precision, recall, F1 per class and overall, and the confusion matrix, at `threshold`; `fps` > 0 gives the
/// images' video time (images / fps) for false positives per hour.
/// `images` (indices into gt.images) restricts it to a slice; null: every image.
OperatingPoint evaluate_operating_point(const CocoGroundTruth& gt, const CocoDetections& dt, double threshold,
                                        double iou = 0.5, double fps = 0, const std::vector<int>* images = nullptr);

/// Per class, the confidence thresholds a line operator would pick (IoU `iou`, class-aware COCO matching, every
/// detection). -1 where no threshold qualifies.
struct ThresholdAdvice {
    int category_id = 0;
    double f1_threshold = -1, f1 = 0, f1_precision = 0, f1_recall = 0; ///< the threshold that maximises F1
    double precision_threshold = -1, recall_at_precision = 0; ///< lowest threshold reaching the target precision
    double budget_threshold = -1, recall_at_budget = 0;       ///< lowest threshold within the FP budget per hour
};

/// Box-level calibration (Küppers et al. 2020): a detection is correct when it is a true positive at `iou`;
/// confidence bins of equal width; ECE = sum over bins of (n_b / N) * |accuracy_b - mean confidence_b|.
struct Calibration {
    double ece = -1;                                        ///< -1: undefined (no detection to calibrate)
    std::vector<double> lower, upper, confidence, accuracy; ///< per bin (reliability diagram data)
    std::vector<long> count;
};

struct ScoreAnalysis {
    std::vector<ThresholdAdvice> per_class; ///< category_ids order
    Calibration calibration;
};

/// Threshold advice and calibration. `hours` > 0 enables the FP budget (false positives per hour of video).
ScoreAnalysis analyse_scores(const CocoGroundTruth& gt, const CocoDetections& dt, double iou, double target_precision,
                             double fp_budget_per_hour, double hours, int bins = 10);

/// Pascal VOC average precision for one class.
struct VocClassAp {
    int category_id = 0;
    long positives = 0;      ///< ground truth of the class (crowd / difficult ones excluded)
    double ap_all_point = 0; ///< area under the precision envelope (VOC 2010+)
    double ap_11_point = 0;  ///< mean of the envelope at recall 0, .1, ..., 1 (VOC 2007), np.linspace values
};

struct VocResult {
    double iou = 0.5;
    bool plus_one = false; ///< widths and heights counted in pixels, + 1 (the VOC devkit's convention)
    double map_all_point = 0, map_11_point = 0; ///< means over the classes that have ground truth
    std::vector<VocClassAp> per_class;          ///< classes with ground truth, sorted by id
};

/// VOC evaluation: per class, detections by score (stable); each takes the ground truth of its class in its image
/// with the highest IoU; IoU >= `iou` and that box not yet taken: true positive, else false positive. Best match a
/// crowd box (VOC "difficult"): neither. Equal to review_object_detection_metrics' Pascal VOC evaluator on its test
/// case (which uses plus_one).
VocResult evaluate_voc(const CocoGroundTruth& gt, const CocoDetections& dt, double iou = 0.5, bool plus_one = false);

/// One metric of two models on the same ground truth: both values, B - A, and the paired bootstrap 95% interval of
/// B - A over images (the same resampled image set scores both models in each replicate).
struct MetricDiff {
    std::string name;
    double a = 0, b = 0, diff = 0, lower = 0, upper = 0;
};

struct CompareResult {
    std::vector<MetricDiff> metrics; ///< the 12 COCO stats, then precision, recall, F1 at the operating point
    int replicates = 0;
    std::uint64_t seed = 0;
    /// Ground-truth boxes (indices into gt.annotations) found at the operating point by one model only.
    std::vector<int> found_by_b_only, found_by_a_only;
};

/// Model B against model A on `gt`: every metric's difference with a seeded paired bootstrap interval, and the
/// boxes one finds and the other misses. `progress` (may be empty) is called after each replicate.
CompareResult compare_models(const CocoGroundTruth& gt, const CocoDetections& a, const CocoDetections& b,
                             double threshold, double iou, int replicates, std::uint64_t seed,
                             const std::function<void(int done, int total)>& progress = {});

/// A slicing rule: images grouped by the value of metadata `key` (an array value puts the image in each of its
/// elements' slices; images without the key form the slice "(none)"); with `window` > 0 the value is a number
/// bucketed into [k * window, (k + 1) * window) (time windows over `timestamp`, say). Parsed from "key" or
/// "key:window".
struct SliceSpec {
    std::string key;
    double window = 0;
    static SliceSpec parse(const std::string& text);
};

struct SliceResult {
    std::string key, value;
    int images = 0;
    std::size_t gt_boxes = 0; ///< non-crowd ground truth in the slice
    double ap = -1, ap50 = -1, ar100 = -1;
    double precision = -1, recall = -1; ///< at the operating threshold; -1 undefined (no detection; no ground truth)
    double ap_drop = 0;                 ///< AP of the whole set minus the slice's (positive: the slice is worse)
    /// The drop shrunk by support, drop * n / (n + 30) with n the slice's images, so a 3-image slice does not rank
    /// above a 3000-image one with the same drop; slices are ranked by it, worst first.
    double rank_score = 0;
};

/// Every slice of every spec, plus the object-size slices (key "size": small, medium, large, from the COCO area
/// ranges), ranked worst first by rank_score (size slices are listed, not ranked).
std::vector<SliceResult> evaluate_slices(const CocoGroundTruth& gt, const CocoDetections& dt,
                                         const std::vector<SliceSpec>& specs, const CocoEvalResult& whole,
                                         double threshold, double iou);

} // namespace sightline::pipeline
