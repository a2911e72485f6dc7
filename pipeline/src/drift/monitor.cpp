#include "sightline/pipeline/monitor.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>

#include "sightline/error.hpp"
#include "sightline/pipeline/drift.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// The fixed bins of one bucket of statistics. Classes past kClasses - 1 share the last bin.
constexpr int kClasses = 16;
constexpr int kConfBins = 20;  ///< score in [0, 1], 0.05 wide
constexpr int kCountBins = 32; ///< detections per frame 0..30, then 31 and more
constexpr int kSizeBins = 25;  ///< sqrt(box area / frame area) in [0, 1], 0.04 wide
constexpr int kLumaBins = 128; ///< mean luma 0..255, 2 wide
constexpr int kSharpBins = 64; ///< log2(1 + sharpness) in [0, 16), 0.25 wide (sharpness spans decades)
constexpr int kLatencyBins =
    48; ///< arrival -> published, ms: bin k is [0.5 x 1.25^(k-1), 0.5 x 1.25^k), bin 0 below 0.5
enum Scalar { kFrames, kFlagged, kDetections, kScoreSum, kLumaSum, kLumaN, kScalars };

constexpr int kOffClass = 0;
constexpr int kOffConf = kOffClass + kClasses;
constexpr int kOffCount = kOffConf + kClasses * kConfBins;
constexpr int kOffSize = kOffCount + kCountBins;
constexpr int kOffLuma = kOffSize + kSizeBins;
constexpr int kOffSharp = kOffLuma + kLumaBins;
constexpr int kOffLatency = kOffSharp + kSharpBins;
constexpr int kOffScalar = kOffLatency + kLatencyBins;
constexpr int kBucketSize = kOffScalar + kScalars;
constexpr std::size_t kPartsPerWindow = 6; ///< the reference is kept in parts of a sixth of a window
constexpr int kBootstrapReplicates = 200;  ///< replicates of the threshold calibration's block bootstrap
constexpr int kPsiGroups = 10;             ///< PSI on the reference's deciles

using Bucket = std::vector<double>; ///< sums being worked on
using Stored = std::vector<float>;  ///< buckets and parts held (float: exact to 2^24 counts, half the memory)
Stored to_stored(const Bucket& b) {
    return Stored(b.begin(), b.end());
}
void add_into(std::vector<double>& into, const Stored& b) {
    for (std::size_t k = 0; k < b.size(); ++k) into[k] += b[k];
}
Bucket empty_bucket() {
    return Bucket(kBucketSize, 0.0);
}
std::span<const double> part(const Bucket& b, int offset, int n) {
    return {b.data() + offset, std::size_t(n)};
}
void add_into(Bucket& into, const Bucket& b) {
    for (int k = 0; k < kBucketSize; ++k) into[k] += b[k];
}
int bin_of(double x, double lo, double width, int bins) {
    const double k = (x - lo) / width; // clamped before the cast: a float past int's range is undefined there
    if (!(k >= 0)) return 0;
    return k >= bins - 1 ? bins - 1 : static_cast<int>(k);
}
double latency_upper_ms(int k) {
    return 0.5 * std::pow(1.25, k);
}
int latency_bin(double ms) {
    if (!(ms >= 0.5)) return 0;
    return std::min(kLatencyBins - 1, 1 + static_cast<int>(std::floor(std::log(ms / 0.5) / std::log(1.25))));
}

/// The sharpness signal of a frame, in log2 units binned over [0, 16): with the frame's contrast (luma standard
/// deviation), 8 + log2(Laplacian variance / luma variance), the measure the line's blurred flag uses, which a
/// lighting change leaves alone (both variances scale with the light's gain squared); without it (an older line),
/// log2(1 + Laplacian variance).
double sharpness_value(const transport::PredMessage& p) {
    if (p.contrast > 0) return 8 + std::log2(std::max(1e-6, double(p.sharpness)) / (double(p.contrast) * p.contrast));
    return std::log2(1.0 + p.sharpness);
}

std::vector<double> centres(double lo, double width, int n) {
    std::vector<double> c(n);
    for (int k = 0; k < n; ++k) c[k] = lo + width * (k + 0.5);
    return c;
}
const std::vector<double> kConfCentres = centres(0, 1.0 / kConfBins, kConfBins);
const std::vector<double> kCountCentres = centres(-0.5, 1, kCountBins); // bin k holds k detections
const std::vector<double> kSizeCentres = centres(0, 1.0 / kSizeBins, kSizeBins);
const std::vector<double> kLumaCentres = centres(0, 2, kLumaBins);
const std::vector<double> kSharpCentres = centres(0, 0.25, kSharpBins);

double sum_of(std::span<const double> v) {
    return std::accumulate(v.begin(), v.end(), 0.0);
}

/// p99 of the latency histogram: the upper edge of the bin holding the 99th percentile.
double latency_p99(const Bucket& b) {
    const auto h = part(b, kOffLatency, kLatencyBins);
    const double n = sum_of(h);
    if (n <= 0) return kNaN;
    double seen = 0;
    for (int k = 0; k < kLatencyBins; ++k)
        if ((seen += h[k]) >= 0.99 * n) return latency_upper_ms(k);
    return latency_upper_ms(kLatencyBins - 1);
}

