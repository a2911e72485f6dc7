#pragma once
// Options the sinks share: reading NATS JetStream (monitor --nats, collect --nats: servers, stream, durable
// consumer, where a new consumer starts) and the monitor's alarms on MQTT.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "sightline/pipeline/monitor_session.hpp"
#include "sightline/transport/jetstream.hpp"
#include "stop_signals.hpp"

namespace sightline::tools {

struct NatsArgs {
    std::string stream, durable;
    std::vector<std::string> urls;
    std::uint64_t from_seq = 0;
    std::string from_time;

    transport::JetStreamReaderOptions reader(const std::string& client) const {
        transport::JetStreamReaderOptions r;
        r.nats.servers = transport::nats_servers(urls);
        r.nats.name = client;
        r.stream = stream;
        r.durable = durable;
        r.filter = stream == "SIGHTLINE_SAMPLES" ? "sightline.*.sample.*" : "";
        r.start_seq = from_seq;
        if (!from_time.empty()) r.start_time_ns = transport::parse_start_time_ns(from_time);
        r.wait_for_stream = &stop_on_signals(); // a sink may start before the bridge that makes its stream
        return r;
    }
};

inline void add_nats_options(CLI::App* cmd, NatsArgs& a, const char* what) {
    cmd->add_option("--nats", a.urls,
                    std::string("read ") + what +
                        " from NATS JetStream instead (sightline bridge fills it): server URLs, URL[,URL...]");
    cmd->add_option("--stream", a.stream, "with --nats: the stream")->capture_default_str();
    cmd->add_option("--durable", a.durable,
                    "with --nats: the durable consumer's name; a restart with the same name resumes where it left")
        ->capture_default_str();
    cmd->add_option("--from-seq", a.from_seq, "with --nats, a new consumer: start at this stream sequence");
    cmd->add_option("--from-time", a.from_time,
                    "with --nats, a new consumer: start at this time (2026-12-07T03:00:00Z, UTC; or -30m, -2h, -1d "
                    "before now)");
}

/// The monitor's tests: reference, windows, thresholds (docs/monitor.md).
inline void add_test_options(CLI::App* cmd, pipeline::MonitorOptions& m) {
    cmd->add_option("--reference-s", m.reference_s, "seconds of stream time each camera's reference takes")
        ->capture_default_str();
    cmd->add_option("--window-s", m.window_s, "the sliding window tested against the reference, seconds")
        ->capture_default_str();
    cmd->add_option("--time-of-day-hours", m.time_of_day_hours,
                    "a reference per time-of-day bucket of this many hours (UTC, the frames' wall clock; 0: one)")
        ->capture_default_str();
    cmd->add_option("--silence-s", m.silence_s, "wall seconds without a frame before a camera is silent")
        ->capture_default_str();
    cmd->add_option("--latency-p99-ms", m.latency_p99_ms, "alarm when a window's p99 latency exceeds this (0: off)")
        ->capture_default_str();
    cmd->add_option("--min-values", m.min_values, "fewest values a histogram needs (reference and window) to be tested")
        ->capture_default_str();
    cmd->add_option("--ph-threshold", m.ph_threshold,
                    "Page-Hinkley's threshold on the flagged-frame rate, in reference standard deviations")
        ->capture_default_str();
    cmd->add_option("--raise-after", m.raise_after, "tests in a row over the threshold before an alarm stands")
        ->capture_default_str();
    cmd->add_option("--false-alarm-rate", m.false_alarm_rate, "the calibration's false alarms per camera and window")
        ->check(CLI::Range(1e-9, 0.5))
        ->capture_default_str();
    cmd->add_option("--max-states", m.max_states,
                    "camera x model states kept (about 250 kB each at the defaults); messages that would open more "
                    "are refused, counted and logged")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
}

inline void add_mqtt_options(CLI::App* cmd, pipeline::MonitorSessionOptions& o) {
    cmd->add_option("--mqtt", o.mqtt,
                    "alarms on MQTT too, mqtt://HOST[:PORT]: each raised or cleared on <topic>/<line>/<camera>/alarm "
                    "(QoS 1), the camera's standing alarms retained on <topic>/<line>/<camera>/standing");
    cmd->add_option("--mqtt-topic", o.mqtt_topic, "with --mqtt: the topics' prefix")->capture_default_str();
    cmd->add_option("--mqtt-client-id", o.mqtt_client_id, "with --mqtt: this monitor's client id (one per monitor)")
        ->capture_default_str();
}

} // namespace sightline::tools
