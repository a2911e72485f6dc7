#pragma once
// The options a sink that reads NATS JetStream takes (monitor --nats, collect --nats): servers, stream, durable
// consumer, where a new consumer starts.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

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

} // namespace sightline::tools
