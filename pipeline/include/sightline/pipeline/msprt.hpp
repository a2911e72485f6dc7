#pragma once
/// Always-valid sequential decisions on paired differences (issue 26, the rollout's guardrails): the normal-mixture
/// mSPRT of Johari, Koomen, Pekelis and Walsh ("Always Valid Inference", Operations Research 2022). A guardrail adds
/// one paired difference per block of frames (candidate - baseline on identical frames, e.g. over 1 s: consecutive
/// frames are correlated, blocks much less); at any block, however often it is looked at, the p-value and the
/// confidence sequence stay valid: under H0 (mean difference theta0) the chance that p ever falls to alpha is at most
/// alpha.
///
/// With V the variance of one block's difference and the mixture N(theta0, tau^2) over the alternative, after n
/// blocks with mean Dbar:  Lambda_n = sqrt(V / (V + n tau^2)) exp(n^2 tau^2 (Dbar - theta0)^2 / (2 V (V + n tau^2))),
/// p_n = min(p_{n-1}, 1 / Lambda_n). In the notation of Howard et al.'s normal-mixture boundary (PyPI confseq's
/// TwoSidedNormalMixture, the test's oracle): s = n (Dbar - theta0), intrinsic time v = n V, rho = V^2 / tau^2.
#include <cstddef>
#include <limits>
#include <utility>

namespace sightline::pipeline {

struct MsprtConfig {
    double alpha = 0.05; ///< the chance of ever deciding wrongly under H0, however often one looks
    double theta0 = 0;   ///< the mean difference under H0
    double variance = 0; ///< V, one block's variance when known; 0: estimated from the blocks (the sample variance)
    /// No decision before this many blocks (the estimated variance needs some to settle; also the fewest blocks a
    /// decision may rest on).
    int min_blocks = 20;
    /// The mixture is tuned to decide fastest near this many blocks: rho = best_rho(v = this x V, alpha).
    double tuned_blocks = 100;
};

class PairedMsprt {
  public:
    explicit PairedMsprt(MsprtConfig config = {});

    /// One block's paired difference (candidate - baseline); updates the p-value.
    void add(double difference);

    std::size_t blocks() const { return n_; }
    double mean() const; ///< Dbar (0 before the first block)
    /// V in use: the configured variance, else the blocks' sample variance (at least 1e-12).
    double variance() const;
    /// ln Lambda_n at theta0 (0 before min_blocks).
    double log_lambda() const;
    /// The always-valid p-value: the running minimum of 1 / Lambda (1 until min_blocks).
    double p_value() const { return p_; }
    /// Whether H0 was rejected at some block (p <= alpha); it stays rejected.
    bool rejected() const { return p_ <= config_.alpha; }
    /// The (1 - alpha) confidence sequence for the mean difference: at each block every theta the test would not
    /// reject, [Dbar - h, Dbar + h]; it holds the true mean at every block at once with probability >= 1 - alpha.
    /// Not intersected over the blocks: when the blocks' mean moves (a drift, the model assumption broken), the
    /// intersection would turn empty; this one follows it. Infinite before min_blocks.
    std::pair<double, double> interval() const { return {lo_, hi_}; }

    /// ln of the normal-mixture supermartingale at sum s and intrinsic time v, mixing parameter rho.
    static double log_mixture(double s, double v, double rho);
    /// |s| at which log_mixture(s, v, rho) reaches log_threshold.
    static double boundary(double v, double rho, double log_threshold);
    /// The rho that makes the boundary tightest at intrinsic time v_opt for level alpha.
    static double best_rho(double v_opt, double alpha);

  private:
    MsprtConfig config_;
    std::size_t n_ = 0;
    double mean_ = 0, m2_ = 0; ///< Welford's running mean and sum of squared deviations
    double p_ = 1;
    double lo_ = -std::numeric_limits<double>::infinity(), hi_ = std::numeric_limits<double>::infinity();
};

} // namespace sightline::pipeline
