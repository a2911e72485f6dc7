#include <algorithm>
#include <bit>
#include <cmath>
#include <deque>
#include <fmt/format.h>

#include "sightline/error.hpp"
#include "sightline/pipeline/curate.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::pipeline {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

std::uint64_t fnv1a(const std::string& s) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

/// Counts in fixed buckets of `span` seconds of video time (a minute, an hour, a day).
struct Limit {
    int limit = 0; ///< 0: none
    double span = 60;
    long bucket = -1;
    int count = 0;
    bool room(double t) const {
        return limit <= 0 || static_cast<long>(std::floor(t / span)) != bucket || count < limit;
    }
    void take(double t) {
        const long b = static_cast<long>(std::floor(t / span));
        if (b != bucket) bucket = b, count = 0;
        ++count;
    }
};

struct Strategy {
    SamplingStrategy config;
    /// per model version (FrameOutput::version), by class index: counted (all true when the config names none)
    std::vector<std::vector<bool>> classes;
    std::uint32_t flags = 0;
    Limit minute, hour, day;
    bool room(double t) const { return minute.room(t) && hour.room(t) && day.room(t); }
    void take(double t) { minute.take(t), hour.take(t), day.take(t); }
};

/// A frame kept for context: its output (image null) and a host copy of it, shared by the samples that need it.
struct Held {
    FrameOutput frame;
    OwnedFrame image;
};
using HeldRef = std::shared_ptr<const Held>;

struct Pending {
    Selected sample;
    std::size_t strategy = 0;
    std::uint64_t hash = 0;
    std::vector<HeldRef> before, after; ///< context frames (sampling.context_frames), oldest first
};

struct Camera {
    std::int64_t first_pts = 0;
    bool seen = false;
    Limit hour;
    int in_window = 0;
    std::deque<std::pair<double, std::uint64_t>> recent; ///< (video time, dhash) of its samples
    std::deque<HeldRef> last;                            ///< its last context_frames frames
    std::deque<std::uint64_t> sent;                      ///< seqs of its recent samples and context frames
    // sharing (sampling.share: cameras)
    double score = 0;    ///< mean doubt of its frames (doubtful detections a frame), decaying with share_half_life_s
    double score_t = 0;  ///< video time of its last frame
    std::uint64_t n = 0; ///< frames seen
    double served = 0;   ///< its ranked samples, decaying with share_half_life_s
};

} // namespace

struct Sampler::Impl {
    SamplingConfig config;
    float confidence = 0;
    std::vector<std::vector<std::string>> version_classes; ///< per model version: its class names

    /// Each strategy's classes in a version's class list.
    void add_version(const std::vector<std::string>& names) {
        version_classes.push_back(names);
        for (Strategy& st : strategies) {
            std::vector<bool> table(names.size(), st.config.classes.empty());
            for (const auto& want : st.config.classes)
                if (const auto it = std::find(names.begin(), names.end(), want); it != names.end())
                    table[static_cast<std::size_t>(it - names.begin())] = true;
            st.classes.push_back(std::move(table));
        }
    }
    std::vector<Strategy> strategies;
    std::vector<Camera> cameras;
    SamplerCounters counters;
    long window = -1; ///< the line's open window
    int line_in_window = 0;
    double tokens = 0;         ///< samples the open window may still send (its own share and what earlier ones left)
    std::vector<Pending> pool; ///< the open window's ranked candidates, bounded
    std::vector<Pending> completing; ///< samples that left, waiting for their after-context frames

    /// A sample that left: with context frames, it waits in `completing` for its after-frames; otherwise it goes.
    void leave(Pending&& p, std::vector<Selected>& out) {
        if (config.context_frames > 0) {
            completing.push_back(std::move(p));
        } else {
            out.push_back(std::move(p.sample));
        }
    }

