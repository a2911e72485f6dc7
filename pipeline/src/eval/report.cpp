// HTML report of an evaluation, drawn from its JSON: inline SVG charts, no scripts, no external resources.
#include "sightline/pipeline/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sightline/error.hpp"

namespace sightline::pipeline {

namespace {

using Json = nlohmann::json;

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
        case '<':
            o += "&lt;";
            break;
        case '>':
            o += "&gt;";
            break;
        case '&':
            o += "&amp;";
            break;
        case '"':
            o += "&quot;";
            break;
        default:
            o += c;
        }
    }
    return o;
}

std::string num(const Json& v, int digits = 3) {
    if (!v.is_number()) return "&ndash;";
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", digits, v.get<double>());
    return b;
}

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

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

std::string pr_curves(const Json& j) {
    if (!j.contains("pr_curves")) return {};
    const Json& pc = j["pr_curves"];
    Chart c;
    std::ostringstream o;
    o << "<h2>Precision-recall curves (IoU 0.5, all areas, 100 detections)</h2><svg width='" << c.w + 160
      << "' height='" << c.h << "' role='img'>" << c.frame("recall", "precision");
    const auto& recall = pc["recall"];
    int k = 0;
    for (const auto& cls : pc["classes"]) {
        const char* colour = kPalette[k % 10];
        std::ostringstream pts;
        const auto& p = cls["precision"];
        bool any = false;
        for (std::size_t i = 0; i < p.size() && i < recall.size(); ++i) {
            if (!p[i].is_number() || p[i].get<double>() < 0) continue;
            pts << c.px(recall[i].get<double>()) << ',' << c.py(p[i].get<double>()) << ' ';
            any = true;
        }
        if (any)
            o << "<polyline fill='none' stroke='" << colour << "' stroke-width='1.5' points='" << pts.str() << "'/>";
        o << "<rect x='" << c.w + 8 << "' y='" << 14 + 16 * k << "' width='10' height='10' fill='" << colour
          << "'/><text x='" << c.w + 22 << "' y='" << 23 + 16 * k << "' font-size='11'>"
          << esc(cls.value("name", std::string())) << " (AP50 " << num(cls["AP50"]) << ")</text>";
        ++k;
    }
    o << "</svg>";
    return o.str();
}

