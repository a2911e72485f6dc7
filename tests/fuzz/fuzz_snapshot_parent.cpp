// pipeline::snapshot_manifest_hash and snapshot_classes: a parent snapshot's manifest.json and annotations.json,
// read by `collect snapshot --parent DIR` (the first byte picks which: 'm' the manifest, else the annotations).
#include "fuzz_support.hpp"
#include "sightline/pipeline/snapshot.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text = sightline::fuzz::as_text(data + 1, size - 1);
    sightline::fuzz::refuse_or_accept([&] {
        if (data[0] == 'm')
            (void)sightline::pipeline::snapshot_manifest_hash(text, "manifest.json");
        else
            (void)sightline::pipeline::snapshot_classes(text, "annotations.json");
    });
    return 0;
}
