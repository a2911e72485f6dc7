// The rollout's mSPRT against its oracle: confseq's TwoSidedNormalMixture (Howard, Ramdas, McAuliffe, Sekhon; PyPI
// confseq 0.0.11's C++ header, fetched by scripts/python_envs.sh), which shares no code with ours. On the same
// sequences: the log mixture, its boundary and the tuned rho agree to 1e-9, and so do the test's ln Lambda and its
// interval after every block.
#include <gtest/gtest.h>
#include <uniform_boundaries.h>

#include <cmath>
#include <random>

#include "sightline/pipeline/msprt.hpp"

using sightline::pipeline::MsprtConfig;
using sightline::pipeline::PairedMsprt;

namespace {
void near_rel(double ours, double theirs, const char* what) {
    EXPECT_NEAR(ours, theirs, 1e-9 * std::max(1.0, std::fabs(theirs))) << what;
}
} // namespace

TEST(MsprtOracle, MixtureBoundaryAndRhoAreConfseqs) {
    std::mt19937_64 rng(27);
    std::uniform_real_distribution<double> unit(0, 1);
    for (int i = 0; i < 2000; ++i) {
        const double v_opt = std::exp(10 * unit(rng) - 3), alpha = 0.001 + 0.3 * unit(rng);
        const double v = std::exp(12 * unit(rng) - 4), s = (unit(rng) - 0.5) * 6 * std::sqrt(v + 1);
        const confseq::TwoSidedNormalMixture oracle(v_opt, alpha);
        const double rho = PairedMsprt::best_rho(v_opt, alpha);
        near_rel(rho, confseq::TwoSidedNormalMixture::best_rho(v_opt, alpha), "best_rho");
        near_rel(PairedMsprt::log_mixture(s, v, rho), oracle.log_superMG(s, v), "log_superMG");
        near_rel(PairedMsprt::boundary(v, rho, std::log(1 / alpha)), oracle.bound(v, std::log(1 / alpha)), "bound");
    }
}

TEST(MsprtOracle, TheTestFollowsConfseqBlockByBlock) {
    std::mt19937_64 rng(2026);
    for (const double shift : {0.0, 0.3, -1.2}) {
        MsprtConfig c;
        c.variance = 1.7, c.theta0 = 0.05, c.alpha = 0.05;
        PairedMsprt t(c);
        const confseq::TwoSidedNormalMixture oracle(c.tuned_blocks * c.variance, c.alpha);
        std::normal_distribution<double> d(shift, std::sqrt(c.variance));
        double sum = 0, lo = -INFINITY, hi = INFINITY, p = 1;
        for (int n = 1; n <= 400; ++n) {
            const double x = d(rng);
            t.add(x);
            sum += x;
            if (n < c.min_blocks) continue;
            const double v = n * c.variance, s = sum - n * c.theta0;
            near_rel(t.log_lambda(), oracle.log_superMG(s, v), "ln Lambda");
            p = std::min(p, std::exp(-oracle.log_superMG(s, v)));
            near_rel(t.p_value(), p, "p-value");
            const double h = oracle.bound(v, std::log(1 / c.alpha)) / n;
            lo = sum / n - h, hi = sum / n + h;
            near_rel(t.interval().first, lo, "interval low");
            near_rel(t.interval().second, hi, "interval high");
        }
    }
}
