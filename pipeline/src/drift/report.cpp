// The monitor's report: one self-contained HTML page (inline SVG, no scripts, nothing fetched) drawn from the
// store: cameras ranked by how far they drifted, then per camera its time series with the alarms marked.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "common/html.hpp"
#include "sightline/pipeline/monitor_store.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {
namespace {

using html::esc;
using html::num;

struct Series {
    std::string name;
    std::vector<std::pair<double, double>> points; ///< stream seconds, value
};

struct Marker {
    double t = 0;
    bool raised = true;
    std::string label;
};

/// A small line chart over stream time with the alarms as vertical lines (red raised, green dashed cleared).
std::string chart(const std::string& title, const std::vector<Series>& series, const std::vector<Marker>& markers,
                  double t0, double t1, std::optional<double> rule = std::nullopt) {
    const double w = 330, h = 150, left = 46, right = 8, top = 20, bottom = 24;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& s : series)
        for (const auto& [t, v] : s.points)
            if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    if (rule) lo = std::min(lo, *rule), hi = std::max(hi, *rule);
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) hi = lo + (lo == 0 ? 1 : std::fabs(lo) * 0.1), lo -= (hi - lo) * 0.5;
    const double pad = (hi - lo) * 0.08;
    lo -= pad, hi += pad;
    if (t1 <= t0) t1 = t0 + 1;
    auto px = [&](double t) { return left + (t - t0) / (t1 - t0) * (w - left - right); };
    auto py = [&](double v) { return h - bottom - (v - lo) / (hi - lo) * (h - top - bottom); };
    std::ostringstream o;
    o << "<svg class='chart' width='" << w << "' height='" << h << "' role='img' aria-label='" << esc(title) << "'>"
      << "<text x='" << left << "' y='13' font-size='12' font-weight='600'>" << esc(title) << "</text>"
      << "<rect x='" << left << "' y='" << top << "' width='" << w - left - right << "' height='" << h - top - bottom
      << "' fill='#fafafa' stroke='#bbb'/>";
    for (int i = 0; i <= 2; ++i) {
        const double v = lo + (hi - lo) * i / 2;
        o << "<text x='" << left - 4 << "' y='" << py(v) + 3 << "' font-size='9' text-anchor='end'>"
          << num(v, std::fabs(hi - lo) < 5 ? 2 : 0) << "</text>";
    }
    for (int i = 0; i <= 4; ++i) {
        const double t = t0 + (t1 - t0) * i / 4;
        o << "<text x='" << px(t) << "' y='" << h - bottom + 12 << "' font-size='9' text-anchor='middle'>" << num(t, 0)
          << (i == 4 ? " s" : "") << "</text>";
    }
    if (rule)
        o << "<line x1='" << left << "' x2='" << w - right << "' y1='" << py(*rule) << "' y2='" << py(*rule)
          << "' stroke='#d62728' stroke-dasharray='4 3' stroke-width='1'/>";
    for (const Marker& m : markers)
        o << "<line x1='" << px(m.t) << "' x2='" << px(m.t) << "' y1='" << top << "' y2='" << h - bottom << "' stroke='"
          << (m.raised ? "#d62728" : "#2ca02c") << "' stroke-width='1.5'" << (m.raised ? "" : " stroke-dasharray='3 2'")
          << "><title>" << esc(m.label) << "</title></line>";
    std::size_t k = 0;
    for (const auto& s : series) {
        o << "<polyline fill='none' stroke='" << html::kPalette[k++ % 10] << "' stroke-width='1.4' points='";
        for (const auto& [t, v] : s.points)
            if (std::isfinite(v)) o << num(px(t), 1) << "," << num(py(v), 1) << " ";
        o << "'><title>" << esc(s.name) << "</title></polyline>";
    }
    if (series.size() > 1) {
        double x = left + 4;
        k = 0;
        for (const auto& s : series) {
            o << "<text x='" << x << "' y='" << top + 11 << "' font-size='9' fill='" << html::kPalette[k++ % 10] << "'>"
              << esc(s.name) << "</text>";
            x += 7 + 5.5 * static_cast<double>(s.name.size());
        }
    }
    o << "</svg>";
    return o.str();
}

struct CameraSummary {
    std::string camera, model, slice;
    double peak = 0, last = 0, frames = 0;
    std::string peak_signal;
    int raised = 0;
    std::set<std::string> standing;
    bool learning = false; ///< its reference was incomplete at its last window: no reference-based test ran
    double learned_s = 0, needed_s = 0;
};

/// A camera as the report names it: line/camera (the camera id alone from a line that names none).
std::string who(const std::string& line, const std::string& camera) {
    return transport::line_camera(line, camera);
}

