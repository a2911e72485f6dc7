// transport::peek_pred: the bridge's look at a pred body without decoding it. It never throws; where it finds a key
// and decode() accepts the body too, both read the same line, camera, model, seq, time and shadow.
#include "fuzz_support.hpp"
#include "sightline/transport/messages.hpp"
#include "sightline/transport/peek.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto body = sightline::fuzz::as_text(data, size);
    const auto key = sightline::transport::peek_pred(body); // noexcept in effect: anything escaping is a bug
    if (!key) return 0;
    sightline::fuzz::refuse_or_accept([&] {
        const auto m = sightline::transport::decode(body);
        const auto* p = std::get_if<sightline::transport::PredMessage>(&m);
        if (!p || p->line != key->line || p->camera != key->camera || p->model != key->model || p->seq != key->seq ||
            p->time_ns != key->time_ns || p->shadow != key->shadow)
            __builtin_trap();
    });
    return 0;
}
