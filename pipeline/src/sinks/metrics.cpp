#include "sightline/pipeline/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>

#include "sightline/error.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/pipeline/versions.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

struct Metrics::Impl {
    std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
    std::unique_ptr<prometheus::Exposer> exposer;
    std::string host;

    prometheus::Family<Counter>& samples = prometheus::BuildCounter()
                                               .Name("sightline_collector_samples_total")
                                               .Help("Samples the collector made durable (added) or found there "
                                                     "(duplicate), by line and camera")
                                               .Register(*registry);
    prometheus::Family<Counter>& collector_problems = prometheus::BuildCounter()
                                                          .Name("sightline_collector_problems_total")
                                                          .Help("Samples malformed (rejected) or not written (refused, "
                                                                "sent again), by kind")
                                                          .Register(*registry);
    prometheus::Family<Counter>& messages = prometheus::BuildCounter()
                                                .Name("sightline_messages_total")
                                                .Help("Wire messages seen, by type (pred, stat, event)")
                                                .Register(*registry);
    prometheus::Family<Counter>& malformed = prometheus::BuildCounter()
                                                 .Name("sightline_monitor_malformed_messages_total")
                                                 .Help("Messages the monitor could not decode or use (skipped)")
                                                 .Register(*registry);
    prometheus::Family<Counter>& refused = prometheus::BuildCounter()
                                               .Name("sightline_monitor_refused_messages_total")
                                               .Help("Messages refused past the monitor's camera/model state limit")
                                               .Register(*registry);
    prometheus::Family<Counter>& frames =
        prometheus::BuildCounter().Name("sightline_frames_total").Help("Frames processed").Register(*registry);
    prometheus::Family<Counter>& detections = prometheus::BuildCounter()
                                                  .Name("sightline_detections_total")
                                                  .Help("Detections above the operating threshold, by class")
                                                  .Register(*registry);
    prometheus::Family<Counter>& flagged = prometheus::BuildCounter()
                                               .Name("sightline_flagged_frames_total")
                                               .Help("Frames with at least one uncertainty flag")
                                               .Register(*registry);
    prometheus::Family<Histogram>& latency = prometheus::BuildHistogram()
                                                 .Name("sightline_frame_latency_seconds")
                                                 .Help("Packet arrival to publish, per frame")
                                                 .Register(*registry);
    prometheus::Family<Counter>& dropped = prometheus::BuildCounter()
                                               .Name("sightline_frames_dropped_total")
                                               .Help("Frames a live source dropped, by cause (behind, late)")
                                               .Register(*registry);
    prometheus::Family<Counter>& publisher_dropped =
        prometheus::BuildCounter()
            .Name("sightline_publisher_dropped_messages_total")
            .Help("Messages the line's publisher refused for a full subscriber queue (all topics)")
            .Register(*registry);
    prometheus::Family<Gauge>& queue_age = prometheus::BuildGauge()
                                               .Name("sightline_queue_age_seconds")
                                               .Help("Longest a decoded frame waited for a batch, last stat window")
                                               .Register(*registry);
    prometheus::Family<Gauge>& stage = prometheus::BuildGauge()
                                           .Name("sightline_stage_latency_seconds")
                                           .Help("Per-stage latency over the line's last stat window (decode, queue, "
                                                 "infer, total): its p50, p99 and max")
                                           .Register(*registry);
    prometheus::Family<Gauge>& online = prometheus::BuildGauge()
                                            .Name("sightline_online_eval")
                                            .Help("The line's online evaluation over its rolling window (cameras with "
                                                  "ground truth), by metric: AP50 (AP at IoU 0.5, as sightline eval "
                                                  "names it), precision, recall, f1, tp, fp, fn, ...")
                                            .Register(*registry);
    prometheus::Family<Gauge>& agreement =
        prometheus::BuildGauge()
            .Name("sightline_version_agreement")
            .Help("A version running beside the one serving the camera (shadow), against it over the line's last stat "
                  "window (docs/versions.md): figure rate (both / all detections), frames, disagree_frames, both, "
                  "class_changed, only_serving, only_shadow")
            .Register(*registry);
    prometheus::Family<Counter>& gaps = prometheus::BuildCounter()
                                            .Name("sightline_monitor_sequence_gap_messages_total")
                                            .Help("pred messages the monitor saw missing from a camera's sequence")
                                            .Register(*registry);
    prometheus::Family<Gauge>& fps = prometheus::BuildGauge()
                                         .Name("sightline_monitor_window_fps")
                                         .Help("Frames per second of stream time over the monitor's window")
                                         .Register(*registry);
    prometheus::Family<Gauge>& reference = prometheus::BuildGauge()
                                               .Name("sightline_monitor_reference_progress_ratio")
                                               .Help("How much of its reference a camera has (1: testing)")
                                               .Register(*registry);
    prometheus::Family<Gauge>& quiet = prometheus::BuildGauge()
                                           .Name("sightline_monitor_quiet_seconds")
                                           .Help("Seconds since the monitor last received a message from any line "
                                                 "(a wrong endpoint, or a line down, reads as a growing figure)")
                                           .Register(*registry);
    prometheus::Family<Gauge>& armed = prometheus::BuildGauge()
                                           .Name("sightline_monitor_tests_armed")
                                           .Help("Drift tests armed against the camera's reference (0 while it is "
                                                 "learned: only the change-point tests run then)")
                                           .Register(*registry);
    prometheus::Family<Gauge>& score = prometheus::BuildGauge()
                                           .Name("sightline_drift_score")
                                           .Help("A drift test's last value on the window, by signal and test")
                                           .Register(*registry);
    prometheus::Family<Gauge>& threshold = prometheus::BuildGauge()
                                               .Name("sightline_drift_threshold")
                                               .Help("The threshold a drift test's score is held against")
                                               .Register(*registry);
    prometheus::Family<Gauge>& alarm = prometheus::BuildGauge()
                                           .Name("sightline_drift_alarm_active")
                                           .Help("1 while an alarm stands on the camera's signal")
                                           .Register(*registry);
    prometheus::Family<Counter>& alarms = prometheus::BuildCounter()
                                              .Name("sightline_monitor_alarms_total")
                                              .Help("Alarms raised, by signal")
                                              .Register(*registry);

