// transport::decode_sample and sample_id_of: a sample body from a line, as a collector receives it.
#include "fuzz_support.hpp"
#include "sightline/transport/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = sightline::fuzz::as_text(data, size);
    (void)sightline::transport::sample_id_of(text); // never throws
    sightline::fuzz::refuse_or_accept([&] { (void)sightline::transport::decode_sample(text); });
    return 0;
}
