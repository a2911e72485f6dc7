#pragma once
// The sinks' side: a monitor and a collector reading JetStream as durable consumers (`monitor --nats`,
// `collect --nats`): replay from a sequence or a time when the consumer is new, resume where it left otherwise.
#include <atomic>
#include <memory>

#include "sightline/pipeline/dataset.hpp"
#include "sightline/pipeline/monitor_session.hpp"
#include "sightline/transport/jetstream.hpp"

namespace sightline::pipeline {

struct JetStreamWatchOptions {
    transport::JetStreamReaderOptions reader; ///< stream SIGHTLINE, a durable name ("monitor" by default)
    double seconds = 0;                       ///< > 0: stop after this long
    bool until_run_end = false;               ///< stop once every line seen starting has ended
    double give_up_s = 60;                    ///< with until_run_end: nothing new this long ends it (Error)
    double quiet_s = 5;                       ///< nothing new this long: a warning (once per silence)
};

/// Feeds the monitor from the stream. Each message is fed at its own wall time (time_ns; the stream's time when it
/// has none), so a backlog replays as it happened, as a recording does; silence is ticked on the wall clock once the
/// consumer has caught up. Messages are acknowledged after the tick that commits the store; a malformed one is
/// counted and never delivered again.
void watch_jetstream(MonitorSession& session, const JetStreamWatchOptions& options, const std::atomic<bool>& stop);

/// Samples from a JetStream stream (SIGHTLINE_SAMPLES): acknowledged there once durable in the dataset.
std::unique_ptr<SampleSource> jetstream_samples(const transport::JetStreamReaderOptions& options);

} // namespace sightline::pipeline