/// One camera's section: its charts over stream time with the alarms marked, then the alarms listed.
void camera_section(std::ostringstream& o, const CameraSummary& c,
                    const std::vector<const MonitorStore::WindowRow*>& rows, const std::vector<MonitorAlarm>& alarms) {
    const double t0 = rows.front()->window_end_ns / 1e9, t1 = rows.back()->window_end_ns / 1e9;
    std::vector<Marker> markers;
    std::string alarm_list;
    for (const auto& a : alarms)
        if (who(a.line, a.camera) == c.camera && a.model == c.model) {
            markers.push_back({a.window_end_ns / 1e9, a.raised, a.message()});
            alarm_list += "<li" + std::string(a.raised ? " class='alarm'" : "") + ">" + esc(a.message()) + "</li>";
        }
    auto series = [&](const char* name, auto get) {
        Series s{name, {}};
        for (const auto* r : rows) s.points.emplace_back(r->window_end_ns / 1e9, get(*r));
        return std::vector<Series>{s};
    };
    std::map<std::string, Series> mix;
    for (const auto* r : rows) {
        const auto counts = nlohmann::json::parse(r->class_counts.empty() ? "{}" : r->class_counts);
        double total = 0;
        for (const auto& [k, v] : counts.items()) total += v.get<double>();
        for (const auto& [k, v] : counts.items()) {
            mix[k].name = k;
            mix[k].points.emplace_back(r->window_end_ns / 1e9, total > 0 ? v.get<double>() / total : 0);
        }
    }
    std::vector<Series> mix_series;
    for (auto& [k, s] : mix) mix_series.push_back(std::move(s));
    o << "<h2 id='" << esc(c.camera + "_" + c.model) << "'>" << esc(c.camera) << " <small>" << esc(c.model) << " "
      << esc(c.slice) << "</small></h2><div class='charts'>"
      << chart("drift score (max over tests)", series("drift", [](auto& r) { return r.drift_rank; }), markers, t0, t1,
               1.0)
      << chart("frames per second", series("fps", [](auto& r) { return r.fps; }), markers, t0, t1)
      << chart("latency p99, ms (arrival to publish)", series("p99", [](auto& r) { return r.latency_p99_ms; }), markers,
               t0, t1)
      << chart("mean confidence", series("confidence", [](auto& r) { return r.confidence_mean; }), markers, t0, t1)
      << chart("flagged-frame rate", series("flagged", [](auto& r) { return r.flag_rate; }), markers, t0, t1)
      << chart("mean luma", series("luma", [](auto& r) { return r.luma_mean; }), markers, t0, t1)
      << chart("class mix (share of detections)", mix_series, markers, t0, t1) << "</div>";
    if (!alarm_list.empty()) o << "<ul>" << alarm_list << "</ul>";
}

} // namespace

/// Versions running beside the serving one (docs/versions.md): per camera and version beside it, the whole store's
/// agreement and its course over time.
void agreement_section(std::ostringstream& o, const std::vector<MonitorStore::AgreementRow>& rows) {
    if (rows.empty()) return;
    using Key = std::tuple<std::string, std::string, std::string>; // camera, serving model, shadow
    std::map<Key, std::vector<const MonitorStore::AgreementRow*>> by;
    for (const auto& r : rows) by[{who(r.line, r.camera), r.model, r.shadow}].push_back(&r);
    o << "<h2>Versions beside the serving one</h2><p>Each camera's serving version against each version running "
         "beside it on the same frames (shadow, a rollout's fallback): detections matched at IoU 0.5, agreement = "
         "both / all; a frame disagrees when anything is not in both (docs/versions.md).</p><table><tr><th>camera</th>"
         "<th>serving</th><th>beside</th><th>frames</th><th>disagreeing</th><th>both</th><th>class changed</th>"
         "<th>only serving</th><th>only beside</th><th>agreement</th></tr>";
    std::string charts;
    for (const auto& [key, list] : by) {
        AgreementTally t;
        Series rate{"agreement", {}};
        const double t0 = static_cast<double>(list.front()->wall_ns) / 1e9;
        for (const auto* r : list) {
            t.frames += r->tally.frames, t.frames_disagreeing += r->tally.frames_disagreeing;
            t.both += r->tally.both, t.class_changed += r->tally.class_changed;
            t.only_a += r->tally.only_a, t.only_b += r->tally.only_b;
            rate.points.emplace_back(static_cast<double>(r->wall_ns) / 1e9 - t0, r->tally.agreement());
        }
        const auto& [cam, model, shadow] = key;
        const double share = t.frames ? static_cast<double>(t.frames_disagreeing) / static_cast<double>(t.frames) : 0;
        o << "<tr><td class='l'>" << esc(cam) << "</td><td class='l'>" << esc(model) << "</td><td class='l'>"
          << esc(shadow) << "</td><td>" << t.frames << "</td><td>" << num(100 * share, 1) << "%</td><td>" << t.both
          << "</td><td>" << t.class_changed << "</td><td>" << t.only_a << "</td><td>" << t.only_b << "</td><td>"
          << num(100 * t.agreement(), 1) << "%</td></tr>";
        charts += chart(cam + ": " + shadow + " against " + model + " (wall clock s)", {rate}, {}, 0,
                        rate.points.back().first, 1.0);
    }
    o << "</table><div class='charts'>" << charts << "</div>";
}

