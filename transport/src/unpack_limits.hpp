#pragma once
// The bounds msgpack-c parses outside bytes under: a declared array or map size is allocated before its items are
// read, so a 5-byte header claiming 2^32 items would ask for 100 GB. Nothing the wire carries comes near these.
#include <msgpack.hpp>

namespace sightline::transport::detail {

inline msgpack::unpack_limit unpack_limits() {
    return msgpack::unpack_limit(/*array=*/1 << 16, /*map=*/1 << 16, /*str=*/1 << 20, /*bin=*/1 << 28, /*ext=*/0,
                                 /*depth=*/16);
}

} // namespace sightline::transport::detail
