// A candidate against its baseline on identical frames (pipeline/include/sightline/pipeline/rollout.hpp): a candidate
// that drops half the detections is rolled back within 10 s of 30 fps video with the evidence named; the same
// model against itself is wrongly rolled back in at most alpha of the runs; a harmless candidate is promoted.
#include <gtest/gtest.h>

#include <algorithm>
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

/// A frame with ground truth: `objects` of category 1, of which the version finds `found` (scores 0.6-0.95) and
/// adds `false_alarms` boxes. `fp_first`: the false alarms score above every true detection (a ranking gone wrong,
/// with the same boxes above the threshold).
FrameMetrics truth_frame(std::mt19937_64& rng, int objects, int found, int false_alarms, bool fp_first) {
    FrameMetrics m;
    FrameMatch t;
    t.positives[1] = objects;
    std::uniform_real_distribution<float> high(0.8f, 0.95f), low(0.6f, 0.75f);
    for (int i = 0; i < found; ++i) t.detections.push_back({1, fp_first ? low(rng) : high(rng), true});
    for (int i = 0; i < false_alarms; ++i) t.detections.push_back({1, fp_first ? high(rng) : low(rng), false});
    std::sort(t.detections.begin(), t.detections.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
    t.tp = found, t.fp = false_alarms, t.fn = objects - found;
    m.detections = found + false_alarms, m.missed = t.fn, m.false_alarms = t.fp;
    for (const auto& d : t.detections) m.mean_score += d.score / m.detections;
    m.truth = t;
    return m;
}

RolloutConfig with_truth() {
    RolloutConfig c;
    for (const auto& g : RolloutConfig::ground_truth_guardrails()) c.guardrails.push_back(g);
    return c;
}

} // namespace

TEST(Rollout, ABlocksAp50SeesARankingGoneWrongThatNoPerFrameMetricSees) {
    std::mt19937_64 rng(50);
    for (int run = 0; run < 10; ++run) {
        Rollout r(with_truth());
        while (r.decision() == RolloutDecision::kUndecided && r.frames() < 3000) {
            // the same boxes, the same hits and misses: only the candidate's scores put its false alarms first
            const int objects = 6, found = std::binomial_distribution<int>(6, 0.9)(rng),
                      fa = std::poisson_distribution<int>(1.5)(rng);
            std::mt19937_64 same = rng;
            FrameMetrics base = truth_frame(rng, objects, found, fa, false),
                         cand = truth_frame(same, objects, found, fa, true);
            cand.mean_score = base.mean_score; // the same scores, ranked otherwise
            r.add(cand, base);
        }
        ASSERT_EQ(r.decision(), RolloutDecision::kRollback) << "run " << run;
        EXPECT_LE(r.decided_at_frame(), 300u) << "at the first look";
        EXPECT_NE(r.evidence().find("ap50 -"), std::string::npos) << r.evidence();
        EXPECT_NE(r.evidence().find("a block"), std::string::npos) << r.evidence();
        for (const char* not_seen : {"missed", "false_alarms", "detections", "mean_score"})
            EXPECT_EQ(r.evidence().find(not_seen), std::string::npos) << not_seen << ": " << r.evidence();
    }
}

TEST(Rollout, ABlocksPrecisionAndRecallJudgeTheirOwnSide) {
    std::mt19937_64 rng(51);
    const auto decide = [&](const char* metric, int cand_found, int cand_fa) {
        RolloutConfig c;
        c.guardrails = {{metric, "lower", 0.1}};
        Rollout r(c);
        while (r.decision() == RolloutDecision::kUndecided && r.frames() < 6000) {
            const int fa = std::poisson_distribution<int>(1)(rng);
            r.add(truth_frame(rng, 5, cand_found, fa + cand_fa, false), truth_frame(rng, 5, 5, fa, false));
        }
        return r;
    };
    // three more false alarms a frame: precision falls (about 5/6 -> 5/9), recall does not
    EXPECT_EQ(decide("precision", 5, 3).decision(), RolloutDecision::kRollback);
    EXPECT_EQ(decide("recall", 5, 3).decision(), RolloutDecision::kPromote);
    // two misses a frame: recall 1 -> 0.6, precision holds up
    const Rollout misses = decide("recall", 3, 0);
    EXPECT_EQ(misses.decision(), RolloutDecision::kRollback);
    EXPECT_NEAR(misses.state()[0].baseline_mean, 1.0, 1e-9) << "the baseline finds every object";
    EXPECT_NEAR(misses.state()[0].difference, -0.4, 1e-9);
}

TEST(Rollout, BlocksWithoutGroundTruthLeaveTheBlockFiguresUndecided) {
    std::mt19937_64 rng(52);
    RolloutConfig c;
    c.guardrails = {{"ap50", "lower", 0.1}, {"precision", "lower", 0.1}};
    Rollout r(c);
    for (int f = 0; f < 1500; ++f) r.add(frame(rng, 10), frame(rng, 10)); // no truth on any frame
    EXPECT_EQ(r.decision(), RolloutDecision::kUndecided);
    for (const auto& s : r.state()) EXPECT_EQ(s.blocks, 0u) << s.config.metric;
}

