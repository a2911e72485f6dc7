// sightline monitor --connect ENDPOINT...: per-camera health and drift alarms (docs/monitor.md);
// sightline monitor report --db FILE --out report.html: the store drawn as a page.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>

#include "commands.hpp"
#include "monitor_session.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/monitor_store.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"
#include "sightline/transport/security.hpp"
#include "stop_signals.hpp"

namespace sightline::tools {

namespace {

/// A recording fed as if received: wall time is each message's own (time_ns), so silence reads as it happened.
void replay(MonitorSession& session, const std::string& file) {
    transport::RecordingReader reader(file);
    transport::EventMessage start{"run_start", "", reader.header().model, reader.header().created_ns};
    start.classes = reader.header().classes;
    session.feed(start, reader.header().created_ns);
    std::string topic;
    transport::Message m;
    std::int64_t wall = reader.header().created_ns, last_tick = wall;
    for (;;) {
        try { // a refused record is counted and skipped, as a malformed message live is
            if (!reader.next(topic, m)) break;
            std::visit([&](const auto& x) { wall = x.time_ns > 0 ? x.time_ns : wall; }, m);
            session.feed(m, wall);
        } catch (const Error& e) {
            session.malformed(e.what());
        }
        if (wall - last_tick >= 1'000'000'000) session.tick(wall), last_tick = wall;
    }
    if (reader.truncated()) spdlog::warn("monitor: {} ends in a cut record (a run killed while writing)", file);
    spdlog::info("monitor: replayed {} messages from {}", reader.records(), file);
}
/// Live: one subscriber on every endpoint until SIGINT/SIGTERM, `seconds` (> 0) or, with `until_end`, every line
/// seen starting has ended; a malformed message is counted and skipped; a tick about once a second.
void watch(MonitorSession& session, const std::vector<std::string>& endpoints, double seconds, bool until_end,
           const std::vector<transport::CurveClient>& curve) {
    const auto& stop = stop_on_signals();
    transport::Subscriber sub(endpoints, {""}, 100000, curve);
    spdlog::info("monitor: watching {} line(s)", endpoints.size());
    const auto start = std::chrono::steady_clock::now();
    auto last_tick = start;
    std::size_t started = 0, ended = 0;
    while (!stop.load()) {
        try {
            if (auto r = sub.receive(std::chrono::milliseconds(100))) {
                const auto* e = std::get_if<transport::EventMessage>(&r->message);
                session.feed(r->message, pipeline::wall_clock_ns());
                started += e && e->kind == "run_start";
                if (e && e->kind == "run_end" && ++ended >= std::max<std::size_t>(1, started) && until_end) break;
            }
        } catch (const Error& e) {
            session.malformed(e.what());
        }
        const auto now = std::chrono::steady_clock::now();
        if (now - last_tick >= std::chrono::seconds(1)) session.tick(pipeline::wall_clock_ns()), last_tick = now;
        if (seconds > 0 && now - start >= std::chrono::duration<double>(seconds)) break;
    }
}
} // namespace

Run add_monitor(CLI::App& app) {
    auto o = std::make_shared<MonitorSessionOptions>();
    auto connect = std::make_shared<std::vector<std::string>>();
    auto replays = std::make_shared<std::vector<std::string>>();
    auto seconds = std::make_shared<double>(0);
    auto until_end = std::make_shared<bool>(false);
    auto report_db = std::make_shared<std::string>(), report_out = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("monitor", command_help("monitor"));
    cmd->add_option("--connect", *connect, "a line's publish endpoint (repeat for several nodes)");
    cmd->add_option("--replay", *replays,
                    "a recording (sightline run --record) to watch instead, at full speed: the "
                    "same windows and alarms as live")
        ->check(CLI::ExistingFile);
    cmd->add_option("--http", o->http, "serve Prometheus metrics on HOST:PORT/metrics (e.g. 127.0.0.1:9464)");
    cmd->add_option("--db", o->db, "the SQLite store: windows, scores, alarms, references (resumed on restart)");
    cmd->add_option("--publish", o->publish, "publish alarm events (event alarm_raised / alarm_cleared) here");
    cmd->add_option("--reference", o->reference, "a saved reference (--save-reference) from a known-good period");
    cmd->add_option("--save-reference", o->save_reference, "write the learned references here (JSON)");
    auto& m = o->monitor;
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
    cmd->add_option("--retention-days", o->retention_days, "keep windows and scores this long in the store")
        ->capture_default_str();
    cmd->add_option("--max-states", m.max_states,
                    "camera x model states kept (about 250 kB each at the defaults); messages that would open more "
                    "are refused, counted and logged")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    auto fixed = std::make_shared<bool>(false);
    cmd->add_flag("--fixed-thresholds", *fixed,
                  "use the default thresholds only (no calibration on the reference's own chunks)");
    cmd->add_option("--seconds", *seconds, "stop after this many seconds (0: at SIGINT/SIGTERM)");
    cmd->add_flag("--until-run-end", *until_end,
                  "stop once every line seen starting (run_start) has ended (run_end); at least one");
    cmd->add_flag("--json", o->json, "print each alarm raised or cleared as a JSON line on stdout");
    auto wait_subs = std::make_shared<int>(-1);
    auto wait_timeout = std::make_shared<double>(10);
    cmd->add_option("--wait-for-subscribers", *wait_subs,
                    "with --publish: before the first message, wait until this many subscribers listen (default: 1 "
                    "with --replay, whose alarms come in a burst; 0 live)")
        ->check(CLI::Range(0, 1000));
    cmd->add_option("--wait-timeout-s", *wait_timeout, "how long to wait for them; then it goes on, saying so")
        ->capture_default_str();
    auto key = std::make_shared<std::string>();
    auto server_keys = std::make_shared<std::vector<std::string>>();
    auto authorized = std::make_shared<std::vector<std::string>>();
    cmd->add_option("--key", *key,
                    "this monitor's secret key file (sightline keys generate): CURVE to the lines, and on --publish");
    cmd->add_option("--server-key", *server_keys,
                    "a line's public key file (its .pub): one for every --connect, or one each in the same order");
    cmd->add_option("--authorized", *authorized,
                    "with --key and --publish: the public key files of the clients admitted to the alarm events "
                    "(none: any client holding this monitor's public key)");
    auto* report = cmd->add_subcommand("report", "Draw a store as a self-contained HTML page");
    report->add_option("--db", *report_db, "the monitor's store")->required()->check(CLI::ExistingFile);
    report->add_option("--out", *report_out, "the page to write")->required();
    return [=] {
        if (report->parsed()) {
            pipeline::MonitorStore store(*report_db);
            pipeline::write_output(*report_out, pipeline::render_monitor_html(store));
            spdlog::info("monitor: wrote {}", *report_out);
            return 0;
        }
        if (connect->empty() == replays->empty())
            throw Error(ErrorCode::kBadInput, "monitor: give --connect ENDPOINT (live) or --replay FILE, not both");
        o->monitor.calibrate = !*fixed;
        if (!key->empty() && !o->publish.empty()) {
            transport::CurveServer curve{transport::load_secret_key(*key), {}};
            for (const auto& f : *authorized) curve.authorized.push_back(transport::load_public_key(f));
            o->publish_curve = std::move(curve);
        } else if (!authorized->empty()) {
            throw Error(ErrorCode::kBadInput, "monitor: --authorized needs --key and --publish");
        }
        if (!o->publish.empty() && !o->publish_curve && !transport::is_local_endpoint(o->publish))
            throw Error(ErrorCode::kBadInput, "monitor: --publish " + o->publish +
                                                  " binds beyond loopback without --key: anyone who reaches the port "
                                                  "reads the alarms (docs/security.md)");
        MonitorSession session(*o);
        if (!session.metrics_address().empty())
            spdlog::info("monitor: metrics on http://{}/metrics", session.metrics_address());
        if (!session.publish_endpoint().empty())
            spdlog::info("monitor: alarms published on {}", session.publish_endpoint());
        const int wait = *wait_subs >= 0 ? *wait_subs : (replays->empty() ? 0 : 1);
        if (!o->publish.empty() && wait > 0 &&
            !session.wait_for_subscribers(wait, std::chrono::milliseconds(static_cast<long>(*wait_timeout * 1000))))
            spdlog::warn("monitor: fewer than {} subscriber(s) on {} after {} s: going on", wait,
                         session.publish_endpoint(), *wait_timeout);
        if (!replays->empty()) {
            for (const auto& f : *replays) replay(session, f);
        } else {
            watch(session, *connect, *seconds, *until_end, transport::load_client_keys(*key, *server_keys));
        }
        session.finish(pipeline::wall_clock_ns());
        const auto& mon = session.monitor();
        std::size_t raised = 0;
        for (const auto& a : session.alarms()) raised += a.raised ? 1 : 0;
        std::uint64_t gaps = 0;
        for (const auto& c : mon.cameras()) gaps += c.seq_gaps;
        spdlog::info("monitor: {} messages, {} camera(s), {} sequence-gap message(s), {} alarm(s) raised, {} "
                     "malformed message(s) skipped, {} refused past the {}-state limit",
                     mon.messages(), mon.cameras().size(), gaps, raised, session.malformed_count(),
                     mon.refused_states(), o->monitor.max_states);
        return session.store_failed() ? 1 : 0;
    };
}

} // namespace sightline::tools
