#include "sightline/pipeline/demo.hpp"

#include "sightline/pipeline/dataset.hpp"

#include <set>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "sightline/pipeline/stats.hpp"

namespace sightline::pipeline {

namespace {

std::string pct(long num, long den) {
    if (den == 0) return "   -  ";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%5.1f%%", 100.0 * static_cast<double>(num) / static_cast<double>(den));
    return buf;
}

const std::vector<std::string>* meta(const CocoImage& im, const char* key) {
    const auto it = im.meta.find(key);
    return it == im.meta.end() ? nullptr : &it->second;
}

bool nominal(const CocoImage& im) {
    const auto* tags = meta(im, "tags");
    return !tags || (tags->size() == 1 && tags->front() == "nominal");
}

} // namespace

DemoTable::DemoTable(const std::filesystem::path& dir, const std::vector<std::string>& classes,
                     const std::vector<CameraConfig>& cameras) {
    for (const auto& cam : cameras) {
        Row row;
        row.camera = cam.id;
        row.truth = std::make_unique<CocoGroundTruth>(load_coco_ground_truth_file(dir / (cam.id + ".json")));
        row.matcher = std::make_unique<OnlineEvaluator>(*row.truth, cam.id, classes, 60.0, 0.5);
        std::map<std::string, double> first_seen; // drift tag -> when it first appears
        for (const auto& im : row.truth->images) {
            const auto* tags = meta(im, "tags");
            const auto* when = meta(im, "timestamp");
            for (const auto& t : tags ? *tags : std::vector<std::string>{})
                if (t != "nominal" && !first_seen.count(t)) first_seen[t] = when ? std::stod(when->front()) : 0;
        }
        for (const auto& [t, when] : first_seen) row.onset_s = row.onset_s < 0 ? when : std::min(row.onset_s, when);
        for (const auto& [t, when] : first_seen)
            row.scenario +=
                (row.scenario.empty() ? "" : ", ") + t + " from " + std::to_string(static_cast<int>(when)) + " s";
        if (row.scenario.empty()) row.scenario = "nominal";
        for (const auto& a : row.truth->annotations) ++(a.crowd ? row.crowd : row.boxes);
        row.frames = static_cast<int>(row.truth->images.size());
        row_of_[cam.id] = rows_.size();
        rows_.push_back(std::move(row));
    }
}

std::uint64_t DemoTable::expected_frames(int every) const {
    std::uint64_t n = 0;
    for (const auto& r : rows_) n += static_cast<std::uint64_t>((r.frames + every - 1) / every);
    return n;
}

void DemoTable::add(const transport::PredMessage& m) {
    const auto now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    const auto it = row_of_.find(m.camera);
    if (it == row_of_.end()) return;
    Row& row = rows_[it->second];
    ++row.received;
    row.gaps += m.seq - row.next_seq;
    row.next_seq = m.seq + 1;
    row.latency_ms.push_back(static_cast<double>(now - m.stamps_ns.at("arrival")) / 1e6);
    std::vector<Detection> dets;
    for (std::size_t k = 0; k < m.scores.size(); ++k)
        dets.push_back({m.boxes[4 * k], m.boxes[4 * k + 1], m.boxes[4 * k + 2], m.boxes[4 * k + 3], m.scores[k],
                        m.classes[k], m.margins[k], m.entropies[k], m.flags[k]});
    const CocoImage* im = row.matcher->image_of(m.frame);
    const auto match = row.matcher->match(m.frame, dets);
    if (!im || !match) return;
    const bool nom = nominal(*im);
    Counts& c = nom ? row.nominal : row.drifted;
    c.tp += match->tp, c.fp += match->fp, c.fn += match->fn;
    row.drifted_frames += nom ? 0 : 1;
    errors_[{m.camera, m.frame}] = static_cast<int>(match->fp + match->fn);
}

int DemoTable::errors_of(const std::string& camera, std::int64_t frame) const {
    const auto it = errors_.find({camera, frame});
    return it == errors_.end() ? -1 : it->second;
}

double DemoTable::mean_errors(const std::string& camera) const {
    double sum = 0, n = 0;
    for (const auto& [key, e] : errors_)
        if (camera.empty() || key.first == camera) sum += e, ++n;
    return n > 0 ? sum / n : 0;
}

DemoCollector::DemoCollector(std::filesystem::path dir, RunConfig& config) : dir_(std::move(dir)) {
    std::filesystem::remove_all(dir_);
    socket_ =
        std::filesystem::temp_directory_path() / ("sightline_demo_samples_" + std::to_string(::getpid()) + ".sock");
    config.publish.samples = "ipc://" + socket_.string();
    config.sampling.strategies = default_sampling_strategies();
    CollectorOptions o;
    o.endpoints = {config.publish.samples};
    o.out = dir_;
    o.on_sample = [this](const DatasetSample& d, bool added) {
        if (added) kept_.push_back({d.camera, d.strategy, d.frame});
    };
    thread_ = std::thread([this, o] {
        try {
            run_collector(o, stop_);
        } catch (...) {
            failed_ = std::current_exception();
        }
    });
}

DemoCollector::~DemoCollector() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::error_code ec;
    std::filesystem::remove(socket_, ec);
}

