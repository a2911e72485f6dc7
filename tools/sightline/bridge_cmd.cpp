// sightline bridge --connect ENDPOINT... --nats URL[,URL...]: lines into NATS JetStream (docs/deploy.md).
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/bridge.hpp"
#include "sightline/transport/security.hpp"
#include "stop_signals.hpp"

namespace sightline::tools {

namespace {

struct BridgeArgs {
    pipeline::BridgeOptions o;
    std::vector<std::string> nats, server_keys, samples_server_keys;
    std::string key;
    int replicas = 0;
    bool memory = false;
    double max_age_h = 24, samples_max_age_h = 24 * 7;
    std::int64_t max_bytes = -1;
};

void add_stream_options(CLI::App* cmd, BridgeArgs& a) {
    cmd->add_option("--stream", a.o.stream.name,
                    "the stream for pred, shadow, stat and event messages (created if "
                    "missing)")
        ->capture_default_str();
    cmd->add_option("--samples-stream", a.o.samples_stream.name, "the stream for samples (created if missing)")
        ->capture_default_str();
    cmd->add_option("--replicas", a.replicas,
                    "copies of each message (a new stream's; default: 3 when 3 or more servers are named, else 1)")
        ->check(CLI::Range(1, 5));
    cmd->add_flag("--memory", a.memory, "a new stream in memory instead of files (lost when its servers stop)");
    cmd->add_option("--max-age-h", a.max_age_h, "a new stream keeps messages this many hours (0: no limit)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--samples-max-age-h", a.samples_max_age_h, "and the samples stream this many")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--max-bytes", a.max_bytes, "a new stream's size limit, oldest dropped first (-1: none)")
        ->capture_default_str();
    cmd->add_option("--dedup-window-s", a.o.stream.duplicate_window_s,
                    "a message id seen within this window is stored once (covers a bridge's restart)")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 86400.0));
}

void add_bridge_options(CLI::App* cmd, BridgeArgs& a) {
    cmd->add_option("--connect", a.o.endpoints, "a line's publish endpoint (repeat for several lines)");
    cmd->add_option("--samples", a.o.samples,
                    "a line's publish.samples endpoint: its samples are acknowledged to it once JetStream stored "
                    "them (repeat for several lines)");
    cmd->add_option("--nats", a.nats, "NATS server URLs, URL[,URL...] (any of the cluster's; repeatable)")->required();
    cmd->add_option("--max-in-flight", a.o.writer.max_in_flight, "publishes awaiting JetStream's ack at once")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    cmd->add_option("--ack-wait-s", a.o.writer.ack_wait_s, "an ack not heard this long: the message goes again")
        ->capture_default_str()
        ->check(CLI::Range(0.05, 600.0));
    cmd->add_option("--line", a.o.default_line, "the line name of messages that carry none (an older line)")
        ->capture_default_str();
    cmd->add_option("--http", a.o.http, "serve the bridge's Prometheus metrics on HOST:PORT/metrics");
    cmd->add_option("--sample-window", a.o.sample_window, "samples each line may have in flight to this bridge")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000));
    cmd->add_option("--seconds", a.o.seconds, "stop after this many seconds (0: at SIGINT/SIGTERM)")
        ->capture_default_str();
    cmd->add_option("--report-s", a.o.report_s, "a progress line this often (0: none)")->capture_default_str();
    cmd->add_option("--key", a.key, "this bridge's secret key file (sightline keys generate): CURVE to the lines");
    cmd->add_option("--server-key", a.server_keys, "a line's public key file: one for every --connect, or one each");
    cmd->add_option("--samples-server-key", a.samples_server_keys,
                    "a line's public key file: one for every --samples, or one each");
}

int run_bridge(BridgeArgs& a) {
    auto& o = a.o;
    o.writer.nats.servers = transport::nats_servers(a.nats);
    o.writer.nats.name = "sightline bridge";
    const int replicas = a.replicas > 0 ? a.replicas : (o.writer.nats.servers.size() >= 3 ? 3 : 1);
    o.stream.subjects = {"sightline.*.pred.*", "sightline.*.shadow.*", "sightline.*.stat.*", "sightline.*.event"};
    o.samples_stream.subjects = {"sightline.*.sample.*"};
    for (auto* st : {&o.stream, &o.samples_stream}) {
        st->replicas = replicas;
        st->file_storage = !a.memory;
        st->max_bytes = a.max_bytes;
        st->duplicate_window_s = o.stream.duplicate_window_s;
    }
    o.stream.max_age_s = a.max_age_h * 3600;
    o.samples_stream.max_age_s = a.samples_max_age_h * 3600;
    o.curve = transport::load_client_keys(a.key, a.server_keys);
    o.samples_curve = transport::load_client_keys(a.key, a.samples_server_keys);
    const auto s = pipeline::run_bridge(o, stop_on_signals());
    return s.unacknowledged == 0 ? 0 : 1;
}

} // namespace

Run add_bridge(CLI::App& app) {
    auto a = std::make_shared<BridgeArgs>();
    a->o.stream.name = "SIGHTLINE";
    a->o.samples_stream.name = "SIGHTLINE_SAMPLES";
    auto* cmd = app.add_subcommand("bridge", command_help("bridge"));
    add_bridge_options(cmd, *a);
    add_stream_options(cmd, *a);
    return [a] { return run_bridge(*a); };
}

} // namespace sightline::tools
