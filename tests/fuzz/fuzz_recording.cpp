// transport::RecordingReader: a recording file, read to its end as monitor --replay does (refused records skipped);
// then what `sightline eval` and `sightline compare --gt` make of it: its pred/ and shadow/ messages placed on a small
// ground truth (each message read by its own version's classes), and the recording compared with its own shadow.
#include "fuzz_support.hpp"
#include "sightline/pipeline/recorded.hpp"
#include "sightline/pipeline/versions.hpp"
#include "sightline/transport/recording.hpp"

namespace {

/// Two images of camera cam1 (frames 0 and 1), two categories: what the recording's frames are placed on.
const sightline::pipeline::CocoGroundTruth& truth() {
    static const auto gt = [] {
        sightline::pipeline::CocoGroundTruth g;
        g.source = "fuzz-gt.json";
        g.categories = {{1, "bolt"}, {2, "nut"}};
        for (int f = 0; f < 2; ++f) {
            sightline::pipeline::CocoImage im;
            im.id = f + 1, im.width = 640, im.height = 480;
            im.meta["camera"] = {"cam1"}, im.meta["frame_index"] = {std::to_string(f)};
            g.images.push_back(im);
        }
        g.annotations.push_back({});
        g.annotations.back().id = 1, g.annotations.back().image_id = 1, g.annotations.back().category_id = 1;
        g.annotations.back().box = {10, 10, 50, 50};
        return g;
    }();
    return gt;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto file = sightline::fuzz::as_file(data, size, "run.slrec");
    sightline::fuzz::refuse_or_accept([&] {
        sightline::transport::RecordingReader reader(file);
        std::string topic;
        sightline::transport::Message m;
        for (int guard = 0; guard < 100000; ++guard) {
            try {
                if (!reader.next(topic, m)) break;
            } catch (const sightline::Error&) { // a refused record: skipped, as the monitor does
            }
        }
    });
    for (const bool shadow : {false, true})
        sightline::fuzz::refuse_or_accept(
            [&] { sightline::pipeline::load_recorded_detections(file, truth(), "cam1", {}, nullptr, shadow); });
    sightline::fuzz::refuse_or_accept([&] { sightline::pipeline::compare_recordings(file, {}, 0.5, 4, nullptr); });
    return 0;
}
