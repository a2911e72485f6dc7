// The sampling rules on crafted frame streams: each strategy type, first-match order, probability, limits,
// per-camera quotas, near-duplicate suppression, ranking within a window and the carried-over budget; the JPEG and
// the perceptual hash of a sample.
#include <array>
#include <gtest/gtest.h>

#include <bit>

#include <cstring>
#include <fmt/ranges.h>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "sightline/error.hpp"
#include "sightline/pipeline/curate.hpp"
#include "sightline/transport/messages.hpp"

using namespace sightline;
using namespace sightline::pipeline;

namespace {

const std::vector<std::string> kClasses = {"bolt", "nut", "washer"};

/// A BGR frame whose content is set by `pattern` (different patterns: different hashes).
struct Image {
    OwnedFrame frame;
    Image(int pattern, int w = 64, int h = 48) {
        frame.data.resize(static_cast<std::size_t>(w) * h * 3);
        std::mt19937 rng(pattern);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const std::uint8_t v = static_cast<std::uint8_t>(((x / 8 + y / 8 + pattern) % 3) * 100 + rng() % 20);
                for (int c = 0; c < 3; ++c) frame.data[(static_cast<std::size_t>(y) * w + x) * 3 + c] = v;
            }
        frame.view.format = kernels::PixelFormat::kBGR;
        frame.view.width = w, frame.view.height = h;
        frame.view.planes[0] = frame.data.data();
        frame.view.pitch[0] = 3 * w;
    }
};

struct Stream {
    std::vector<std::uint64_t> seq = std::vector<std::uint64_t>(4, 0);
    /// A frame of `camera` at `t` seconds with the given score terms.
    FrameOutput frame(std::size_t camera, double t, float uncertainty, float expected = -1, int pattern = -1,
                      std::vector<Detection> dets = {}) {
        FrameOutput f;
        f.camera_index = camera;
        f.camera = "cam" + std::to_string(camera);
        f.seq = seq[camera]++;
        f.frame = static_cast<std::int64_t>(f.seq);
        f.pts_ns = static_cast<std::int64_t>(t * 1e9);
        f.width = 64, f.height = 48;
        f.uncertainty = uncertainty;
        f.expected_errors = expected < 0 ? uncertainty : expected;
        f.doubt = f.expected_errors;
        f.detections = std::move(dets);
        images.push_back(std::make_unique<Image>(pattern < 0 ? static_cast<int>(f.seq * 7 + camera * 1000) : pattern));
        f.image = &images.back()->frame;
        return f;
    }
    std::vector<std::unique_ptr<Image>> images;
};

SamplingStrategy strategy(const std::string& name, const std::string& type) {
    SamplingStrategy s;
    s.name = name, s.type = type, s.ranked = type != "random";
    return s;
}

SamplingConfig config(std::vector<SamplingStrategy> s) {
    SamplingConfig c;
    c.strategies = std::move(s);
    c.dedupe_distance = -1; // off unless a test is about it
    c.carry_over_windows = 0;
    return c;
}

std::vector<Selected> run(Sampler& s, std::vector<FrameOutput> frames) {
    std::vector<Selected> out;
    for (auto& f : frames)
        for (auto& x : s.offer(f)) out.push_back(std::move(x));
    for (auto& x : s.flush()) out.push_back(std::move(x));
    return out;
}

Detection det(float score, int cls, float margin = 1, float entropy = 0) {
    return {10, 10, 30, 30, score, cls, margin, entropy};
}

} // namespace

