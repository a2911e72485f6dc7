/// The monitor on crafted message streams: stationary streams stay quiet for 10 minutes of stream time, each kind
/// of drift raises its own alarm soon after its onset and clears after it ends, health alarms (silence, sequence
/// gaps, latency) rise and clear, references survive a save and a load.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include <unistd.h>

#include "sightline/error.hpp"
#include "sightline/pipeline/monitor.hpp"
#include "sightline/pipeline/monitor_session.hpp"
#include "sightline/pipeline/monitor_store.hpp"

using namespace sightline;
using namespace sightline::pipeline;
using transport::PredMessage;

namespace {

constexpr std::int64_t kFrameNs = 33'333'333; // 30 fps

/// A camera's frames; each knob can change from a frame on.
struct Stream {
    std::string camera = "cam1";
    std::mt19937 rng{7};
    std::mt19937 sharp_rng{11}; ///< its own draws, so the other signals' stay as they were before it existed
    std::uint64_t seq = 0;
    double luma = 100, mean_count = 4, low_score_share = 0.1, latency_ms = 20, sharpness = 200;
    double contrast = -1;            ///< >= 0: sent (pred.contrast), with its own small noise
    std::int64_t wall_offset_ns = 0; ///< time_ns = this + pts (0: time_ns unset)
    std::vector<double> mix{0.4, 0.3, 0.2, 0.1};
    PredMessage next() {
        PredMessage p;
        p.camera = camera, p.seq = seq, p.pts_ns = static_cast<std::int64_t>(seq) * kFrameNs, p.frame = seq;
        ++seq;
        p.width = 640, p.height = 480, p.model = "parts@1";
        p.luma = static_cast<float>(std::normal_distribution<double>(luma, 1.5)(rng));
        p.sharpness = static_cast<float>(sharpness * std::exp(std::normal_distribution<double>(0, 0.05)(sharp_rng)));
        if (wall_offset_ns) p.time_ns = wall_offset_ns + p.pts_ns;
        if (contrast >= 0)
            p.contrast = static_cast<float>(contrast * std::exp(std::normal_distribution<double>(0, 0.02)(sharp_rng)));
        const int n = std::poisson_distribution<int>(mean_count)(rng);
        std::discrete_distribution<int> cls(mix.begin(), mix.end());
        std::uniform_real_distribution<double> u(0, 1);
        for (int k = 0; k < n; ++k) {
            const bool low = u(rng) < low_score_share;
            p.scores.push_back(static_cast<float>(low ? 0.3 + 0.1 * u(rng) : 0.6 + 0.4 * u(rng)));
            p.classes.push_back(cls(rng));
            p.flags.push_back(low ? std::uint32_t{transport::kFlagNearThreshold} : 0u);
            p.margins.push_back(0.5f), p.entropies.push_back(0.1f);
            const float x = static_cast<float>(400 * u(rng)), y = static_cast<float>(300 * u(rng));
            const float s = static_cast<float>(30 + 30 * u(rng));
            p.boxes.insert(p.boxes.end(), {x, y, x + s, y + s});
        }
        p.stamps_ns = {{"arrival", 0},
                       {"published", static_cast<std::int64_t>(latency_ms * 1e6 * (0.8 + 0.4 * u(rng)))}};
        return p;
    }
};

struct Seen {
    std::vector<MonitorAlarm> alarms;
    void attach(Monitor& m) {
        m.on_alarm([this](const MonitorAlarm& a) { alarms.push_back(a); });
    }
    const MonitorAlarm* first(const std::string& signal, bool raised = true) const {
        for (const auto& a : alarms)
            if (a.signal == signal && a.raised == raised) return &a;
        return nullptr;
    }
};

MonitorOptions quick() {
    MonitorOptions o;
    return o;
}

/// Feeds `seconds` of stream time (wall time follows the stream: 1 s per 30 frames).
void feed(Monitor& m, Stream& s, double seconds) {
    const int frames = static_cast<int>(seconds * 30);
    for (int k = 0; k < frames; ++k) {
        const PredMessage p = s.next();
        m.add(p, p.pts_ns);
    }
}

double seconds_after(const MonitorAlarm* a, double onset_s) {
    return a ? a->window_end_ns / 1e9 - onset_s : 1e9;
}

} // namespace

