#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <boost/math/special_functions/erf.hpp>
#include <boost/math/special_functions/gamma.hpp>

#include "sightline/error.hpp"
#include "sightline/pipeline/drift.hpp"

namespace sightline::pipeline::drift {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double total(std::span<const double> v) {
    return std::accumulate(v.begin(), v.end(), 0.0);
}

void check_same_bins(std::span<const double> a, std::span<const double> b, const char* what) {
    if (a.size() != b.size())
        throw Error(ErrorCode::kBadInput, std::string(what) + ": reference and current have different bins (" +
                                              std::to_string(a.size()) + " vs " + std::to_string(b.size()) + ")");
}

/// Shares of the bins seen on either side (Evidently bins by the values present in either sample).
struct Shares {
    std::vector<double> reference, current;
};
Shares shares_seen(std::span<const double> r, std::span<const double> c) {
    const double nr = total(r), nc = total(c);
    Shares s;
    for (std::size_t k = 0; k < r.size(); ++k) {
        if (r[k] == 0 && c[k] == 0) continue;
        s.reference.push_back(r[k] / nr);
        s.current.push_back(c[k] / nc);
    }
    return s;
}

/// Evidently's zero rule (get_binned_data, feel_zeroes): zeros become 1e-4, or min non-zero / 1e6 when that is
/// at most 1e-4.
void fill_zeroes(std::vector<double>& p) {
    double smallest = std::numeric_limits<double>::infinity();
    for (double x : p)
        if (x != 0) smallest = std::min(smallest, x);
    const double fill = smallest <= 1e-4 ? smallest / 1e6 : 1e-4;
    for (double& x : p)
        if (x == 0) x = fill;
}

} // namespace

double jensen_shannon(std::span<const double> reference, std::span<const double> current) {
    check_same_bins(reference, current, "jensen_shannon");
    if (total(reference) <= 0 || total(current) <= 0) return kNaN;
    const Shares s = shares_seen(reference, current);
    double sum = 0; // scipy: rel_entr(p, m) + rel_entr(q, m), halved
    for (std::size_t k = 0; k < s.reference.size(); ++k) {
        const double p = s.reference[k], q = s.current[k], m = (p + q) / 2;
        if (p > 0) sum += p * std::log(p / m);
        if (q > 0) sum += q * std::log(q / m);
    }
    return std::sqrt(std::max(0.0, sum / 2));
}

double psi(std::span<const double> reference, std::span<const double> current) {
    check_same_bins(reference, current, "psi");
    if (total(reference) <= 0 || total(current) <= 0) return kNaN;
    Shares s = shares_seen(reference, current);
    fill_zeroes(s.reference);
    fill_zeroes(s.current);
    double sum = 0;
    for (std::size_t k = 0; k < s.reference.size(); ++k)
        sum += (s.reference[k] - s.current[k]) * std::log(s.reference[k] / s.current[k]);
    return sum;
}

double wasserstein_normalised(std::span<const double> centres, std::span<const double> reference,
                              std::span<const double> current, double min_norm) {
    check_same_bins(reference, current, "wasserstein");
    check_same_bins(centres, reference, "wasserstein (centres)");
    const double nr = total(reference), nc = total(current);
    if (nr <= 0 || nc <= 0) return kNaN;
    double mean = 0;
    for (std::size_t k = 0; k < centres.size(); ++k) mean += centres[k] * reference[k] / nr;
    double var = 0;
    for (std::size_t k = 0; k < centres.size(); ++k)
        var += reference[k] / nr * (centres[k] - mean) * (centres[k] - mean);
    const double norm = std::max(std::sqrt(var), min_norm);
    // W1 = integral of |F_r - F_c| between consecutive centres (the centres ascend)
    double fr = 0, fc = 0, w = 0;
    for (std::size_t k = 0; k + 1 < centres.size(); ++k) {
        fr += reference[k] / nr;
        fc += current[k] / nc;
        w += std::fabs(fr - fc) * (centres[k + 1] - centres[k]);
    }
    return w / norm;
}

double chi_square_p_value(std::span<const double> reference, std::span<const double> current) {
    check_same_bins(reference, current, "chi_square");
    const double nr = total(reference), nc = total(current);
    if (nr <= 0 || nc <= 0) return kNaN;
    double stat = 0;
    int seen = 0;
    for (std::size_t k = 0; k < reference.size(); ++k) {
        if (reference[k] == 0 && current[k] == 0) continue;
        ++seen;
        const double expected = reference[k] * (nc / nr);
        if (expected == 0) return 0; // a bin the reference never saw: infinite statistic
        stat += (current[k] - expected) * (current[k] - expected) / expected;
    }
    if (seen < 2) return kNaN; // one category, no degree of freedom: no test (scipy says NaN too)
    return boost::math::gamma_q((seen - 1) / 2.0, stat / 2);
}

double chunk_upper_threshold(std::span<const double> chunk_values, double k) {
    double n = 0, sum = 0;
    for (double v : chunk_values)
        if (!std::isnan(v)) n += 1, sum += v;
    if (n == 0) return kNaN;
    const double mean = sum / n;
    double var = 0;
    for (double v : chunk_values)
        if (!std::isnan(v)) var += (v - mean) * (v - mean);
    return mean + k * std::sqrt(var / n);
}

double normal_upper_quantile(double p) {
    if (!(p > 0 && p < 1))
        throw Error(ErrorCode::kBadInput, "normal_upper_quantile: p must be in (0, 1), not " + std::to_string(p));
    return std::sqrt(2.0) * boost::math::erfc_inv(2 * p);
}

void PageHinkley::reset() {
    n_ = 0;
    mean_ = 0;
    sum_increase_ = sum_decrease_ = 0;
    min_increase_ = std::numeric_limits<double>::infinity();
    max_decrease_ = -1;
    detected_ = false;
}

bool PageHinkley::update(double x) {
    if (detected_) reset();
    ++n_;
    mean_ += (1.0 / static_cast<double>(n_)) * (x - mean_); // river's stats.Mean
    const double dev = x - mean_;
    sum_increase_ = o_.alpha * sum_increase_ + dev - o_.delta;
    sum_decrease_ = o_.alpha * sum_decrease_ + dev + o_.delta;
    min_increase_ = std::min(min_increase_, sum_increase_);
    max_decrease_ = std::max(max_decrease_, sum_decrease_);
    if (n_ >= static_cast<std::uint64_t>(o_.min_instances)) detected_ = statistic() > o_.threshold;
    return detected_;
}

double PageHinkley::statistic() const {
    if (n_ == 0) return 0;
    return std::max(sum_increase_ - min_increase_, max_decrease_ - sum_decrease_);
}

} // namespace sightline::pipeline::drift