TEST(Sampler, EachStrategyTypeMatchesWhatItSays) {
    Stream st;
    auto near = strategy("near", "close_to_threshold");
    near.threshold = 0.5f, near.epsilon = 0.05f, near.min_objects = 2, near.classes = {"nut"};
    auto cls = strategy("washers", "classes");
    cls.classes = {"washer"};
    auto many = strategy("crowded", "detection_count");
    many.more_than = 3;
    auto flags = strategy("flagged", "flags");
    flags.flags = {"unusual_count", "unknown_object"}, flags.all = true;
    SamplingConfig c = config({near, cls, many, flags});
    c.max_per_window = 0; // every match leaves at once
    Sampler s(c, kClasses, 0.25f, 1);
    std::vector<FrameOutput> frames;
    frames.push_back(st.frame(0, 0.0, 0.1, -1, -1, {det(0.52f, 1), det(0.47f, 1)})); // near: 2 nuts at 0.5
    frames.push_back(st.frame(0, 0.1, 0.1, -1, -1, {det(0.52f, 1), det(0.47f, 0)})); // one nut: no
    frames.push_back(st.frame(0, 0.2, 0.1, -1, -1, {det(0.9f, 2)}));                 // a washer
    frames.push_back(st.frame(0, 0.3, 0.1, -1, -1, {det(.9f, 0), det(.9f, 0), det(.9f, 0), det(.9f, 0)})); // 4 > 3
    auto f = st.frame(0, 0.4, 0.1);
    f.frame_flags = transport::kFrameUnusualCount | transport::kFrameUnknownObject;
    frames.push_back(f);
    auto g = st.frame(0, 0.5, 0.1);
    g.frame_flags = transport::kFrameUnusualCount; // not all of them
    frames.push_back(g);
    const auto out = run(s, frames);
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].strategy, "near");
    EXPECT_EQ(out[0].frame.seq, 0u);
    EXPECT_EQ(out[1].strategy, "washers");
    EXPECT_EQ(out[2].strategy, "crowded");
    EXPECT_EQ(out[3].strategy, "flagged");
    EXPECT_NE(out[3].reasons[0].find("unknown_object"), std::string::npos) << out[3].reasons[0];
    EXPECT_EQ(s.counters().by_strategy.at("near"), 1u);
}

TEST(Sampler, CandidatesBelowTheThresholdCountForCloseToThreshold) {
    Stream st;
    auto near = strategy("near", "close_to_threshold");
    near.threshold = 0.25f, near.epsilon = 0.05f;
    SamplingConfig c = config({near});
    c.max_per_window = 0;
    Sampler s(c, kClasses, 0.25f, 1);
    auto f = st.frame(0, 0, 0);
    f.candidates = {det(0.22f, 0)}; // only a candidate, just below the threshold
    EXPECT_EQ(run(s, {f}).size(), 1u);
}

TEST(Sampler, FirstMatchWithHeadroomWinsAndLimitsHold) {
    Stream st;
    auto a = strategy("a", "uncertainty");
    a.min = 0.5f, a.per_minute = 2;
    auto b = strategy("b", "uncertainty");
    b.min = 0.5f, b.per_minute = 1;
    SamplingConfig c = config({a, b});
    c.max_per_window = 0;
    Sampler s(c, kClasses, 0.25f, 1);
    std::vector<FrameOutput> frames;
    for (int i = 0; i < 10; ++i) frames.push_back(st.frame(0, i * 1.0, 0.9f));
    for (int i = 0; i < 3; ++i) frames.push_back(st.frame(0, 60.0 + i, 0.9f)); // the next minute: room again
    const auto out = run(s, frames);
    std::vector<std::string> order;
    for (const auto& x : out) order.push_back(x.strategy);
    EXPECT_EQ(order, (std::vector<std::string>{"a", "a", "b", "a", "a", "b"}));
}

TEST(Sampler, RandomTakesItsFractionAndIsTheSameOnAReplay) {
    auto r = strategy("random", "random");
    r.fraction = 0.1;
    SamplingConfig c = config({r});
    c.seed = 42;
    const auto once = [&] {
        Stream st;
        Sampler s(c, kClasses, 0.25f, 1);
        std::vector<FrameOutput> frames;
        for (int i = 0; i < 5000; ++i) frames.push_back(st.frame(0, i / 30.0, 0));
        std::vector<std::uint64_t> seqs;
        for (const auto& x : run(s, frames)) seqs.push_back(x.frame.seq);
        return seqs;
    };
    const auto a = once(), b = once();
    EXPECT_EQ(a, b);
    EXPECT_NEAR(static_cast<double>(a.size()) / 5000, 0.1, 0.015);
    c.seed = 43;
    EXPECT_NE(once(), a);
}

