// HTML report of an evaluation, drawn from the EvalReport: inline SVG charts, no scripts, no external resources.
#include "sightline/pipeline/eval_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "common/html.hpp"
#include "sightline/error.hpp"

namespace sightline::pipeline {

namespace {

using html::esc;
using html::kPalette;
using html::num;

/// "[lower, upper]" (built with append: GCC 12 warns falsely, -Wrestrict, on a chain of + over temporaries here)
std::string interval(double lower, double upper) {
    std::string s = "[";
    s.append(num(lower)).append(", ").append(num(upper)).append("]");
    return s;
}

/// A metric that may be undefined: -1 (no ground truth in that slice or class) reads "n/a", not a measured zero.
std::string metric(double v, int digits = 3) {
    return v < 0 ? std::string("n/a") : num(v, digits);
}

/// An x-y chart on [0, 1] x [0, 1] with axes, ticks and labels; `body` is drawn in chart coordinates via px/py.
struct Chart {
    double w = 360, h = 280, left = 44, bottom = 36, top = 12, right = 12;
    double px(double x) const { return left + x * (w - left - right); }
    double py(double y) const { return h - bottom - y * (h - bottom - top); }
    std::string frame(const std::string& xlabel, const std::string& ylabel) const {
        std::ostringstream o;
        o << "<rect x='" << left << "' y='" << top << "' width='" << w - left - right << "' height='"
          << h - top - bottom << "' fill='none' stroke='#999'/>";
        for (int i = 0; i <= 5; ++i) {
            const double t = i / 5.0;
            o << "<line x1='" << px(t) << "' y1='" << py(0) << "' x2='" << px(t) << "' y2='" << py(0) + 4
              << "' stroke='#999'/><text x='" << px(t) << "' y='" << py(0) + 15
              << "' font-size='10' text-anchor='middle'>" << t << "</text>";
            o << "<line x1='" << px(0) - 4 << "' y1='" << py(t) << "' x2='" << px(0) << "' y2='" << py(t)
              << "' stroke='#999'/><text x='" << px(0) - 6 << "' y='" << py(t) + 3
              << "' font-size='10' text-anchor='end'>" << t << "</text>";
        }
        o << "<text x='" << (px(0) + px(1)) / 2 << "' y='" << h - 4 << "' font-size='11' text-anchor='middle'>"
          << esc(xlabel) << "</text>";
        o << "<text x='12' y='" << (py(0) + py(1)) / 2
          << "' font-size='11' text-anchor='middle' transform='rotate(-90 12 " << (py(0) + py(1)) / 2 << ")'>"
          << esc(ylabel) << "</text>";
        return o.str();
    }
};

std::string pr_curves(const EvalReport& rep) {
    if (!rep.operating_point) return {};
    double recall[kernels::kCocoRecallThresholds];
    kernels::coco_recall_thresholds(recall);
    Chart c;
    std::ostringstream o;
    o << "<h2>Precision-recall curves (IoU 0.5, all areas, 100 detections)</h2><svg width='" << c.w + 160
      << "' height='" << c.h << "' role='img'>" << c.frame("recall", "precision");
    for (std::size_t k = 0; k < rep.classes.size(); ++k) {
        const char* colour = kPalette[k % 10];
        std::ostringstream pts;
        bool any = false;
        for (int i = 0; i < kernels::kCocoRecallThresholds; ++i) {
            const double p = rep.coco.precision_at(0, i, static_cast<int>(k), 0, 2);
            if (!(p >= 0)) continue;
            pts << c.px(recall[i]) << ',' << c.py(p) << ' ';
            any = true;
        }
        if (any)
            o << "<polyline fill='none' stroke='" << colour << "' stroke-width='1.5' points='" << pts.str() << "'/>";
        o << "<rect x='" << c.w + 8 << "' y='" << 14 + 16 * k << "' width='10' height='10' fill='" << colour
          << "'/><text x='" << c.w + 22 << "' y='" << 23 + 16 * k << "' font-size='11'>" << esc(rep.classes[k].name)
          << " (AP50 " << metric(rep.classes[k].ap50) << ")</text>";
    }
    o << "</svg>";
    return o.str();
}

std::string confusion(const EvalReport& rep) {
    if (!rep.operating_point) return {};
    const OperatingPoint& op = *rep.operating_point;
    const auto& ids = op.category_ids;
    const auto& m = op.confusion;
    const std::size_t K = ids.size();
    long peak = 1;
    for (const auto& row : m)
        for (const auto v : row) peak = std::max(peak, static_cast<long>(v));
    const int cell = 34, label = 110;
    std::ostringstream o;
    o << "<h2>Confusion matrix (score &ge; " << num(op.threshold, 2) << ", IoU " << num(op.iou, 2)
      << ", class-agnostic matching)</h2>"
      << "<p>Rows: the ground truth's class (for a false positive, the detected class). Columns: the detected class, "
         "then background (false positives) and missed (false negatives).</p>"
      << "<svg width='" << label + cell * (K + 2) + 10 << "' height='" << label + cell * K + 10 << "' role='img'>";
    auto colname = [&](std::size_t c) {
        return c < K ? rep.name_of(ids[c]) : (c == K ? std::string("background") : std::string("missed"));
    };
    for (std::size_t c = 0; c < K + 2; ++c)
        o << "<text font-size='11' transform='translate(" << label + cell * c + cell / 2 + 4 << ',' << label - 4
          << ") rotate(-60)'>" << esc(colname(c)) << "</text>";
    for (std::size_t r = 0; r < K; ++r) {
        o << "<text x='" << label - 6 << "' y='" << label + cell * r + cell / 2 + 4
          << "' font-size='11' text-anchor='end'>" << esc(rep.name_of(ids[r])) << "</text>";
        for (std::size_t c = 0; c < K + 2; ++c) {
            const long v = static_cast<long>(m[r][c]);
            const double t = std::sqrt(static_cast<double>(v) / peak);
            const int shade = static_cast<int>(255 - 200 * t);
            o << "<rect x='" << label + cell * c << "' y='" << label + cell * r << "' width='" << cell - 1
              << "' height='" << cell - 1 << "' fill='rgb(" << shade << ',' << shade << ",255)'/>"
              << "<text x='" << label + cell * c + cell / 2 << "' y='" << label + cell * r + cell / 2 + 4
              << "' font-size='10' text-anchor='middle'>" << v << "</text>";
        }
    }
    o << "</svg>";
    return o.str();
}

std::string reliability(const EvalReport& rep) {
    if (!rep.scores) return {};
    const auto& cal = rep.scores->calibration;
    Chart c;
    std::ostringstream o;
    o << "<h2>Reliability diagram (expected calibration error " << metric(cal.ece, 4) << ")</h2><svg width='" << c.w
      << "' height='" << c.h << "' role='img'>" << c.frame("confidence", "fraction correct") << "<line x1='" << c.px(0)
      << "' y1='" << c.py(0) << "' x2='" << c.px(1) << "' y2='" << c.py(1)
      << "' stroke='#bbb' stroke-dasharray='4 3'/>";
    for (std::size_t b = 0; b < cal.count.size(); ++b) {
        if (cal.count[b] == 0) continue;
        const double lo = cal.lower[b], hi = cal.upper[b], acc = cal.accuracy[b];
        o << "<rect x='" << c.px(lo) + 1 << "' y='" << c.py(acc) << "' width='" << c.px(hi) - c.px(lo) - 2
          << "' height='" << c.py(0) - c.py(acc) << "' fill='#1f77b4' opacity='0.75'><title>" << cal.count[b]
          << " detections, mean confidence " << num(cal.confidence[b]) << "</title></rect>";
    }
    o << "</svg>";
    return o.str();
}

/// TIDE's error breakdown: a bar per error type, length = the AP gained by fixing that type alone.
std::string error_breakdown(const EvalReport& rep) {
    if (!rep.tide) return {};
    const TideResult& t = *rep.tide;
    std::vector<std::pair<std::string, std::pair<double, std::string>>> bars;
    for (int k = 0; k < kTideTypes; ++k)
        bars.push_back({kTideTypeNames[k], {t.dap[k], std::to_string(t.count[k]) + " errors"}});
    bars.push_back({"all false positives", {t.dap_false_pos, "special"}});
    bars.push_back({"all false negatives", {t.dap_false_neg, "special"}});
    double peak = 0;
    for (const auto& b : bars) peak = std::max(peak, b.second.first);
    double top = 1.0; // an absolute dAP axis: the smallest of these that holds the largest bar
    for (const double t : {0.02, 0.05, 0.1, 0.2, 0.5, 1.0})
        if (peak <= t) {
            top = t;
            break;
        }
    const double row = 22, label = 130, width = 300, axis = 24;
    std::ostringstream o;
    o << "<h2>Error breakdown (TIDE)</h2><p>TIDE's AP is AP" << static_cast<int>(std::lround(t.pos_iou * 100))
      << " (IoU " << num(t.pos_iou, 2) << ", background below " << num(t.bg_iou, 2)
      << ", 101-point COCO interpolation, " << t.max_dets << " detections per image): " << metric(t.ap)
      << ". Each bar is the AP gained (dAP, absolute) by fixing that error type alone.</p><svg width='"
      << label + width + 140 << "' height='" << row * bars.size() + 8 + axis << "' role='img'>";
    for (std::size_t i = 0; i < bars.size(); ++i) {
        const auto& [name, v] = bars[i];
        const double y = 4 + row * i, len = std::max(0.0, v.first) / top * width;
        o << "<text x='" << label - 6 << "' y='" << y + 14 << "' font-size='12' text-anchor='end'>" << esc(name)
          << "</text><rect x='" << label << "' y='" << y + 3 << "' width='" << len << "' height='" << row - 6
          << "' fill='" << (i < 6 ? kPalette[i] : "#7f7f7f") << "'/><text x='" << label + len + 6 << "' y='" << y + 14
          << "' font-size='11'>" << num(v.first) << " (" << esc(v.second) << ")</text>";
    }
    const double y0 = 4 + row * bars.size();
    o << "<line x1='" << label << "' y1='" << y0 << "' x2='" << label + width << "' y2='" << y0 << "' stroke='#999'/>";
    for (int k = 0; k <= 4; ++k)
        o << "<line x1='" << label + width * k / 4 << "' y1='" << y0 << "' x2='" << label + width * k / 4 << "' y2='"
          << y0 + 4 << "' stroke='#999'/><text x='" << label + width * k / 4 << "' y='" << y0 + 16
          << "' font-size='10' text-anchor='middle'>" << num(top * k / 4, 3) << "</text>";
    o << "<text x='" << label + width + 22 << "' y='" << y0 + 16 << "' font-size='10'>dAP</text>";
    o << "</svg>";
    return o.str();
}

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
    std::ostringstream o;
    o << "<table><tr>";
    for (const auto& h : head) o << "<th>" << esc(h) << "</th>";
    o << "</tr>";
    for (const auto& r : rows) {
        o << "<tr>";
        for (const auto& c : r) o << "<td>" << c << "</td>";
        o << "</tr>";
    }
    o << "</table>";
    return o.str();
}

} // namespace