/// One drift test: a signal's histogram in the bucket layout, and the statistic it gets.
struct Test {
    std::string signal, test;
    int offset = 0, bins = 0;
    const std::vector<double>* centres = nullptr; ///< Wasserstein only
    double default_threshold = 0;
    /// Wasserstein only: the least standard deviation it is normalised by. Evidently's 0.001 suits raw values; on
    /// binned ones, spreads under the signal's resolution are not measured, so a near-constant signal (a steady
    /// scene's luma) would read a shift of one bin as many deviations.
    double min_norm = 0.001;
    /// PSI only: the group (a decile of the reference, the outer two open-ended) each bin falls in, set when the
    /// reference is complete: PSI's usual bins. On the fine bins themselves a value the reference never reached
    /// (a steady scene's luma one grey level up) would read as a new distribution.
    std::vector<int> groups;
    /// Sets the groups from the reference's histogram: bin k joins decile floor(10 x its mid-point's CDF).
    void set_groups(const Bucket& reference) {
        if (test != "psi") return;
        const auto r = part(reference, offset, bins);
        const double n = sum_of(r);
        groups.assign(bins, 0);
        double before = 0;
        for (int k = 0; k < bins; ++k) {
            const double mid = n > 0 ? (before + r[k] / 2) / n : 0;
            groups[k] = std::min(kPsiGroups - 1, static_cast<int>(mid * kPsiGroups));
            before += r[k];
        }
    }
    double value(const Bucket& reference, const Bucket& current, int min_values) const {
        const auto r = part(reference, offset, bins), c = part(current, offset, bins);
        if (sum_of(r) < min_values || sum_of(c) < min_values) return kNaN;
        if (test == "jensen_shannon") return drift::jensen_shannon(r, c);
        if (test == "psi") {
            if (groups.empty()) return drift::psi(r, c);
            std::vector<double> rg(kPsiGroups), cg(kPsiGroups);
            for (std::size_t k = 0; k < r.size(); ++k) rg[groups[k]] += r[k], cg[groups[k]] += c[k];
            return drift::psi(rg, cg);
        }
        return drift::wasserstein_normalised(*centres, r, c, min_norm);
    }
};

std::vector<Test> make_tests(const MonitorOptions& o, const std::vector<std::string>& class_names) {
    std::vector<Test> t;
    t.push_back({"class_mix", "jensen_shannon", kOffClass, kClasses, nullptr, o.js_threshold});
    auto numeric = [&](const std::string& signal, int offset, int bins, const std::vector<double>* c, double min_norm,
                       bool psi = true) {
        t.push_back({signal, "wasserstein", offset, bins, c, o.wasserstein_threshold, min_norm});
        if (psi) t.push_back({signal, "psi", offset, bins, nullptr, o.psi_threshold});
    };
    numeric("detections_per_frame", kOffCount, kCountBins, &kCountCentres, 0.5);
    numeric("box_size", kOffSize, kSizeBins, &kSizeCentres, 1.0 / kSizeBins);
    numeric("luma", kOffLuma, kLumaBins, &kLumaCentres, o.luma_min_std);
    // sharpness: Wasserstein only. It follows the picture's content too (more parts in view, more edges): PSI on the
    // reference's deciles of a steady camera reads a content swing of 15% as a new distribution
    numeric("sharpness", kOffSharp, kSharpBins, &kSharpCentres, o.sharpness_min_std, false);
    for (int k = 0; k < kClasses; ++k) {
        const std::string name = k < static_cast<int>(class_names.size()) ? class_names[k] : std::to_string(k);
        numeric("confidence/" + name, kOffConf + k * kConfBins, kConfBins, &kConfCentres, 1.0 / kConfBins);
    }
    return t;
}

struct AlarmState {
    bool active = false;
    int over = 0, fast = 0, under = 0;
    double threshold = 0;
};

std::string slice_of(const std::map<std::string, std::string>& meta) {
    std::string s;
    for (const auto& [k, v] : meta) s += (s.empty() ? "" : ",") + k + "=" + v;
    return s;
}

} // namespace

std::string MonitorAlarm::message() const {
    char buf[512];
    const std::string who = transport::line_camera(line, camera);
    std::snprintf(buf, sizeof buf, "%s %s/%s on %s: %.4g %s %.4g (stream %.1f..%.1f s)", raised ? "ALARM" : "cleared",
                  signal.c_str(), test.c_str(), who.c_str(), value, raised ? ">" : "<=", threshold,
                  window_start_ns / 1e9, window_end_ns / 1e9);
    return buf;
}

/// A change-point test while the reference is learned: one signal's bucket means as z-scores against the camera's
/// own first seconds, into river's Page-Hinkley.
struct EarlyTest {
    std::string signal;
    double floor = 1;
    std::vector<double> baseline; ///< the first buckets' values, until early_baseline_s of them
    double mu = 0, sd = 1;
    bool ready = false;
    drift::PageHinkley ph;
    std::deque<double> recent; ///< the last early_confirm_s z-scores
};

struct CameraState {
    MonitorCameraView view;
    std::vector<EarlyTest> early;
    std::vector<MonitorScore> early_scores; ///< the last bucket's, shown with the window's
    std::vector<Test> tests;
    // stream time
    bool started = false;
    std::int64_t bucket_id = 0; ///< the bucket being filled
    std::int64_t first_bucket = 0;
    Bucket current = empty_bucket();
    std::deque<std::pair<std::int64_t, Stored>> ring; ///< the last window_s of closed buckets, by id
    // reference
    Bucket reference = empty_bucket();
    /// The reference in parts of a sixth of a window (for calibration: any six in a row make a window-sized chunk).
    std::vector<Stored> chunks; ///< allocated in full when the camera is first seen: memory stays flat
    std::size_t parts_used = 0;
    double part_frames = 0, part_flagged = 0; ///< the part being filled (live)
    int part_fill = 0;
    int reference_buckets = 0;
    bool reference_ready = false;
    double rate_mean = 0, rate_std = 0;
    std::map<std::string, double> thresholds; ///< signal/test -> threshold in force
    drift::PageHinkley ph;
    std::deque<double> recent_z; ///< the last parts' flagged-rate z-scores
    std::map<std::string, AlarmState> alarms;
    // health
    std::uint64_t gap_pending = 0;
    int clean_buckets = 0;
    bool ended = false;
};

struct Monitor::Impl {
    MonitorOptions o;
    int window_buckets = 10, reference_buckets = 60, part_buckets = 1;
    std::int64_t bucket_ns = 1'000'000'000;
    std::map<std::string, std::vector<std::string>> class_names; ///< model -> names (from run_start)
    std::map<std::string, CameraState> cameras;                  ///< camera|model
    std::map<std::string, std::string> camera_key;               ///< line/camera -> the state key of its last pred
    std::map<std::string, std::uint64_t> last_seq;               ///< line/camera -> the seq of its last pred
    std::function<void(const MonitorAlarm&)> alarm_cb;
    std::function<void(const MonitorCameraView&)> window_cb;
    std::uint64_t messages = 0, raised = 0, refused_states = 0;
    std::map<std::string, std::string> loaded; ///< camera|model -> reference JSON waiting for its camera
    struct RunHeard {
        std::int64_t first_ns = 0, last_ns = 0;
        std::string endpoint;
        bool ended = false;
    };
    std::map<std::string, std::map<std::string, RunHeard>> runs; ///< line -> run -> when heard
    std::vector<MonitorLineConflict> conflicts;