TEST(Sampler, ProbabilityThinsMatches) {
    auto u = strategy("u", "uncertainty");
    u.min = 0, u.probability = 0.25, u.ranked = false;
    SamplingConfig c = config({u});
    Stream st;
    Sampler s(c, kClasses, 0.25f, 1);
    std::vector<FrameOutput> frames;
    for (int i = 0; i < 4000; ++i) frames.push_back(st.frame(0, i / 30.0, 0.5f));
    EXPECT_NEAR(static_cast<double>(run(s, frames).size()) / 4000, 0.25, 0.03);
}

TEST(Sampler, RankingKeepsTheMostInformativeOfAWindowNotTheFirst) {
    auto u = strategy("u", "uncertainty");
    u.min = 0;
    SamplingConfig c = config({u});
    c.window_s = 1, c.max_per_window = 2;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 2);
    std::vector<FrameOutput> frames;
    // window 0: two cameras, the best two are frames 3 (cam1) and 5 (cam0); window 1: one frame
    const float u0[] = {0.2f, 0.3f, 0.1f, 0.9f, 0.4f, 0.8f};
    for (int i = 0; i < 6; ++i) frames.push_back(st.frame(i % 2, i * 0.1, u0[i]));
    frames.push_back(st.frame(0, 1.2, 0.05f));
    const auto out = run(s, frames);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_FLOAT_EQ(out[0].frame.uncertainty, 0.9f);
    EXPECT_FLOAT_EQ(out[1].frame.uncertainty, 0.8f);
    EXPECT_FLOAT_EQ(out[2].frame.uncertainty, 0.05f); // window 1's only match
    EXPECT_EQ(s.counters().outranked, 4u);
    EXPECT_NE(out[0].reasons.back().find("ranked 1 of 3 of its camera"), std::string::npos) << out[0].reasons.back();
    // the same over the whole line (sampling.share: line): the same two frames, ranked among all six
    c.share = "line";
    Sampler line(c, kClasses, 0.25f, 2);
    const auto out_line = run(line, frames);
    ASSERT_EQ(out_line.size(), 3u);
    EXPECT_FLOAT_EQ(out_line[0].frame.uncertainty, 0.9f);
    EXPECT_FLOAT_EQ(out_line[1].frame.uncertainty, 0.8f);
    EXPECT_NE(out_line[0].reasons.back().find("ranked 1 of 6 in its"), std::string::npos) << out_line[0].reasons.back();
}

// Two drifting cameras, one far worse: over the line the worse takes every sample; shared, the second gets its
// weight's share (share_floor + its mean expected errors) and equal cameras split evenly.
TEST(Sampler, SharingGivesASecondDriftingCameraItsTurn) {
    auto u = strategy("u", "expected_errors");
    u.min = 1;
    SamplingConfig c = config({u});
    c.window_s = 1, c.max_per_window = 1;
    const auto per_camera = [&](const std::string& share, float ee1) {
        c.share = share;
        Stream st;
        Sampler s(c, kClasses, 0.25f, 3);
        std::vector<FrameOutput> frames;
        for (int i = 0; i < 1200; ++i) { // 120 s at 10 fps a camera; cam2 nominal (never a candidate)
            frames.push_back(st.frame(0, i * 0.1, 1.0f, 5.0f));
            frames.push_back(st.frame(1, i * 0.1, 0.9f, ee1));
            frames.push_back(st.frame(2, i * 0.1, 0.0f, 0.0f));
        }
        std::array<int, 3> n{};
        for (const auto& x : run(s, frames)) ++n[x.frame.camera_index];
        return n;
    };
    const auto line = per_camera("line", 1.2f);
    EXPECT_EQ(line[1], 0);
    EXPECT_GE(line[0], 119);
    const auto shared = per_camera("cameras", 1.2f);
    const double expect1 = (0.25 + 1.2) / ((0.25 + 5.0) + (0.25 + 1.2)); // 21.6%
    const double got1 = static_cast<double>(shared[1]) / (shared[0] + shared[1]);
    EXPECT_NEAR(got1, expect1, 0.03) << shared[0] << " " << shared[1];
    EXPECT_EQ(shared[2], 0);
    EXPECT_EQ(shared[0] + shared[1], line[0] + line[1]); // the same budget, shared
    const auto even = per_camera("cameras", 5.0f);
    EXPECT_LE(std::abs(even[0] - even[1]), 1) << even[0] << " " << even[1];
}

