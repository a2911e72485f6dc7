// pipeline::load_run_config: a run config (its camera files and model are looked up; most inputs stop at a key).
#include "fuzz_support.hpp"
#include "sightline/pipeline/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto file = sightline::fuzz::as_file(data, size, "run.yaml");
    sightline::fuzz::refuse_or_accept([&] { (void)sightline::pipeline::load_run_config(file); });
    return 0;
}
