// sightline: the command users run, a launcher. It links nothing heavy and execs the binary beside it that runs the
// subcommand: sightline-eval (the evaluation alone: no OpenCV, FFmpeg, ZeroMQ or engines) for eval, sightline-core
// for the others; the process keeps its id, arguments and exit code. `sightline --help` and `--version` are answered
// here, so neither pays the 150 shared libraries' start-up (about 50 ms). SIGHTLINE_EVAL_IN_PROCESS=1 runs eval in
// sightline-core too (the same code).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "commands.hpp"

namespace {

/// The subcommand's name: the first argument that is neither an option nor --log-level's value.
std::string subcommand(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--log-level") == 0) {
            ++i;
            continue;
        }
        if (argv[i][0] != '-') return argv[i];
    }
    return "";
}

bool eval_in_process() {
    const char* v = std::getenv("SIGHTLINE_EVAL_IN_PROCESS");
    return v && *v && std::strcmp(v, "0") != 0;
}

} // namespace

int main(int argc, char** argv) {
    using namespace sightline::tools;
    const std::string sub = subcommand(argc, argv);
    if (*command_help(sub)) {
        std::error_code ec;
        const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
        const auto dir = ec ? std::filesystem::path(argv[0]).parent_path() : self.parent_path();
        const auto binary = dir / (sub == "eval" && !eval_in_process() ? "sightline-eval" : "sightline-core");
        ::execv(binary.c_str(), argv);
        std::fprintf(stderr, "sightline: cannot run %s: %s (it is built beside sightline)\n", binary.c_str(),
                     std::strerror(errno));
        return 2;
    }
    if (!sub.empty()) {
        std::string known;
        for (const auto& c : kCommands) known += (known.empty() ? "" : ", ") + std::string(c.name);
        std::fprintf(stderr, "sightline: unknown command '%s' (commands: %s; see sightline --help)\n", sub.c_str(),
                     known.c_str());
        return 109; // CLI11's exit code for extra arguments
    }
    CLI::App app; // no subcommand named: --help, --version, or a usage error, as the binaries would answer
    std::string log_level;
    describe_app(app, log_level);
    for (const auto& c : kCommands) app.add_subcommand(c.name, c.help);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return 0;
}
