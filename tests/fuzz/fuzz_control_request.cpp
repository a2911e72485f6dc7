// pipeline::parse_control_request: what a line's control socket (publish.control) reads from any client that
// reaches it; every input is accepted or refused with Error(kBadInput), and what is accepted re-encodes to a
// request that parses to the same fields.
#include "fuzz_support.hpp"
#include "sightline/pipeline/control.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = sightline::fuzz::as_text(data, size);
    sightline::fuzz::refuse_or_accept([&] {
        const auto r = sightline::pipeline::parse_control_request(text);
        const auto again = sightline::pipeline::parse_control_request(sightline::pipeline::control_request_json(r));
        if (again.command != r.command || again.id != r.id || again.file != r.file || again.camera != r.camera)
            __builtin_trap();
    });
    return 0;
}
