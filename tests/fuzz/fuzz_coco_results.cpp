// pipeline::load_coco_detections_file: a COCO results file (an array, or an object with annotations and images).
#include "fuzz_support.hpp"
#include "sightline/pipeline/coco.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto file = sightline::fuzz::as_file(data, size, "dt.json");
    sightline::fuzz::refuse_or_accept([&] { (void)sightline::pipeline::load_coco_detections_file(file); });
    return 0;
}
