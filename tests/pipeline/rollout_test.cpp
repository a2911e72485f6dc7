// A candidate against its baseline on identical frames (pipeline/include/sightline/pipeline/rollout.hpp): a candidate
// that drops half the detections is rolled back within 10 s of 30 fps video with the evidence named; the same
// model against itself is wrongly rolled back in at most alpha of the runs; a harmless candidate is promoted.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "sightline/error.hpp"
#include "sightline/pipeline/rollout.hpp"

using namespace sightline::pipeline;

namespace {

/// A frame of a camera with about `mean` detections (Poisson), scores around 0.85, flags on 20% of frames.
FrameMetrics frame(std::mt19937_64& rng, double mean) {
    FrameMetrics m;
    m.detections = std::poisson_distribution<int>(mean)(rng);
    m.mean_score = m.detections > 0 ? std::clamp(std::normal_distribution<double>(0.85, 0.03)(rng), 0.0, 1.0) : 0.0;
    m.flagged = std::bernoulli_distribution(0.2)(rng) ? 1 : 0;
    m.latency_ms = 20 + std::exponential_distribution<double>(0.2)(rng);
    return m;
}

} // namespace

TEST(Rollout, ACandidateDroppingHalfTheDetectionsIsRolledBackWithin10s) {
    std::mt19937_64 rng(26);
    for (int run = 0; run < 20; ++run) {
        Rollout r;
        for (int f = 0; f < 3000 && r.decision() == RolloutDecision::kUndecided; ++f) {
            FrameMetrics base = frame(rng, 10), cand = base;
            cand.detections = std::floor(base.detections / 2); // the same frame, half its detections
            r.add(cand, base);
        }
        ASSERT_EQ(r.decision(), RolloutDecision::kRollback) << "run " << run;
        EXPECT_LE(r.decided_at_frame(), 300u) << "10 s at 30 fps"; // 20 blocks of 15 frames: the first look
        EXPECT_NE(r.evidence().find("detections -"), std::string::npos) << r.evidence();
    }
}

TEST(Rollout, TheSameModelAgainstItselfIsRolledBackAtMostAlphaOfTheTime) {
    std::mt19937_64 rng(2026);
    int rollbacks = 0, promotions = 0;
    for (int run = 0; run < 400; ++run) {
        Rollout r;
        // two runs of one model on the same frames: the same scene, independent noise (as two machines would see
        // a frame's detections differ by a box here and there)
        for (int f = 0; f < 1800; ++f) r.add(frame(rng, 10), frame(rng, 10));
        rollbacks += r.decision() == RolloutDecision::kRollback;
        promotions += r.decision() == RolloutDecision::kPromote;
    }
    std::printf("A/A: %d of 400 runs rolled back, %d promoted\n", rollbacks, promotions);
    EXPECT_LE(rollbacks, 20) << "alpha 0.05 of 400"; // within the tolerances, a breach needs more than chance
    EXPECT_GE(promotions, 380) << "1 min of video clears every guardrail";
}

TEST(Rollout, BadSettingsAreRefused) {
    const auto refused = [](RolloutConfig c) {
        try {
            Rollout r(c);
        } catch (const sightline::Error& e) {
            return e.code() == sightline::ErrorCode::kBadInput;
        }
        return false;
    };
    RolloutConfig c;
    c.block_frames = 0;
    EXPECT_TRUE(refused(c));
    c = {}, c.guardrails = {};
    EXPECT_TRUE(refused(c));
    c = {}, c.guardrails = {{"speed", "lower", 0.1}};
    EXPECT_TRUE(refused(c));
    c = {}, c.guardrails = {{"detections", "sideways", 0.1}};
    EXPECT_TRUE(refused(c));
    c = {}, c.guardrails = {{"detections", "either", -1}};
    EXPECT_TRUE(refused(c));
    c = {}, c.alpha = 0;
    EXPECT_TRUE(refused(c));
}
