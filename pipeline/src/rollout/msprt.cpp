#include "sightline/pipeline/msprt.hpp"

#include <algorithm>
#include <cmath>

#include "sightline/error.hpp"

namespace sightline::pipeline {

PairedMsprt::PairedMsprt(MsprtConfig config) : config_(config) {
    if (!(config_.alpha > 0 && config_.alpha < 1)) throw Error(ErrorCode::kBadInput, "msprt: alpha must be in (0, 1)");
    if (!(config_.variance >= 0) || !std::isfinite(config_.variance))
        throw Error(ErrorCode::kBadInput, "msprt: variance must be >= 0 (0: estimated)");
    if (config_.min_blocks < 2) throw Error(ErrorCode::kBadInput, "msprt: min_blocks must be >= 2");
    if (!(config_.tuned_blocks > 0)) throw Error(ErrorCode::kBadInput, "msprt: tuned_blocks must be > 0");
    if (!std::isfinite(config_.theta0)) throw Error(ErrorCode::kBadInput, "msprt: theta0 must be finite");
}

double PairedMsprt::log_mixture(double s, double v, double rho) {
    // the Gaussian mixture over the drift of a sum with variance v: 1/2 ln(rho / (v + rho)) + s^2 / (2 (v + rho))
    return 0.5 * std::log(rho / (v + rho)) + s * s / (2 * (v + rho));
}

double PairedMsprt::boundary(double v, double rho, double log_threshold) {
    // solve log_mixture(s, v, rho) = log_threshold for |s|
    return std::sqrt((v + rho) * (2 * log_threshold + std::log((v + rho) / rho)));
}

double PairedMsprt::best_rho(double v_opt, double alpha) {
    const double l = std::log(1 / alpha);
    return v_opt / (2 * l + std::log(1 + 2 * l));
}

void PairedMsprt::add(double d) {
    if (!std::isfinite(d)) throw Error(ErrorCode::kBadInput, "msprt: a block difference that is not a finite number");
    ++n_;
    const double delta = d - mean_;
    mean_ += delta / static_cast<double>(n_);
    m2_ += delta * (d - mean_);
    if (static_cast<int>(n_) < config_.min_blocks) return;
    p_ = std::min(p_, std::exp(-log_lambda()));
    const double V = variance(), n = static_cast<double>(n_);
    const double h =
        boundary(n * V, best_rho(config_.tuned_blocks * V, config_.alpha), std::log(1 / config_.alpha)) / n;
    lo_ = mean_ - h, hi_ = mean_ + h;
}

double PairedMsprt::mean() const {
    return mean_;
}

double PairedMsprt::variance() const {
    if (config_.variance > 0) return config_.variance;
    return n_ > 1 ? std::max(m2_ / static_cast<double>(n_ - 1), 1e-12) : 1e-12;
}

double PairedMsprt::log_lambda() const {
    if (static_cast<int>(n_) < config_.min_blocks) return 0;
    const double V = variance(), n = static_cast<double>(n_);
    return log_mixture(n * (mean_ - config_.theta0), n * V, best_rho(config_.tuned_blocks * V, config_.alpha));
}

} // namespace sightline::pipeline
