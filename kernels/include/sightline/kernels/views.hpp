#pragma once
/// Plain views over memory the kernels read and write: pointer, shape, pitch, and where the memory lives.
/// No CUDA, FFmpeg or ZeroMQ types here, so CPU-only code compiles everywhere.
#include <cstdint>

namespace sightline::kernels {

enum class MemoryLocation : std::uint8_t { kHost, kDevice };

/// Pixel layouts a camera frame arrives in.
enum class PixelFormat : std::uint8_t {
    kNV12,    ///< Y plane, then interleaved UV at half resolution (NVDEC's output)
    kYUV420P, ///< Y, U, V planes, chroma at half resolution (FFmpeg's software H.264 output)
    kBGR,     ///< packed 8-bit B, G, R (OpenCV images)
};

/// One frame: up to three planes, each with its own pitch in bytes. YUV is BT.601 limited range.
struct ImageView {
    PixelFormat format = PixelFormat::kBGR;
    int width = 0;
    int height = 0;
    const std::uint8_t* planes[3] = {nullptr, nullptr, nullptr};
    int pitch[3] = {0, 0, 0};
    MemoryLocation where = MemoryLocation::kHost;
};

/// An opaque CUDA stream (cudaStream_t); nullptr is the legacy default stream.
using StreamRef = void*;

} // namespace sightline::kernels