    /// A line's run_start, line_info or run_end: two runs of one line name heard each after the other began are
    /// two publishers sharing the name (a restart is not: the old run is not heard after the new one starts).
    void heard_run(const transport::EventMessage& e, std::int64_t wall_ns) {
        if (e.line.empty() || e.run.empty()) return;
        constexpr std::int64_t kForget = 60'000'000'000; // runs not heard for a minute are forgotten
        if (!runs.count(e.line) && runs.size() >= o.max_states) return;
        auto& by_run = runs[e.line];
        std::erase_if(by_run, [&](const auto& r) { return r.second.last_ns < wall_ns - kForget; });
        if (!by_run.count(e.run) && by_run.size() >= 16) return;
        RunHeard& r = by_run[e.run];
        if (r.first_ns == 0) r.first_ns = wall_ns;
        r.last_ns = wall_ns;
        if (!e.endpoint.empty()) r.endpoint = e.endpoint;
        r.ended = r.ended || e.kind == "run_end";
        if (std::any_of(conflicts.begin(), conflicts.end(), [&](const auto& c) { return c.line == e.line; })) return;
        for (const auto& [run, other] : by_run) {
            // overlap: each heard after the other began (a restarted run's last word came before the new one's first)
            if (run == e.run || other.ended || other.last_ns <= r.first_ns || r.last_ns < other.first_ns) continue;
            MonitorLineConflict c{e.line, {run, e.run}, {other.endpoint, r.endpoint}, wall_ns};
            spdlog::warn("monitor: two publishers use the line name '{}' at once (run {} on {}, run {} on {}): their "
                         "cameras are mixed in every sink; give each line its own `line:` in its run config",
                         e.line, run, other.endpoint.empty() ? "?" : other.endpoint, e.run,
                         r.endpoint.empty() ? "?" : r.endpoint);
            conflicts.push_back(std::move(c));
            return;
        }
    }

    /// The time-of-day bucket of a wall-clock time (UTC), "" when off or unknown: "06-12" for 6 h buckets.
    std::string time_of_day(std::int64_t time_ns) const {
        if (o.time_of_day_hours <= 0 || time_ns <= 0) return "";
        const double hour = std::fmod(static_cast<double>(time_ns) / 3.6e12, 24.0);
        const int k = static_cast<int>(hour / o.time_of_day_hours);
        char b[32];
        std::snprintf(b, sizeof b, "%02d-%02d", static_cast<int>(k * o.time_of_day_hours),
                      std::min(24, static_cast<int>((k + 1) * o.time_of_day_hours)));
        return b;
    }
    /// A camera's identity across lines: "line/camera" ('/' is in neither), the camera id alone from a line that
    /// names none.
    static std::string who_of(const std::string& line, const std::string& camera) {
        return transport::line_camera(line, camera);
    }
    static std::string key_of(const std::string& who, const std::string& model, const std::string& tod) {
        return who + "|" + model + (tod.empty() ? "" : "|" + tod);
    }
    CameraState& state(const std::string& line, const std::string& camera, const std::string& model,
                       const std::map<std::string, std::string>& meta, const std::string& tod = "") {
        const std::string key = key_of(who_of(line, camera), model, tod);
        auto it = cameras.find(key);
        if (it != cameras.end()) return it->second;
        if (cameras.size() >= o.max_states) {
            ++refused_states;
            throw Error(ErrorCode::kBadInput,
                        "camera '" + camera + "' (model '" + model + "') refused: the monitor already keeps " +
                            std::to_string(o.max_states) + " camera/model states (--max-states raises the limit)");
        }
        CameraState& s = cameras[key];
        s.view.line = line;
        s.view.camera = camera;
        s.view.model = model;
        s.view.meta = meta;
        s.view.time_of_day = tod;
        s.view.slice =
            slice_of(meta) + (tod.empty() ? "" : std::string(meta.empty() ? "" : ",") + "time_of_day=" + tod);
        s.tests = make_tests(o, names(model));
        s.chunks.assign(static_cast<std::size_t>(reference_buckets / part_buckets + 1), Stored(kBucketSize, 0.0f));
        s.ph = drift::PageHinkley({o.ph_min_instances, o.ph_delta, o.ph_threshold, 1 - 0.0001});
        for (const Test& t : s.tests) s.thresholds[t.signal + "/" + t.test] = t.default_threshold;
        s.view.reference_needed_s = reference_buckets * o.bucket_s;
        s.view.tests_total = static_cast<int>(s.tests.size()) + 1; // + the flagged-frame rate's Page-Hinkley
        if (o.early_baseline_s > 0)
            for (const auto& [signal, floor] :
                 {std::pair<const char*, double>{"luma", o.early_luma_floor}, {"sharpness", o.early_sharpness_floor}}) {
                EarlyTest e;
                e.signal = signal, e.floor = floor;
                e.ph = drift::PageHinkley({o.ph_min_instances, o.ph_delta, o.ph_threshold, 1 - 0.0001});
                s.early.push_back(std::move(e));
            }
        s.view.learning_tests = static_cast<int>(s.early.size());
        // a saved reference of this line's camera, or one that names no line (from an older recording)
        auto l = loaded.find(key);
        if (l == loaded.end()) l = loaded.find(key_of(camera, model, tod));
        if (l != loaded.end()) apply_reference(s, nlohmann::json::parse(l->second), "reference");
        return s;
    }
    std::vector<std::string> names(const std::string& model) const {
        auto it = class_names.find(model);
        return it == class_names.end() ? std::vector<std::string>{} : it->second;
    }
    std::string class_name(const CameraState& s, int cls) const {
        const auto n = names(s.view.model);
        return cls >= 0 && cls < static_cast<int>(n.size()) ? n[cls] : std::to_string(cls);
    }