    /// Sends a sample and its context frames (before, oldest first, then after); a frame its camera already sent
    /// (a sample or another's context) is not sent again, nor one that is a sample or a candidate of its own.
    void send(Pending&& p, std::vector<Selected>& out) {
        Camera& cam = cameras[p.sample.frame.camera_index];
        const auto sent = [&](std::uint64_t seq) {
            return std::find(cam.sent.begin(), cam.sent.end(), seq) != cam.sent.end();
        };
        const auto mark = [&](std::uint64_t seq) {
            cam.sent.push_back(seq);
            while (cam.sent.size() > 4096) cam.sent.pop_front();
        };
        const std::uint64_t seq = p.sample.frame.seq;
        mark(seq);
        const std::vector<std::string> tags = p.sample.tags;
        const std::string strategy = p.sample.strategy;
        out.push_back(std::move(p.sample));
        // a sample of its own still waiting for its after-frames, or a candidate of the open window: it leaves as
        // itself (or not at all), never as context first
        const auto waiting = [&](std::uint64_t s) {
            const auto same = [&](const Pending& w) {
                return w.sample.frame.camera_index == p.sample.frame.camera_index && w.sample.frame.seq == s;
            };
            return std::any_of(completing.begin(), completing.end(), same) ||
                   std::any_of(pool.begin(), pool.end(), same);
        };
        const auto context = [&](const Held& h, int offset) {
            if (sent(h.frame.seq) || waiting(h.frame.seq)) return;
            mark(h.frame.seq);
            Selected c;
            c.frame = h.frame;
            c.image = keep_on_host(h.image);
            c.strategy = "context";
            c.tags = tags;
            c.reasons = {fmt::format("context {:+d} of frame {} ({})", offset, seq, strategy)};
            c.context_of = seq, c.context_offset = offset;
            ++counters.context;
            out.push_back(std::move(c));
        };
        const int nb = static_cast<int>(p.before.size());
        for (int i = 0; i < nb; ++i) context(*p.before[i], i - nb);
        for (std::size_t i = 0; i < p.after.size(); ++i) context(*p.after[i], static_cast<int>(i) + 1);
    }

    /// The frame `h` of camera `camera` is the next after-context of the samples of that camera waiting for one;
    /// those now complete are sent.
    void follow(const HeldRef& h, std::size_t camera, std::vector<Selected>& out) {
        const auto k = static_cast<std::size_t>(config.context_frames);
        for (Pending& p : pool)
            if (p.sample.frame.camera_index == camera && p.after.size() < k) p.after.push_back(h);
        for (std::size_t i = 0; i < completing.size();) {
            Pending& p = completing[i];
            if (p.sample.frame.camera_index == camera && p.after.size() < k) p.after.push_back(h);
            if (p.after.size() >= k) {
                Pending done = std::move(p);
                completing.erase(completing.begin() + static_cast<std::ptrdiff_t>(i));
                send(std::move(done), out);
            } else {
                ++i;
            }
        }
    }

    /// Frames a window holds: twice what it may send (room for duplicates and quotas), at most 128 (memory: 128
    /// frames at most, whatever the carry-over).
    std::size_t pool_cap() const {
        const double may_send = tokens + config.max_per_window;
        return static_cast<std::size_t>(std::clamp(2 * may_send, 8.0, 128.0));
    }