    prometheus::Family<Gauge>& publishers =
        prometheus::BuildGauge()
            .Name("sightline_monitor_line_publishers")
            .Help("Publishers heard under the line name in the last 10 s (more than 1: two lines share a name)")
            .Register(*registry);

    std::mutex mutex;
    std::map<std::string, std::vector<std::string>> class_names;      ///< model -> names
    std::map<std::string, std::map<std::string, double>> last_totals; ///< camera -> stat counter -> last value
    double publisher_last = 0;
    std::map<std::string, std::map<std::string, int>> standing; ///< camera -> signal -> alarms standing

    /// A counter the line reports as a running total: advance ours by the difference (a restarted line starts
    /// from 0 again: its new total counts in full).
    void advance(Counter& c, double& last, double total) {
        if (total >= last)
            c.Increment(total - last);
        else
            c.Increment(total);
        last = total;
    }
};

namespace {
/// A camera's labels, with `line` when its line names one (a line that names none: the labels of before).
prometheus::Labels with_line(const std::string& line, prometheus::Labels labels) {
    if (!line.empty()) labels.emplace("line", line);
    return labels;
}
const Histogram::BucketBoundaries kLatencyBuckets = {0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1,
                                                     0.15,  0.2,  0.3,  0.5,  1,    2,     5};
} // namespace

void Metrics::sample(const std::string& line, const std::string& camera, const std::string& outcome) {
    impl_->samples.Add({{"line", line}, {"camera", camera}, {"outcome", outcome}}).Increment();
}

void Metrics::collector_problems(std::uint64_t malformed, std::uint64_t write_failures) {
    for (const auto& [kind, total] : {std::pair{"malformed", malformed}, std::pair{"write_failure", write_failures}}) {
        auto& c = impl_->collector_problems.Add({{"kind", kind}});
        if (double(total) > c.Value()) c.Increment(double(total) - c.Value());
    }
}