// The budget is shared by doubt (detections near the threshold or between classes), the frames of a camera ranked by
// expected errors: a camera whose objects all fade a little ranks its own frames, but does not take the share of a
// camera whose detections sit at the threshold.
TEST(Sampler, CamerasShareByDoubtAndRankByExpectedErrors) {
    auto u = strategy("u", "expected_errors");
    u.min = 1;
    SamplingConfig c = config({u});
    c.window_s = 1, c.max_per_window = 1;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 2);
    std::vector<FrameOutput> frames;
    for (int i = 0; i < 1200; ++i) { // 120 s at 10 fps a camera
        FrameOutput fading = st.frame(0, i * 0.1, 0.0f, 3.0f + 0.001f * static_cast<float>(i % 10));
        fading.doubt = 0; // expected errors 3, nothing near the threshold
        frames.push_back(std::move(fading));
        FrameOutput doubtful = st.frame(1, i * 0.1, 0.9f, 1.5f);
        doubtful.doubt = 1.5f;
        frames.push_back(std::move(doubtful));
    }
    std::array<int, 2> n{};
    std::vector<float> fading_sent;
    for (const auto& x : run(s, frames)) {
        ++n[x.frame.camera_index];
        if (x.frame.camera_index == 0) fading_sent.push_back(x.frame.expected_errors);
    }
    const double expect0 = 0.25 / (0.25 + (0.25 + 1.5)); // 12.5%: the floor's share only
    const double got0 = static_cast<double>(n[0]) / (n[0] + n[1]);
    EXPECT_NEAR(got0, expect0, 0.03) << n[0] << " " << n[1];
    ASSERT_FALSE(fading_sent.empty());
    for (float e : fading_sent) EXPECT_FLOAT_EQ(e, 3.009f) << "the camera's most informative frame of its window";
}

// A camera flooding a full window does not push another camera's only candidate out of it.
TEST(Sampler, AFloodingCameraMakesRoomFromItsOwnCandidates) {
    auto u = strategy("u", "expected_errors");
    u.min = 1;
    SamplingConfig c = config({u});
    c.window_s = 1, c.max_per_window = 4; // the pool holds 8
    const auto picked = [&](const std::string& share) {
        c.share = share;
        Stream st;
        Sampler s(c, kClasses, 0.25f, 2);
        std::vector<FrameOutput> frames{st.frame(1, 0.0, 0.8f, 1.1f)};
        for (int i = 0; i < 20; ++i) frames.push_back(st.frame(0, 0.01 + i * 0.04, 1.0f, 3.0f + 0.1f * i));
        std::vector<std::size_t> cams;
        for (const auto& x : run(s, frames)) cams.push_back(x.frame.camera_index);
        return cams;
    };
    EXPECT_EQ(picked("line"), (std::vector<std::size_t>{0, 0, 0, 0})); // cam1's frame was pushed out
    // kept, it takes the 4th turn: cam0 (weight 0.25 + 3.95) has keys 1/4.2, 2/4.2, 3/4.2, 4/4.2; cam1 1/1.35
    EXPECT_EQ(picked("cameras"), (std::vector<std::size_t>{0, 0, 0, 1}));
}

TEST(Sampler, ExpectedErrorsRankBeforeTheSaturatedScore) {
    auto u = strategy("u", "uncertainty");
    u.min = 0;
    SamplingConfig c = config({u});
    c.max_per_window = 1;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 1);
    const auto out =
        run(s, {st.frame(0, 0.0, 0.99f, 1.5f), st.frame(0, 0.1, 0.99f, 4.0f), st.frame(0, 0.2, 0.99f, 2.0f)});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_FLOAT_EQ(out[0].frame.expected_errors, 4.0f);
}