    void emit(CameraState& s, const std::string& signal, const std::string& test, bool up, double value,
              double threshold, std::int64_t wall_ns) {
        MonitorAlarm a;
        a.raised = up;
        a.line = s.view.line, a.camera = s.view.camera, a.model = s.view.model, a.slice = s.view.slice;
        a.signal = signal, a.test = test, a.value = value, a.threshold = threshold;
        a.window_end_ns = (s.bucket_id + 1) * bucket_ns;
        a.window_start_ns =
            a.window_end_ns - static_cast<std::int64_t>(std::max<std::size_t>(1, s.ring.size())) * bucket_ns;
        a.wall_ns = wall_ns;
        if (up) ++raised;
        if (alarm_cb) alarm_cb(a);
    }
    /// Hysteresis: `over` tests in a row raise, `under` ones in a row clear.
    void judge(CameraState& s, const std::string& signal, const std::string& test, double value, double threshold,
               std::int64_t wall_ns) {
        if (std::isnan(value)) return;
        AlarmState& a = s.alarms[signal + "/" + test];
        a.threshold = threshold;
        if (!a.active) {
            a.over = value > threshold ? a.over + 1 : 0;
            a.fast = value > o.fast_factor * threshold ? a.fast + 1 : 0;
            if (a.over >= o.raise_after || a.fast >= o.raise_fast)
                a.active = true, a.under = 0, emit(s, signal, test, true, value, threshold, wall_ns);
        } else {
            a.under = value <= o.clear_ratio * threshold ? a.under + 1 : 0;
            if (a.under >= o.clear_after)
                a.active = false, a.over = a.fast = 0, emit(s, signal, test, false, value, threshold, wall_ns);
        }
    }
    void set_now(CameraState& s, const std::string& key, bool up, double value, double threshold, std::int64_t wall_ns,
                 const std::string& signal, const std::string& test) {
        AlarmState& a = s.alarms[key];
        if (a.active == up) return;
        a.active = up, a.threshold = threshold;
        emit(s, signal, test, up, value, threshold, wall_ns);
    }

    /// Thresholds from a block bootstrap of the reference's own stream. What a later window is tested for is a
    /// contiguous window-sized stretch of the camera against the whole reference; so is each replicate: a window
    /// taken from the reference at random, against a pseudo-reference of the reference's length resampled in
    /// blocks (a window's third, so the frames' serial correlation stays) from the parts the window does not cover
    /// (a window compared with a reference that holds it looks closer than a later one will). With a short
    /// reference the pool is small and the pseudo-references vary more than the reference will: the thresholds err
    /// high, as a reference that saw little should. Each test's threshold is the larger of its default and the
    /// replicates' mean plus z standard deviations, z the normal quantile of o.false_alarm_rate per window spread
    /// over the camera's tests (Bonferroni), at least 3.
    void calibrate(CameraState& s) {
        const std::size_t per_chunk = static_cast<std::size_t>(std::max(1, window_buckets / part_buckets));
        const std::size_t parts = s.parts_used;
        if (parts < per_chunk + 2 || s.tests.empty()) return; // too short to calibrate: the defaults stand
        const std::size_t block = std::max<std::size_t>(1, per_chunk / 3);
        std::uint64_t rng =
            0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(who_of(s.view.line, s.view.camera) + "|" + s.view.model);
        auto next = [&rng](std::size_t n) { // splitmix64, reproducible: a replay calibrates the same
            std::uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            return static_cast<std::size_t>((z ^ (z >> 31)) % n);
        };
        std::vector<std::vector<double>> values(s.tests.size());
        std::vector<std::size_t> pool;
        for (int b = 0; b < kBootstrapReplicates; ++b) {
            const std::size_t first = next(parts - per_chunk + 1);
            Bucket w = empty_bucket(), r = empty_bucket();
            for (std::size_t k = first; k < first + per_chunk; ++k) add_into(w, s.chunks[k]);
            pool.clear();
            for (std::size_t k = 0; k < parts; ++k)
                if (k < first || k >= first + per_chunk) pool.push_back(k);
            const std::size_t bl = std::min(block, pool.size());
            for (std::size_t drawn = 0; drawn < parts;) {
                const std::size_t at = next(pool.size() - bl + 1);
                for (std::size_t k = 0; k < bl && drawn < parts; ++k, ++drawn) add_into(r, s.chunks[pool[at + k]]);
            }
            for (std::size_t t = 0; t < s.tests.size(); ++t) values[t].push_back(s.tests[t].value(r, w, o.min_values));
        }
        const double z =
            std::max(3.0, drift::normal_upper_quantile(o.false_alarm_rate / static_cast<double>(s.tests.size())));
        for (std::size_t t = 0; t < s.tests.size(); ++t) {
            const Test& test = s.tests[t];
            // a signal the reference saw too little of cannot be calibrated: it is not tested (a rare class)
            const auto valid =
                std::count_if(values[t].begin(), values[t].end(), [](double x) { return !std::isnan(x); });
            const double cal = drift::chunk_upper_threshold(values[t], z);
            s.thresholds[test.signal + "/" + test.test] =
                valid < kBootstrapReplicates / 2 ? kNaN : std::max(test.default_threshold, cal);
            if (spdlog::should_log(spdlog::level::debug)) { // --log-level debug: why each threshold is what it is
                std::vector<double> v;
                for (double x : values[t])
                    if (!std::isnan(x)) v.push_back(x);
                std::sort(v.begin(), v.end());
                if (!v.empty())
                    spdlog::debug("monitor: {} {}/{}: threshold {:.4f} (default {:.4f}; {} replicates: median {:.4f}, "
                                  "95% {:.4f}, max {:.4f}; z {:.2f})",
                                  who_of(s.view.line, s.view.camera), test.signal, test.test,
                                  s.thresholds[test.signal + "/" + test.test], test.default_threshold, v.size(),
                                  v[v.size() / 2], v[v.size() * 95 / 100], v.back(), z);
            }
        }
    }

