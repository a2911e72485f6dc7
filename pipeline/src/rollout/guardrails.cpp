#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fmt/ranges.h>
#include <optional>
#include <tuple>

#include "sightline/error.hpp"
#include "sightline/pipeline/rollout.hpp"

namespace sightline::pipeline {

namespace {

double metric(const FrameMetrics& m, const std::string& name) {
    if (name == "detections") return m.detections;
    if (name == "mean_score") return m.mean_score;
    if (name == "flagged") return m.flagged;
    if (name == "missed") return m.missed;
    if (name == "false_alarms") return m.false_alarms;
    if (name == "disagreement") return m.disagreement;
    return m.latency_ms;
}

/// precision, recall, ap50 and latency_p99 are figures of a block's frames pooled, not means of per-frame values.
bool block_figure(const std::string& name) {
    return name == "precision" || name == "recall" || name == "ap50" || name == "latency_p99";
}

/// The 99th percentile by nearest rank (of a block's 15 frames: its slowest).
double p99(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(v.size())));
    return v[std::max<std::size_t>(rank, 1) - 1];
}

/// A block's figure for both versions, or nothing where it is undefined for either (no detection: precision; no
/// ground truth: recall and AP).
std::optional<std::pair<double, double>> figures(const std::string& name, const MatchTotals& c, const MatchTotals& b) {
    if (name == "precision") {
        if (c.tp() + c.fp() == 0 || b.tp() + b.fp() == 0) return std::nullopt;
        return std::pair{c.precision(), b.precision()};
    }
    if (!c.has_positives() || !b.has_positives()) return std::nullopt;
    if (name == "recall") return std::pair{c.recall(), b.recall()};
    return std::pair{c.ap(), b.ap()};
}

} // namespace

const std::vector<std::string>& guardrail_metrics() {
    static const std::vector<std::string> names = {"detections",  "mean_score", "flagged",      "latency_ms",
                                                   "latency_p99", "missed",     "false_alarms", "disagreement",
                                                   "precision",   "recall",     "ap50"};
    return names;
}

void check_guardrail(const GuardrailConfig& g, const std::string& who) {
    const auto& names = guardrail_metrics();
    if (std::find(names.begin(), names.end(), g.metric) == names.end())
        throw Error(ErrorCode::kBadInput, who + "unknown guardrail metric '" + g.metric + "' (" +
                                              fmt::format("{}", fmt::join(names, ", ")) + ")");
    if (g.worse != "lower" && g.worse != "higher" && g.worse != "either")
        throw Error(ErrorCode::kBadInput,
                    who + "guardrail " + g.metric + ": worse must be lower, higher or either, got '" + g.worse + "'");
    if (!(g.tolerance >= 0) || !std::isfinite(g.tolerance))
        throw Error(ErrorCode::kBadInput, who + "guardrail " + g.metric + ": tolerance must be a number >= 0");
}

bool guardrail_needs_truth(const std::string& metric) {
    return metric == "missed" || metric == "false_alarms" || metric == "precision" || metric == "recall" ||
           metric == "ap50";
}

GuardrailConfig parse_guardrail(std::string_view spec) {
    const std::string who = "guardrail '" + std::string(spec) + "': ";
    const auto first = spec.find(':');
    const auto second = first == std::string_view::npos ? first : spec.find(':', first + 1);
    if (second == std::string_view::npos || spec.find(':', second + 1) != std::string_view::npos)
        throw Error(ErrorCode::kBadInput, who + "expected METRIC:WORSE:TOLERANCE (e.g. disagreement:higher:0.1)");
    GuardrailConfig g;
    g.metric = std::string(spec.substr(0, first));
    g.worse = std::string(spec.substr(first + 1, second - first - 1));
    const std::string tol(spec.substr(second + 1));
    char* end = nullptr;
    const bool number = !tol.empty() && !std::isspace(static_cast<unsigned char>(tol[0]));
    g.tolerance = number ? std::strtod(tol.c_str(), &end) : -1;
    if (!number || end != tol.c_str() + tol.size()) g.tolerance = -1; // refused below, as not a number
    check_guardrail(g, who);
    return g;
}

std::vector<GuardrailConfig> RolloutConfig::default_guardrails() {
    return {{"detections", "either", 0.2}, {"mean_score", "lower", 0.1}, {"flagged", "higher", 0.5}};
}

std::vector<GuardrailConfig> RolloutConfig::ground_truth_guardrails() {
    return {{"missed", "higher", 0.2}, {"false_alarms", "higher", 0.5}, {"ap50", "lower", 0.1}};
}

const char* decision_name(RolloutDecision d) {
    switch (d) {
    case RolloutDecision::kRollback:
        return "rollback";
    case RolloutDecision::kPromote:
        return "promote";
    default:
        return "undecided";
    }
}