Metrics::Metrics(const std::string& address) : impl_(std::make_unique<Impl>()) {
    try {
        impl_->exposer = std::make_unique<prometheus::Exposer>(address, 2);
    } catch (const std::exception& e) {
        throw Error(ErrorCode::kTransport, "metrics: cannot serve on " + address + ": " + e.what());
    }
    impl_->exposer->RegisterCollectable(impl_->registry);
    impl_->host = address.substr(0, address.rfind(':'));
}

Metrics::~Metrics() = default;

std::string Metrics::address() const {
    const auto ports = impl_->exposer->GetListeningPorts();
    return impl_->host + ":" + (ports.empty() ? std::string("?") : std::to_string(ports.front()));
}

void Metrics::observe(const transport::Message& m) {
    std::visit([this](const auto& x) { observe(x); }, m);
}

void Metrics::observe(const transport::PredMessage& p) {
    Impl& d = *impl_;
    std::lock_guard lock(d.mutex);
    d.messages.Add({{"type", p.shadow ? "shadow" : "pred"}}).Increment();
    if (p.shadow) return; // a version beside the serving one: its agreement comes with the camera's stats
    const prometheus::Labels cam = with_line(p.line, {{"camera", p.camera}, {"model", p.model}});
    d.frames.Add(cam).Increment();
    const auto names = d.class_names.find(p.model);
    bool any_flag = false;
    for (std::size_t k = 0; k < p.classes.size(); ++k) {
        const int c = p.classes[k];
        const std::string name = names != d.class_names.end() && c >= 0 && c < int(names->second.size())
                                     ? names->second[c]
                                     : std::to_string(c);
        d.detections.Add(with_line(p.line, {{"camera", p.camera}, {"model", p.model}, {"class", name}})).Increment();
        any_flag = any_flag || p.flags[k] != 0;
    }
    if (any_flag) d.flagged.Add(cam).Increment();
    const auto a = p.stamps_ns.find("arrival"), pub = p.stamps_ns.find("published");
    if (a != p.stamps_ns.end() && pub != p.stamps_ns.end())
        d.latency.Add(with_line(p.line, {{"camera", p.camera}}), kLatencyBuckets)
            .Observe((pub->second - a->second) / 1e9);
}

void Metrics::observe(const transport::EventMessage& e) {
    Impl& d = *impl_;
    std::lock_guard lock(d.mutex);
    d.messages.Add({{"type", "event"}}).Increment();
    if ((e.kind == "run_start" || e.kind == "line_info" || e.kind == "model_info") && !e.classes.empty())
        d.class_names[e.message] = e.classes;
}

