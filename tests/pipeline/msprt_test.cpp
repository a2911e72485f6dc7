// The rollout's sequential test (pipeline/include/sightline/pipeline/msprt.hpp): the formula as FACTS.md states it,
// its guarantee under continuous peeking (an A/A simulation that can fail), its power, and its refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "sightline/error.hpp"
#include "sightline/pipeline/msprt.hpp"

using sightline::pipeline::MsprtConfig;
using sightline::pipeline::PairedMsprt;

namespace {

/// Lambda_n in the paper's form, with tau^2 from the mixing parameter: rho = V^2 / tau^2.
double lambda_paper(double n, double dbar, double theta0, double V, double tau2) {
    return std::sqrt(V / (V + n * tau2)) *
           std::exp(n * n * tau2 * (dbar - theta0) * (dbar - theta0) / (2 * V * (V + n * tau2)));
}

struct Outcome {
    int rejected = 0, covered = 0;
};

/// `runs` sequences of `blocks` normal block differences (mean `shift`, sd `sd`), peeking at every block.
Outcome simulate(int runs, int blocks, double shift, double sd, MsprtConfig c, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0, sd);
    Outcome o;
    for (int r = 0; r < runs; ++r) {
        PairedMsprt t(c);
        bool always_inside = true;
        for (int b = 0; b < blocks; ++b) {
            t.add(shift + noise(rng));
            const auto [lo, hi] = t.interval();
            always_inside = always_inside && lo <= shift && shift <= hi;
        }
        o.rejected += t.rejected() ? 1 : 0;
        o.covered += always_inside ? 1 : 0;
    }
    return o;
}

} // namespace

TEST(Msprt, LambdaIsThePapersFormula) {
    MsprtConfig c;
    c.variance = 2.5, c.theta0 = 0.1, c.min_blocks = 2;
    PairedMsprt t(c);
    const double d[] = {0.9, -0.4, 1.7, 0.3, 2.2, -1.1, 0.8};
    double sum = 0;
    for (int i = 0; i < 7; ++i) {
        t.add(d[i]);
        sum += d[i];
        if (i + 1 < 2) continue;
        const double rho = PairedMsprt::best_rho(c.tuned_blocks * c.variance, c.alpha);
        const double tau2 = c.variance * c.variance / rho;
        const double n = i + 1;
        EXPECT_NEAR(t.log_lambda(), std::log(lambda_paper(n, sum / n, c.theta0, c.variance, tau2)), 1e-12);
    }
    EXPECT_NEAR(t.mean(), sum / 7, 1e-15);
    // the interval is where the test does not reject: at its ends Lambda(theta) = 1 / alpha
    const double rho = PairedMsprt::best_rho(c.tuned_blocks * c.variance, c.alpha);
    const double h = PairedMsprt::boundary(7 * c.variance, rho, std::log(1 / c.alpha)) / 7;
    for (const double end : {t.mean() - h, t.mean() + h}) {
        MsprtConfig at = c;
        at.theta0 = end;
        PairedMsprt u(at);
        for (double x : d) u.add(x);
        EXPECT_NEAR(u.log_lambda(), std::log(1 / c.alpha), 1e-9) << end;
    }
    EXPECT_NEAR(t.interval().first, t.mean() - h, 1e-12);
    EXPECT_NEAR(t.interval().second, t.mean() + h, 1e-12);
}

TEST(Msprt, NothingIsDecidedBeforeMinBlocks) {
    MsprtConfig c;
    c.min_blocks = 5;
    PairedMsprt t(c);
    for (int i = 0; i < 4; ++i) t.add(100.0 + i); // a huge difference, but only 4 blocks
    EXPECT_EQ(t.p_value(), 1.0);
    EXPECT_FALSE(t.rejected());
    EXPECT_TRUE(std::isinf(t.interval().first));
    t.add(104);
    EXPECT_TRUE(t.rejected());
    EXPECT_GT(t.interval().first, 0);
}

// The same model against itself, peeked at after every block: wrong decisions in at most alpha of the runs, with
// the variance known and estimated; and the confidence sequence holds 0 at every block in at least 1 - alpha.
TEST(Msprt, AnATestPeekedAtEveryBlockDecidesWronglyAtMostAlpha) {
    for (const double known : {0.0, 2.7 * 2.7}) {
        MsprtConfig c;
        c.alpha = 0.05, c.variance = known;
        const Outcome o = simulate(1000, 300, 0.0, 2.7, c, 20261206);
        std::printf("variance %s: %d of 1000 A/A runs rejected, %d covered 0 at every block\n",
                    known > 0 ? "known" : "estimated", o.rejected, o.covered);
        EXPECT_LE(o.rejected, 50) << "variance " << (known > 0 ? "known" : "estimated");
        EXPECT_GE(o.covered, 950);
    }
}

TEST(Msprt, AShiftOfHalfASigmaIsFoundAndCovered) {
    MsprtConfig c;
    c.alpha = 0.05;
    const Outcome o = simulate(200, 300, -0.5 * 3.0, 3.0, c, 7);
    std::printf("shift -0.5 sd: %d of 200 runs rejected, %d covered the shift at every block\n", o.rejected, o.covered);
    EXPECT_GE(o.rejected, 190); // power: a candidate that loses half a block's sd is caught within 300 blocks
    EXPECT_GE(o.covered, 190);
}

TEST(Msprt, BadSettingsAndInputsAreRefused) {
    const auto refused = [](MsprtConfig c) {
        try {
            PairedMsprt t(c);
        } catch (const sightline::Error& e) {
            return e.code() == sightline::ErrorCode::kBadInput;
        }
        return false;
    };
    MsprtConfig c;
    c.alpha = 0;
    EXPECT_TRUE(refused(c));
    c.alpha = 1;
    EXPECT_TRUE(refused(c));
    c = {}, c.variance = -1;
    EXPECT_TRUE(refused(c));
    c = {}, c.variance = std::nan("");
    EXPECT_TRUE(refused(c));
    c = {}, c.min_blocks = 1;
    EXPECT_TRUE(refused(c));
    c = {}, c.tuned_blocks = 0;
    EXPECT_TRUE(refused(c));
    c = {}, c.theta0 = INFINITY;
    EXPECT_TRUE(refused(c));
    PairedMsprt t;
    EXPECT_THROW(t.add(std::nan("")), sightline::Error);
    EXPECT_THROW(t.add(INFINITY), sightline::Error);
    EXPECT_EQ(t.blocks(), 0u);
}