TEST(Rollout, DisagreementIsJudgedAgainstItsToleranceAsAShareOfTheBoxes) {
    std::mt19937_64 rng(53);
    RolloutConfig c;
    c.guardrails = {{"disagreement", "higher", 0.25}};
    for (const double share : {0.4, 0.1}) {
        Rollout r(c);
        while (r.decision() == RolloutDecision::kUndecided && r.frames() < 3000) {
            FrameMetrics base = frame(rng, 10), cand = base;
            cand.disagreement = std::clamp(std::normal_distribution<double>(share, 0.1)(rng), 0.0, 1.0);
            r.add(cand, base);
        }
        EXPECT_EQ(r.decision(), share > 0.25 ? RolloutDecision::kRollback : RolloutDecision::kPromote) << share;
        EXPECT_LE(r.decided_at_frame(), 300u) << share;
        EXPECT_NE(r.evidence().find("of the boxes"), std::string::npos) << r.evidence();
    }
}

TEST(Rollout, ABlocksLatencyP99SeesStallsThatTheMeanHides) {
    std::mt19937_64 rng(54);
    const auto decide = [&](const char* metric) {
        RolloutConfig c;
        c.guardrails = {{metric, "higher", 0.2}};
        Rollout r(c);
        std::mt19937_64 same(55);
        while (r.decision() == RolloutDecision::kUndecided && r.frames() < 6000) {
            FrameMetrics base = frame(same, 10), cand = base;
            // one frame in 15 stalls for 40 ms more; the others are 3 ms faster: the mean moves by about 0
            cand.latency_ms = r.frames() % 15 == 7 ? base.latency_ms + 40 : std::max(0.0, base.latency_ms - 40.0 / 14);
            r.add(cand, base);
        }
        return r;
    };
    const Rollout p99 = decide("latency_p99"), mean = decide("latency_ms");
    EXPECT_EQ(p99.decision(), RolloutDecision::kRollback) << p99.evidence();
    EXPECT_NE(p99.evidence().find("latency_p99 +"), std::string::npos) << p99.evidence();
    EXPECT_NE(mean.decision(), RolloutDecision::kRollback) << mean.evidence();
}

TEST(Rollout, TheSameModelWithGroundTruthIsRolledBackAtMostAlphaOfTheTime) {
    std::mt19937_64 rng(2027);
    int rollbacks = 0;
    for (int run = 0; run < 200; ++run) {
        Rollout r(with_truth());
        for (int f = 0; f < 900; ++f) {
            const int found = std::binomial_distribution<int>(6, 0.85)(rng);
            // one model twice: the same objects found, a box more or less now and then, scores jittered
            const int fa_b = std::poisson_distribution<int>(1)(rng), fa_c = std::poisson_distribution<int>(1)(rng);
            r.add(truth_frame(rng, 6, found, fa_c, false), truth_frame(rng, 6, found, fa_b, false));
        }
        rollbacks += r.decision() == RolloutDecision::kRollback;
    }
    std::printf("A/A with ground truth: %d of 200 runs rolled back\n", rollbacks);
    EXPECT_LE(rollbacks, 10) << "alpha 0.05 of 200";
}

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
    for (const auto& name : guardrail_metrics()) { // every metric the list names is one a guardrail can watch
        c = {}, c.guardrails = {{name, "higher", 0.1}};
        EXPECT_FALSE(refused(c)) << name;
    }
}

// A guardrail from the command line (`sightline compare --guardrail`): METRIC:WORSE:TOLERANCE, every refusal a
// kBadInput naming the spec and what is wrong.
TEST(Rollout, GuardrailSpecsParseOrAreRefusedNamingTheSpec) {
    const GuardrailConfig g = parse_guardrail("disagreement:higher:0.05");
    EXPECT_EQ(g.metric, "disagreement");
    EXPECT_EQ(g.worse, "higher");
    EXPECT_DOUBLE_EQ(g.tolerance, 0.05);
    EXPECT_DOUBLE_EQ(parse_guardrail("latency_p99:either:2").tolerance, 2.0);
    for (const auto& name : guardrail_metrics()) // the five read against ground truth, and no other
        EXPECT_EQ(guardrail_needs_truth(name), name == "missed" || name == "false_alarms" || name == "precision" ||
                                                   name == "recall" || name == "ap50")
            << name;
    const std::pair<std::string, std::string> bad[] = {
        {"", "expected METRIC:WORSE:TOLERANCE"},
        {"detections", "expected METRIC:WORSE:TOLERANCE"},
        {"detections:either", "expected METRIC:WORSE:TOLERANCE"},
        {"detections:either:0.1:9", "expected METRIC:WORSE:TOLERANCE"},
        {"speed:lower:0.1", "unknown guardrail metric 'speed' (detections, mean_score"},
        {"detections:sideways:0.1", "worse must be lower, higher or either, got 'sideways'"},
        {"detections:either:", "tolerance must be a number >= 0"},
        {"detections:either:-1", "tolerance must be a number >= 0"},
        {"detections:either:0.1x", "tolerance must be a number >= 0"},
        {"detections:either: 0.1", "tolerance must be a number >= 0"},
        {"detections:either:nan", "tolerance must be a number >= 0"},
        {"detections:either:inf", "tolerance must be a number >= 0"},
    };
    for (const auto& [spec, why] : bad) {
        try {
            parse_guardrail(spec);
            ADD_FAILURE() << "accepted: " << spec;
        } catch (const sightline::Error& e) {
            EXPECT_EQ(e.code(), sightline::ErrorCode::kBadInput) << spec;
            const std::string what = e.what();
            EXPECT_NE(what.find("guardrail '" + spec + "': "), std::string::npos) << what;
            EXPECT_NE(what.find(why), std::string::npos) << spec << ": " << what;
        }
    }
}