    void finish_reference(CameraState& s) {
        s.reference_ready = true;
        for (Test& t : s.tests) t.set_groups(s.reference);
        // the flagged-frame rate of each part of the reference: the z-scores' mean and spread
        std::vector<double> rates;
        for (std::size_t k = 0; k < s.parts_used; ++k) {
            const Stored& p = s.chunks[k];
            if (p[kOffScalar + kFrames] > 0) rates.push_back(p[kOffScalar + kFlagged] / p[kOffScalar + kFrames]);
        }
        const double n = static_cast<double>(rates.size());
        if (n > 0) {
            s.rate_mean = std::accumulate(rates.begin(), rates.end(), 0.0) / n;
            double v = 0;
            for (double r : rates) v += (r - s.rate_mean) * (r - s.rate_mean);
            s.rate_std = std::sqrt(v / n);
        }
        if (o.calibrate) calibrate(s);
        // PSI on a reference that fills fewer than 3 bins is degenerate: its deciles collapse onto one bin, and a
        // move to the next bin (a steady camera's luma one grey level up) reads as a new distribution. Unarmed: the
        // Wasserstein test, with its floor on the spread, watches that signal
        for (const Test& t : s.tests) {
            if (t.test != "psi") continue;
            const auto r = part(s.reference, t.offset, t.bins);
            if (std::count_if(r.begin(), r.end(), [](double x) { return x > 0; }) < 3)
                s.thresholds[t.signal + "/" + t.test] = kNaN;
        }
        s.view.reference_ready = true;
        s.view.reference_progress = 1;
        s.view.reference_learned_s = s.view.reference_needed_s;
        s.view.tests_armed = 1; // the flagged-frame rate's Page-Hinkley
        for (const Test& t : s.tests) s.view.tests_armed += std::isnan(s.thresholds[t.signal + "/" + t.test]) ? 0 : 1;
        s.view.learning_tests = 0;
        if (!s.view.camera.empty())
            spdlog::info("monitor: {} ({}) armed: {} of {} drift tests against its {:.0f} s reference{}",
                         who_of(s.view.line, s.view.camera), s.view.model.empty() ? "no model yet" : s.view.model,
                         s.view.tests_armed, s.view.tests_total, s.view.reference_needed_s,
                         s.view.tests_armed < s.view.tests_total ? " (the others: too few values in the reference)"
                                                                 : "");
    }

    /// A bucket's value of an early test's signal; NaN when the bucket has none.
    static double early_value(const EarlyTest& e, const Bucket& b) {
        if (e.signal == "luma")
            return b[kOffScalar + kLumaN] > 0 ? b[kOffScalar + kLumaSum] / b[kOffScalar + kLumaN] : kNaN;
        const auto h = part(b, kOffSharp, kSharpBins);
        const double n = sum_of(h);
        if (n <= 0) return kNaN;
        double m = 0;
        for (int k = 0; k < kSharpBins; ++k) m += h[k] * kSharpCentres[k];
        return m / n;
    }

    /// The change-point tests while the reference is learned (and, once it is ready, until what they raised
    /// clears: they raise nothing more then).
    void early_tests(CameraState& s, const Bucket& b, std::int64_t wall_ns) {
        const auto baseline_n = static_cast<std::size_t>(std::max(2.0, std::round(o.early_baseline_s / o.bucket_s)));
        const auto confirm_n = static_cast<std::size_t>(std::max(1.0, std::round(o.early_confirm_s / o.bucket_s)));
        for (EarlyTest& e : s.early) {
            const std::string key = e.signal + "/change_point";
            AlarmState& a = s.alarms[key];
            if (s.reference_ready && !a.active) continue;
            const double x = early_value(e, b);
            if (std::isnan(x)) continue;
            if (!e.ready) {
                e.baseline.push_back(x);
                if (e.baseline.size() < baseline_n) continue;
                const double n = static_cast<double>(e.baseline.size());
                e.mu = std::accumulate(e.baseline.begin(), e.baseline.end(), 0.0) / n;
                double v = 0;
                for (double y : e.baseline) v += (y - e.mu) * (y - e.mu);
                e.sd = std::max(std::sqrt(v / n), e.floor);
                e.ready = true, e.baseline.clear();
                continue;
            }
            const double z = (x - e.mu) / e.sd;
            const bool change = e.ph.update(z);
            e.recent.push_back(z);
            if (e.recent.size() > confirm_n) e.recent.pop_front();
            const double recent = std::accumulate(e.recent.begin(), e.recent.end(), 0.0) / e.recent.size();
            if (!a.active && !s.reference_ready && change && e.recent.size() >= confirm_n &&
                std::fabs(recent) > o.early_z) {
                a.active = true, a.under = 0, a.threshold = o.early_z;
                emit(s, e.signal, "change_point", true, std::fabs(recent), o.early_z, wall_ns);
            } else if (a.active) {
                a.under = std::fabs(recent) <= 1 ? a.under + 1 : 0;
                if (a.under >= o.clear_after)
                    a.active = false, emit(s, e.signal, "change_point", false, std::fabs(recent), o.early_z, wall_ns);
            }
            if (!s.reference_ready)
                s.early_scores.push_back({e.signal, "change_point", std::fabs(recent), o.early_z, false});
        }
    }

    void close_bucket(CameraState& s, std::int64_t wall_ns) {
        const Bucket& b = s.current;
        // the flagged-frame rate per part (a sixth of a window) once the reference is in: Page-Hinkley's input
        double part_rate = kNaN;
        if (s.reference_ready) {
            s.part_frames += b[kOffScalar + kFrames], s.part_flagged += b[kOffScalar + kFlagged];
            if (++s.part_fill >= part_buckets) {
                if (s.part_frames > 0) part_rate = s.part_flagged / s.part_frames;
                s.part_frames = s.part_flagged = 0, s.part_fill = 0;
            }
        }
        s.early_scores.clear();
        if (!s.early.empty()) early_tests(s, b, wall_ns);
        if (!s.reference_ready) {
            add_into(s.reference, b);
            const std::size_t chunk = static_cast<std::size_t>(s.reference_buckets / part_buckets);
            if (chunk >= s.chunks.size()) s.chunks.resize(chunk + 1, Stored(kBucketSize, 0.0f)); // (not reached)
            s.parts_used = std::max(s.parts_used, chunk + 1);
            for (int k = 0; k < kBucketSize; ++k) s.chunks[chunk][k] += static_cast<float>(b[k]);
            ++s.reference_buckets;
            s.view.reference_progress = std::min(1.0, double(s.reference_buckets) / reference_buckets);
            s.view.reference_learned_s = std::min(s.reference_buckets, reference_buckets) * o.bucket_s;
            if (s.reference_buckets >= reference_buckets) {
                // a last part shorter than the others would skew the calibration
                if (s.reference_buckets % part_buckets != 0 && s.parts_used > 1) --s.parts_used;
                finish_reference(s);
            }
        }
        s.ring.emplace_back(s.bucket_id, to_stored(b));
        while (!s.ring.empty() && s.ring.front().first <= s.bucket_id - window_buckets) s.ring.pop_front();
        // sequence gaps: standing until clear_after buckets without one
        if (s.gap_pending > 0) {
            set_now(s, "sequence/seq_gap", true, double(s.gap_pending), 0, wall_ns, "sequence", "seq_gap");
            s.gap_pending = 0, s.clean_buckets = 0;
        } else if (++s.clean_buckets >= o.clear_after) {
            set_now(s, "sequence/seq_gap", false, 0, 0, wall_ns, "sequence", "seq_gap");
        }
        evaluate(s, part_rate, wall_ns);
        s.current = empty_bucket();
    }

