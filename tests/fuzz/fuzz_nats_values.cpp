// The values sightline bridge and the sinks' --nats options read: server URL lists (nats_servers) and start times
// (parse_start_time_ns). Either takes the text or refuses it with sightline::Error naming the option.
#include "fuzz_support.hpp"
#include "sightline/transport/jetstream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(sightline::fuzz::as_text(data, size));
    sightline::fuzz::refuse_or_accept([&] {
        const auto urls = sightline::transport::nats_servers({text});
        for (const auto& u : urls)
            if (u.rfind("nats://", 0) != 0 && u.rfind("tls://", 0) != 0) __builtin_trap();
    });
    sightline::fuzz::refuse_or_accept([&] { (void)sightline::transport::parse_start_time_ns(text); });
    return 0;
}
