// The ONNX head cut (output.cut) and the Ultralytics head finder: an ONNX file, cut at each of a few tensor names.
#include "fuzz_support.hpp"
#include "pipeline/src/engine/onnx_cut.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto file = sightline::fuzz::as_file(data, size, "model.onnx");
    (void)sightline::pipeline::find_ultralytics_raw_head(file); // "empty when it cannot be read": never throws
    for (const char* output : {"head", "output0", "x", ""})
        sightline::fuzz::refuse_or_accept([&] { (void)sightline::pipeline::cut_onnx(file, output); });
    return 0;
}
