// transport::RecordingReader: a recording file, read to its end as monitor --replay does (refused records skipped).
#include "fuzz_support.hpp"
#include "sightline/transport/recording.hpp"

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
    return 0;
}