TEST(Sampler, QuietWindowsCarryTheirBudgetOver) {
    auto u = strategy("u", "uncertainty");
    u.min = 0.5f;
    SamplingConfig c = config({u});
    c.window_s = 1, c.max_per_window = 1;
    const auto selected = [&](int carry) { // 10 quiet windows, then a burst of 10 matches in window 10
        c.carry_over_windows = carry;
        Stream st;
        Sampler s(c, kClasses, 0.25f, 1);
        std::vector<FrameOutput> frames;
        for (int w = 0; w < 10; ++w) frames.push_back(st.frame(0, w + 0.5, 0.1f));
        for (int i = 0; i < 10; ++i) frames.push_back(st.frame(0, 10 + i * 0.05, 0.9f));
        return run(s, frames).size();
    };
    EXPECT_EQ(selected(3), 4u); // its own share and 3 windows carried (the cap), not all 10
    EXPECT_EQ(selected(0), 1u);
    // no window before the first: three windows full of matches send three, whatever the carry-over (they sent
    // four when the stream's start credited a window's budget of its own)
    c.carry_over_windows = 30;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 1);
    std::vector<FrameOutput> frames;
    for (int i = 0; i < 30; ++i) frames.push_back(st.frame(0, i * 0.1, 0.9f));
    EXPECT_EQ(run(s, frames).size(), 3u);
}

TEST(Sampler, PerCameraQuotas) {
    auto u = strategy("u", "uncertainty");
    u.min = 0;
    SamplingConfig c = config({u});
    c.window_s = 1, c.max_per_window = 4, c.camera_max_per_window = 1;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 2);
    std::vector<FrameOutput> frames;
    for (int i = 0; i < 8; ++i) frames.push_back(st.frame(0, i * 0.1, 0.9f)); // cam0 is the most uncertain
    frames.push_back(st.frame(1, 0.5, 0.2f));
    auto out = run(s, frames);
    ASSERT_EQ(out.size(), 2u); // one per camera, although cam0 had 8 better frames
    EXPECT_EQ(out[0].frame.camera_index, 0u);
    EXPECT_EQ(out[1].frame.camera_index, 1u);
    // hourly quota per camera
    c.camera_max_per_window = 0, c.camera_per_hour = 3, c.max_per_window = 0;
    Stream st2;
    Sampler s2(c, kClasses, 0.25f, 1);
    std::vector<FrameOutput> f2;
    for (int i = 0; i < 10; ++i) f2.push_back(st2.frame(0, i * 10.0, 0.9f));
    f2.push_back(st2.frame(0, 3600.5, 0.9f)); // the next hour
    EXPECT_EQ(run(s2, f2).size(), 4u);
    EXPECT_EQ(s2.counters().over_quota, 7u);
}

TEST(Sampler, NearDuplicatesOfARecentSampleAreDropped) {
    auto u = strategy("u", "uncertainty");
    u.min = 0, u.ranked = false;
    SamplingConfig c = config({u});
    c.dedupe_distance = 6, c.dedupe_window_s = 10;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 2);
    std::vector<FrameOutput> frames;
    frames.push_back(st.frame(0, 0.0, 0.9f, -1, 1));
    frames.push_back(st.frame(0, 1.0, 0.9f, -1, 1));  // the same picture: a duplicate
    frames.push_back(st.frame(1, 1.0, 0.9f, -1, 1));  // another camera: not
    frames.push_back(st.frame(0, 2.0, 0.9f, -1, 2));  // a different picture
    frames.push_back(st.frame(0, 12.5, 0.9f, -1, 1)); // the same again, past the window
    const auto out = run(s, frames);
    EXPECT_EQ(out.size(), 4u);
    EXPECT_EQ(s.counters().duplicates, 1u);
}

