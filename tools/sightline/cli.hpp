#pragma once
// The command line both binaries share: `sightline` with every subcommand, and the lean `sightline-eval` with the
// evaluation alone (no OpenCV, FFmpeg or engines linked), which `sightline eval` runs in its place.
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"

namespace sightline::tools {

using AddCommand = Run (*)(CLI::App&);

/// Parses argv (argv[1] names the subcommand) against the given subcommands, sets up logging, runs the one named;
/// returns the process's exit code (2 for a sightline::Error, 3 for anything else unexpected).
int run_cli(int argc, char** argv, const std::vector<std::pair<std::string, AddCommand>>& commands);

} // namespace sightline::tools
