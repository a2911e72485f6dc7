#pragma once
/// Columnar typed blobs of the wire format: arrays as little-endian bytes that numpy.frombuffer reads directly.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::transport {

/// Packs values as little-endian bytes (float32, int32, uint32).
std::string to_blob(std::span<const float> values);
std::string to_blob(std::span<const std::int32_t> values);
std::string to_blob(std::span<const std::uint32_t> values);

/// Unpacks a blob; throws Error(kBadInput) naming `field` when its size is not a multiple of the element size.
std::vector<float> floats_from_blob(std::string_view blob, std::string_view field);
std::vector<std::int32_t> int32s_from_blob(std::string_view blob, std::string_view field);
std::vector<std::uint32_t> uint32s_from_blob(std::string_view blob, std::string_view field);

} // namespace sightline::transport