// A long ranking window (issue 27, item 2): the best frames of a window are often one moment seen several times. A
// near-duplicate of a frame already waiting in the window replaces it when it is more informative and is dropped
// when it is not, so the window's room and budget go to different moments (before, the duplicates filled the room
// and all but one were dropped as they left).
TEST(Sampler, ALongWindowKeepsDifferentMomentsNotOneMomentTwice) {
    auto u = strategy("u", "expected_errors");
    u.min = 1;
    SamplingConfig c = config({u});
    c.window_s = 10, c.max_per_window = 3; // the pool holds 8
    c.dedupe_distance = 6, c.dedupe_window_s = 10;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 1);
    std::vector<FrameOutput> frames;
    // one moment (picture 1) seen 20 times, the best of all at frame 4; then two other moments (pictures 0 and 2),
    // less informative, and the first moment once more, least informative
    for (int i = 0; i < 20; ++i) frames.push_back(st.frame(0, i * 0.05, 0.9f, i == 4 ? 9.0f : 5.0f + 0.1f * i, 1));
    frames.push_back(st.frame(0, 2.0, 0.9f, 3.0f, 0));
    frames.push_back(st.frame(0, 3.0, 0.9f, 4.0f, 2));
    frames.push_back(st.frame(0, 4.0, 0.9f, 2.0f, 1));
    const auto out = run(s, frames);
    std::vector<std::uint64_t> seqs;
    for (const auto& x : out) seqs.push_back(x.frame.seq);
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{4, 21, 20})) << fmt::format("{}", seqs);
    EXPECT_EQ(s.counters().duplicates, 20u);
}

/// A grey 72 x 64 frame of 9 x 8 cells of 8 x 8 pixels whose dHash has exactly the first `bits` rows' bit 2 set: a
/// row's cells rise left to right (every bit 0) except cell 2, raised above cell 3 (that bit 1, its neighbours 0).
OwnedFrame cells_with_bits(int bits) {
    OwnedFrame f;
    const int w = 72, h = 64;
    f.data.resize(static_cast<std::size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int cx = x / 8, cy = y / 8;
            const int v = 20 + 20 * cx + (cx == 2 && cy < bits ? 30 : 0);
            for (int c = 0; c < 3; ++c) f.data[(static_cast<std::size_t>(y) * w + x) * 3 + c] = std::uint8_t(v);
        }
    f.view.format = kernels::PixelFormat::kBGR;
    f.view.width = w, f.view.height = h;
    f.view.planes[0] = f.data.data();
    f.view.pitch[0] = 3 * w;
    return f;
}

// The dedupe at its boundary (issue 24, item 8): a picture exactly dedupe_distance bits from a recent sample is a
// near-duplicate, one bit more is not.
TEST(Sampler, DedupeDropsAtExactlyItsDistanceAndKeepsOneBitMore) {
    const OwnedFrame a = cells_with_bits(0), b6 = cells_with_bits(6), b7 = cells_with_bits(7);
    ASSERT_EQ(dhash(a.view), 0u) << "the construction: every bit 0";
    ASSERT_EQ(std::popcount(dhash(a.view) ^ dhash(b6.view)), 6);
    ASSERT_EQ(std::popcount(dhash(a.view) ^ dhash(b7.view)), 7);
    auto u = strategy("u", "uncertainty");
    u.min = 0, u.ranked = false;
    SamplingConfig c = config({u});
    c.dedupe_distance = 6, c.dedupe_window_s = 10;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 1);
    std::vector<FrameOutput> frames = {st.frame(0, 0.0, 0.9f), st.frame(0, 1.0, 0.9f), st.frame(0, 2.0, 0.9f)};
    frames[0].image = &a, frames[1].image = &b6, frames[2].image = &b7;
    const auto out = run(s, frames);
    ASSERT_EQ(out.size(), 2u) << "a kept, b6 (6 bits away) dropped, b7 (7 bits away) kept";
    EXPECT_EQ(out[0].frame.seq, 0u);
    EXPECT_EQ(out[1].frame.seq, 2u);
    EXPECT_EQ(s.counters().duplicates, 1u);
}