    void evaluate(CameraState& s, double part_rate, std::int64_t wall_ns) {
        Bucket w = empty_bucket();
        for (const auto& [id, b] : s.ring) add_into(w, b);
        MonitorCameraView& v = s.view;
        const double frames = w[kOffScalar + kFrames];
        const double span_s = static_cast<double>(s.ring.size()) * o.bucket_s;
        v.window_end_ns = (s.bucket_id + 1) * bucket_ns;
        v.fps = span_s > 0 ? frames / span_s : 0;
        v.detections_per_frame = frames > 0 ? w[kOffScalar + kDetections] / frames : 0;
        v.confidence_mean =
            w[kOffScalar + kDetections] > 0 ? w[kOffScalar + kScoreSum] / w[kOffScalar + kDetections] : 0;
        v.flag_rate = frames > 0 ? w[kOffScalar + kFlagged] / frames : 0;
        v.luma_mean = w[kOffScalar + kLumaN] > 0 ? w[kOffScalar + kLumaSum] / w[kOffScalar + kLumaN] : 0;
        v.latency_p99_ms = latency_p99(w);
        v.window_frames = frames;
        v.window_classes.clear();
        for (int k = 0; k < kClasses; ++k)
            if (w[kOffClass + k] > 0) v.window_classes[class_name(s, k)] = w[kOffClass + k];
        v.scores = s.early_scores;
        if (o.latency_p99_ms > 0 && !std::isnan(v.latency_p99_ms)) {
            v.scores.push_back({"latency", "p99", v.latency_p99_ms, o.latency_p99_ms, false});
            judge(s, "latency", "p99", v.latency_p99_ms, o.latency_p99_ms, wall_ns);
        }
        if (s.reference_ready && frames >= o.min_window_frames) {
            for (const Test& t : s.tests) {
                const double value = t.value(s.reference, w, o.min_values);
                if (std::isnan(value)) continue;
                const double th = s.thresholds[t.signal + "/" + t.test];
                if (std::isnan(th)) continue; // not armed: the reference saw too little of it
                v.scores.push_back({t.signal, t.test, value, th, false});
                judge(s, t.signal, t.test, value, th, wall_ns);
            }
            // flagged-frame rate: Page-Hinkley on the buckets' z-scores against the reference's buckets
            if (!std::isnan(part_rate)) {
                const double z = (part_rate - s.rate_mean) / std::max(s.rate_std, 0.01);
                const bool change = s.ph.update(z);
                const double stat = s.ph.statistic();
                s.recent_z.push_back(z);
                if (s.recent_z.size() > static_cast<std::size_t>(std::max(1, o.ph_min_instances)))
                    s.recent_z.pop_front();
                const double recent = std::accumulate(s.recent_z.begin(), s.recent_z.end(), 0.0) / s.recent_z.size();
                v.scores.push_back({"flag_rate", "page_hinkley", stat, o.ph_threshold, false});
                // a detection raises when the last buckets sit more than a reference sigma away on average (a
                // change back towards the reference, or noise, does not); it clears once they are back within one
                AlarmState& a = s.alarms["flag_rate/page_hinkley"];
                if (!a.active && change && std::fabs(recent) > 1) {
                    a.active = true, a.under = 0, a.threshold = o.ph_threshold;
                    emit(s, "flag_rate", "page_hinkley", true, o.ph_threshold + std::fabs(recent), o.ph_threshold,
                         wall_ns);
                } else if (a.active) {
                    a.under = std::fabs(recent) <= 1 ? a.under + 1 : 0;
                    if (a.under >= o.clear_after)
                        a.active = false, emit(s, "flag_rate", "page_hinkley", false, stat, o.ph_threshold, wall_ns);
                }
            }
        }
        v.active_alarms.clear();
        for (const auto& [key, a] : s.alarms)
            if (a.active) v.active_alarms.push_back(key);
        v.drift_rank = 0;
        for (MonitorScore& sc : v.scores) {
            const auto it = s.alarms.find(sc.signal + "/" + sc.test);
            sc.alarm = it != s.alarms.end() && it->second.active;
            if (sc.threshold > 0 && sc.test != "p99") v.drift_rank = std::max(v.drift_rank, sc.value / sc.threshold);
        }
        if (window_cb) window_cb(v);
    }