std::string render_monitor_html(const MonitorStore& store) {
    const auto windows = store.windows();
    const auto scores = store.scores();
    const auto alarms = store.alarms();
    using Key = std::pair<std::string, std::string>; // camera, model
    std::map<Key, std::vector<const MonitorStore::WindowRow*>> by_camera;
    for (const auto& w : windows) by_camera[{who(w.line, w.camera), w.model}].push_back(&w);
    std::map<Key, CameraSummary> sums;
    for (const auto& [key, rows] : by_camera) {
        CameraSummary& c = sums[key];
        c.camera = key.first, c.model = key.second, c.slice = rows.back()->slice;
        c.last = rows.back()->drift_rank;
        for (const auto* r : rows) c.peak = std::max(c.peak, r->drift_rank);
        c.frames = rows.back()->frames;
        const auto& last = *rows.back();
        c.learning = last.tests_armed == 0 && last.reference_needed_s > 0;
        c.learned_s = last.reference_learned_s, c.needed_s = last.reference_needed_s;
    }
    for (const auto& s : scores) {
        auto it = sums.find({who(s.line, s.camera), s.model});
        if (it == sums.end() || s.threshold <= 0 || s.test == "p99") continue;
        if (s.value / s.threshold >= it->second.peak - 1e-12) it->second.peak_signal = s.signal + " (" + s.test + ")";
    }
    for (const auto& a : alarms) {
        CameraSummary& c = sums[{who(a.line, a.camera), a.model}];
        c.camera = who(a.line, a.camera), c.model = a.model;
        const std::string key = a.signal + "/" + a.test;
        if (a.raised)
            ++c.raised, c.standing.insert(key);
        else
            c.standing.erase(key);
    }
    std::vector<CameraSummary> ranked;
    for (auto& [k, c] : sums) ranked.push_back(c);
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.peak > b.peak; });

    std::ostringstream o;
    o << "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>sightline monitor: "
      << esc(store.path().filename().string())
      << "</title><style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1150px;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:"
         "right}th{background:#f3f3f3}td.l{text-align:left}.alarm{color:#b00020;font-weight:600}.ok{color:#2a7a2a}."
         "learning{color:#8a5a00}"
         ".charts{display:flex;flex-wrap:wrap;gap:6px}svg.chart{background:#fff}</style></head><body>"
      << "<h1>sightline monitor</h1><p>Store <code>" << esc(store.path().string()) << "</code>: " << by_camera.size()
      << " cameras, " << windows.size() << " windows, " << alarms.size()
      << " alarm events. Times are stream time (the frames' timestamps), seconds. A drift score is a test's value over "
         "its threshold: above 1 the test is over; an alarm stands once it stays over (docs/monitor.md).</p>";
    o << "<h2>Cameras by drift</h2><table><tr><th>camera</th><th>model</th><th>slice</th><th>peak drift score</th>"
         "<th>peak test</th><th>last</th><th>alarms raised</th><th>standing now</th></tr>";
    for (const auto& c : ranked) {
        std::string standing;
        for (const auto& s : c.standing) standing += (standing.empty() ? "" : ", ") + s;
        // a camera still learning is never green: nothing was tested against a reference on it
        const std::string state = !standing.empty()
                                      ? "alarm'>" + esc(standing) + (c.learning ? " (still learning)" : "")
                                  : c.learning ? "learning'>not tested yet: reference " + num(c.learned_s, 0) + " of " +
                                                     num(c.needed_s, 0) + " s learned (change-point tests only)"
                                               : "ok'>none";
        o << "<tr><td class='l'><a href='#" << esc(c.camera + "_" + c.model) << "'>" << esc(c.camera)
          << "</a></td><td class='l'>" << esc(c.model) << "</td><td class='l'>" << esc(c.slice) << "</td><td"
          << (c.peak > 1 ? " class='alarm'" : "") << ">" << num(c.peak, 2) << "</td><td class='l'>"
          << esc(c.peak_signal) << "</td><td>" << num(c.last, 2) << "</td><td>" << c.raised << "</td><td class='l "
          << state << "</td></tr>";
    }
    o << "</table>";

    agreement_section(o, store.agreements());
    for (const auto& c : ranked)
        if (const auto rows = by_camera.find({c.camera, c.model}); rows != by_camera.end())
            camera_section(o, c, rows->second, alarms);
    o << "</body></html>\n";
    return o.str();
}

} // namespace sightline::pipeline