Rollout::Rollout(RolloutConfig config) : config_(std::move(config)) {
    if (config_.block_frames < 1) throw Error(ErrorCode::kBadInput, "rollout: block_frames must be >= 1");
    if (config_.guardrails.empty()) throw Error(ErrorCode::kBadInput, "rollout: no guardrail");
    MsprtConfig m;
    if (!(config_.alpha > 0 && config_.alpha < 1))
        throw Error(ErrorCode::kBadInput, "rollout: alpha must be in (0, 1)");
    m.alpha = config_.alpha / static_cast<double>(config_.guardrails.size()), m.min_blocks = config_.min_blocks;
    for (const auto& g : config_.guardrails) {
        check_guardrail(g, "rollout: ");
        rails_.push_back({g, PairedMsprt(m)});
        needs_latency_ = needs_latency_ || g.metric == "latency_p99";
        needs_truth_ = needs_truth_ || (block_figure(g.metric) && g.metric != "latency_p99");
    }
}

RolloutDecision Rollout::add(const FrameMetrics& candidate, const FrameMetrics& baseline) {
    ++frames_;
    // the block's frames, pooled once for every guardrail that reads a block's figure
    if (needs_truth_) {
        if (candidate.truth) block_.truth_c.add(*candidate.truth);
        if (baseline.truth) block_.truth_b.add(*baseline.truth);
    }
    if (needs_latency_)
        block_.latency_c.push_back(candidate.latency_ms), block_.latency_b.push_back(baseline.latency_ms);
    for (Rail& r : rails_) {
        if (block_figure(r.config.metric)) continue;
        const double c = metric(candidate, r.config.metric), b = metric(baseline, r.config.metric);
        r.block_c += c, r.block_b += b, r.base_sum += b, ++r.base_n;
    }
    if (++in_block_ < static_cast<std::size_t>(config_.block_frames)) return decision_;
    in_block_ = 0;
    bool all_cleared = true;
    for (Rail& r : rails_) {
        close_block(r);
        all_cleared = all_cleared && r.cleared;
        if (r.breached && decision_ == RolloutDecision::kUndecided)
            decision_ = RolloutDecision::kRollback, decided_at_ = frames_;
    }
    block_ = {};
    if (all_cleared && decision_ == RolloutDecision::kUndecided)
        decision_ = RolloutDecision::kPromote, decided_at_ = frames_;
    if (decided_at_ == frames_ && evidence_.empty()) evidence_ = describe();
    return decision_;
}

void Rollout::close_block(Rail& r) const {
    if (block_figure(r.config.metric)) { // one difference per block where the figure is defined for both
        std::optional<std::pair<double, double>> f;
        if (r.config.metric == "latency_p99")
            f = std::pair{p99(block_.latency_c), p99(block_.latency_b)};
        else
            f = figures(r.config.metric, block_.truth_c, block_.truth_b);
        if (f) {
            r.test.add(f->first - f->second);
            r.base_sum += f->second, ++r.base_n;
        }
    } else {
        r.test.add((r.block_c - r.block_b) / config_.block_frames);
        r.block_c = r.block_b = 0;
    }
    const auto [lo, hi] = r.test.interval();
    const double margin =
        r.config.metric == "disagreement"
            ? r.config.tolerance // no baseline: the share itself
            : r.config.tolerance * std::fabs(r.base_n ? r.base_sum / static_cast<double>(r.base_n) : 0);
    const bool worse_low = hi<-margin, worse_high = lo> margin;  // confidently beyond the tolerance
    const bool fine_low = lo > -margin, fine_high = hi < margin; // confidently within it
    if (r.config.worse == "lower") r.breached = worse_low, r.cleared = fine_low;
    if (r.config.worse == "higher") r.breached = worse_high, r.cleared = fine_high;
    if (r.config.worse == "either") r.breached = worse_low || worse_high, r.cleared = fine_low && fine_high;
}

std::vector<GuardrailState> Rollout::state() const {
    std::vector<GuardrailState> out;
    for (const Rail& r : rails_) {
        GuardrailState s;
        s.config = r.config, s.blocks = r.test.blocks();
        s.baseline_mean = r.base_n ? r.base_sum / static_cast<double>(r.base_n) : 0;
        s.difference = r.test.mean(), s.p_value = r.test.p_value();
        std::tie(s.low, s.high) = r.test.interval();
        s.breached = r.breached, s.cleared = r.cleared;
        out.push_back(s);
    }
    return out;
}

std::string Rollout::evidence() const {
    return evidence_.empty() ? describe() : evidence_;
}

std::string Rollout::describe() const {
    std::string out;
    for (const auto& s : state()) {
        if (decision_ == RolloutDecision::kRollback && !s.breached) continue;
        if (!out.empty()) out += "; ";
        if (s.config.metric == "disagreement") { // no baseline: the share of boxes, against the tolerance itself
            out += fmt::format("disagreement {:.3f} of the boxes [{:.3f}, {:.3f}] (tolerance {:.3f}, p {:.2g}, {} "
                               "blocks)",
                               s.difference, s.low, s.high, s.config.tolerance, s.p_value, s.blocks);
            continue;
        }
        out += fmt::format("{} {:+.3f} {} [{:+.3f}, {:+.3f}] against the baseline's {:.3f} (tolerance {:g}%, p {:.2g}, "
                           "{} blocks)",
                           s.config.metric, s.difference, block_figure(s.config.metric) ? "a block" : "a frame", s.low,
                           s.high, s.baseline_mean, 100 * s.config.tolerance, s.p_value, s.blocks);
    }
    return out;
}

} // namespace sightline::pipeline
