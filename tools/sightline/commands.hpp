#pragma once
// Each subcommand registers its flags on the CLI11 app and returns the function that runs it.
#include <CLI/CLI.hpp>
#include <functional>

namespace sightline::tools {

using Run = std::function<int()>;

Run add_synth(CLI::App& app);
Run add_demo(CLI::App& app);
Run add_run(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_draw(CLI::App& app);
Run add_monitor(CLI::App& app);
Run add_collect(CLI::App& app);

/// Where the project's data lives (models/, the demo cache): $SIGHTLINE_HOME, else the source tree it was built from.
std::string project_dir();

} // namespace sightline::tools