std::string render_eval_comparison_table(const EvalReport& rep) {
    if (!rep.compare) return {};
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : rep.compare->metrics)
        rows.push_back({m.name, metric(m.a), metric(m.b), std::isfinite(m.diff) ? num(m.diff) : "n/a",
                        std::isfinite(m.lower) ? interval(m.lower, m.upper) : "n/a"});
    std::ostringstream o;
    o << table({"metric", "A", "B", "B - A", "95% paired bootstrap interval"}, rows) << "<p>"
      << rep.compare->found_by_b_only.size() << " ground-truth boxes found by B only, "
      << rep.compare->found_by_a_only.size() << " by A only.</p>";
    return o.str();
}

namespace {

/// The page's head, its style and the run's summary: files, counts, images left out, red flags.
std::string eval_page_head(const EvalReport& rep) {
    const EvalOptions& a = rep.options;
    std::ostringstream o;
    o << "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>sightline eval: " << esc(a.dt)
      << "</title><style>"
      << "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
      << "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
      << "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}td:nth-child(2).def{text-align:left}."
         "flag{color:#b00020;font-weight:600}"
      << "</style></head><body><h1>sightline eval</h1>";
    o << "<p>Ground truth <code>" << esc(a.gt) << "</code>, detections <code>" << esc(a.dt)
      << "</code>: " << rep.coco.num_images << " images, " << rep.coco.num_gt << " ground-truth boxes, "
      << rep.coco.num_dt << " detections.";
    if (rep.images_left_out)
        o << " " << rep.images_left_out << " of the ground truth's " << rep.images_in_gt
          << " images left out: " << esc(rep.left_out_reason) << ".";
    o << "</p>";
    for (const auto& f : rep.red_flags) o << "<p class='flag'>Red flag: " << esc(f) << "</p>";
    return o.str();
}

/// The twelve COCO metrics in pycocotools' order, with its summary lines as their definitions.
std::string coco_metrics_table(const EvalReport& rep) {
    static const char* const kCocoLines[12] = {
        "AP @[ IoU=0.50:0.95 | area=all | maxDets=100 ]",    "AP @[ IoU=0.50 | area=all | maxDets=100 ]",
        "AP @[ IoU=0.75 | area=all | maxDets=100 ]",         "AP @[ IoU=0.50:0.95 | area=small | maxDets=100 ]",
        "AP @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]", "AP @[ IoU=0.50:0.95 | area=large | maxDets=100 ]",
        "AR @[ IoU=0.50:0.95 | area=all | maxDets=1 ]",      "AR @[ IoU=0.50:0.95 | area=all | maxDets=10 ]",
        "AR @[ IoU=0.50:0.95 | area=all | maxDets=100 ]",    "AR @[ IoU=0.50:0.95 | area=small | maxDets=100 ]",
        "AR @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]", "AR @[ IoU=0.50:0.95 | area=large | maxDets=100 ]"};
    std::vector<std::vector<std::string>> rows;
    for (int s = 0; s < 12; ++s) rows.push_back({kCocoStatNames[s], esc(kCocoLines[s]), metric(rep.coco.stats[s])});
    return "<h2>COCO metrics (pycocotools-exact, in its order)</h2>" + table({"metric", "definition", "value"}, rows) +
           "<p>n/a: undefined (no ground truth of that kind), as pycocotools' -1.</p>";
}

/// Per class: AP, AP50, AP75 and, with an operating point, its counts and rates; then the point's overall figures.
std::string per_class_table(const EvalReport& rep) {
    std::vector<std::vector<std::string>> rows;
    const auto& op = rep.operating_point;
    for (std::size_t k = 0; k < rep.classes.size(); ++k) {
        const EvalClass& c = rep.classes[k];
        std::vector<std::string> r = {esc(c.name), metric(c.ap), metric(c.ap50), metric(c.ap75)};
        if (op) {
            const ClassCounts& t = op->per_class[k];
            for (long v : {t.tp, t.fp, t.fn}) r.push_back(std::to_string(v));
            // 0/0 is undefined, not zero: no detection (precision), no ground truth (recall)
            r.push_back(t.tp + t.fp ? num(t.precision()) : "n/a");
            r.push_back(t.tp + t.fn ? num(t.recall()) : "n/a");
            r.push_back(t.tp + t.fp && t.tp + t.fn ? num(t.f1()) : "n/a");
        }
        rows.push_back(r);
    }
    std::vector<std::string> head = {"class", "AP", "AP50", "AP75"};
    if (op)
        for (const char* h : {"TP", "FP", "FN", "precision", "recall", "F1"}) head.push_back(h);
    std::ostringstream o;
    o << "<h2>Per class</h2>" << table(head, rows);
    if (op) {
        const ClassCounts& t = op->overall; // 0/0 is undefined, as in the table
        o << "<p>At score &ge; " << num(op->threshold, 2) << ": precision "
          << (t.tp + t.fp ? num(t.precision()) : "n/a") << ", recall " << (t.tp + t.fn ? num(t.recall()) : "n/a")
          << ", F1 " << (t.tp + t.fp && t.tp + t.fn ? num(t.f1()) : "n/a") << ", " << num(op->fp_per_image, 2)
          << " false positives per image";
        if (op->fp_per_hour >= 0) o << ", " << num(op->fp_per_hour, 1) << " per hour";
        o << ".</p>";
    }
    return o.str();
}

/// Threshold advice (with scores) and the slices, worst first (with slices); empty where there are none.
std::string advice_and_slices(const EvalReport& rep) {
    std::ostringstream o;
    std::vector<std::vector<std::string>> rows;
    if (rep.scores) {
        for (const auto& v : rep.scores->per_class)
            rows.push_back({esc(rep.name_of(v.category_id)), metric(v.f1_threshold),
                            v.f1_threshold < 0 ? "n/a" : num(v.f1), metric(v.precision_threshold),
                            v.precision_threshold < 0 ? "n/a" : num(v.recall_at_precision), metric(v.budget_threshold),
                            v.budget_threshold < 0 ? "n/a" : num(v.recall_at_budget)});
        o << "<h2>Threshold advice</h2>"
          << table({"class", "max-F1 threshold", "F1", "target-precision threshold", "recall there",
                    "FP-budget threshold", "recall there"},
                   rows)
          << "<p>n/a: no threshold qualifies (or no <code>--fps</code> for the FP budget).</p>";
    }
    if (!rep.slices.empty()) {
        rows.clear();
        for (const auto& s : rep.slices)
            rows.push_back({esc(s.key + "=" + s.value), std::to_string(s.images), std::to_string(s.gt_boxes),
                            metric(s.ap), metric(s.ap50), metric(s.precision), metric(s.recall), num(s.ap_drop),
                            num(s.rank_score)});
        o << "<h2>Slices, worst first</h2>"
          << table({"slice", "images", "gt boxes", "AP", "AP50", "precision", "recall", "AP drop", "rank"}, rows);
    }
    return o.str();
}

} // namespace

std::string render_eval_html(const EvalReport& rep) {
    std::ostringstream o;
    o << eval_page_head(rep) << coco_metrics_table(rep) << per_class_table(rep) << pr_curves(rep) << confusion(rep)
      << reliability(rep) << error_breakdown(rep) << advice_and_slices(rep);
    if (rep.compare)
        o << "<h2>Comparison: B <code>" << esc(rep.b.label()) << "</code> vs A <code>" << esc(rep.a.label())
          << "</code></h2>" << render_eval_comparison_table(rep);
    o << "<p style='color:#888'>Definitions: docs/metrics.md.</p></body></html>\n";
    return o.str();
}

} // namespace sightline::pipeline
