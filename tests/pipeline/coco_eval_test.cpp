// COCO evaluation against the numbers other projects publish for their own test data (tests/fixtures/
// detection-metrics, see its README), the matching rules on hand-made cases, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <unistd.h>

#include "sightline/error.hpp"
#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/pipeline/recorded.hpp"
#include "sightline/pipeline/tide.hpp"
#include "sightline/transport/recording.hpp"
#include "support/test_support.hpp"

using namespace sightline;
using namespace sightline::pipeline;

namespace {

const std::string kFixtures = std::string(SIGHTLINE_SOURCE_DIR) + "/tests/fixtures/detection-metrics/";

struct Published {
    const char* name;
    const char* gt;
    const char* dt;
    std::array<double, 12> stats;
    double tolerance; ///< 1e-6 where published to full precision, half a unit of the last digit otherwise
};

const Published kPublished[] = {
    {"cocoapi_val2014_fake_bbox",
     "faster_coco_eval/instances_val2014_100.json",
     "cocoapi/instances_val2014_fakebbox100_results.json",
     {.5045806987249628, .6969727247299577, .5729816669904824, .5856257209410443, .5193996948036719, .5013978986347466,
      .38681277964578054, .5936795762842003, .595352982877607, .6398109626113442, .5664205978994309, .5642905982905982},
     1e-6},
    {"review_odm_coco_no_crowd",
     "review_object_detection_metrics/test_coco_eval/sampled_gts_bbox_area.json",
     "review_object_detection_metrics/test_coco_eval/sampled_bbox_results.json",
     {.503647, .696973, .571667, .593252, .557991, .489363, .386813, .593680, .595353, .654764, .603130, .553744},
     1e-6},
    {"detectron2",
     "detectron2_via_faster_coco_eval/gt.json",
     "detectron2_via_faster_coco_eval/dt.json",
     {.7504950495049505, 1, 1, .7, .8, -1, .4, .75, .75, .7, .8, -1},
     1e-6},
    {"faster_coco_eval_ignore",
     "faster_coco_eval/coco/gt_ignore_test_intid.json",
     "faster_coco_eval/coco/dt_ignore_test_min0.1.json",
     {.7099009900990099, 1, .8415841584158416, -1, .7099009900990099, -1, 0, .45384615384615384, .7153846153846154, -1,
      .7153846153846154, -1},
     1e-6},
    {"torchmetrics_readme",
     "torchmetrics/coco/tm_readme_example/gt.json",
     "torchmetrics/coco/tm_readme_example/dt.json",
     {.6, 1, 1, -1, -1, .6, .6, .6, .6, -1, -1, .6},
     1e-6},
    {"torchmetrics_v07",
     "torchmetrics/coco/tm_v07_inputs/gt.json",
     "torchmetrics/coco/tm_v07_inputs/dt.json",
     {.706, .901, .846, .689, .800, .701, .592, .716, .716, .767, .800, .700},
     5e-4},
};

void PrintTo(const Published& p, std::ostream* os) {
    *os << p.name;
}

class CocoPublished : public ::testing::TestWithParam<Published> {};

TEST_P(CocoPublished, ReproducesPublishedStats) {
    const Published& p = GetParam();
    const auto gt = load_coco_ground_truth_file(kFixtures + p.gt);
    const auto dt = load_coco_detections_file(kFixtures + p.dt);
    const auto r = evaluate_coco(gt, dt);
    for (int s = 0; s < 12; ++s) EXPECT_NEAR(r.stats[s], p.stats[s], p.tolerance) << p.name << " " << kCocoStatNames[s];
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CocoPublished, ::testing::ValuesIn(kPublished),
                         [](const auto& info) { return std::string(info.param.name); });

// faster-coco-eval's test_confusion_matrix: class-agnostic matching at IoU 0.5 over every detection.
TEST(OperatingPoint, ConfusionMatrixMatchesFasterCocoEval) {
    const auto gt = load_coco_ground_truth_file(kFixtures + "faster_coco_eval/gt_dataset.json");
    const auto dt = load_coco_detections_file(kFixtures + "faster_coco_eval/dt_dataset.json");
    const auto op = evaluate_operating_point(gt, dt, 0.0, 0.5);
    const std::vector<std::vector<long>> expected = {
        {2, 1, 0, 0, 1, 0}, {1, 1, 0, 0, 0, 1}, {0, 0, 1, 0, 0, 0}, {0, 0, 0, 2, 0, 0}};
    EXPECT_EQ(op.confusion, expected);
}

TEST(OperatingPoint, CountsAndRates) {
    CocoGroundTruth gt;
    for (int i = 1; i <= 2; ++i) {
        gt.images.push_back({});
        gt.images.back().id = i;
    }
    gt.categories = {{1, "bolt"}, {2, "nut"}};
    gt.annotations = {{1, 1, 1, {0, 0, 10, 10}, 100, false},
                      {2, 1, 2, {50, 50, 10, 10}, 100, false},
                      {3, 2, 1, {0, 0, 10, 10}, 100, false}};
    CocoDetections dt;
    dt.detections = {{1, 1, {0, 0, 10, 10}, .9},   // TP bolt
                     {1, 1, {50, 50, 10, 10}, .8}, // right box, wrong class: FP bolt + FN nut, confusion nut->bolt
                     {2, 2, {200, 200, 5, 5}, .7}, // background FP nut
                     {2, 1, {0, 0, 10, 10}, .2}};  // below the threshold: the second bolt is missed
    const auto op = evaluate_operating_point(gt, dt, 0.5, 0.5, 30.0);
    EXPECT_EQ(op.per_class[0].tp, 1);
    EXPECT_EQ(op.per_class[0].fp, 1);
    EXPECT_EQ(op.per_class[0].fn, 1);
    EXPECT_EQ(op.per_class[1].tp, 0);
    EXPECT_EQ(op.per_class[1].fp, 1);
    EXPECT_EQ(op.per_class[1].fn, 1);
    EXPECT_NEAR(op.overall.precision(), 1.0 / 3, 1e-12);
    EXPECT_NEAR(op.overall.recall(), 1.0 / 3, 1e-12);
    const std::vector<std::vector<long>> confusion = {{1, 0, 0, 1}, {1, 0, 1, 0}};
    EXPECT_EQ(op.confusion, confusion);
    EXPECT_NEAR(op.fp_per_image, 1.0, 1e-12);
    EXPECT_NEAR(op.fp_per_hour, 2 / (2 / 30.0 / 3600), 1e-6);
}

// Two cameras, 40 images each: cam1 detected perfectly, cam2 misses every other object. Slicing by camera ranks
// cam2 worst; tags (arrays) and time windows put images in the right slices; a slice's AP equals the AP of that
// subset evaluated alone.
TEST(Slices, RanksTheWorseCameraFirstAndBucketsWindows) {
    CocoGroundTruth gt;
    gt.categories = {{1, "part"}};
    CocoDetections dt;
    for (int i = 0; i < 80; ++i) {
        CocoImage im;
        im.id = 100 + i;
        im.meta["camera"] = {i < 40 ? "cam1" : "cam2"};
        im.meta["timestamp"] = {std::to_string(i * 0.5)};
        im.meta["tags"] = i % 2 ? std::vector<std::string>{"odd", "all"} : std::vector<std::string>{"all"};
        gt.images.push_back(im);
        for (int k = 0; k < 2; ++k) {
            const kernels::BoxXywh b{10.0 + 50 * k, 10, 40, 40};
            gt.annotations.push_back({i * 2 + k + 1, im.id, 1, b, 1600, false});
            if (i < 40 || k == 0) dt.detections.push_back({im.id, 1, b, 0.9 - 0.001 * i});
        }
    }
    const CocoEvalResult whole = evaluate_coco(gt, dt);
    const auto slices = evaluate_slices(
        gt, dt, {SliceSpec::parse("camera"), SliceSpec::parse("tags"), SliceSpec::parse("timestamp:10")}, whole, 0.5,
        0.5);
    ASSERT_FALSE(slices.empty());
    EXPECT_EQ(slices[0].key, "camera");
    EXPECT_EQ(slices[0].value, "cam2");
    EXPECT_GT(slices[0].ap_drop, 0.1);
    EXPECT_NEAR(slices[0].recall, 0.5, 1e-12);
    std::map<std::string, int> images;
    for (const auto& s : slices) images[s.key + "=" + s.value] = s.images;
    EXPECT_EQ(images["tags=all"], 80);
    EXPECT_EQ(images["tags=odd"], 40);
    EXPECT_EQ(images["timestamp=[0, 10)"], 20);
    EXPECT_EQ(images["timestamp=[30, 40)"], 20);
    // the slice equals its subset evaluated on its own
    CocoGroundTruth only2 = gt;
    only2.images.erase(only2.images.begin(), only2.images.begin() + 40);
    std::erase_if(only2.annotations, [](const CocoAnnotation& a) { return a.image_id < 140; });
    CocoDetections dt2 = dt;
    std::erase_if(dt2.detections, [](const CocoDetection& d) { return d.image_id < 140; });
    EXPECT_NEAR(slices[0].ap, evaluate_coco(only2, dt2).stats[0], 1e-12);
}

TEST(Slices, RejectsBadSpecs) {
    EXPECT_THROW(SliceSpec::parse(":10"), Error);
    EXPECT_THROW(SliceSpec::parse("timestamp:"), Error);
    EXPECT_THROW(SliceSpec::parse("timestamp:-5"), Error);
    EXPECT_THROW(SliceSpec::parse("timestamp:abc"), Error);
    EXPECT_EQ(SliceSpec::parse("timestamp:60").window, 60.0);
}

// review_object_detection_metrics' test_case_1 (7 images, 15 GT, 24 detections), with its +1-pixel convention.
TEST(Voc, ReproducesReviewObjectDetectionMetrics) {
    const std::string dir = kFixtures + "review_object_detection_metrics/test_case_1/coco/";
    const auto gt = load_coco_ground_truth_file(dir + "gt.json");
    const auto dt = load_coco_detections_file(dir + "dt.json");
    const double ious[] = {0.1, 0.3, 0.5, 0.75};
    const double all_point[] = {0.3371980676, 0.2456866804, 0.0222222222, 0};
    const double eleven[] = {0.3333333333, 0.2683982683, 0.0303030303, 0};
    for (int i = 0; i < 4; ++i) {
        const VocResult v = evaluate_voc(gt, dt, ious[i], true);
        ASSERT_EQ(v.per_class.size(), 1u);
        EXPECT_NEAR(v.per_class[0].ap_all_point, all_point[i], 1e-9) << "IoU " << ious[i];
        EXPECT_NEAR(v.per_class[0].ap_11_point, eleven[i], 1e-9) << "IoU " << ious[i];
        EXPECT_EQ(v.per_class[0].positives, 15);
    }
}

// 60 images with two objects each: B finds everything, A only the first object. B - A is positive with an interval
// that excludes 0; A against itself gives 0 everywhere; the boxes only B finds are exactly A's misses.
TEST(Compare, PairedBootstrapAndFoundLists) {
    CocoGroundTruth gt;
    gt.categories = {{1, "part"}};
    CocoDetections a, b;
    for (int i = 0; i < 60; ++i) {
        CocoImage im;
        im.id = i + 1;
        gt.images.push_back(im);
        for (int k = 0; k < 2; ++k) {
            const kernels::BoxXywh box{10.0 + 60 * k, 10, 40, 40};
            gt.annotations.push_back({i * 2 + k + 1, im.id, 1, box, 1600, false});
            b.detections.push_back({im.id, 1, box, 0.9});
            if (k == 0) a.detections.push_back({im.id, 1, box, 0.9});
        }
    }
    const CompareResult c = compare_models(gt, a, b, 0.5, 0.5, 50, 7);
    ASSERT_EQ(c.metrics.size(), 15u);
    EXPECT_EQ(c.metrics[0].name, "AP");
    EXPECT_GT(c.metrics[0].diff, 0.3);
    EXPECT_GT(c.metrics[0].lower, 0.0);
    EXPECT_EQ(c.metrics[13].name, "recall");
    EXPECT_NEAR(c.metrics[13].diff, 0.5, 1e-12);
    EXPECT_EQ(c.found_by_b_only.size(), 60u);
    EXPECT_TRUE(c.found_by_a_only.empty());
    for (int n : c.found_by_b_only) EXPECT_EQ(gt.annotations[n].id % 2, 0) << "only second objects are A's misses";
    const CompareResult same = compare_models(gt, a, a, 0.5, 0.5, 20, 7);
    for (const auto& m : same.metrics) {
        if (std::isnan(m.diff)) continue;
        EXPECT_EQ(m.diff, 0.0) << m.name;
        EXPECT_EQ(m.lower, 0.0) << m.name;
        EXPECT_EQ(m.upper, 0.0) << m.name;
    }
    // seeded: the same seed gives the same interval
    EXPECT_EQ(compare_models(gt, a, b, 0.5, 0.5, 50, 7).metrics[0].lower, c.metrics[0].lower);
}

CocoGroundTruth one_image_gt(std::vector<CocoAnnotation> anns);
CocoDetections dets(std::vector<std::pair<kernels::BoxXywh, double>> v);

// Two objects, detections .9 TP, .8 FP, .7 TP, .6 FP: F1 peaks at .7 (P 2/3, R 1); precision >= .6 first holds at
// .7; one FP per hour allowed (hours = 1) also stops at .7; ECE = (.1 + .8 + .3 + .6) / 4.
TEST(ScoreAnalysis, ThresholdAdviceAndCalibrationByHand) {
    CocoAnnotation a1{1, 1, 1, {0, 0, 10, 10}, 0, false}, a2{2, 1, 1, {100, 0, 10, 10}, 0, false};
    const auto gt = one_image_gt({a1, a2});
    const auto dt =
        dets({{{0, 0, 10, 10}, .9}, {{300, 300, 10, 10}, .8}, {{100, 0, 10, 10}, .7}, {{400, 300, 10, 10}, .6}});
    const ScoreAnalysis sa = analyse_scores(gt, dt, 0.5, 0.6, 1.0, 1.0);
    ASSERT_EQ(sa.per_class.size(), 1u);
    const ThresholdAdvice& v = sa.per_class[0];
    EXPECT_DOUBLE_EQ(v.f1_threshold, .7);
    EXPECT_NEAR(v.f1, 0.8, 1e-12);
    EXPECT_DOUBLE_EQ(v.precision_threshold, .7);
    EXPECT_NEAR(v.recall_at_precision, 1.0, 1e-12);
    EXPECT_DOUBLE_EQ(v.budget_threshold, .7);
    EXPECT_NEAR(sa.calibration.ece, (0.1 + 0.8 + 0.3 + 0.6) / 4, 1e-12);
    EXPECT_EQ(sa.calibration.count[9], 1);
    EXPECT_EQ(sa.calibration.count[6], 1);
    // a target no threshold reaches, and no duration: both -1
    const ScoreAnalysis none = analyse_scores(gt, dets({{{300, 300, 10, 10}, .9}}), 0.5, 0.9, 1.0, 0.0);
    EXPECT_EQ(none.per_class[0].precision_threshold, -1);
    EXPECT_EQ(none.per_class[0].budget_threshold, -1);
}

CocoGroundTruth one_image_gt(std::vector<CocoAnnotation> anns) {
    CocoGroundTruth gt;
    gt.images.push_back({});
    gt.images[0].id = 1;
    gt.categories.push_back({1, "part"});
    for (auto& a : anns) a.image_id = 1, a.category_id = 1, a.area = a.area ? a.area : a.box.w * a.box.h;
    gt.annotations = std::move(anns);
    return gt;
}

CocoDetections dets(std::vector<std::pair<kernels::BoxXywh, double>> v) {
    CocoDetections d;
    for (auto& [b, s] : v) d.detections.push_back({1, 1, b, s});
    return d;
}

// TIDE by hand. Class 1: g1 found by d1 (.9); d2 (.8) is d1's box with class 2: classification error on a box
// already taken (fixing it removes it); d3 (.7) far from everything: background; d4 (.6) overlaps g2 by 1/3:
// localisation, and it claims g2, so g2 is not "missed". Base: class 1 AP = 51/101 (precision 1 up to recall .5),
// class 2 (a detection, no ground truth) AP 0, mAP 51/202.
TEST(Tide, ErrorTypesAndDeltasByHand) {
    CocoAnnotation g1{1, 1, 1, {0, 0, 10, 10}, 0, false}, g2{2, 1, 1, {100, 100, 10, 10}, 0, false};
    auto gt = one_image_gt({g1, g2});
    gt.categories.push_back({2, "other"});
    auto d = dets({{{0, 0, 10, 10}, .9}, {{0, 0, 10, 10}, .8}, {{50, 50, 10, 10}, .7}, {{100, 100, 10, 30}, .6}});
    d.detections[1].category_id = 2;
    const TideResult t = evaluate_tide(gt, d);
    EXPECT_EQ(t.count, (std::array<long, kTideTypes>{1, 1, 0, 0, 1, 0})); // cls, loc, both, dupe, bkg, miss
    EXPECT_NEAR(t.ap, 51.0 / 202, 1e-12);
    EXPECT_NEAR(t.dap[0], 51.0 / 202, 1e-12);              // class 2 empties: mAP 51/101
    EXPECT_NEAR(t.dap[1], (50 * 2.0 / 3) / 202, 1e-12);    // d4 a hit: precision 2/3 from recall .5 to 1
    EXPECT_NEAR(t.dap[4], 0.0, 1e-12);                     // d3 gone: the envelope was already 1 to recall .5
    EXPECT_NEAR(t.dap_false_pos, 0.0, 1e-12);              // the true positive already ranks first
    EXPECT_NEAR(t.dap_false_neg, 0.5 - 51.0 / 202, 1e-12); // g2 dropped: class 1 AP 1
    // no detections at all: every box missed, AP 0
    const TideResult none = evaluate_tide(gt, CocoDetections{});
    EXPECT_EQ(none.count[5], 2);
    EXPECT_NEAR(none.ap, 0.0, 1e-12);
}

TEST(CocoRules, CrowdBoxAbsorbsDetectionsWithoutCountingThem) {
    CocoAnnotation person{1, 1, 1, {0, 0, 10, 10}, 0, false};
    CocoAnnotation crowd{2, 1, 1, {50, 50, 40, 40}, 0, true};
    // one hit on the person; two detections inside the crowd region, scored above it, are neither TP nor FP:
    // counted as false positives they would put the true positive third (precision 1/3 at recall 1, AP 1/3)
    auto r = evaluate_coco(one_image_gt({person, crowd}),
                           dets({{{0, 0, 10, 10}, .7}, {{55, 55, 10, 10}, .9}, {{60, 60, 10, 10}, .8}}));
    EXPECT_NEAR(r.stats[0], 1.0, 1e-12); // precision stays 1: the crowd hits are ignored
    EXPECT_NEAR(r.stats[8], 1.0, 1e-12);
}

TEST(CocoRules, UnmatchedDetectionIsFalsePositive) {
    CocoAnnotation part{1, 1, 1, {0, 0, 10, 10}, 0, false};
    auto r = evaluate_coco(one_image_gt({part}), dets({{{100, 100, 10, 10}, .9}, {{0, 0, 10, 10}, .5}}));
    // precision 0.5 at recall 1 everywhere (envelope): AP = 0.5
    EXPECT_NEAR(r.stats[0], 0.5, 1e-12);
}

TEST(CocoRules, AnnotationIdZeroCountsAsUnmatchedLikePycocotools) {
    CocoAnnotation part{0, 1, 1, {0, 0, 10, 10}, 0, false};
    auto r = evaluate_coco(one_image_gt({part}), dets({{{0, 0, 10, 10}, .9}}));
    EXPECT_NEAR(r.stats[0], 0.0, 1e-12);
}

TEST(CocoRules, UnknownImagesAndCategoriesAreCountedNotEvaluated) {
    CocoAnnotation part{1, 1, 1, {0, 0, 10, 10}, 0, false};
    auto d = dets({{{0, 0, 10, 10}, .9}});
    d.detections.push_back({7, 1, {0, 0, 10, 10}, .95});
    d.detections.push_back({1, 9, {0, 0, 10, 10}, .95});
    auto r = evaluate_coco(one_image_gt({part}), d);
    EXPECT_EQ(r.check.unknown_image, 1u);
    EXPECT_EQ(r.check.unknown_category, 1u);
    EXPECT_NEAR(r.stats[0], 1.0, 1e-12);
}

struct BadFile {
    const char* name;
    bool ground_truth;
    const char* text;
    const char* message; ///< expected in the error, besides the file name
};

const BadFile kBad[] = {
    {"truncated", true, R"({"images": [{"id": 1}], "annotations": [)", "malformed JSON"},
    {"not_object", true, "[1, 2]", "not a JSON object"},
    {"no_images", true, R"({"annotations": [], "categories": []})", "missing key images"},
    {"ann_missing_bbox", true,
     R"({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1}]})",
     "annotations[0]: missing key bbox"},
    {"negative_width", true,
     R"({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, -3, 4]}]})",
     "annotations[0]: bbox width -3"},
    {"unknown_category", true,
     R"({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 3, 4]}]})",
     "annotations[0]: category_id 5 is not in categories"},
    {"unknown_image", true,
     R"({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 3, 4]}]})",
     "annotations[0]: image_id 2 is not in images"},
    {"duplicate_image", true, R"({"images": [{"id": 1}, {"id": 1}], "categories": [], "annotations": []})",
     "images[1]: duplicate image id 1"},
    {"nan_score", false, R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}])",
     "[0]: score is not a number"},
    {"score_string", false, R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "high"}])",
     "[0]: score is not a number"},
    {"bbox_three", false, R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}])",
     "[0]: bbox has 3 elements"},
    {"dt_missing_score", false, R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])",
     "[0]: missing key score"},
    {"dt_negative_height", false, R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, -1], "score": 1}])",
     "[0]: bbox height -1"},
    {"dt_float_image_id", false, R"([{"image_id": 1.5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])",
     "[0]: image_id is not an integer"},
};

