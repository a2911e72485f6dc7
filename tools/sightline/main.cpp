// sightline: one binary, one thin file per subcommand.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "cli.hpp"

namespace {

/// `sightline eval` runs in the lean `sightline-eval` beside this binary when it is there: the same command line
/// (one definition, eval_cmd.cpp), a process without OpenCV's and FFmpeg's 150 shared libraries (40 MB of
/// resident memory before any work). SIGHTLINE_EVAL_IN_PROCESS=1 keeps it in this process.
void exec_lean_eval(char** argv) {
    if (const char* v = std::getenv("SIGHTLINE_EVAL_IN_PROCESS"); v && *v && std::strcmp(v, "0") != 0) return;
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return;
    const auto lean = self.parent_path() / "sightline-eval";
    if (::access(lean.c_str(), X_OK) != 0) return;
    ::execv(lean.c_str(), argv); // returns only on failure: then the evaluation runs here
}

} // namespace

int main(int argc, char** argv) {
    using namespace sightline::tools;
    if (argc > 1 && std::strcmp(argv[1], "eval") == 0) exec_lean_eval(argv);
    return run_cli(argc, argv,
                   {{"synth", add_synth},
                    {"demo", add_demo},
                    {"run", add_run},
                    {"eval", add_eval},
                    {"draw", add_draw},
                    {"monitor", add_monitor},
                    {"collect", add_collect}});
}