    void add(const transport::Message& m, std::int64_t wall_ns);
    void add_pred(const transport::PredMessage& p, std::int64_t wall_ns) {
        if (const auto known = class_names.find(p.model); known != class_names.end())
            for (const std::int32_t c : p.classes) // decode checked c >= 0
                if (static_cast<std::size_t>(c) >= known->second.size())
                    throw Error(ErrorCode::kBadInput, "pred/" + who_of(p.line, p.camera) + ": class " +
                                                          std::to_string(c) + " outside model " + p.model + "'s " +
                                                          std::to_string(known->second.size()) + " classes");
        const std::string tod = time_of_day(p.time_ns);
        const std::string who = who_of(p.line, p.camera);
        CameraState& s = state(p.line, p.camera, p.model, p.meta, tod);
        camera_key[who] = key_of(who, p.model, tod);
        MonitorCameraView& v = s.view;
        if (s.alarms["silence/silence"].active)
            set_now(s, "silence/silence", false, 0, o.silence_s, wall_ns, "silence", "silence");
        s.ended = false;
        // the sequence is the camera's, whichever state (model version, time of day) its frames go to
        auto [seq, first] = last_seq.try_emplace(who, p.seq);
        if (const std::uint64_t gap = first ? 0 : transport::seq_gap(seq->second, p.seq); gap > 0) {
            s.gap_pending += gap;
            v.seq_gaps += gap;
        }
        seq->second = p.seq;
        const std::int64_t id = p.pts_ns >= 0 ? p.pts_ns / bucket_ns : -1 - (-p.pts_ns - 1) / bucket_ns;
        if (!s.started) {
            s.started = true, s.bucket_id = id, s.first_bucket = id;
        } else if (id < s.bucket_id - window_buckets) { // a new timeline (a source restarted its pts)
            close_bucket(s, wall_ns);
            s.ring.clear();
            s.bucket_id = id;
        } else if (id > s.bucket_id) {
            close_bucket(s, wall_ns);
            // empty buckets for a stream-time gap, at most a window's worth (older ones fall out of the window)
            const std::int64_t skip = std::min<std::int64_t>(id - s.bucket_id - 1, window_buckets);
            s.bucket_id = id - skip;
            for (std::int64_t k = 0; k < skip; ++k, ++s.bucket_id) close_bucket(s, wall_ns);
            s.bucket_id = id;
        }
        Bucket& b = s.current;
        const std::size_t n = p.scores.size();
        b[kOffScalar + kFrames] += 1;
        b[kOffScalar + kDetections] += double(n);
        b[kOffCount + std::min<std::size_t>(n, kCountBins - 1)] += 1;
        bool flagged = false;
        const double area = std::max(1.0, double(p.width) * p.height);
        for (std::size_t k = 0; k < n; ++k) {
            const int c = std::min(p.classes[k], kClasses - 1);
            b[kOffClass + c] += 1;
            b[kOffConf + c * kConfBins + bin_of(p.scores[k], 0, 1.0 / kConfBins, kConfBins)] += 1;
            b[kOffScalar + kScoreSum] += p.scores[k];
            const double w = std::max(0.0f, p.boxes[4 * k + 2] - p.boxes[4 * k]);
            const double h = std::max(0.0f, p.boxes[4 * k + 3] - p.boxes[4 * k + 1]);
            b[kOffSize + bin_of(std::sqrt(w * h / area), 0, 1.0 / kSizeBins, kSizeBins)] += 1;
            flagged = flagged || p.flags[k] != 0;
            // by name; without names by index, indices past 63 together (bounded keys whatever arrives)
            ++v.class_counts[p.classes[k] < 64 || !names(s.view.model).empty() ? class_name(s, p.classes[k]) : "64+"];
        }
        if (flagged) b[kOffScalar + kFlagged] += 1, ++v.flagged_frames;
        if (p.luma >= 0) {
            b[kOffLuma + bin_of(p.luma, 0, 2, kLumaBins)] += 1;
            b[kOffScalar + kLumaSum] += p.luma, b[kOffScalar + kLumaN] += 1;
        }
        if (p.sharpness >= 0) b[kOffSharp + bin_of(sharpness_value(p), 0, 0.25, kSharpBins)] += 1;
        const auto a = p.stamps_ns.find("arrival"), pub = p.stamps_ns.find("published");
        if (a != p.stamps_ns.end() && pub != p.stamps_ns.end())
            b[kOffLatency + latency_bin((pub->second - a->second) / 1e6)] += 1;
        ++v.frames;
        v.detections += n;
        v.last_pts_ns = p.pts_ns;
        v.last_wall_ns = wall_ns;
    }

    void apply_reference(CameraState& s, const nlohmann::json& j, const std::string& what) {
        auto vec = [&](const nlohmann::json& a, const std::string& key) {
            if (!a.is_array() || a.size() != static_cast<std::size_t>(kBucketSize))
                throw Error(ErrorCode::kBadInput, what + ": " + key + ": expected " + std::to_string(kBucketSize) +
                                                      " numbers (this build's bins)");
            Bucket b = empty_bucket();
            for (int k = 0; k < kBucketSize; ++k) {
                if (!a[k].is_number())
                    throw Error(ErrorCode::kBadInput, what + ": " + key + ": not a number at " + std::to_string(k));
                b[k] = a[k].get<double>();
            }
            return b;
        };
        s.reference = vec(j.at("sum"), "sum");
        s.chunks.clear();
        for (std::size_t c = 0; c < j.at("chunks").size(); ++c)
            s.chunks.push_back(to_stored(vec(j["chunks"][c], "chunks[" + std::to_string(c) + "]")));
        s.parts_used = s.chunks.size();
        s.reference_buckets = reference_buckets;
        finish_reference(s);
    }
};

Monitor::Monitor(const MonitorOptions& options) : impl_(std::make_unique<Impl>()) {
    auto& o = impl_->o;
    o = options;
    if (!(o.bucket_s > 0) || !(o.window_s >= o.bucket_s) || !(o.reference_s >= o.window_s))
        throw Error(ErrorCode::kBadInput, "monitor: need 0 < bucket_s <= window_s <= reference_s (got " +
                                              std::to_string(o.bucket_s) + ", " + std::to_string(o.window_s) + ", " +
                                              std::to_string(o.reference_s) + ")");
    impl_->bucket_ns = static_cast<std::int64_t>(std::llround(o.bucket_s * 1e9));
    impl_->window_buckets = std::max(1, static_cast<int>(std::lround(o.window_s / o.bucket_s)));
    impl_->reference_buckets = std::max(1, static_cast<int>(std::lround(o.reference_s / o.bucket_s)));
    impl_->part_buckets = std::max(1, impl_->window_buckets / static_cast<int>(kPartsPerWindow));
}
Monitor::~Monitor() = default;

void Monitor::add(const transport::Message& m, std::int64_t wall_ns) {
    impl_->add(m, wall_ns); // throws before it changes anything: a refused message is not counted
    ++impl_->messages;
}