void PrintTo(const BadFile& b, std::ostream* os) {
    *os << b.name;
}

class CocoBadInput : public ::testing::TestWithParam<BadFile> {};

TEST_P(CocoBadInput, NamesFileAndElement) {
    const BadFile& b = GetParam();
    const auto dir = sightline::testing::temp_dir("coco_bad");
    const auto path = dir / (std::string(b.name) + ".json");
    std::ofstream(path) << b.text;
    try {
        if (b.ground_truth)
            load_coco_ground_truth_file(path);
        else
            load_coco_detections_file(path);
        FAIL() << b.name << ": no error";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(path.string()), std::string::npos) << what;
        EXPECT_NE(what.find(b.message), std::string::npos) << "expected '" << b.message << "' in: " << what;
    }
}

INSTANTIATE_TEST_SUITE_P(Table, CocoBadInput, ::testing::ValuesIn(kBad),
                         [](const auto& info) { return std::string(info.param.name); });

// Large results files are parsed in two parts at once; whatever the cut lands on, the result is the one-pass read's:
// the same detections in file order, and errors naming the same element.
TEST(CocoLargeResults, PartsAgreeWithOnePassAndErrorsNameTheElement) {
    const auto dir = sightline::testing::temp_dir("coco_large");
    const int n = 70000; // about 5.5 MB: over the size from which results files are read in chunks
    auto write = [&](const std::string& name, int bad, bool tricky) {
        std::string text = "[";
        for (int i = 0; i < n; ++i) {
            text += i ? ",\n" : "";
            text += "{\"image_id\": " + std::to_string(i % 700) + ", \"category_id\": " + std::to_string(1 + i % 3) +
                    ", \"bbox\": [" + std::to_string(i % 97) + ".5, 2, 10, 20]";
            if (tricky) text += ", \"note\": \"},{\", \"extra\": [{\"a\": 1}, {\"b\": 2}]"; // cut look-alikes
            if (i != bad) text += ", \"score\": " + std::to_string((i % 1000) / 1000.0);
            text += "}";
        }
        text += "]\n";
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    };
    for (bool tricky : {false, true}) {
        const auto dt = load_coco_detections_file(write("ok.json", -1, tricky));
        ASSERT_EQ(dt.detections.size(), static_cast<std::size_t>(n)) << tricky;
        for (int i : {0, n / 2 - 1, n / 2, n / 2 + 1, n - 1}) {
            EXPECT_EQ(dt.detections[i].image_id, i % 700) << i;
            EXPECT_EQ(dt.detections[i].category_id, 1 + i % 3) << i;
            EXPECT_DOUBLE_EQ(dt.detections[i].box.x, i % 97 + 0.5) << i;
        }
        for (int bad : {17, n / 2 + 3, n - 2}) {
            try {
                load_coco_detections_file(write("bad.json", bad, tricky));
                ADD_FAILURE() << "element " << bad << " lacks a score";
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find("[" + std::to_string(bad) + "]: missing key score"),
                          std::string::npos)
                    << e.what();
            }
        }
    }
    std::filesystem::remove_all(dir);
}

