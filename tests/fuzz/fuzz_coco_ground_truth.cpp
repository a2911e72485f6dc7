// pipeline::load_coco_ground_truth_file: a COCO instances file.
#include "fuzz_support.hpp"
#include "sightline/pipeline/coco.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto file = sightline::fuzz::as_file(data, size, "gt.json");
    sightline::fuzz::refuse_or_accept([&] { (void)sightline::pipeline::load_coco_ground_truth_file(file); });
    return 0;
}