    /// The reason a strategy matches the frame, or empty.
    std::string match(std::size_t si, const FrameOutput& f) const {
        const Strategy& s = strategies[si];
        const SamplingStrategy& c = s.config;
        const auto draw = [&](std::uint64_t salt) {
            const std::uint64_t h =
                splitmix(config.seed ^ fnv1a(f.camera) ^ splitmix(f.seq * 0x9E3779B97F4A7C15ull + si * 7919 + salt));
            return static_cast<double>(h >> 11) * 0x1.0p-53;
        };
        const auto v = static_cast<std::size_t>(f.version) < s.classes.size() ? static_cast<std::size_t>(f.version) : 0;
        const std::vector<bool>& table = s.classes[v];
        const std::vector<std::string>& names = version_classes[v];
        const auto counted = [&](const Detection& d) {
            return d.cls >= 0 && static_cast<std::size_t>(d.cls) < table.size() && table[d.cls];
        };
        std::string why;
        if (c.type == "random") {
            if (draw(1) < c.fraction) why = fmt::format("random {:g}% of frames", 100 * c.fraction);
        } else if (c.type == "uncertainty") {
            if (f.uncertainty >= c.min) why = fmt::format("uncertainty {:.3f} >= {:g}", f.uncertainty, c.min);
        } else if (c.type == "expected_errors") {
            if (f.expected_errors >= c.min)
                why = fmt::format("expected errors {:.2f} >= {:g}", f.expected_errors, c.min);
        } else if (c.type == "flags") {
            const std::uint32_t hit = f.frame_flags & s.flags;
            if (c.all ? hit == s.flags : hit != 0) {
                why = "flags";
                for (const auto& n : transport::flag_names(hit)) why += " " + n;
            }
        } else if (c.type == "close_to_threshold") {
            int n = 0;
            for (const auto* list : {&f.detections, &f.candidates})
                for (const Detection& d : *list)
                    n += counted(d) && std::fabs(d.score - c.threshold) <= c.epsilon ? 1 : 0;
            if (n >= c.min_objects)
                why = fmt::format("{} object(s) scored within {:g} +- {:g}", n, c.threshold, c.epsilon);
        } else if (c.type == "classes") {
            for (const Detection& d : f.detections)
                if (counted(d)) {
                    why = "class " + names[d.cls] + " present";
                    break;
                }
        } else if (c.type == "detection_count") {
            const auto n = std::count_if(f.detections.begin(), f.detections.end(), counted);
            if (c.more_than >= 0 && n > c.more_than) why = fmt::format("{} detections > {}", n, c.more_than);
            if (c.less_than >= 0 && n < c.less_than) why = fmt::format("{} detections < {}", n, c.less_than);
        }
        if (!why.empty() && c.probability < 1 && draw(2) >= c.probability) why.clear();
        return why;
    }

    /// Two frames of a camera `dt` seconds apart with these hashes are near-duplicates (the dedupe's rule).
    bool near(std::uint64_t a, std::uint64_t b, double dt) const {
        return dt <= config.dedupe_window_s && std::popcount(a ^ b) <= config.dedupe_distance;
    }

    bool duplicate(const Camera& cam, std::uint64_t hash, double t) const {
        if (config.dedupe_distance < 0) return false;
        for (const auto& [when, h] : cam.recent)
            if (near(h, hash, t - when)) return true;
        return false;
    }

    /// Whether the candidate `p` may join the open window against the near-duplicates of its camera already there:
    /// not when one of them is more informative; if it is, they leave the window for it (each counted). Without
    /// this, the best frames of a long window are one moment seen several times, and dedupe drops all but one of
    /// them when they leave, after they took the window's room.
    bool replaces_duplicates(const Pending& p) {
        if (config.dedupe_distance < 0) return true;
        const auto same = [&](const Pending& q) {
            return q.sample.frame.camera_index == p.sample.frame.camera_index &&
                   near(q.hash, p.hash, p.sample.video_s - q.sample.video_s);
        };
        for (const Pending& q : pool)
            if (same(q) && !before(p, q)) return false;
        const auto n = std::erase_if(pool, same);
        counters.duplicates += n;
        return true;
    }