std::vector<DemoSample> DemoCollector::finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (failed_) std::rethrow_exception(failed_);
    return kept_;
}

void print_collector(const std::vector<DemoSample>& samples, const DemoTable& table, const std::string& dir) {
    std::map<std::string, std::map<std::string, int>> by;
    std::set<std::string> strategies;
    std::map<std::string, std::pair<double, int>> errors; // camera -> (sum, n); "" the line
    for (const auto& s : samples) {
        ++by[s.camera][s.strategy];
        strategies.insert(s.strategy);
        if (const int e = table.errors_of(s.camera, s.frame); e >= 0)
            for (const auto& key : {s.camera, std::string()}) errors[key].first += e, ++errors[key].second;
    }
    std::printf("\ncollector: %zu samples kept in %s (the frames worth relabeling; docs/collector.md)\n",
                samples.size(), dir.c_str());
    std::printf("%-5s", "cam");
    for (const auto& st : strategies) std::printf(" %10s", st.c_str());
    std::printf(" | %14s %13s %9s\n", "errors/sample", "errors/frame", "x random");
    const auto row = [&](const std::string& cam, const std::string& label) {
        std::printf("%-5s", label.c_str());
        for (const auto& st : strategies) {
            int n = 0;
            for (const auto& [c, m] : by)
                if (cam.empty() || c == cam) n += m.count(st) ? m.at(st) : 0;
            std::printf(" %10d", n);
        }
        const auto [sum, n] = errors.count(cam) ? errors.at(cam) : std::pair<double, int>{0, 0};
        const double line = table.mean_errors(cam), got = n ? sum / n : 0;
        std::printf(" | %14.2f %13.2f %8.1fx\n", got, line, line > 0 ? got / line : 0);
    };
    for (const auto& [cam, m] : by) row(cam, cam);
    row("", "line");
    std::printf("errors = false positives + misses at IoU 0.5 against the ground truth; x random = errors per kept "
                "frame over the line's mean (what uniform random sampling keeps at the same budget)\n");
    std::printf("open them for labeling: sightline collect export %s --format labelstudio (or coco, yolo; "
                "docs/collector.md)\n",
                dir.c_str());
}