// A run's recording placed on ground-truth images: by (camera, frame_index) metadata, classes by name, gaps and
// strangers reported, ambiguity refused.
TEST(Recorded, PlacesFramesOnImagesAndReportsWhatItCannot) {
    const auto dir = sightline::testing::temp_dir("recorded");
    transport::RecordingHeader h{"m@1", {"part", "gear"}, {"cam1", "cam2"}, 0};
    {
        transport::RecordingWriter w(dir / "r.slrec", h);
        for (std::uint64_t seq : {0, 1, 3}) // seq 2 lost
            for (const char* cam : {"cam1", "cam2"}) {
                transport::PredMessage m;
                m.camera = cam, m.seq = seq, m.frame = static_cast<std::int64_t>(seq) + 10;
                m.boxes = {10, 20, 40, 60, 0, 0, 5, 5}, m.scores = {.9f, .4f}, m.classes = {0, 1};
                m.flags = {0, 0}, m.margins = {0, 0}, m.entropies = {0, 0};
                w.write(m);
            }
        w.close();
    }
    CocoGroundTruth gt;
    gt.source = "gt.json";
    gt.categories = {{5, "part"}};
    for (int f : {10, 11, 12}) { // cam1's frames 10..12 (frame 13 has no image)
        CocoImage im;
        im.id = 100 + f, im.meta["camera"] = {"cam1"}, im.meta["frame_index"] = {std::to_string(f)};
        gt.images.push_back(im);
    }
    const RecordedDetections r = load_recorded_detections(dir / "r.slrec", gt);
    EXPECT_EQ(r.cameras, std::vector<std::string>{"cam1"});
    EXPECT_EQ(r.frames, 2u);
    EXPECT_EQ(r.frames_without_image, 1u);
    EXPECT_EQ(r.other_cameras, 3u);
    EXPECT_EQ(r.lost_messages, 1u);
    EXPECT_EQ(r.unknown_classes, std::vector<std::string>{"gear"});
    ASSERT_EQ(r.detections.detections.size(), 4u);
    const CocoDetection& d = r.detections.detections[0];
    EXPECT_EQ(d.image_id, 110);
    EXPECT_EQ(d.category_id, 5);
    EXPECT_DOUBLE_EQ(d.box.w, 30);
    EXPECT_DOUBLE_EQ(d.box.h, 40);
    EXPECT_NE(r.detections.detections[1].category_id, 5) << "gear is no ground-truth category";

    // no camera in the ground truth and two in the recording: the user must pick
    for (auto& im : gt.images) im.meta.erase("camera");
    try {
        load_recorded_detections(dir / "r.slrec", gt);
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--camera"), std::string::npos) << e.what();
    }
    EXPECT_EQ(load_recorded_detections(dir / "r.slrec", gt, "cam2").frames, 2u);
    EXPECT_THROW(load_recorded_detections(dir / "r.slrec", gt, "cam9"), Error);
    std::filesystem::remove_all(dir);
}