void Monitor::Impl::add(const transport::Message& m, std::int64_t wall_ns) {
    if (const auto* p = std::get_if<transport::PredMessage>(&m)) {
        // a version beside the serving one is no camera's stream of its own (its agreement comes with the stats)
        if (p->shadow) return;
        return add_pred(*p, wall_ns);
    }
    if (const auto* e = std::get_if<transport::EventMessage>(&m)) {
        if ((e->kind == "run_start" || e->kind == "line_info" || e->kind == "model_info") && !e->classes.empty()) {
            if (class_names.size() >= o.max_states && !class_names.count(e->message))
                throw Error(ErrorCode::kBadInput, "run_start of model '" + e->message +
                                                      "' refused: " + std::to_string(o.max_states) +
                                                      " models' class names already kept");
            class_names[e->message] = e->classes;
        }
        if (e->kind == "run_start" || e->kind == "line_info" || e->kind == "run_end") heard_run(*e, wall_ns);
        if (e->kind == "run_end") // the cameras of that line (all, from a line that names none) end
            for (auto& [key, s] : cameras)
                if (e->line.empty() || s.view.line == e->line) s.ended = true;
        return;
    }
    const auto& st = std::get<transport::StatMessage>(m);
    const std::string who = who_of(st.line, st.camera);
    auto key = camera_key.find(who);
    if (key == camera_key.end()) { // a camera that has delivered nothing yet: known, silent
        CameraState& s = state(st.line, st.camera, "", {});
        if (s.view.last_wall_ns == 0) s.view.last_wall_ns = wall_ns;
        s.view.last_stat = st.values;
        camera_key[who] = Impl::key_of(who, "", "");
        return;
    }
    cameras[key->second].view.last_stat = st.values;
}

void Monitor::tick(std::int64_t wall_ns) {
    const auto limit = static_cast<std::int64_t>(impl_->o.silence_s * 1e9);
    for (auto& [key, s] : impl_->cameras) {
        // only a camera's current state can be silent (not its other model versions or time-of-day buckets)
        if (s.ended || s.view.last_wall_ns == 0 || impl_->camera_key[Impl::who_of(s.view.line, s.view.camera)] != key)
            continue;
        const std::int64_t quiet = wall_ns - s.view.last_wall_ns;
        if (quiet > limit)
            impl_->set_now(s, "silence/silence", true, quiet / 1e9, impl_->o.silence_s, wall_ns, "silence", "silence");
    }
}

void Monitor::on_alarm(std::function<void(const MonitorAlarm&)> callback) {
    impl_->alarm_cb = std::move(callback);
}
void Monitor::on_window(std::function<void(const MonitorCameraView&)> callback) {
    impl_->window_cb = std::move(callback);
}

std::vector<MonitorCameraView> Monitor::cameras() const {
    std::vector<MonitorCameraView> v;
    for (const auto& [key, s] : impl_->cameras) v.push_back(s.view);
    return v;
}
std::uint64_t Monitor::messages() const {
    return impl_->messages;
}
std::uint64_t Monitor::alarms_raised() const {
    return impl_->raised;
}
std::uint64_t Monitor::refused_states() const {
    return impl_->refused_states;
}
std::vector<MonitorLineConflict> Monitor::line_conflicts() const {
    return impl_->conflicts;
}
std::map<std::string, int> Monitor::publishers_by_line(std::int64_t wall_ns) const {
    std::map<std::string, int> n;
    for (const auto& [line, by_run] : impl_->runs)
        for (const auto& [run, r] : by_run) n[line] += !r.ended && r.last_ns >= wall_ns - 10'000'000'000 ? 1 : 0;
    return n;
}

std::string Monitor::references_json() const {
    nlohmann::json cams = nlohmann::json::array();
    for (const auto& [key, s] : impl_->cameras) {
        if (!s.reference_ready) continue;
        cams.push_back({{"line", s.view.line},
                        {"camera", s.view.camera},
                        {"model", s.view.model},
                        {"slice", s.view.slice},
                        {"time_of_day", s.view.time_of_day},
                        {"sum", s.reference},
                        {"chunks", std::vector<Stored>(s.chunks.begin(), s.chunks.begin() + s.parts_used)}});
    }
    const auto& o = impl_->o;
    return nlohmann::json{{"schema", "sightline.monitor.reference/1"},
                          {"bucket_s", o.bucket_s},
                          {"window_s", o.window_s},
                          {"reference_s", o.reference_s},
                          {"bins", kBucketSize},
                          {"cameras", cams}}
        .dump();
}

void Monitor::load_references(const std::string& text, const std::string& what) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::kBadInput, what + ": not JSON: " + e.what());
    }
    try {
        if (j.value("schema", "") != "sightline.monitor.reference/1")
            throw Error(ErrorCode::kBadInput, what + ": schema: expected sightline.monitor.reference/1");
        if (j.at("bucket_s").get<double>() != impl_->o.bucket_s || j.at("window_s").get<double>() != impl_->o.window_s)
            throw Error(ErrorCode::kBadInput, what + ": made with bucket_s " + j["bucket_s"].dump() + " and window_s " +
                                                  j["window_s"].dump() + ", this monitor uses " +
                                                  std::to_string(impl_->o.bucket_s) + " and " +
                                                  std::to_string(impl_->o.window_s));
        for (const auto& c : j.at("cameras")) {
            const std::string key =
                Impl::key_of(Impl::who_of(c.value("line", std::string()), c.at("camera").get<std::string>()),
                             c.at("model").get<std::string>(), c.value("time_of_day", std::string()));
            // validate now (a broken file fails at start-up, not when its camera first speaks)
            CameraState probe;
            impl_->apply_reference(probe, c, what + ": camera " + c.at("camera").get<std::string>());
            impl_->loaded[key] = c.dump();
            if (auto it = impl_->cameras.find(key); it != impl_->cameras.end() && !it->second.reference_ready)
                impl_->apply_reference(it->second, c, what);
        }
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::kBadInput, what + ": " + e.what());
    }
}

std::size_t Monitor::bytes_per_camera(const MonitorOptions& o) {
    const std::size_t window = static_cast<std::size_t>(std::lround(o.window_s / o.bucket_s));
    const std::size_t reference = static_cast<std::size_t>(std::lround(o.reference_s / o.bucket_s));
    const std::size_t parts = reference / std::max<std::size_t>(1, window / kPartsPerWindow) + 1;
    return (window + parts) * kBucketSize * sizeof(float) + 2 * kBucketSize * sizeof(double) + sizeof(CameraState);
}

} // namespace sightline::pipeline
