// sightline run CONFIG.yaml: cameras -> detector -> ZeroMQ, until the sources end or SIGINT/SIGTERM.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <malloc.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/pipeline/metrics.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/transport/pubsub.hpp"
#include "stop_signals.hpp"

namespace sightline::tools {

namespace {

/// Every stat message as a JSON line on stdout (--json-stats); the status line, rewritten in place on a terminal's
/// stderr, else logged (stderr) every kHeadlessEvery so a long headless run says how it goes.
constexpr auto kHeadlessEvery = std::chrono::seconds(10);

void print_stats(std::span<const transport::StatMessage> stats, bool json, bool status_line,
                 const std::string& endpoint) {
    static std::chrono::steady_clock::time_point last_logged{};
    std::string line;
    for (const auto& st : stats) {
        if (json) {
            nlohmann::json j = {{"camera", st.camera},
                                {"time_ns", st.time_ns},
                                {"endpoint", endpoint},
                                {"model", st.model},
                                {"values", st.values}};
            std::printf("%s\n", j.dump().c_str());
            std::fflush(stdout);
        }
        const auto v = [&](const std::string& k) { return st.values.count(k) ? st.values.at(k) : 0.0; };
        line += fmt::format("{}{} {:.1f} fps p50 {:.0f} p99 {:.0f} ms drop {}", line.empty() ? "" : " | ", st.camera,
                            v("fps"), v("latency_ms_total_p50"), v("latency_ms_total_p99"), v("dropped_behind_total"));
        if (const auto ap = pipeline::OnlineEvaluator::ap_key(v("eval_iou")); st.values.count(ap) && v(ap) >= 0)
            line += fmt::format(" AP{} {:.3f}", ap.substr(7), v(ap));
    }
    if (status_line) {
        std::fprintf(stderr, "\r%s\033[K", line.c_str());
    } else if (const auto now = std::chrono::steady_clock::now(); now - last_logged >= kHeadlessEvery) {
        spdlog::info("run: {}", line);
        last_logged = now;
    }
}
struct RunArgs {
    std::string config, record, metrics_address;
    bool json_stats = false, check = false;
};

/// --check: every file camera opens and decodes a frame, a forward pass matches model.yaml.
int check_line(pipeline::Line& line, const RunArgs& a, std::size_t cameras, const std::string& endpoint) {
    line.check_cameras();
    line.self_test();
    std::printf("%s: OK: %zu camera(s), model %s via %s (a forward pass checked), publishing on %s\n", a.config.c_str(),
                cameras, line.model().c_str(), line.detector().engine().describe().c_str(), endpoint.c_str());
    return 0;
}

int run_line(const RunArgs& a) {
    if (a.record == "-" && a.json_stats)
        throw Error(ErrorCode::kBadInput, "--record - and --json-stats: only one of them can go to standard output");
    // A line runs for months with many threads (a decoder per camera, the engine's, TBB's): glibc gives each
    // thread that allocates its own arena (up to 8 per core), and they fill with fragments for the first half
    // hour, +5 MB/hour in the soak (bench/README.md). Four arenas hold it flat; MALLOC_ARENA_MAX overrides.
    if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 4);
    const auto& stop = stop_on_signals(); // first: a stop while the model loads still ends cleanly (run_end, exit 0)
    auto cfg = pipeline::load_run_config(a.config);
    spdlog::info("{}", kernels::describe_device());
    auto engines = pipeline::make_engines(cfg);
    const bool status_line = isatty(fileno(stderr));
    pipeline::LineOptions options;
    if (!a.check) options.record = a.record; // a check writes nothing
    std::string endpoint = cfg.publish.predictions;
    std::unique_ptr<pipeline::Metrics> metrics;
    if (!a.metrics_address.empty() && !a.check) metrics = std::make_unique<pipeline::Metrics>(a.metrics_address);
    options.on_stats = [&](std::span<const transport::StatMessage> s) {
        print_stats(s, a.json_stats, status_line, endpoint);
        if (metrics)
            for (const auto& st : s) metrics->observe(st);
    };
    if (metrics)
        options.on_frame = [&](const pipeline::FrameOutput&, const transport::PredMessage& p) { metrics->observe(p); };
    pipeline::Line line(cfg, std::move(engines), options);
    if (metrics) {
        transport::EventMessage start{"run_start", "", line.model(), 0};
        start.classes = line.detector().spec().classes;
        metrics->observe(start);
        spdlog::info("run: metrics on http://{}/metrics", metrics->address());
    }
    endpoint = line.publisher().bound_endpoint(); // a wildcard port resolved
    spdlog::info("run: {} camera(s), model {} via {}", cfg.cameras.size(), line.model(),
                 line.detector().engine().describe());
    if (a.check) return check_line(line, a, cfg.cameras.size(), endpoint);
    const auto summary = line.run(stop);
    if (status_line) std::fputc('\n', stderr);
    return pipeline::log_run_summary(cfg, summary, a.record) ? 0 : 1;
}

} // namespace

Run add_run(CLI::App& app) {
    auto a = std::make_shared<RunArgs>();
    auto* cmd = app.add_subcommand("run", command_help("run"));
    cmd->add_option("config", a->config, "the run configuration (YAML)")->required();
    cmd->add_flag("--json-stats", a->json_stats,
                  "print every stat message as one JSON line on stdout (the status line goes to a terminal only)");
    cmd->add_option("--record", a->record,
                    "also write every published message (pred, stat, event) to this file, lossless whatever the "
                    "subscribers do; `sightline eval --dt FILE` scores it (format: docs/wire.md, Recordings); - for "
                    "standard output; a FILE another run is writing is refused");
    cmd->add_flag("--check", a->check,
                  "check the config and exit: every camera file opens and decodes a frame, the model loads into its "
                  "engine and one forward pass "
                  "matches model.yaml, every ground truth reads, the publish endpoint binds (network cameras are not "
                  "dialled: they reconnect by design)");
    cmd->add_option("--metrics", a->metrics_address,
                    "serve the line's own Prometheus metrics on HOST:PORT/metrics (frames, detections per class, the "
                    "latency histogram, drops; docs/monitor.md): a single node needs no monitor to be scraped");
    return [a] { return run_line(*a); };
}

} // namespace sightline::tools
