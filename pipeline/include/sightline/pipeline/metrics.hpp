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

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::pipeline
