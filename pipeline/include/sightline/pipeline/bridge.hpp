#pragma once
// `sightline bridge`: a line's messages into NATS JetStream (docs/deploy.md). It subscribes to lines as a sink does
// (pred, shadow, stat, event) and takes their samples as a collector does, and publishes the wire's bytes unchanged
// under sightline.<line>.<kind>.<camera>, acknowledging a sample to its line only once JetStream stored it.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "sightline/transport/jetstream.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::pipeline {

struct BridgeOptions {
    std::vector<std::string> endpoints;                ///< lines' publish endpoints (pred, shadow, stat, event)
    std::vector<std::string> samples;                  ///< lines' publish.samples endpoints
    std::vector<transport::CurveClient> curve;         ///< CURVE to the publish endpoints (none, one for all, one each)
    std::vector<transport::CurveClient> samples_curve; ///< and to the samples endpoints
    transport::JetStreamWriterOptions writer;          ///< the servers, messages in flight, ack wait
    transport::StreamSettings stream;                  ///< pred, shadow, stat, event
    transport::StreamSettings samples_stream;          ///< samples
    std::string default_line = "line";                 ///< the line name of messages that carry none (an older line)
    std::string http;                                  ///< /metrics on HOST:PORT; empty: none
    int sample_window = 64;                            ///< samples in flight from each line to this bridge
    double seconds = 0;                                ///< > 0: stop after this long
    double report_s = 10;                              ///< a progress line this often (0: none)
};

struct BridgeSummary {
    std::uint64_t received = 0;  ///< wire messages taken from the lines
    std::uint64_t samples = 0;   ///< samples taken
    std::uint64_t malformed = 0; ///< messages or samples that could not be read (skipped; samples rejected)
    std::uint64_t gaps = 0;      ///< messages missing before the bridge (seq gaps per line and camera)
    transport::JetStreamWriterCounters writer;
    std::size_t unacknowledged = 0; ///< held at the end (not stored; samples among them stay at their line)
};

/// Runs until `stop` (or options.seconds); at the end waits up to 10 s for what is in flight. Error(kTransport)
/// naming the servers when JetStream cannot be reached at the start.
BridgeSummary run_bridge(const BridgeOptions& options, const std::atomic<bool>& stop);

} // namespace sightline::pipeline
