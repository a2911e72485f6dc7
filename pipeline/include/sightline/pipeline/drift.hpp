#pragma once
/// The monitor's drift statistics: each compares a reference with a current window, both as counts over the same
/// bins (fixed when the reference is learned, so memory stays fixed). Each follows the tool its default comes from,
/// to the formula, and tests check them against that tool on identical samples (tests/python/test_drift_oracles.py):
/// Evidently's stattests (jensenshannon, psi, wasserstein, chisquare), NannyML's StandardDeviationThreshold and
/// river's PageHinkley. docs/monitor.md gives the formulas and the defaults.
#include <cstdint>
#include <span>
#include <vector>

namespace sightline::pipeline::drift {

/// Jensen-Shannon distance between the two distributions the counts describe (natural log, as scipy's
/// `distance.jensenshannon` that Evidently calls: sqrt of the divergence), in [0, sqrt(ln 2)]. Bins empty in both
/// add nothing. Evidently's default alarm: 0.1. NaN when either side is empty.
double jensen_shannon(std::span<const double> reference, std::span<const double> current);

/// Population stability index, sum over bins of (r - c) ln(r / c) on the shares, with Evidently's zero rule: a zero
/// share becomes 1e-4, or the side's smallest non-zero share / 1e6 when that is at most 1e-4; bins empty in both
/// are left out. Conventional reading: < 0.1 stable, 0.1..0.25 moderate, > 0.25 major shift.
double psi(std::span<const double> reference, std::span<const double> current);

/// Wasserstein-1 distance between the histograms (each bin's mass at its centre), divided by the reference's
/// standard deviation (population, at least `min_norm`; Evidently's floor is 0.001): Evidently's `wasserstein`
/// stattest on the same values. Default alarm 0.1.
double wasserstein_normalised(std::span<const double> centres, std::span<const double> reference,
                              std::span<const double> current, double min_norm = 0.001);

/// Chi-square goodness of fit of the current counts to the reference's proportions (expected = reference x
/// n_current / n_reference over the bins seen on either side): the p-value, as Evidently's `chisquare` stattest.
/// A small p says drift (Evidently's default: below 0.05). 0 when a bin the reference never saw is seen now; NaN
/// with a single category (no degree of freedom).
double chi_square_p_value(std::span<const double> reference, std::span<const double> current);

/// NannyML's calibrated threshold (StandardDeviationThreshold, its default for these methods): the mean of the
/// values a statistic took on the reference's own chunks plus `k` population standard deviations (ignoring NaN).
double chunk_upper_threshold(std::span<const double> chunk_values, double k = 3);

/// The standard normal's upper quantile: z with P(Z > z) = p, for p in (0, 1).
double normal_upper_quantile(double p);

/// Page-Hinkley change detector, river's `drift.PageHinkley` step for step (same parameters, same defaults, two-
/// sided): fed one value at a time, says when the mean has changed; it restarts itself on the next value after.
class PageHinkley {
  public:
    struct Options {
        int min_instances = 30;
        double delta = 0.005;
        double threshold = 50;
        double alpha = 1 - 0.0001;
    };
    PageHinkley() : PageHinkley(Options{}) {}
    explicit PageHinkley(const Options& options) : o_(options) { reset(); }
    /// Adds a value; true when a change is detected at it.
    bool update(double x);
    bool detected() const { return detected_; }
    double mean() const { return mean_; }
    /// The larger of the two one-sided test statistics, against `threshold`.
    double statistic() const;

  private:
    void reset();
    Options o_;
    std::uint64_t n_ = 0;
    double mean_ = 0, sum_increase_ = 0, sum_decrease_ = 0, min_increase_ = 0, max_decrease_ = 0;
    bool detected_ = false;
};

} // namespace sightline::pipeline::drift
