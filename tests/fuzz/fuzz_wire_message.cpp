// transport::decode: a pred, stat or event body off the wire.
#include "fuzz_support.hpp"
#include "sightline/transport/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sightline::fuzz::refuse_or_accept([&] {
        const auto m = sightline::transport::decode(sightline::fuzz::as_text(data, size));
        // what decode accepts encodes again and decodes to the same message
        const auto again = sightline::transport::decode(sightline::transport::encode(m));
        if (sightline::transport::encode(again) != sightline::transport::encode(m)) __builtin_trap();
    });
    return 0;
}