// Context frames (sampling.context_frames = 2): each sample leaves once its camera's next two frames were seen,
// followed by the two before and the two after it, each with its own picture and its offset; a frame is never sent
// twice (a sample next to another shares its neighbours); at the end of the stream a sample goes with what it has;
// a ranked sample collects its after-frames while its window is open.
TEST(Sampler, ContextFramesFollowTheirSampleOnceEach) {
    auto u = strategy("u", "uncertainty");
    u.min = 0.5f, u.ranked = false;
    SamplingConfig c = config({u});
    c.context_frames = 2;
    Stream st;
    Sampler s(c, kClasses, 0.25f, 2);
    std::vector<FrameOutput> frames;
    for (int k = 0; k < 20; ++k) {
        const bool cam0 = k == 5 || k == 6, cam1 = k == 3 || k == 19;
        frames.push_back(st.frame(0, 0.1 * k, cam0 ? 0.9f : 0.1f));
        frames.push_back(st.frame(1, 0.1 * k, cam1 ? 0.9f : 0.1f));
    }
    const auto out = run(s, frames);
    std::vector<std::string> seen;
    for (const Selected& x : out) {
        seen.push_back(fmt::format("{}:{}{}", x.frame.camera_index, x.frame.seq,
                                   x.context_offset ? fmt::format("@{}{:+d}", x.context_of, x.context_offset) : ""));
        // its own picture, a copy (the line's frame is gone by then)
        const OwnedFrame& orig = *frames[2 * x.frame.seq + x.frame.camera_index].image;
        ASSERT_EQ(x.image.view.width, orig.view.width);
        EXPECT_EQ(std::memcmp(x.image.view.planes[0], orig.data.data(), orig.data.size()), 0) << seen.back();
        EXPECT_EQ(x.strategy, x.context_offset ? "context" : "u");
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"1:3", "1:1@3-2", "1:2@3-1", "1:4@3+1", "1:5@3+2", // cam1's first
                                              "0:5", "0:3@5-2", "0:4@5-1", "0:7@5+2", // 6 is a sample: not context
                                              "0:6", "0:8@6+2",                       // 4, 5, 7 already sent
                                              "1:19", "1:17@19-2", "1:18@19-1"}))     // flushed: none after
        << fmt::format("{}", fmt::join(seen, " "));
    EXPECT_EQ(s.counters().selected, 4u);
    EXPECT_EQ(s.counters().context, 10u);

    auto r = strategy("r", "uncertainty");
    r.min = 0.5f;
    SamplingConfig rc = config({r});
    rc.context_frames = 2, rc.window_s = 1, rc.max_per_window = 1;
    Stream st2;
    Sampler ranked(rc, kClasses, 0.25f, 1);
    std::vector<FrameOutput> f2;
    for (int k = 0; k < 15; ++k) f2.push_back(st2.frame(0, 0.1 * k, k == 3 ? 0.95f : (k == 7 ? 0.6f : 0.1f)));
    std::vector<std::string> got;
    for (const Selected& x : run(ranked, f2)) got.push_back(fmt::format("{}{:+d}", x.frame.seq, x.context_offset));
    EXPECT_EQ(got, (std::vector<std::string>{"3+0", "1-2", "2-1", "4+1", "5+2"}))
        << "the window's best, its context complete when the window closed: " << fmt::format("{}", fmt::join(got, " "));
}

TEST(Sampler, AnUnknownClassInAStrategyNamesTheKey) {
    auto cls = strategy("x", "classes");
    cls.classes = {"bolt", "sprocket"};
    try {
        Sampler s(config({cls}), kClasses, 0.25f, 1, "run.yaml");
        FAIL() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("run.yaml: sampling.strategies[0].classes[1]"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("sprocket"), std::string::npos);
    }
}

