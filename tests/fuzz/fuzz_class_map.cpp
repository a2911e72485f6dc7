// pipeline::parse_class_map: an eval --class-map file (a JSON object, or NAME=NAME lines), and the same bytes as
// command-line pairs.
#include "fuzz_support.hpp"
#include "sightline/pipeline/eval_report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto file = sightline::fuzz::as_file(data, size, "map.txt");
    sightline::fuzz::refuse_or_accept([&] { (void)sightline::pipeline::parse_class_map({file.string()}); });
    std::string pairs(reinterpret_cast<const char*>(data), size);
    if (pairs.find('=') != std::string::npos)
        sightline::fuzz::refuse_or_accept([&] { (void)sightline::pipeline::parse_class_map({pairs}); });
    return 0;
}
