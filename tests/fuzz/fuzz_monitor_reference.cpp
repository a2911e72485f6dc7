// Monitor::load_references: a monitor's reference file (--reference), then a camera that uses it.
#include "fuzz_support.hpp"
#include "sightline/pipeline/monitor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sightline::fuzz::refuse_or_accept([&] {
        sightline::pipeline::MonitorOptions o;
        sightline::pipeline::Monitor m(o);
        m.load_references(std::string(sightline::fuzz::as_text(data, size)), "reference.json");
        // a camera named in the file starts from it
        sightline::transport::PredMessage p;
        p.camera = "cam1", p.model = "parts-v1@1.0.0", p.width = 640, p.height = 480, p.luma = 100;
        for (int k = 0; k < 90; ++k) {
            p.seq = k, p.pts_ns = k * 33'333'333LL;
            m.add(p, p.pts_ns);
        }
        (void)m.references_json();
    });
    return 0;
}