// A line of several model versions (issue 26): a frame's classes are read by the names of the version that served
// it (FrameOutput::version), and a strategy may name a class only another version has.
TEST(Sampler, EachFrameIsReadWithTheClassesOfTheVersionThatServedIt) {
    Stream st;
    auto gears = strategy("gears", "classes");
    gears.classes = {"gear"}; // not parts of version 0's list: known to version 1
    auto bolts = strategy("bolts", "classes");
    bolts.classes = {"bolt"};
    SamplingConfig c = config({gears, bolts});
    c.max_per_window = 0;
    Sampler s(c, kClasses, 0.25f, 1, "run.yaml", {{"nut", "bolt", "gear"}});
    const auto served = [&](int version, double t, int cls) {
        FrameOutput f = st.frame(0, t, 0.1, -1, -1, {det(0.9f, cls)});
        f.version = version;
        return f;
    };
    const auto out = run(s, {served(0, 0.0, 1),   // version 0's nut: nothing
                             served(1, 0.1, 1),   // version 1's bolt (its class 1)
                             served(1, 0.2, 2),   // version 1's gear
                             served(0, 0.3, 0)}); // version 0's bolt
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].strategy, "bolts");
    EXPECT_EQ(out[0].frame.seq, 1u);
    EXPECT_EQ(out[1].strategy, "gears");
    EXPECT_NE(out[1].reasons[0].find("class gear present"), std::string::npos) << out[1].reasons[0];
    EXPECT_EQ(out[2].strategy, "bolts");
    EXPECT_EQ(out[2].frame.seq, 3u);
    s.add_version({"gear"}); // a version loaded while the line runs: its class 0 is a gear
    const auto later = run(s, {served(2, 1.0, 0)});
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(later[0].strategy, "gears");
    auto unknown = strategy("x", "classes");
    unknown.classes = {"sprocket"};
    EXPECT_THROW(Sampler(config({unknown}), kClasses, 0.25f, 1, "run.yaml", {{"gear"}}), Error)
        << "a class no version has";
}

TEST(SampleImage, JpegDecodesToTheFrameInEveryPixelFormat) {
    const int w = 64, h = 48;
    // a BGR gradient, and the same picture as limited-range YUV 4:2:0 (planar and NV12)
    Image bgr(3, w, h);
    std::vector<std::uint8_t> y(w * h), u(w * h / 4), v(w * h / 4), uv(w * h / 2);
    for (int r = 0; r < h; ++r)
        for (int x = 0; x < w; ++x) y[r * w + x] = static_cast<std::uint8_t>(16 + (219 * x) / (w - 1));
    for (std::size_t i = 0; i < u.size(); ++i) u[i] = v[i] = 128, uv[2 * i] = uv[2 * i + 1] = 128;
    kernels::ImageView p;
    p.format = kernels::PixelFormat::kYUV420P, p.width = w, p.height = h;
    p.planes[0] = y.data(), p.planes[1] = u.data(), p.planes[2] = v.data();
    p.pitch[0] = w, p.pitch[1] = p.pitch[2] = w / 2;
    kernels::ImageView n = p;
    n.format = kernels::PixelFormat::kNV12, n.planes[1] = uv.data(), n.planes[2] = nullptr, n.pitch[1] = w;
    for (const auto* view : {&p, &n}) {
        const std::string jpeg = encode_jpeg(*view, 95);
        const cv::Mat img = cv::imdecode(
            cv::Mat(1, static_cast<int>(jpeg.size()), CV_8U, const_cast<char*>(jpeg.data())), cv::IMREAD_GRAYSCALE);
        ASSERT_EQ(img.cols, w);
        ASSERT_EQ(img.rows, h);
        // limited range expanded: the left edge black, the right edge white
        EXPECT_LE(img.at<std::uint8_t>(h / 2, 0), 6);
        EXPECT_GE(img.at<std::uint8_t>(h / 2, w - 1), 249);
        EXPECT_NEAR(img.at<std::uint8_t>(h / 2, w / 2), 128, 6);
    }
    const std::string jpeg = encode_jpeg(bgr.frame.view, 95);
    const cv::Mat img = cv::imdecode(cv::Mat(1, static_cast<int>(jpeg.size()), CV_8U, const_cast<char*>(jpeg.data())),
                                     cv::IMREAD_COLOR);
    ASSERT_EQ(img.cols, w);
    double diff = 0;
    for (int r = 0; r < h; ++r)
        for (int x = 0; x < w; ++x) diff += std::abs(img.at<cv::Vec3b>(r, x)[1] - bgr.frame.data[(r * w + x) * 3 + 1]);
    EXPECT_LT(diff / (w * h), 8.0);
}

TEST(SampleImage, HashSeesDuplicatesAndDifferences) {
    Image a(1), b(1), c(2);
    EXPECT_EQ(dhash(a.frame.view), dhash(b.frame.view));
    EXPECT_GT(__builtin_popcountll(dhash(a.frame.view) ^ dhash(c.frame.view)), 6);
}