TEST(Monitor, StationaryStreamsRaiseNothingInTenMinutes) {
    for (unsigned seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
        Monitor m(quick());
        Seen seen;
        seen.attach(m);
        Stream s;
        s.rng.seed(seed);
        feed(m, s, 900); // the reference's 300 s, then ten minutes tested
        const auto cams = m.cameras();
        ASSERT_EQ(cams.size(), 1u);
        EXPECT_TRUE(cams[0].reference_ready);
        EXPECT_FALSE(cams[0].scores.empty());
        for (const auto& a : seen.alarms) ADD_FAILURE() << "seed " << seed << ": " << a.message();
        EXPECT_EQ(cams[0].frames, 27000u);
        EXPECT_NEAR(cams[0].fps, 30, 0.5);
    }
}

// Issue 25, item 3: with the frame's contrast, the sharpness signal is the Laplacian's variance over the luma's, as
// the line's blurred flag measures it: a camera that only got darker (luma, contrast and Laplacian all scaled by the
// light's gain) raises no sharpness alarm, where the raw measure did; a blur (contrast unchanged) still raises one.
TEST(Monitor, SharpnessOverContrastIgnoresALightingChangeAndSeesABlur) {
    for (const bool with_contrast : {true, false}) {
        Monitor m(MonitorOptions{});
        Seen seen;
        seen.attach(m);
        Stream s;
        s.contrast = with_contrast ? 30 : -1;
        feed(m, s, 330);
        ASSERT_TRUE(seen.alarms.empty()) << seen.alarms[0].message();
        const double gain = 0.4; // darker: every luma figure scales with the gain, variances with its square
        s.luma *= gain, s.sharpness *= gain * gain;
        if (with_contrast) s.contrast *= gain;
        feed(m, s, 90);
        EXPECT_NE(seen.first("luma"), nullptr) << "the lighting change itself is seen";
        if (with_contrast)
            EXPECT_EQ(seen.first("sharpness"), nullptr) << seen.first("sharpness")->message();
        else
            EXPECT_NE(seen.first("sharpness"), nullptr) << "the raw measure calls a darker camera blurred";
    }
    Monitor m(MonitorOptions{});
    Seen seen;
    seen.attach(m);
    Stream s;
    s.contrast = 30;
    feed(m, s, 330);
    s.sharpness = 110; // a blur: the edges soften, the contrast stays
    feed(m, s, 60);
    EXPECT_NE(seen.first("sharpness"), nullptr) << "a blur with the contrast unchanged raises a sharpness alarm";
}

TEST(Monitor, EachDriftRaisesItsAlarmSoonAfterOnsetAndClearsAfter) {
    struct Case {
        const char* signal;
        double within_s; ///< a step this size shows in the sliding window within this much stream time
        std::function<void(Stream&)> drift, undo;
    };
    const std::vector<Case> cases = {
        {"luma", 10, [](Stream& s) { s.luma = 85; }, [](Stream& s) { s.luma = 100; }},
        {"sharpness", 20, [](Stream& s) { s.sharpness = 110; }, [](Stream& s) { s.sharpness = 200; }},
        {"class_mix", 45,
         [](Stream& s) {
             s.mix = {0.1, 0.2, 0.3, 0.4};
         },
         [](Stream& s) {
             s.mix = {0.4, 0.3, 0.2, 0.1};
         }},
        {"detections_per_frame", 45, [](Stream& s) { s.mean_count = 7; }, [](Stream& s) { s.mean_count = 4; }},
        {"flag_rate", 20, [](Stream& s) { s.low_score_share = 0.35; }, [](Stream& s) { s.low_score_share = 0.1; }},
    };
    for (const Case& c : cases) {
        Monitor m(quick());
        Seen seen;
        seen.attach(m);
        Stream s;
        feed(m, s, 330);
        ASSERT_TRUE(seen.alarms.empty()) << c.signal << ": " << seen.alarms[0].message();
        c.drift(s);
        feed(m, s, 60);
        const MonitorAlarm* a = seen.first(c.signal);
        ASSERT_NE(a, nullptr) << c.signal << " raised no alarm";
        EXPECT_LE(seconds_after(a, 330), c.within_s) << a->message();
        EXPECT_GT(a->value, a->threshold);
        EXPECT_EQ(a->camera, "cam1");
        c.undo(s);
        feed(m, s, 120);
        EXPECT_NE(seen.first(c.signal, false), nullptr) << c.signal << " never cleared";
    }
}

