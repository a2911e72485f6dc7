// pipeline::parse_guardrail: `sightline compare --guardrail METRIC:WORSE:TOLERANCE` from the command line; every input
// is accepted or refused with Error(kBadInput), and what is accepted is a guardrail a rollout takes, whose spec
// written back parses to the same fields.
#include <fmt/format.h>

#include "fuzz_support.hpp"
#include "sightline/pipeline/rollout.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = sightline::fuzz::as_text(data, size);
    sightline::fuzz::refuse_or_accept([&] {
        const auto g = sightline::pipeline::parse_guardrail(text);
        sightline::pipeline::RolloutConfig c;
        c.guardrails = {g};
        sightline::pipeline::Rollout accepted(c); // a parsed guardrail never makes a rollout refuse
        const auto again =
            sightline::pipeline::parse_guardrail(fmt::format("{}:{}:{}", g.metric, g.worse, g.tolerance));
        if (again.metric != g.metric || again.worse != g.worse || again.tolerance != g.tolerance) __builtin_trap();
    });
    return 0;
}
