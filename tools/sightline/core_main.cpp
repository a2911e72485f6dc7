// sightline-core: every subcommand in one binary (the one that links OpenCV, FFmpeg, ZeroMQ...); the `sightline`
// launcher (main.cpp) execs it for all of them but eval, which runs in the lean sightline-eval.
#include "cli.hpp"

int main(int argc, char** argv) {
    using namespace sightline::tools;
    return run_cli(argc, argv,
                   {{"synth", add_synth},
                    {"demo", add_demo},
                    {"run", add_run},
                    {"eval", add_eval},
                    {"draw", add_draw},
                    {"monitor", add_monitor},
                    {"collect", add_collect},
                    {"keys", add_keys},
                    {"compare", add_compare},
                    {"ctl", add_ctl},
                    {"bridge", add_bridge},
                    {"bench", add_bench}});
}
