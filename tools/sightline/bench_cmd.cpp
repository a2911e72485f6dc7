// sightline bench CONFIG [--cameras LIST] [--seconds S] [--p99-ms MS] [--json FILE] [--svg FILE]: what one node
// carries with this config's model(s) and engine (docs/deploy.md, "What one node carries").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/capacity.hpp"
#include "sightline/pipeline/files.hpp"

namespace sightline::tools {

namespace {

struct BenchArgs {
    std::string config, json, svg, live_size = "1920x1080";
    std::vector<int> counts;
    double seconds = 15, p99_ms = 100;
    bool keep_going = false;
};

/// Live cameras play a synthetic scene of --live-size (rendered once under .cache/).
void replace_live_cameras(pipeline::RunConfig& c, const std::string& size) {
    int w = 0, h = 0;
    if (std::sscanf(size.c_str(), "%dx%d", &w, &h) != 2 || w < 16 || h < 16 || w > 16384 || h > 16384)
        throw Error(ErrorCode::kBadInput, "bench: --live-size '" + size + "': give WIDTHxHEIGHT, e.g. 1920x1080");
    pipeline::play_live_cameras_as_scene(c, w, h, std::filesystem::path(project_dir()) / ".cache" / ("bench-" + size));
}

std::string counts_text(const std::vector<int>& counts) {
    std::string s;
    for (int n : counts) s += (s.empty() ? "" : ",") + std::to_string(n);
    return s;
}

void print_row(const pipeline::CapacityRow& r) {
    const auto p99 = [&](const char* k) {
        const auto it = r.stage_ms.find(k);
        return it == r.stage_ms.end() ? 0.0 : it->second.p99;
    };
    std::printf("%7d %8.1f %8llu %8llu | %7.1f %7.1f | %6.1f %6.1f %6.1f %6.1f | %7.2f  %s\n", r.cameras, r.fps,
                (unsigned long long)r.dropped_frames, (unsigned long long)r.dropped_messages, r.receipt_ms.p50,
                r.receipt_ms.p99, p99("decode"), p99("wait"), p99("infer"), p99("publish"), r.cpu_ms_per_frame,
                r.sustained ? "sustained" : "NOT sustained");
    std::fflush(stdout);
}

int run_bench(BenchArgs& a) {
    pipeline::RunConfig base = pipeline::load_run_config(a.config);
    if (base.cameras.empty()) throw Error(ErrorCode::kBadInput, "bench: " + a.config + " names no camera");
    replace_live_cameras(base, a.live_size);
    if (a.counts.empty()) {
        for (int n = 1; n < int(base.cameras.size()) * 4 && n <= 64; n *= 2) a.counts.push_back(n);
        a.counts.push_back(int(base.cameras.size()) * 4);
        std::sort(a.counts.begin(), a.counts.end());
        a.counts.erase(std::unique(a.counts.begin(), a.counts.end()), a.counts.end());
    }
    std::string models;
    for (const auto& v : base.versions()) models += (models.empty() ? "" : ", ") + v.id;
    std::printf("bench %s: camera counts %s, %.0f s each, the config's cameras looped at real time, model(s) %s, "
                "engine %s; sustained = no frame or message dropped and arrival->receipt p99 < %.0f ms\n",
                a.config.c_str(), counts_text(a.counts).c_str(), a.seconds, models.c_str(), base.engine.c_str(),
                a.p99_ms);
    std::printf("%7s %8s %8s %8s | %7s %7s | %-27s | %7s\n", "cameras", "fps", "dropped", "msg drop", "rcpt p50",
                "p99 ms", "stage p99 ms: decode wait infer publish", "CPU ms/f");
    pipeline::CapacityOptions co;
    co.seconds = a.seconds, co.p99_ms = a.p99_ms;
    std::vector<pipeline::CapacityRow> rows;
    int sustained = 0, failed_in_a_row = 0;
    for (const int n : a.counts) {
        auto cfg = pipeline::with_cameras(base, n);
        rows.push_back(pipeline::measure_line(cfg, pipeline::make_engines(cfg), co));
        print_row(rows.back());
        if (rows.back().sustained) {
            sustained = std::max(sustained, n), failed_in_a_row = 0;
        } else if (++failed_in_a_row >= 2 && !a.keep_going) {
            std::printf("(two counts in a row not sustained: the larger ones are skipped; --keep-going runs them)\n");
            break;
        }
    }
    std::printf("largest camera count sustained: %d\n", sustained);
    if (!a.json.empty()) {
        pipeline::write_output(
            a.json, pipeline::capacity_json({a.config, models, base.engine, a.p99_ms, a.seconds, sustained, rows}));
        spdlog::info("bench: wrote {}", a.json);
    }
    if (!a.svg.empty()) {
        pipeline::write_output(a.svg, pipeline::capacity_svg(rows, a.p99_ms, "sightline bench " + a.config));
        spdlog::info("bench: wrote {}", a.svg);
    }
    return 0;
}

} // namespace

Run add_bench(CLI::App& app) {
    auto a = std::make_shared<BenchArgs>();
    auto* cmd = app.add_subcommand("bench", command_help("bench"));
    cmd->add_option("config", a->config, "the run config (its model(s), engine, batching, cameras)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--cameras", a->counts,
                    "camera counts to run, comma-separated (default: 1, 2, 4, ... up to 4x the config's cameras)")
        ->delimiter(',')
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--seconds", a->seconds, "seconds per camera count")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 86400.0));
    cmd->add_option("--p99-ms", a->p99_ms, "the arrival->receipt p99 a sustained count stays under")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 1e6));
    cmd->add_option("--live-size", a->live_size,
                    "live cameras (URLs) play a synthetic scene of this size instead (WIDTHxHEIGHT)")
        ->capture_default_str();
    cmd->add_option("--json", a->json, "write the rows as JSON here");
    cmd->add_option("--svg", a->svg, "draw receipt p99 and frame rate against the camera count here (SVG)");
    cmd->add_flag("--keep-going", a->keep_going, "run every count, also after two in a row were not sustained");
    return [a] { return run_bench(*a); };
}

} // namespace sightline::tools
