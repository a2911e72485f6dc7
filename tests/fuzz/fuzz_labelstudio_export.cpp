// pipeline::read_labelstudio_export: a Label Studio JSON export brought back by `collect import`.
#include "fuzz_support.hpp"
#include "sightline/pipeline/labels.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<sightline::pipeline::DatasetSample> samples = [] {
        std::vector<sightline::pipeline::DatasetSample> v(2);
        for (int i = 0; i < 2; ++i) {
            v[i].id = "east-cam1-" + std::to_string(i), v[i].camera = "cam1", v[i].line = "east";
            v[i].image = "images/cam1/east-cam1-" + std::to_string(i) + ".jpg";
            v[i].width = 640, v[i].height = 480, v[i].classes = {"bolt", "nut"};
        }
        return v;
    }();
    sightline::fuzz::refuse_or_accept([&] {
        sightline::pipeline::LabelImportSummary s;
        (void)sightline::pipeline::read_labelstudio_export(sightline::fuzz::as_text(data, size), "export.json", samples,
                                                           "", s);
    });
    return 0;
}