std::string confusion(const Json& j) {
    if (!j.contains("operating_point")) return {};
    const Json& cm = j["operating_point"]["confusion"];
    const auto& ids = cm["category_ids"];
    const auto& m = cm["matrix"];
    std::map<int, std::string> names;
    for (const auto& c : j["per_class"]) names[c["id"].get<int>()] = c["name"].get<std::string>();
    const std::size_t K = ids.size();
    long peak = 1;
    for (const auto& row : m)
        for (const auto& v : row) peak = std::max(peak, v.get<long>());
    const int cell = 34, label = 110;
    std::ostringstream o;
    o << "<h2>Confusion matrix (score &ge; " << num(j["operating_point"]["threshold"], 2) << ", IoU "
      << num(j["operating_point"]["iou"], 2) << ", class-agnostic matching)</h2>"
      << "<p>Rows: the ground truth's class (for a false positive, the detected class). Columns: the detected class, "
         "then background (false positives) and missed (false negatives).</p>"
      << "<svg width='" << label + cell * (K + 2) + 10 << "' height='" << label + cell * K + 10 << "' role='img'>";
    auto colname = [&](std::size_t c) {
        return c < K ? names[ids[c].get<int>()] : (c == K ? std::string("background") : std::string("missed"));
    };
    for (std::size_t c = 0; c < K + 2; ++c)
        o << "<text font-size='11' transform='translate(" << label + cell * c + cell / 2 + 4 << ',' << label - 4
          << ") rotate(-60)'>" << esc(colname(c)) << "</text>";
    for (std::size_t r = 0; r < K; ++r) {
        o << "<text x='" << label - 6 << "' y='" << label + cell * r + cell / 2 + 4
          << "' font-size='11' text-anchor='end'>" << esc(names[ids[r].get<int>()]) << "</text>";
        for (std::size_t c = 0; c < K + 2; ++c) {
            const long v = m[r][c].get<long>();
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

std::string reliability(const Json& j) {
    if (!j.contains("calibration")) return {};
    const Json& cal = j["calibration"];
    Chart c;
    std::ostringstream o;
    o << "<h2>Reliability diagram (expected calibration error " << num(cal["ece"], 4) << ")</h2><svg width='" << c.w
      << "' height='" << c.h << "' role='img'>" << c.frame("confidence", "fraction correct") << "<line x1='" << c.px(0)
      << "' y1='" << c.py(0) << "' x2='" << c.px(1) << "' y2='" << c.py(1)
      << "' stroke='#bbb' stroke-dasharray='4 3'/>";
    for (std::size_t b = 0; b < cal["count"].size(); ++b) {
        if (cal["count"][b].get<long>() == 0) continue;
        const double lo = cal["lower"][b].get<double>(), hi = cal["upper"][b].get<double>();
        const double acc = cal["accuracy"][b].get<double>();
        o << "<rect x='" << c.px(lo) + 1 << "' y='" << c.py(acc) << "' width='" << c.px(hi) - c.px(lo) - 2
          << "' height='" << c.py(0) - c.py(acc) << "' fill='#1f77b4' opacity='0.75'><title>" << cal["count"][b]
          << " detections, mean confidence " << num(cal["confidence"][b]) << "</title></rect>";
    }
    o << "</svg>";
    return o.str();
}

/// TIDE's error breakdown: a bar per error type, length = the AP gained by fixing that type alone.
std::string error_breakdown(const Json& j) {
    if (!j.contains("tide")) return {};
    const Json& t = j["tide"];
    double top = 0.01;
    for (const auto& [k, e] : t["errors"].items()) top = std::max(top, e["dap"].get<double>());
    top = std::max({top, t["dap_false_positives"].get<double>(), t["dap_false_negatives"].get<double>()});
    const double row = 22, label = 130, width = 300;
    std::vector<std::pair<std::string, std::pair<double, std::string>>> bars;
    for (const auto& [k, e] : t["errors"].items())
        bars.push_back({k, {e["dap"].get<double>(), std::to_string(e["count"].get<long>()) + " errors"}});
    bars.push_back({"all false positives", {t["dap_false_positives"].get<double>(), "special"}});
    bars.push_back({"all false negatives", {t["dap_false_negatives"].get<double>(), "special"}});
    std::ostringstream o;
    o << "<h2>Error breakdown (TIDE: AP " << num(t["ap"]) << " at IoU " << num(t["pos_iou"], 2)
      << "; dAP gained by fixing each error type alone)</h2><svg width='" << label + width + 140 << "' height='"
      << row * bars.size() + 8 << "' role='img'>";
    for (std::size_t i = 0; i < bars.size(); ++i) {
        const auto& [name, v] = bars[i];
        const double y = 4 + row * i, len = std::max(0.0, v.first) / top * width;
        o << "<text x='" << label - 6 << "' y='" << y + 14 << "' font-size='12' text-anchor='end'>" << esc(name)
          << "</text><rect x='" << label << "' y='" << y + 3 << "' width='" << len << "' height='" << row - 6
          << "' fill='" << (i < 6 ? kPalette[i] : "#7f7f7f") << "'/><text x='" << label + len + 6 << "' y='" << y + 14
          << "' font-size='11'>" << num(v.first) << " (" << esc(v.second) << ")</text>";
    }
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

std::string render_eval_html(const std::string& text) {
    Json j;
    try {
        j = Json::parse(text);
    } catch (const Json::exception& e) {
        throw Error(ErrorCode::kBadInput, std::string("eval report: malformed JSON: ") + e.what());
    }
    if (j.value("schema", std::string()) != "sightline.eval/1")
        throw Error(ErrorCode::kBadInput, "eval report: not a sightline.eval/1 document");
    std::ostringstream o;
    o << "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>sightline eval: "
      << esc(j.value("detections", std::string())) << "</title><style>"
      << "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
      << "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
      << "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}.flag{color:#b00020;font-weight:600}"
      << "</style></head><body><h1>sightline eval</h1>";
    o << "<p>Ground truth <code>" << esc(j.value("ground_truth", std::string())) << "</code>, detections <code>"
      << esc(j.value("detections", std::string())) << "</code>: " << j.value("images", 0) << " images, "
      << j.value("gt_boxes", 0) << " ground-truth boxes, " << j.value("dt_boxes", 0) << " detections.</p>";
    for (const auto& f : j.value("red_flags", Json::array()))
        o << "<p class='flag'>Red flag: " << esc(f.get<std::string>()) << "</p>";
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, v] : j["coco"].items()) rows.push_back({k, num(v)});
    o << "<h2>COCO metrics (pycocotools-exact)</h2>" << table({"metric", "value"}, rows);
    rows.clear();
    for (const auto& c : j["per_class"]) {
        std::vector<std::string> r = {esc(c["name"].get<std::string>()), num(c["AP"]), num(c["AP50"]), num(c["AP75"])};
        if (c.contains("at_threshold")) {
            const auto& t = c["at_threshold"];
            for (const char* k : {"tp", "fp", "fn"}) r.push_back(std::to_string(t[k].get<long>()));
            for (const char* k : {"precision", "recall", "f1"}) r.push_back(num(t[k]));
        }
        rows.push_back(r);
    }
    std::vector<std::string> head = {"class", "AP", "AP50", "AP75"};
    if (j.contains("operating_point"))
        for (const char* h : {"TP", "FP", "FN", "precision", "recall", "F1"}) head.push_back(h);
    o << "<h2>Per class</h2>" << table(head, rows);
    if (j.contains("operating_point")) {
        const auto& op = j["operating_point"];
        o << "<p>At score &ge; " << num(op["threshold"], 2) << ": precision " << num(op["precision"]) << ", recall "
          << num(op["recall"]) << ", F1 " << num(op["f1"]) << ", " << num(op["fp_per_image"], 2)
          << " false positives per image";
        if (op["fp_per_hour"].is_number() && op["fp_per_hour"].get<double>() >= 0)
            o << ", " << num(op["fp_per_hour"], 1) << " per hour";
        o << ".</p>";
    }
    o << pr_curves(j) << confusion(j) << reliability(j) << error_breakdown(j);
    if (j.contains("threshold_advice")) {
        rows.clear();
        std::map<int, std::string> names;
        for (const auto& c : j["per_class"]) names[c["id"].get<int>()] = c["name"].get<std::string>();
        for (const auto& a : j["threshold_advice"])
            rows.push_back({esc(names[a["category_id"].get<int>()]), num(a["max_f1"]["threshold"]),
                            num(a["max_f1"]["f1"]), num(a["target_precision"]["threshold"]),
                            num(a["target_precision"]["recall"]), num(a["fp_budget"]["threshold"]),
                            num(a["fp_budget"]["recall"])});
        o << "<h2>Threshold advice</h2>"
          << table({"class", "max-F1 threshold", "F1", "target-precision threshold", "recall there",
                    "FP-budget threshold", "recall there"},
                   rows)
          << "<p>-1: no threshold qualifies (or no <code>--fps</code> for the FP budget).</p>";
    }
    if (j.contains("slices") && !j["slices"].empty()) {
        rows.clear();
        for (const auto& s : j["slices"])
            rows.push_back({esc(s["key"].get<std::string>() + "=" + s["value"].get<std::string>()),
                            std::to_string(s["images"].get<long>()), std::to_string(s["gt_boxes"].get<long>()),
                            num(s["AP"]), num(s["AP50"]), num(s["precision"]), num(s["recall"]), num(s["ap_drop"]),
                            num(s["rank_score"])});
        o << "<h2>Slices, worst first</h2>"
          << table({"slice", "images", "gt boxes", "AP", "AP50", "precision", "recall", "AP drop", "rank"}, rows);
    }
    if (j.contains("compare")) {
        const auto& c = j["compare"];
        rows.clear();
        for (const auto& [k, m] : c["metrics"].items())
            rows.push_back(
                {k, num(m["a"]), num(m["b"]), num(m["diff"]), "[" + num(m["lower"]) + ", " + num(m["upper"]) + "]"});
        o << "<h2>Comparison: B <code>" << esc(c["b"].get<std::string>()) << "</code> vs A <code>"
          << esc(c["a"].get<std::string>()) << "</code></h2>"
          << table({"metric", "A", "B", "B - A", "95% paired bootstrap interval"}, rows) << "<p>"
          << c["found_by_b_only"].size() << " ground-truth boxes found by B only, " << c["found_by_a_only"].size()
          << " by A only.</p>";
    }
    o << "<p style='color:#888'>Definitions: docs/metrics.md.</p></body></html>\n";
    return o.str();
}

} // namespace sightline::pipeline