    /// Whether the sample may leave now (quotas, limits, dedupe); if so, it is counted against them.
    bool admit(Pending& p, bool ranked) {
        Camera& cam = cameras[p.sample.frame.camera_index];
        Strategy& s = strategies[p.strategy];
        const double t = p.sample.video_s;
        if (ranked && ((config.max_per_window > 0 && line_in_window >= static_cast<int>(tokens)) ||
                       (config.camera_max_per_window > 0 && cam.in_window >= config.camera_max_per_window))) {
            ++counters.outranked;
            return false;
        }
        if (!cam.hour.room(t) || !s.room(t)) {
            ++counters.over_quota;
            return false;
        }
        while (!cam.recent.empty() && t - cam.recent.front().first > config.dedupe_window_s) cam.recent.pop_front();
        if (duplicate(cam, p.hash, t)) {
            ++counters.duplicates;
            return false;
        }
        cam.recent.emplace_back(t, p.hash);
        cam.hour.take(t);
        s.take(t);
        ++cam.in_window, ++line_in_window;
        ++counters.selected;
        ++counters.by_strategy[s.config.name];
        return true;
    }

    static bool before(const Pending& a, const Pending& b) { // the more informative first
        const FrameOutput &x = a.sample.frame, &y = b.sample.frame;
        return x.expected_errors != y.expected_errors ? x.expected_errors > y.expected_errors
                                                      : x.uncertainty > y.uncertainty;
    }

    bool share_cameras() const { return config.share == "cameras"; }

    /// A camera's frame: its decaying mean of doubt (a plain mean over its first frames).
    void observe(Camera& cam, double t, float doubt) const {
        ++cam.n;
        const double decay = std::exp2(-std::max(0.0, t - cam.score_t) / config.share_half_life_s);
        const double a = std::max(1.0 - decay, 1.0 / static_cast<double>(cam.n));
        cam.score += a * (static_cast<double>(doubt) - cam.score);
        cam.score_t = t;
    }
    double weight(const Camera& cam) const { return config.share_floor + cam.score; }

    /// The pool entry that makes room for a frame of camera `camera`: the line's least informative (share: line),
    /// else the least informative of the camera holding the most entries (this frame's own camera on a tie).
    std::vector<Pending>::iterator victim(std::size_t camera) {
        if (!share_cameras()) return std::max_element(pool.begin(), pool.end(), before);
        std::vector<std::size_t> count(cameras.size(), 0);
        for (const Pending& p : pool) ++count[p.sample.frame.camera_index];
        std::size_t most = std::min(camera, cameras.size() - 1);
        for (std::size_t c = 0; c < count.size(); ++c)
            if (count[c] > count[most]) most = c;
        auto last = pool.end();
        for (auto it = pool.begin(); it != pool.end(); ++it)
            if (it->sample.frame.camera_index == most && (last == pool.end() || before(*last, *it))) last = it;
        return last;
    }

    void close_window(std::vector<Selected>& out) {
        // this window's share joins what earlier ones left, up to carry_over_windows' worth
        const double cap = config.max_per_window * (1.0 + config.carry_over_windows);
        tokens = std::min(tokens + config.max_per_window, cap);
        std::stable_sort(pool.begin(), pool.end(), before);
        if (share_cameras()) {
            share_window(out);
        } else {
            const std::size_t n = pool.size();
            for (std::size_t i = 0; i < n; ++i) {
                Pending& p = pool[i];
                if (!admit(p, true)) continue;
                p.sample.reasons.push_back(
                    fmt::format("ranked {} of {} in its {:g} s window", i + 1, n, config.window_s));
                leave(std::move(p), out);
            }
        }
        pool.clear();
        tokens -= line_in_window;
        line_in_window = 0;
        for (Camera& c : cameras) c.in_window = 0;
    }

