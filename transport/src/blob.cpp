#include "sightline/transport/blob.hpp"

#include <bit>
#include <cstring>

#include "sightline/error.hpp"

namespace sightline::transport {

namespace {
static_assert(sizeof(float) == 4);

template <class T> std::string pack(std::span<const T> values) {
    std::string out(values.size() * 4, '\0');
    for (std::size_t i = 0; i < values.size(); ++i) {
        auto u = std::bit_cast<std::uint32_t>(values[i]);
        if constexpr (std::endian::native == std::endian::big) u = __builtin_bswap32(u);
        std::memcpy(out.data() + 4 * i, &u, 4);
    }
    return out;
}

template <class T> std::vector<T> unpack(std::string_view blob, std::string_view field) {
    if (blob.size() % 4)
        throw Error(ErrorCode::kBadInput, "field '" + std::string(field) + "': blob of " + std::to_string(blob.size()) +
                                              " bytes is not a whole number of 4-byte elements");
    std::vector<T> out(blob.size() / 4);
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint32_t u;
        std::memcpy(&u, blob.data() + 4 * i, 4);
        if constexpr (std::endian::native == std::endian::big) u = __builtin_bswap32(u);
        out[i] = std::bit_cast<T>(u);
    }
    return out;
}
} // namespace

std::string to_blob(std::span<const float> v) {
    return pack(v);
}
std::string to_blob(std::span<const std::int32_t> v) {
    return pack(v);
}
std::string to_blob(std::span<const std::uint32_t> v) {
    return pack(v);
}
std::vector<float> floats_from_blob(std::string_view b, std::string_view f) {
    return unpack<float>(b, f);
}
std::vector<std::int32_t> int32s_from_blob(std::string_view b, std::string_view f) {
    return unpack<std::int32_t>(b, f);
}
std::vector<std::uint32_t> uint32s_from_blob(std::string_view b, std::string_view f) {
    return unpack<std::uint32_t>(b, f);
}

} // namespace sightline::transport
