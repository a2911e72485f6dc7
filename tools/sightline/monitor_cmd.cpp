// sightline monitor --connect ENDPOINT...: per-camera health and drift alarms (docs/monitor.md);
// sightline monitor report --db FILE --out report.html: the store drawn as a page.
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/pipeline/jetstream_sinks.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/monitor_session.hpp"
#include "sightline/pipeline/monitor_store.hpp"
#include "sightline/transport/security.hpp"
#include "sink_options.hpp"
#include "stop_signals.hpp"

namespace sightline::tools {

namespace {

struct MonitorArgs {
    pipeline::MonitorSessionOptions session;
    pipeline::WatchOptions watch;
    NatsArgs nats{"SIGHTLINE", "monitor"};
    std::vector<std::string> replays, server_keys, authorized;
    std::string key, report_db, report_out;
    bool fixed = false;
    int wait_subscribers = -1;
    double wait_timeout_s = 10;
};

void add_output_options(CLI::App* cmd, MonitorArgs& a) {
    auto& o = a.session;
    cmd->add_option("--http", o.http, "serve Prometheus metrics on HOST:PORT/metrics (e.g. 127.0.0.1:9464)");
    cmd->add_option("--db", o.db, "the SQLite store: windows, scores, alarms, references (resumed on restart)");
    cmd->add_option("--publish", o.publish, "publish alarm events (event alarm_raised / alarm_cleared) here");
    cmd->add_option("--reference", o.reference, "a saved reference (--save-reference) from a known-good period");
    cmd->add_option("--save-reference", o.save_reference, "write the learned references here (JSON)");
    cmd->add_option("--retention-days", o.retention_days, "keep windows and scores this long in the store")
        ->capture_default_str();
    cmd->add_flag("--json", o.json, "print each alarm raised or cleared as a JSON line on stdout");
    add_mqtt_options(cmd, o);
    cmd->add_option("--wait-for-subscribers", a.wait_subscribers,
                    "with --publish: before the first message, wait until this many subscribers listen (default: 1 "
                    "with --replay, whose alarms come in a burst; 0 live)")
        ->check(CLI::Range(0, 1000));
    cmd->add_option("--wait-timeout-s", a.wait_timeout_s, "how long to wait for them; then it goes on, saying so")
        ->capture_default_str();
}

void add_input_options(CLI::App* cmd, MonitorArgs& a) {
    cmd->add_option("--connect", a.watch.endpoints, "a line's publish endpoint (repeat for several nodes)");
    cmd->add_option("--replay", a.replays,
                    "a recording (sightline run --record) to watch instead, at full speed: the same windows and "
                    "alarms as live")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--fixed-thresholds", a.fixed, "the default thresholds only (no calibration on the reference)");
    cmd->add_option("--seconds", a.watch.seconds, "stop after this many seconds (0: at SIGINT/SIGTERM)");
    cmd->add_flag("--until-run-end", a.watch.until_run_end,
                  "stop once every line seen starting (run_start) has ended (run_end); at least one");
    add_nats_options(cmd, a.nats, "pred, shadow, stat and event messages");
    cmd->add_option("--give-up-s", a.watch.give_up_s,
                    "with --until-run-end: nothing received this long ends it, exit status 2 (0: wait forever)")
        ->capture_default_str();
    cmd->add_option("--key", a.key,
                    "this monitor's secret key file (sightline keys generate): CURVE to the lines, and on --publish");
    cmd->add_option("--server-key", a.server_keys,
                    "a line's public key file (its .pub): one for every --connect, or one each in the same order");
    cmd->add_option("--authorized", a.authorized,
                    "with --key and --publish: the public key files of the clients admitted to the alarm events "
                    "(none: any client holding this monitor's public key)");
}

/// CURVE on the alarm socket (the session refuses to publish beyond loopback without it).
void secure_publish(MonitorArgs& a) {
    auto& o = a.session;
    if (!a.key.empty() && !o.publish.empty()) {
        transport::CurveServer curve{transport::load_secret_key(a.key), {}};
        for (const auto& f : a.authorized) curve.authorized.push_back(transport::load_public_key(f));
        o.publish_curve = std::move(curve);
    } else if (!a.authorized.empty()) {
        throw Error(ErrorCode::kBadInput, "monitor: --authorized needs --key and --publish");
    }
}

int run_monitor(MonitorArgs& a) {
    if (int(!a.watch.endpoints.empty()) + int(!a.replays.empty()) + int(!a.nats.urls.empty()) != 1)
        throw Error(ErrorCode::kBadInput,
                    "monitor: give one of --connect ENDPOINT (live), --replay FILE or --nats URL (JetStream)");
    a.session.monitor.calibrate = !a.fixed;
    secure_publish(a);
    pipeline::MonitorSession session(a.session);
    const int wait = a.wait_subscribers >= 0 ? a.wait_subscribers : (a.replays.empty() ? 0 : 1);
    const auto timeout = std::chrono::milliseconds(static_cast<long>(a.wait_timeout_s * 1000));
    if (!a.session.publish.empty() && wait > 0 && !session.wait_for_subscribers(wait, timeout))
        spdlog::warn("monitor: fewer than {} subscriber(s) on {} after {} s: going on", wait,
                     session.publish_endpoint(), a.wait_timeout_s);
    for (const auto& f : a.replays) pipeline::replay_recording(session, f);
    if (!a.nats.urls.empty()) {
        pipeline::JetStreamWatchOptions w;
        w.reader = a.nats.reader("sightline monitor");
        w.seconds = a.watch.seconds, w.until_run_end = a.watch.until_run_end, w.give_up_s = a.watch.give_up_s;
        pipeline::watch_jetstream(session, w, stop_on_signals());
    } else if (a.replays.empty()) {
        a.watch.curve = transport::load_client_keys(a.key, a.server_keys);
        pipeline::watch_lines(session, a.watch, stop_on_signals());
    }
    session.finish(pipeline::wall_clock_ns());
    pipeline::log_monitor_summary(session);
    return session.store_failed() ? 1 : 0;
}

} // namespace

Run add_monitor(CLI::App& app) {
    auto a = std::make_shared<MonitorArgs>();
    auto* cmd = app.add_subcommand("monitor", command_help("monitor"));
    add_input_options(cmd, *a);
    add_output_options(cmd, *a);
    add_test_options(cmd, a->session.monitor);
    auto* report = cmd->add_subcommand("report", "Draw a store as a self-contained HTML page");
    report->add_option("--db", a->report_db, "the monitor's store")->required()->check(CLI::ExistingFile);
    report->add_option("--out", a->report_out, "the page to write")->required();
    return [a, report] {
        if (!report->parsed()) return run_monitor(*a);
        pipeline::MonitorStore store(a->report_db, pipeline::MonitorStore::Role::kReader); // beside a running monitor
        pipeline::write_output(a->report_out, pipeline::render_monitor_html(store));
        spdlog::info("monitor: wrote {}", a->report_out);
        return 0;
    };
}

} // namespace sightline::tools
