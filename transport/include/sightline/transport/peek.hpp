#pragma once
/// What a bridge needs of a pred body without decoding all of it (transport/jetstream.hpp): the few top-level fields
/// that name its subject and its message id. decode() reads and checks every field at about 5 us a message; this
/// walks the msgpack map once, skipping the arrays, at a tenth of that: the bridge's share of a message is then
/// mostly what JetStream costs (bench/README.md, issue 28).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sightline::transport {

struct PredKey {
    std::string line, camera, model;
    std::uint64_t seq = 0;
    std::int64_t time_ns = 0;
    bool shadow = false;
};

/// The key fields of a pred (or shadow) body of schema v1 whose line, camera and model pass the wire's checks (a
/// valid line name, camera id and text). Nothing for anything else (another type, a field of another kind, a
/// repeated key, a truncated body, ...): the caller decodes it in full, which names what is wrong. A key says
/// nothing of the rest of the body (its boxes, its stamps): a sink still checks those when it decodes.
std::optional<PredKey> peek_pred(std::string_view body);

} // namespace sightline::transport