    /// Weighted fair queueing over the cameras of the (ranked) pool: the next sample goes to the camera with the
    /// fewest recent samples for its weight ((served + 1) / weight), its most informative candidate first.
    void share_window(std::vector<Selected>& out) {
        const double decay = std::exp2(-config.window_s / config.share_half_life_s);
        for (Camera& c : cameras) c.served *= decay;
        std::vector<std::vector<std::size_t>> of(cameras.size());
        for (std::size_t i = 0; i < pool.size(); ++i) of[pool[i].sample.frame.camera_index].push_back(i);
        double total = 0;
        for (std::size_t c = 0; c < of.size(); ++c) total += of[c].empty() ? 0 : weight(cameras[c]);
        std::vector<std::size_t> next(of.size(), 0);
        for (std::size_t left = pool.size(); left > 0; --left) {
            std::size_t best = of.size();
            double best_key = 0;
            for (std::size_t c = 0; c < of.size(); ++c) {
                if (next[c] >= of[c].size()) continue;
                const double key = (cameras[c].served + 1) / weight(cameras[c]);
                if (best == of.size() || key < best_key) best = c, best_key = key;
            }
            const std::size_t rank = next[best]++;
            Pending& p = pool[of[best][rank]];
            if (!admit(p, true)) continue;
            Camera& cam = cameras[best];
            cam.served += 1;
            p.sample.reasons.push_back(fmt::format("ranked {} of {} of its camera in its {:g} s window; the camera's "
                                                   "share {:.0f}% (doubtful detections {:.2f} a frame lately)",
                                                   rank + 1, of[best].size(), config.window_s,
                                                   100 * weight(cam) / total, cam.score));
            leave(std::move(p), out);
        }
    }

    /// The strategies tried on a frame of `cam` at video time t; samples leaving are appended to `out`.
    std::vector<Selected> offer_strategies(const FrameOutput& f, Camera& cam, double t, std::vector<Selected> out);

    Pending make(const FrameOutput& f, std::size_t si, std::string why, double t) {
        Pending p;
        p.strategy = si;
        p.sample.frame = f;
        p.sample.frame.image = nullptr;
        if (!f.image) throw Error(ErrorCode::kBadInput, "sampler: a frame without its image");
        p.sample.image = keep_on_host(*f.image);
        p.hash = dhash(p.sample.image.view);
        p.sample.strategy = strategies[si].config.name;
        p.sample.tags = strategies[si].config.tags;
        p.sample.reasons = {std::move(why), fmt::format("uncertainty {:.3f}, expected errors {:.2f}", f.uncertainty,
                                                        f.expected_errors)};
        p.sample.video_s = t;
        const Camera& cam = cameras[f.camera_index];
        p.before.assign(cam.last.begin(), cam.last.end());
        return p;
    }
};

Sampler::Sampler(const SamplingConfig& config, const std::vector<std::string>& classes, float confidence,
                 std::size_t cameras, const std::string& config_file,
                 const std::vector<std::vector<std::string>>& other_versions)
    : impl_(std::make_unique<Impl>()) {
    auto& s = *impl_;
    s.config = config;
    s.confidence = confidence;
    s.cameras.resize(std::max<std::size_t>(1, cameras));
    for (Camera& c : s.cameras) c.hour = Limit{config.camera_per_hour, 3600};
    for (std::size_t i = 0; i < config.strategies.size(); ++i) {
        const SamplingStrategy& c = config.strategies[i];
        Strategy st;
        st.config = c;
        for (std::size_t k = 0; k < c.classes.size(); ++k) {
            const auto known = [&](const std::vector<std::string>& names) {
                return std::find(names.begin(), names.end(), c.classes[k]) != names.end();
            };
            if (!known(classes) && std::none_of(other_versions.begin(), other_versions.end(), known))
                throw Error(ErrorCode::kBadInput, fmt::format("{}: sampling.strategies[{}].classes[{}]: the model has "
                                                              "no class '{}'",
                                                              config_file, i, k, c.classes[k]));
        }
        for (const auto& f : c.flags) st.flags |= transport::flag_bit(f);
        st.minute = Limit{c.per_minute, 60}, st.hour = Limit{c.per_hour, 3600}, st.day = Limit{c.per_day, 86400};
        s.strategies.push_back(std::move(st));
    }
    s.add_version(classes);
    for (const auto& names : other_versions) s.add_version(names);
}

