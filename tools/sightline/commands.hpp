#pragma once
// Each subcommand registers its flags on the CLI11 app and returns the function that runs it.
#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>

namespace sightline::tools {

using Run = std::function<int()>;

/// Every subcommand with its one-line description: the launcher's `sightline --help` lists them without loading
/// the binaries that run them; each add_*() registers its own under the same words.
struct CommandInfo {
    const char* name;
    const char* help;
};
inline constexpr CommandInfo kCommands[] = {
    {"synth", "Render a synthetic camera line: DIR/<camera>.mp4 (H.264) + DIR/<camera>.json (COCO)"},
    {"demo", "The embedded default: render the demo scene (cached) and run what exists end to end"},
    {"run",
     "Run the line: decode every camera, detect, publish predictions over ZeroMQ (docs/config.md, docs/wire.md)"},
    {"eval", "COCO detection metrics (pycocotools-exact) from ground truth and results"},
    {"draw", "Draw a run's predictions onto its video: boxes coloured per class with class and score, flagged "
             "detections dashed, as an MP4"},
    {"monitor", "Watch one or more lines: per-camera health, drift alarms, Prometheus metrics, an embedded store and a "
                "report (docs/monitor.md)"},
    {"collect", "Receive sampled frames from lines and keep them as a dataset (docs/collector.md); export it for "
                "labeling tools"},
    {"keys", "CURVE key pairs for lines and sinks that talk across machines (docs/security.md)"},
    {"compare", "Two model versions on the same frames: their recordings matched box by box, per camera and class "
                "(docs/versions.md)"},
    {"ctl", "A running line's control socket: load a model version, switch a camera to it, unload one, status "
            "(docs/versions.md)"},
    {"bench", "What one node carries with a run config's model and engine: camera counts swept, the count sustained, "
              "latency per stage, CPU per frame (text, JSON, SVG)"},
    {"bridge", "Lines into NATS JetStream: a durable, replicated log that sinks on other machines read "
               "(docs/deploy.md)"},
};
inline const char* command_help(std::string_view name) {
    for (const auto& c : kCommands)
        if (name == c.name) return c.help;
    return "";
}
/// The top-level app both the launcher and the binaries build: the description, --version, --log-level.
inline void describe_app(CLI::App& app, std::string& log_level) {
    app.name("sightline");
    app.description("sightline: camera lines at line speed, with verified metrics and uncertainty over ZeroMQ");
    app.set_version_flag("--version", SIGHTLINE_VERSION);
    app.require_subcommand(1);
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
}

Run add_synth(CLI::App& app);
Run add_demo(CLI::App& app);
Run add_run(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_draw(CLI::App& app);
Run add_monitor(CLI::App& app);
Run add_collect(CLI::App& app);
Run add_keys(CLI::App& app);
Run add_compare(CLI::App& app);
Run add_ctl(CLI::App& app);
Run add_bridge(CLI::App& app);
Run add_bench(CLI::App& app);
/// `collect import` and `collect snapshot` on the collect subcommand; the Run returns kNotParsed when neither ran.
inline constexpr int kNotParsed = -1;
Run add_collect_labels(CLI::App& collect);

/// Where the project's data lives (models/, the demo cache): $SIGHTLINE_HOME, else the source tree it was built from.
std::string project_dir();

} // namespace sightline::tools
