// Where a monitor session's messages come from: a recording replayed at full speed, or live lines over ZeroMQ.
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "sightline/error.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/monitor_session.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"

namespace sightline::pipeline {

void replay_recording(MonitorSession& session, const std::string& file) {
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

void watch_lines(MonitorSession& session, const WatchOptions& w, const std::atomic<bool>& stop) {
    transport::Subscriber sub(w.endpoints, {""}, 100000, w.curve);
    spdlog::info("monitor: watching {} line(s)", w.endpoints.size());
    const auto start = std::chrono::steady_clock::now();
    auto last_tick = start, last_heard = start;
    std::size_t started = 0, ended = 0;
    bool heard = false, said_quiet = false;
    std::string endpoints;
    for (const auto& e : w.endpoints) endpoints += (endpoints.empty() ? "" : ", ") + e;
    while (!stop.load()) {
        try {
            if (auto r = sub.receive(std::chrono::milliseconds(100))) {
                if (said_quiet) spdlog::info("monitor: hearing from the line(s) again");
                heard = true, said_quiet = false, last_heard = std::chrono::steady_clock::now();
                const auto* e = std::get_if<transport::EventMessage>(&r->message);
                session.feed(r->message, wall_clock_ns());
                started += e && e->kind == "run_start";
                if (e && e->kind == "run_end" && ++ended >= std::max<std::size_t>(1, started) && w.until_run_end) break;
            }
        } catch (const Error& e) {
            session.malformed(e.what());
        }
        const auto now = std::chrono::steady_clock::now();
        if (now - last_tick >= std::chrono::seconds(1)) {
            session.tick(wall_clock_ns()), last_tick = now;
            // a wrong endpoint is not a quiet line: say what answered there and stop
            if (auto problem = sub.problem()) throw Error(ErrorCode::kTransport, "monitor: " + *problem);
            const double quiet = std::chrono::duration<double>(now - last_heard).count();
            session.quiet(quiet);
            if (quiet >= w.quiet_s && !said_quiet) {
                spdlog::warn("monitor: nothing received from {} for {:.0f} s{}", endpoints, quiet,
                             heard ? ""
                                   : " since start: is the line running, and is this its publish.predictions "
                                     "endpoint?");
                said_quiet = true;
            }
            if (w.until_run_end && w.give_up_s > 0 && quiet >= w.give_up_s)
                throw Error(ErrorCode::kTransport, "monitor: nothing received from " + endpoints + " for " +
                                                       std::to_string(static_cast<int>(quiet)) +
                                                       " s with --until-run-end (--give-up-s): giving up");
        }
        if (w.seconds > 0 && now - start >= std::chrono::duration<double>(w.seconds)) break;
    }
}

void log_monitor_summary(const MonitorSession& session) {
    const auto& mon = session.monitor();
    std::size_t learning = 0;
    double least = -1, needed = 0;
    nlohmann::json cams = nlohmann::json::array();
    for (const auto& c : mon.cameras()) {
        if (!c.reference_ready) {
            ++learning, needed = c.reference_needed_s;
            least = least < 0 ? c.reference_learned_s : std::min(least, c.reference_learned_s);
        }
        std::size_t raised = 0;
        for (const auto& a : session.alarms())
            raised += a.raised && a.line == c.line && a.camera == c.camera && a.model == c.model;
        cams.push_back({{"line", c.line},
                        {"camera", c.camera},
                        {"model", c.model},
                        {"slice", c.slice},
                        {"state", c.reference_ready ? "armed" : "learning"},
                        {"reference_learned_s", c.reference_learned_s},
                        {"reference_needed_s", c.reference_needed_s},
                        {"tests_armed", c.tests_armed},
                        {"tests_total", c.tests_total},
                        {"learning_tests", c.learning_tests},
                        {"frames", c.frames},
                        {"alarms_raised", raised},
                        {"alarms_standing", c.active_alarms}});
    }
    nlohmann::json conflicts = nlohmann::json::array();
    for (const auto& c : mon.line_conflicts())
        conflicts.push_back({{"line", c.line}, {"runs", c.runs}, {"endpoints", c.endpoints}});
    if (session.options().json) {
        std::printf("%s\n", nlohmann::json{{"kind", "summary"},
                                           {"messages", mon.messages()},
                                           {"cameras", cams},
                                           {"line_conflicts", conflicts}}
                                .dump()
                                .c_str());
        std::fflush(stdout);
    }
    if (learning > 0)
        spdlog::warn(
            "monitor: {} camera(s) still learning (as little as {:.0f} of the {:.0f} s reference): no drift test "
            "against a reference ran on them, only the change-point tests against their own first seconds; "
            "a shorter --reference-s or a saved --reference arms them",
            learning, least, needed);
    for (const auto& c : mon.line_conflicts())
        spdlog::warn("monitor: line name '{}' was used by {} publishers at once ({}): give each line its own `line:`",
                     c.line, c.runs.size(), fmt::join(c.endpoints, ", "));
    std::set<std::string> lines;
    for (const auto& c : mon.cameras()) lines.insert(c.line);
    std::size_t raised = 0;
    for (const auto& a : session.alarms()) raised += a.raised ? 1 : 0;
    std::uint64_t gaps = 0;
    for (const auto& c : mon.cameras()) gaps += c.seq_gaps;
    spdlog::info(
        "monitor: {} messages, {} line(s), {} camera(s), {} sequence-gap message(s), {} alarm(s) raised, {} malformed "
        "message(s) skipped, {} refused past the {}-state limit",
        mon.messages(), lines.size(), mon.cameras().size(), gaps, raised, session.malformed_count(),
        mon.refused_states(), session.options().monitor.max_states);
}

} // namespace sightline::pipeline
