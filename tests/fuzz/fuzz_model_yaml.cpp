// pipeline::load_model_spec: a model.yaml.
#include "fuzz_support.hpp"
#include "sightline/pipeline/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto file = sightline::fuzz::as_file(data, size, "model.yaml");
    sightline::fuzz::refuse_or_accept([&] { (void)sightline::pipeline::load_model_spec(file); });
    return 0;
}