void DemoTable::print(const ModelSpec& spec, int every, int batch, const LineSummary& summary) {
    std::printf("\nsightline demo: %zu cameras of the synthetic line, model %s, detector on every %d%s frame\n\n",
                rows_.size(), spec.name.c_str(), every, every == 1 ? "" : "th");
    std::printf("%-5s %-28s %6s %7s %7s %9s %5s %15s | %-22s | %-22s\n", "cam", "scenario", "frames", "boxes", "crowd",
                "received", "gaps", "latency p50/p99", "nominal: prec  recall", "drifted: prec  recall");
    std::uint64_t received = 0;
    for (auto& r : rows_) {
        const auto pr = [](const Counts& m) { return pct(m.tp, m.tp + m.fp) + "  " + pct(m.tp, m.tp + m.fn); };
        char lat[32];
        std::snprintf(lat, sizeof lat, "%.0f / %.0f ms", percentile(r.latency_ms, 0.5), percentile(r.latency_ms, 0.99));
        std::printf("%-5s %-28s %6d %7d %7d %9llu %5llu %15s | %-22s | %-22s\n", r.camera.c_str(), r.scenario.c_str(),
                    r.frames, r.boxes, r.crowd, static_cast<unsigned long long>(r.received),
                    static_cast<unsigned long long>(r.gaps), lat, ("        " + pr(r.nominal)).c_str(),
                    r.drifted_frames ? ("        " + pr(r.drifted)).c_str() : "        (no drift)");
        received += r.received;
    }
    std::printf("\nboxes = ground-truth boxes over all frames (IoU 0.5 matching, threshold %.2f); crowd = parts more "
                "than occluded_fraction hidden (ignored).\nreceived = pred messages the consumer (a ZeroMQ "
                "subscriber) got; latency = packet arrival -> receipt (files are read as fast as the line takes "
                "them, so it includes queueing).\n",
                spec.confidence);
    std::printf("%llu frames through the line (decode, batch %d, preprocess + inference + decode + NMS, ZeroMQ) in "
                "%.1f s: %.1f frames/s; %llu messages dropped\n",
                static_cast<unsigned long long>(received), batch, summary.seconds,
                static_cast<double>(received) / summary.seconds, static_cast<unsigned long long>(summary.dropped));
}

std::map<std::string, DemoTable::Drift> DemoTable::drifts() const {
    std::map<std::string, Drift> d;
    for (const auto& r : rows_) d[r.camera] = {r.scenario, r.onset_s};
    return d;
}

MonitorOptions demo_monitor_options(int every) {
    MonitorOptions o;
    o.reference_s = 15;
    o.window_s = 5;
    o.min_window_frames = std::max(10, 60 / every);
    o.min_values = std::max(20, 125 / every); // a 5 s window at 6 frames/s holds 30 frames
    return o;
}

void print_monitor_alarms(const std::vector<MonitorAlarm>& alarms,
                          const std::map<std::string, DemoTable::Drift>& drifts, const MonitorOptions& o,
                          bool saved_reference) {
    if (saved_reference)
        std::printf("\nmonitor (beside the line; each camera's reference learned from a known-good recording of it, "
                    "window %.0f s; docs/monitor.md)\n",
                    o.window_s);
    else
        std::printf(
            "\nmonitor (beside the line; reference the first %.0f s of each camera, window %.0f s; docs/monitor.md)\n",
            o.reference_s, o.window_s);
    std::printf("%-6s %-34s %-44s %s\n", "camera", "drift (ground truth)", "first alarm after the onset",
                "alarms before the onset / on a nominal camera");
    for (const auto& [camera, d] : drifts) {
        const MonitorAlarm* first = nullptr;
        std::map<std::string, int> early;
        for (const auto& a : alarms) {
            if (!a.raised || a.camera != camera) continue;
            const double t = a.window_end_ns / 1e9;
            if (d.onset_s >= 0 && t > d.onset_s) {
                if (!first) first = &a;
            } else {
                ++early[a.signal];
            }
        }
        std::string hit = d.onset_s < 0 ? "-" : "none";
        if (first) {
            char b[128];
            std::snprintf(b, sizeof b, "%s/%s at %.0f s (+%.0f s)", first->signal.c_str(), first->test.c_str(),
                          first->window_end_ns / 1e9, first->window_end_ns / 1e9 - d.onset_s);
            hit = b;
        }
        std::string false_alarms;
        int n = 0;
        for (const auto& [signal, count] : early)
            false_alarms += (false_alarms.empty() ? "" : ", ") + signal, n += count;
        std::printf("%-6s %-34s %-44s %d%s%s\n", camera.c_str(), d.scenario.c_str(), hit.c_str(), n, n ? ": " : "",
                    false_alarms.c_str());
    }
    if (saved_reference)
        std::printf("(the first-day path: sightline monitor --replay nominal.slrec --save-reference ref.json, then\n"
                    " --reference ref.json; README.md)\n");
    else
        std::printf("(a %.0f s reference is too short to know a camera's normal spread: a saved reference from a "
                    "known-good\n recording is the first-day path, README.md)\n",
                    o.reference_s);
}

} // namespace sightline::pipeline