void Sampler::add_version(const std::vector<std::string>& classes) {
    impl_->add_version(classes);
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;

std::vector<Selected> Sampler::offer(const FrameOutput& f) {
    auto& s = *impl_;
    ++s.counters.frames;
    Camera& cam = s.cameras[std::min(f.camera_index, s.cameras.size() - 1)];
    if (!cam.seen) cam.seen = true, cam.first_pts = f.pts_ns;
    const double t = static_cast<double>(f.pts_ns - cam.first_pts) / 1e9;
    s.observe(cam, t, f.doubt);
    std::vector<Selected> out;
    const long w = static_cast<long>(std::floor(t / s.config.window_s));
    if (w > s.window) { // the first camera past the window's end closes it; a camera behind joins the open one
        if (s.window >= 0) s.close_window(out); // (before the first window there is none: no budget to credit)
        s.window = w;
    }
    if (s.config.context_frames > 0) {
        if (!f.image) throw Error(ErrorCode::kBadInput, "sampler: a frame without its image");
        auto held = std::make_shared<Held>();
        held->frame = f;
        held->frame.image = nullptr;
        held->image = keep_on_host(*f.image);
        const HeldRef h = std::move(held);
        s.follow(h, f.camera_index, out); // this frame follows the samples before it
        out = s.offer_strategies(f, cam, t, std::move(out));
        cam.last.push_back(h); // and precedes those after it
        while (cam.last.size() > static_cast<std::size_t>(s.config.context_frames)) cam.last.pop_front();
        return out;
    }
    return s.offer_strategies(f, cam, t, std::move(out));
}

std::vector<Selected> Sampler::Impl::offer_strategies(const FrameOutput& f, Camera& cam, double t,
                                                      std::vector<Selected> out) {
    auto& s = *this;
    for (std::size_t si = 0; si < s.strategies.size(); ++si) {
        if (!s.strategies[si].room(t)) continue;
        std::string why = s.match(si, f);
        if (why.empty()) continue;
        ++s.counters.matched;
        const bool ranked = s.strategies[si].config.ranked && s.config.max_per_window > 0;
        if (!ranked) {
            Pending p = s.make(f, si, std::move(why), t);
            if (s.admit(p, false)) s.leave(std::move(p), out);
            return out;
        }
        if (s.pool.size() >= s.pool_cap()) { // the window's least uncertain makes room, or this one is outranked
            const auto last = s.victim(f.camera_index);
            if (last->sample.frame.camera_index == f.camera_index || !s.share_cameras()) {
                Pending probe;
                probe.sample.frame.expected_errors = f.expected_errors, probe.sample.frame.uncertainty = f.uncertainty;
                if (!Impl::before(probe, *last)) {
                    ++s.counters.outranked;
                    return out;
                }
            }
        }
        Pending p = s.make(f, si, std::move(why), t);
        // a near-duplicate of a recent sample is not worth holding a frame for
        while (!cam.recent.empty() && t - cam.recent.front().first > s.config.dedupe_window_s) cam.recent.pop_front();
        if (s.duplicate(cam, p.hash, t) || !s.replaces_duplicates(p)) {
            ++s.counters.duplicates;
            return out;
        }
        if (s.pool.size() >= s.pool_cap()) {
            ++s.counters.outranked;
            s.pool.erase(s.victim(f.camera_index));
        }
        s.pool.push_back(std::move(p));
        return out;
    }
    return out;
}

std::vector<Selected> Sampler::flush() {
    std::vector<Selected> out;
    impl_->close_window(out);
    // the end of the streams: samples still waiting for after-frames go with what they have
    std::vector<Pending> waiting = std::move(impl_->completing);
    impl_->completing.clear();
    for (Pending& p : waiting) impl_->send(std::move(p), out);
    return out;
}

const SamplerCounters& Sampler::counters() const {
    return impl_->counters;
}

} // namespace sightline::pipeline
