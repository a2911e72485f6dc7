#pragma once
// Prometheus metrics on /metrics (prometheus-cpp's registry and its HTTP exposer), for `sightline run --metrics`
// (the line's own counters, from the messages it publishes) and `sightline monitor --http` (the same from the
// messages it receives, plus the drift scores and the alarms). Names and labels: docs/monitor.md, "Prometheus".
#include <map>
#include <memory>
#include <string>

#include "sightline/pipeline/monitor.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::pipeline {

class Metrics {
  public:
    /// Serves /metrics on `address` (HOST:PORT; port 0 picks one). Throws Error(kTransport) naming the address when
    /// it cannot bind.
    explicit Metrics(const std::string& address);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// The address served, its port resolved.
    std::string address() const;

    /// A wire message seen (published by the line, or received by the monitor): frames, detections per class,
    /// flagged frames, the latency histogram, the line's drop counters (from `stat`), the model's class names.
    void observe(const transport::Message& m);
    void observe(const transport::PredMessage& m);
    void observe(const transport::StatMessage& m);
    void observe(const transport::EventMessage& m);
    /// Monitor only: a message that could not be decoded; a camera's window figures and drift scores; an alarm.
    void malformed();
    void refused();             ///< a message refused past the monitor's state limit
    void quiet(double seconds); ///< seconds since the monitor last heard from any line
    void window(const MonitorCameraView& view);
    void alarm(const MonitorAlarm& alarm);
    /// Publishers heard per line name (Monitor::publishers_by_line): sightline_monitor_line_publishers{line}.
    void line_publishers(const std::map<std::string, int>& by_line);
    /// Collector only: a sample kept (`added`) or already there (`duplicate`), by line and camera
    /// (sightline_collector_samples_total{line,camera,outcome}); the totals of malformed samples and failed writes.
    void sample(const std::string& line, const std::string& camera, const std::string& outcome);
    void collector_problems(std::uint64_t malformed, std::uint64_t write_failures);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// `sightline bridge`'s /metrics (sightline_bridge_*, docs/deploy.md): what it took per line and kind, what
/// JetStream acknowledged, what went again, what it holds.
class BridgeMetrics {
  public:
    /// Serves /metrics on `address` (empty: none, every call a no-op); Error(kTransport) naming it when it cannot.
    explicit BridgeMetrics(const std::string& address);
    ~BridgeMetrics();
    BridgeMetrics(const BridgeMetrics&) = delete;
    BridgeMetrics& operator=(const BridgeMetrics&) = delete;

    void received(const std::string& line, const std::string& kind);
    struct Figures {
        std::uint64_t published = 0, acked = 0, duplicates = 0, retried = 0, failures = 0, malformed = 0, gaps = 0;
        double in_flight = 0, held = 0, lag_s = 0;
        bool connected = false;
    };
    void update(const Figures& f);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::pipeline