void Metrics::observe(const transport::StatMessage& st) {
    Impl& d = *impl_;
    std::lock_guard lock(d.mutex);
    d.messages.Add({{"type", "stat"}}).Increment();
    auto& last = d.last_totals[transport::line_camera(st.line, st.camera)];
    for (const auto& [key, cause] : {std::pair{"dropped_behind_total", "behind"}, {"dropped_late_total", "late"}})
        if (auto v = st.values.find(key); v != st.values.end())
            d.advance(d.dropped.Add(with_line(st.line, {{"camera", st.camera}, {"cause", cause}})), last[key],
                      v->second);
    if (auto v = st.values.find("messages_dropped_total"); v != st.values.end())
        d.advance(d.publisher_dropped.Add({}), d.publisher_last, std::max(d.publisher_last, v->second));
    if (auto v = st.values.find("queue_age_ms_max"); v != st.values.end())
        d.queue_age.Add(with_line(st.line, {{"camera", st.camera}})).Set(v->second / 1e3);
    for (const char* name : {"decode", "queue", "infer", "total"})
        for (const char* stat : {"p50", "p99", "max"}) // not "quantile": that label is a summary's (promtool)
            if (auto v = st.values.find(std::string("latency_ms_") + name + "_" + stat); v != st.values.end())
                d.stage.Add(with_line(st.line, {{"camera", st.camera}, {"stage", name}, {"stat", stat}}))
                    .Set(v->second / 1e3);
    // the online evaluation's figures by name: only the ones the line sends (a made-up key never becomes a series)
    // named as `sightline eval` names them: AP at the window's IoU is AP50 (at 0.5), never "ap" (eval's AP is
    // AP@[.5:.95], which the online window does not compute)
    for (const char* metric :
         {"window_s", "iou", "frames", "tp", "fp", "fn", "precision", "recall", "f1", "frames_without_gt_total"})
        if (auto v = st.values.find(std::string("eval_") + metric); v != st.values.end() && v->second >= 0)
            d.online.Add(with_line(st.line, {{"camera", st.camera}, {"metric", metric}})).Set(v->second);
    for (const auto& shadow : agreement_in_stats(st.values)) { // per version beside the serving one
        const AgreementTally& t = shadow.second;
        const auto set = [&](const char* figure, double v) {
            d.agreement.Add(with_line(st.line, {{"camera", st.camera}, {"shadow", shadow.first}, {"figure", figure}}))
                .Set(v);
        };
        set("rate", t.agreement());
        set("frames", static_cast<double>(t.frames));
        set("disagree_frames", static_cast<double>(t.frames_disagreeing));
        set("both", static_cast<double>(t.both));
        set("class_changed", static_cast<double>(t.class_changed));
        set("only_serving", static_cast<double>(t.only_a));
        set("only_shadow", static_cast<double>(t.only_b));
    }
    if (auto iou = st.values.find("eval_iou"); iou != st.values.end())
        if (auto v = st.values.find(OnlineEvaluator::ap_key(iou->second)); v != st.values.end() && v->second >= 0)
            d.online.Add(with_line(st.line, {{"camera", st.camera}, {"metric", "AP" + v->first.substr(7)}}))
                .Set(v->second);
}

void Metrics::quiet(double seconds) {
    std::lock_guard lock(impl_->mutex);
    impl_->quiet.Add({}).Set(seconds);
}

void Metrics::refused() {
    std::lock_guard lock(impl_->mutex);
    impl_->refused.Add({}).Increment();
}

void Metrics::malformed() {
    std::lock_guard lock(impl_->mutex);
    impl_->malformed.Add({}).Increment();
}

void Metrics::window(const MonitorCameraView& v) {
    Impl& d = *impl_;
    std::lock_guard lock(d.mutex);
    const prometheus::Labels cam = with_line(v.line, {{"camera", v.camera}, {"model", v.model}});
    d.fps.Add(cam).Set(v.fps);
    d.reference.Add(cam).Set(v.reference_progress);
    d.armed.Add(cam).Set(v.reference_ready ? v.tests_armed : 0);
    auto& gaps = d.last_totals[transport::line_camera(v.line, v.camera)]["__seq_gaps"];
    d.advance(d.gaps.Add(cam), gaps, static_cast<double>(v.seq_gaps));
    for (const auto& s : v.scores) {
        const prometheus::Labels l =
            with_line(v.line, {{"camera", v.camera}, {"model", v.model}, {"signal", s.signal}, {"test", s.test}});
        d.score.Add(l).Set(s.value);
        d.threshold.Add(l).Set(s.threshold);
    }
}

void Metrics::line_publishers(const std::map<std::string, int>& by_line) {
    std::lock_guard lock(impl_->mutex);
    for (const auto& [line, n] : by_line) impl_->publishers.Add({{"line", line}}).Set(n);
}

void Metrics::alarm(const MonitorAlarm& a) {
    Impl& d = *impl_;
    std::lock_guard lock(d.mutex);
    int& n = d.standing[transport::line_camera(a.line, a.camera)][a.signal];
    n = std::max(0, n + (a.raised ? 1 : -1));
    d.alarm.Add(with_line(a.line, {{"camera", a.camera}, {"signal", a.signal}})).Set(n > 0 ? 1 : 0);
    if (a.raised) d.alarms.Add({{"signal", a.signal}}).Increment();
}

} // namespace sightline::pipeline
