#include "cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "sightline/error.hpp"

namespace sightline::tools {

std::string project_dir() {
    if (const char* home = std::getenv("SIGHTLINE_HOME"); home && *home) return home;
    return SIGHTLINE_SOURCE_DIR;
}

int run_cli(int argc, char** argv, const std::vector<std::pair<std::string, AddCommand>>& commands) {
    // Logs, progress and errors go to stderr; stdout carries only what a command is asked to print (--json -,
    // --json-stats, the eval and demo tables).
    spdlog::set_default_logger(spdlog::stderr_color_mt("sightline"));
    CLI::App app;
    std::string log_level = "info";
    describe_app(app, log_level);
    std::map<std::string, Run> runs;
    for (const auto& [name, add] : commands) runs[name] = add(app);

    if (argc > 1 && argv[1][0] != '-' && !runs.count(argv[1])) {
        std::string known;
        for (const auto& [name, run] : runs) known += (known.empty() ? "" : ", ") + name;
        std::fprintf(stderr, "sightline: unknown command '%s' (commands: %s; see sightline --help)\n", argv[1],
                     known.c_str());
        return 109; // CLI11's exit code for extra arguments
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    spdlog::set_level(spdlog::level::from_str(log_level));
    spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    try {
        for (auto* sub : app.get_subcommands()) return runs.at(sub->get_name())();
    } catch (const Error& e) {
        spdlog::error("{}", e.what());
        return 2;
    } catch (const std::exception& e) {
        spdlog::error("unexpected failure: {}", e.what());
        return 3;
    }
    return 0;
}

} // namespace sightline::tools