TEST(Monitor, HealthAlarmsSilenceGapsLatency) {
    MonitorOptions o = quick();
    o.latency_p99_ms = 50;
    Monitor m(o);
    Seen seen;
    seen.attach(m);
    Stream s;
    feed(m, s, 30);
    EXPECT_TRUE(seen.alarms.empty());
    s.seq += 5; // five messages lost
    feed(m, s, 2);
    const MonitorAlarm* gap = seen.first("sequence");
    ASSERT_NE(gap, nullptr);
    EXPECT_EQ(gap->value, 5);
    EXPECT_EQ(m.cameras()[0].seq_gaps, 5u);
    feed(m, s, 10);
    EXPECT_NE(seen.first("sequence", false), nullptr);
    s.latency_ms = 90;
    feed(m, s, 5);
    ASSERT_NE(seen.first("latency"), nullptr);
    s.latency_ms = 20;
    feed(m, s, 40); // the 30 s window forgets the slow frames, then five quiet tests
    EXPECT_NE(seen.first("latency", false), nullptr);
    const std::int64_t last = m.cameras()[0].last_wall_ns;
    m.tick(last + 4'000'000'000);
    EXPECT_EQ(seen.first("silence"), nullptr);
    m.tick(last + 6'000'000'000);
    const MonitorAlarm* silent = seen.first("silence");
    ASSERT_NE(silent, nullptr);
    EXPECT_NEAR(silent->value, 6, 1e-9);
    m.tick(last + 7'000'000'000); // once, not every tick
    EXPECT_EQ(std::count_if(seen.alarms.begin(), seen.alarms.end(), [](auto& a) { return a.signal == "silence"; }), 1);
    const PredMessage p = s.next();
    m.add(p, last + 8'000'000'000);
    EXPECT_NE(seen.first("silence", false), nullptr);
}

TEST(Monitor, ACameraThatNeverDeliveredIsSilent) {
    Monitor m(quick());
    Seen seen;
    seen.attach(m);
    m.add(transport::StatMessage{"cam9", 0, {{"fps", 0}}}, 1'000'000'000);
    m.tick(3'000'000'000);
    EXPECT_TRUE(seen.alarms.empty());
    m.tick(7'000'000'000);
    ASSERT_NE(seen.first("silence"), nullptr);
    EXPECT_EQ(seen.first("silence")->camera, "cam9");
}

TEST(Monitor, SavedReferenceSkipsLearningAndBadFilesNameThemselves) {
    Monitor learned(quick());
    Stream s;
    feed(learned, s, 310);
    const std::string saved = learned.references_json();
    Monitor m(quick());
    m.load_references(saved, "ref.json");
    Seen seen;
    seen.attach(m);
    Stream drifted;
    drifted.luma = 85;
    feed(m, drifted, 30); // against the loaded reference as soon as the window holds enough frames: no learning
    const MonitorAlarm* a = seen.first("luma");
    ASSERT_NE(a, nullptr);
    EXPECT_LE(a->window_end_ns / 1e9, 25);
    EXPECT_TRUE(m.cameras()[0].reference_ready);

    for (const std::string& bad : {std::string("{"), std::string(R"({"schema": "other"})"),
                                   saved.substr(0, saved.find("\"sum\"")) + "\"sum\": [1, 2]}]}"}) {
        try {
            Monitor(quick()).load_references(bad, "ref.json");
            ADD_FAILURE() << "accepted " << bad.substr(0, 60);
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("ref.json"), std::string::npos) << e.what();
        }
    }
    MonitorOptions other = quick();
    other.window_s = 20;
    EXPECT_THROW(Monitor(other).load_references(saved, "ref.json"), Error);
}

TEST(Monitor, TimeOfDayBucketsKeepAReferenceEach) {
    constexpr std::int64_t kHour = 3'600'000'000'000;
    for (const double hours : {0.0, 12.0}) {
        MonitorOptions o;
        o.reference_s = 60;
        o.time_of_day_hours = hours;
        Monitor m(o);
        Seen seen;
        seen.attach(m);
        Stream s;
        s.wall_offset_ns = 1 * kHour; // day 1, 01:00: bright
        feed(m, s, 120);
        s.wall_offset_ns = 13 * kHour, s.luma = 60; // 13:00: the sun on the other side, darker
        feed(m, s, 120);
        s.wall_offset_ns = 25 * kHour, s.luma = 100; // day 2, 01:00: as on day 1
        feed(m, s, 120);
        if (hours == 0) { // one reference: the afternoon reads as drift
            EXPECT_NE(seen.first("luma"), nullptr);
            continue;
        }
        for (const auto& a : seen.alarms) ADD_FAILURE() << "per time of day: " << a.message();
        const auto cams = m.cameras();
        ASSERT_EQ(cams.size(), 2u);
        EXPECT_EQ(cams[0].time_of_day, "00-12");
        EXPECT_EQ(cams[1].time_of_day, "12-24");
        EXPECT_TRUE(cams[0].reference_ready && cams[1].reference_ready);
        s.luma = 85; // a real drift in the night bucket
        feed(m, s, 30);
        const MonitorAlarm* a = seen.first("luma");
        ASSERT_NE(a, nullptr);
        EXPECT_NE(a->slice.find("time_of_day=00-12"), std::string::npos) << a->slice;
        // the references survive a save and a load, bucket by bucket
        Monitor again(o);
        again.load_references(m.references_json(), "ref.json");
        Seen seen2;
        seen2.attach(again);
        Stream s2;
        s2.wall_offset_ns = 13 * kHour, s2.luma = 60;
        feed(again, s2, 40);
        EXPECT_TRUE(seen2.alarms.empty()) << seen2.alarms[0].message();
        EXPECT_TRUE(again.cameras()[0].reference_ready);
    }
}

TEST(MonitorStore, KeepsWindowsScoresAlarmsAndReferencesAndPrunesByAge) {
    const auto path =
        std::filesystem::temp_directory_path() / ("sightline_store_" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path);
    {
        MonitorStore store(path);
        Monitor m(MonitorOptions{});
        m.on_window([&](const MonitorCameraView& v) { store.add_window(v, v.window_end_ns); }); // wall = stream here
        m.on_alarm([&](const MonitorAlarm& a) { store.add_alarm(a); });
        Stream s;
        feed(m, s, 320);
        s.luma = 85;
        feed(m, s, 20);
        store.save_references(m.references_json(), 1);
        store.commit();
        EXPECT_EQ(store.windows().size(), 339u); // a window per closed second
        EXPECT_FALSE(store.scores().empty());
        ASSERT_FALSE(store.alarms().empty());
        EXPECT_EQ(store.alarms()[0].signal, "luma");
        const auto removed = store.prune(100'000'000'000); // windows and scores of the first 100 s
        store.commit();
        // windows ending at 1..99 s, and the two change-point scores (luma, sharpness) of each from the 21st on (the
        // first 20 s are their baseline; no reference-based score yet: the reference takes 300 s)
        EXPECT_EQ(removed, 99u + 2u * 79u);
        EXPECT_EQ(store.windows().size(), 339u - 99u);
        EXPECT_EQ(store.windows().front().window_end_ns, 100'000'000'000);
        EXPECT_FALSE(store.alarms().empty()); // alarms stay
    }
    MonitorStore again(path); // reopened: the references are there to resume
    ASSERT_TRUE(again.references());
    Monitor resumed(MonitorOptions{});
    resumed.load_references(*again.references(), path.string());
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + ".lock");
}

// One monitor per store: a second monitor on the same --db is refused at once, naming the store, instead of both
// writing the same cameras' rows and references; a report reads beside the running monitor; once the first closes,
// a new monitor opens it.
TEST(MonitorStore, ASecondMonitorOnOneStoreIsRefusedAndAReportReadsBesideIt) {
    const auto path =
        std::filesystem::temp_directory_path() / ("sightline_store_lock_" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path);
    {
        MonitorStore first(path);
        first.save_references("{}", 1);
        first.commit();
        try {
            MonitorStore second(path);
            FAIL() << "a second monitor on one store must be refused";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kIo);
            EXPECT_NE(std::string(e.what()).find("monitor store " + path.string() + ": in use by another monitor"),
                      std::string::npos)
                << e.what();
        }
        MonitorStore report(path, MonitorStore::Role::kReader);
        EXPECT_TRUE(report.references()) << "a report beside the monitor reads what it committed";
    }
    MonitorStore later(path); // the first one closed: the store is free
    EXPECT_TRUE(later.references());
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + ".lock");
}

// Issue 26, part 2: a line's agreement between a camera's serving version and the one beside it reaches the store
// (one row per stat window) and the report; the shadow's own pred messages are no camera of the monitor's.
TEST(MonitorStore, KeepsTheAgreementOfVersionsBesideTheServingOneAndReportsIt) {
    const auto path =
        std::filesystem::temp_directory_path() / ("sightline_agree_" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path);
    {
        MonitorSessionOptions o;
        o.db = path.string();
        MonitorSession session(o);
        for (int k = 0; k < 3; ++k) {
            transport::StatMessage st{"cam2", (k + 1) * 1'000'000'000LL, {}, "parts-v2@1.0.0", "east"};
            st.values = {{"fps", 30},
                         {"agreement_v1_frames", 30},
                         {"agreement_v1_disagree_frames", 10 + k},
                         {"agreement_v1_both", 90},
                         {"agreement_v1_class_changed", 4},
                         {"agreement_v1_only_serving", 3},
                         {"agreement_v1_only_shadow", 3 + k},
                         {"agreement_v1_rate", 0.9}};
            session.feed(st, st.time_ns);
            transport::PredMessage shadow;
            shadow.camera = "cam2", shadow.seq = static_cast<std::uint64_t>(k), shadow.model = "parts-v1@1.0.0",
            shadow.shadow = true, shadow.line = "east";
            session.feed(shadow, st.time_ns);
        }
        session.finish(4'000'000'000LL);
        EXPECT_TRUE(session.monitor().cameras().size() <= 1u) << "a shadow's messages make no camera of their own";
        for (const auto& c : session.monitor().cameras()) EXPECT_EQ(c.frames, 0u) << "nor frames of cam2";
    }
    MonitorStore store(path);
    const auto rows = store.agreements();
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].line, "east");
    EXPECT_EQ(rows[0].camera, "cam2");
    EXPECT_EQ(rows[0].model, "parts-v2@1.0.0");
    EXPECT_EQ(rows[0].shadow, "v1");
    EXPECT_EQ(rows[2].tally.frames_disagreeing, 12u);
    EXPECT_EQ(rows[2].tally.only_b, 5u);
    EXPECT_EQ(rows[1].tally.both, 90u);
    const std::string page = render_monitor_html(store);
    EXPECT_NE(page.find("Versions beside the serving one"), std::string::npos);
    // 90 frames, 33 disagreeing (36.7%); both 270 of 270 + 12 + 9 + 12 = 303: 89.1%
    EXPECT_NE(page.find("<td>90</td><td>36.7%</td><td>270</td><td>12</td><td>9</td><td>12</td><td>89.1%</td>"),
              std::string::npos)
        << page.substr(page.find("Versions beside"), 1200);
    EXPECT_EQ(store.prune(2'500'000'000LL), 2u) << "the first two windows' rows";
    std::filesystem::remove(path);
}

TEST(Monitor, MemoryPerCameraIsFixed) {
    const std::size_t bytes = Monitor::bytes_per_camera(quick());
    EXPECT_GT(bytes, 10'000u);
    EXPECT_LT(bytes, 600'000u);
    EXPECT_THROW(Monitor(MonitorOptions{.bucket_s = 1, .window_s = 10, .reference_s = 5}), Error);
}

namespace {
/// One bucket (1 s of stream time, 30 frames) whose every frame took the middle of latency bin `bin` (the monitor's
/// bins: bin k holds [0.5 x 1.25^(k-1), 0.5 x 1.25^k) ms), so the bucket's p99 is that bin's upper edge exactly.
void latency_bucket(Monitor& m, Stream& s, int bucket, int bin) {
    for (int k = 0; k < 30; ++k) {
        PredMessage p = s.next();
        p.pts_ns = bucket * 1'000'000'000LL + k * kFrameNs;
        p.stamps_ns = {{"arrival", 0}, {"published", static_cast<std::int64_t>(0.5 * std::pow(1.25, bin - 0.5) * 1e6)}};
        m.add(p, p.pts_ns);
    }
}
} // namespace

// The hysteresis counted exactly (issue 24, item 8): an alarm stands after exactly raise_after tests in a row over
// the threshold (a value equal to it is not over), or raise_fast over fast_factor x it, and clears after exactly
// clear_after tests in a row at or under clear_ratio x it. Latency p99 makes the test's value exact: a window of
// one bucket whose frames all sit in one bin has that bin's upper edge as its p99.
TEST(Monitor, HysteresisRaisesAndClearsAtExactlyItsCounts) {
    MonitorOptions o;
    o.bucket_s = 1, o.window_s = 1, o.reference_s = 1;
    o.latency_p99_ms = 0.5 * std::pow(1.25, 20); // the upper edge of bin 20: a bucket in bin 20 is exactly at it
    o.raise_after = 3, o.raise_fast = 2, o.fast_factor = 2, o.clear_after = 2, o.clear_ratio = 0.7;
    Monitor m(o);
    Seen seen;
    seen.attach(m);
    Stream s;
    std::vector<int> bins;
    // bucket: 0-4 at the threshold (equal is not over), 5-6 over then 7 at it (two in a row do not raise),
    // 8-10 over (the third raises: bucket 10), 11 under the clear line, 12 over it, 13-14 under (the second clears:
    // bucket 14), 15 fast (over 2 x), 16 at the threshold, 17-18 fast (the second in a row raises: bucket 18)
    for (int b : {20, 20, 20, 20, 20, 21, 21, 20, 21, 21, 21, 18, 21, 18, 18, 24, 20, 24, 24, 20}) bins.push_back(b);
    for (std::size_t b = 0; b < bins.size(); ++b) latency_bucket(m, s, static_cast<int>(b), bins[b]);
    latency_bucket(m, s, static_cast<int>(bins.size()), 20); // closes the last bucket
    std::vector<std::pair<bool, std::int64_t>> got;          // raised?, the bucket whose test decided
    for (const auto& a : seen.alarms)
        if (a.signal == "latency") got.emplace_back(a.raised, a.window_end_ns / 1'000'000'000 - 1);
    ASSERT_EQ(got.size(), 3u) << "raise, clear, raise";
    EXPECT_TRUE(got[0].first);
    EXPECT_EQ(got[0].second, 10) << "raised after exactly 3 tests over (not at 2, not at the threshold itself)";
    EXPECT_FALSE(got[1].first);
    EXPECT_EQ(got[1].second, 14) << "cleared after exactly 2 tests under";
    EXPECT_TRUE(got[2].first);
    EXPECT_EQ(got[2].second, 18) << "raised fast after exactly 2 tests over 2 x";
}

namespace {
transport::EventMessage line_info(const std::string& line, const std::string& run,
                                  const std::string& kind = "line_info") {
    transport::EventMessage e{kind, "", "m@1", 0};
    e.line = line, e.run = run, e.endpoint = "tcp://127.0.0.1:" + run;
    return e;
}
} // namespace

// Two publishers under one line name are two runs heard each after the other began; a restart (the old run silent
// before the new one starts, killed or ended) is not. Streams of two lines whose cameras share an id stay apart.
TEST(Monitor, LinesKeepCamerasApartAndSharedNamesAreReported) {
    Monitor m(MonitorOptions{});
    const std::int64_t s = 1'000'000'000;
    for (int t = 0; t < 10; ++t) m.add(line_info("east", "1"), t * s);  // run 1 ...
    for (int t = 12; t < 20; ++t) m.add(line_info("east", "2"), t * s); // ... killed, restarted as run 2
    m.add(line_info("east", "2", "run_end"), 20 * s);
    for (int t = 21; t < 25; ++t) m.add(line_info("east", "3"), t * s); // ... ended, restarted as run 3
    EXPECT_TRUE(m.line_conflicts().empty()) << "restarts are not two publishers";
    EXPECT_EQ(m.publishers_by_line(25 * s).at("east"), 1);
    for (int t = 25; t < 30; ++t) { // a second process takes the name
        m.add(line_info("east", "3"), t * s);
        m.add(line_info("east", "4"), t * s + s / 2);
    }
    ASSERT_EQ(m.line_conflicts().size(), 1u);
    EXPECT_EQ(m.line_conflicts()[0].line, "east");
    EXPECT_EQ(m.publishers_by_line(30 * s).at("east"), 2);
    for (int t = 25; t < 30; ++t) m.add(line_info("west", "5"), t * s); // another name: no conflict of its own
    EXPECT_EQ(m.line_conflicts().size(), 1u);
    // one camera id on two lines: two cameras, each its own sequence (no gaps from the mix)
    for (std::uint64_t seq = 0; seq < 50; ++seq)
        for (const char* line : {"east", "west"}) {
            transport::PredMessage p;
            p.camera = "cam1", p.line = line, p.model = "m@1", p.seq = seq;
            p.pts_ns = static_cast<std::int64_t>(seq) * s / 30, p.time_ns = 40 * s;
            m.add(p, 40 * s);
        }
    const auto cams = m.cameras();
    ASSERT_EQ(cams.size(), 2u);
    for (const auto& c : cams) {
        EXPECT_EQ(c.camera, "cam1");
        EXPECT_EQ(c.seq_gaps, 0u) << c.line;
        EXPECT_EQ(c.frames, 50u) << c.line;
    }
    EXPECT_NE(cams[0].line, cams[1].line);
}