// Online evaluation keeps a window of stream time: old frames leave it, frames without ground truth are counted.
TEST(OnlineEval, RollingWindowOfStreamTime) {
    CocoGroundTruth gt;
    gt.source = "gt.json";
    gt.categories = {{3, "part"}};
    for (int f = 0; f < 3; ++f) {
        CocoImage im;
        im.id = f;
        gt.images.push_back(im);
        gt.annotations.push_back({f + 1, f, 3, {10, 10, 20, 20}, 400, false});
    }
    OnlineEvaluator ev(gt, "cam1", {"part"}, 1.0, 0.5);
    const Detection hit{10, 10, 30, 30, .9f, 0, 0, 0}, miss{100, 100, 120, 120, .8f, 0, 0, 0};
    EXPECT_TRUE(ev.add(0, 0, {hit}));
    auto f = ev.figures();
    EXPECT_EQ(f["eval_tp"], 1);
    EXPECT_DOUBLE_EQ(f["eval_ap"], 1.0);
    EXPECT_TRUE(ev.add(1, 600'000'000, {miss}));
    EXPECT_TRUE(ev.add(2, 1'200'000'000, {hit, miss}));
    EXPECT_FALSE(ev.add(7, 1'300'000'000, {hit})) << "no image for frame 7";
    f = ev.figures();
    EXPECT_EQ(f["eval_frames"], 2) << "frame 0 (t = 0) left the 1 s window at t = 1.2 s";
    EXPECT_EQ(f["eval_tp"], 1);
    EXPECT_EQ(f["eval_fp"], 2);
    EXPECT_EQ(f["eval_fn"], 1);
    EXPECT_DOUBLE_EQ(f["eval_precision"], 1.0 / 3);
    EXPECT_DOUBLE_EQ(f["eval_recall"], 0.5);
    EXPECT_EQ(f["eval_frames_without_gt_total"], 1);
    // a camera the ground truth does not name
    gt.images[0].meta["camera"] = {"cam2"};
    EXPECT_THROW(OnlineEvaluator(gt, "cam1", {"part"}, 1.0, 0.5), Error);
}

// The online evaluator's IoU as a run config without `eval:` sets it (issue 24, item 8): COCO's 0.5, so a detection
// at IoU 0.47 with its only ground-truth box is a miss (a false positive and a false negative), one at 0.53 a hit.
TEST(OnlineEval, ARunConfigsDefaultIouMakesADetectionAt047AMiss) {
    const auto dir = std::filesystem::temp_directory_path() / ("sl_iou_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto cfg_path = dir / "run.yaml";
    std::ofstream(cfg_path) << "cameras: [{id: cam1, url: " << SIGHTLINE_SOURCE_DIR
                            << "/tests/fixtures/video/h264_bframes3_ref4.mp4}]\nmodel: " << SIGHTLINE_SOURCE_DIR
                            << "/models/parts-v1/model.yaml\npublish: {predictions: 'tcp://127.0.0.1:*'}\n";
    const RunConfig cfg = load_run_config(cfg_path);
    std::filesystem::remove_all(dir);
    CocoGroundTruth gt;
    gt.source = "gt.json";
    gt.categories = {{1, "part"}};
    CocoImage im;
    im.id = 0;
    gt.images.push_back(im);
    gt.annotations.push_back({1, 0, 1, {0, 0, 100, 100}, 10000, false});
    OnlineEvaluator ev(gt, "cam1", {"part"}, cfg.eval.window_s, cfg.eval.iou);
    const Detection at047{0, 0, 47, 100, .9f, 0, 0, 0}, at053{0, 0, 53, 100, .9f, 0, 0, 0};
    const auto miss = ev.match(0, {at047});
    ASSERT_TRUE(miss);
    EXPECT_EQ(miss->tp, 0) << "IoU 0.47 < 0.5: not a match";
    EXPECT_EQ(miss->fp, 1);
    EXPECT_EQ(miss->fn, 1);
    const auto hit = ev.match(0, {at053});
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->tp, 1);
    EXPECT_EQ(ev.figures().at("eval_iou"), 0.5);
}

TEST(CocoBadInput, MissingFileIsNotFound) {
    try {
        load_coco_ground_truth_file("/nonexistent/gt.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kNotFound);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/gt.json"), std::string::npos);
    }
}

} // namespace
