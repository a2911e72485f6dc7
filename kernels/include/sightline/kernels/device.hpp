#pragma once
/// Where kernels run: a CUDA device when this build has CUDA and the machine has a GPU, else the CPU twins.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "sightline/kernels/views.hpp"

namespace sightline::kernels {

struct DeviceInfo {
    bool cuda_built = false; ///< this binary was compiled with the CUDA kernels
    int device_count = 0;    ///< CUDA devices visible at run time (0 without a driver or GPU)
    std::string name;        ///< first device's name, or empty
    std::string reason;      ///< why the CPU twins run, when they do
};

/// Probes once (thread-safe) and caches the answer.
const DeviceInfo& device_info();

/// True when CUDA kernels can run here.
inline bool cuda_available() {
    return device_info().device_count > 0;
}

/// One line for the log: which path runs and why.
std::string describe_device();

/// Device 0's primary CUDA context (a CUcontext, opaque here), initialised through the runtime on first use: the
/// context the runtime, and so every sightline kernel, LibTorch's CUDA work and the detector's streams, run in.
/// NVDEC readers give it to FFmpeg as their device context, so decoding shares it whatever initialised CUDA first
/// (FFmpeg's own AV_CUDA_USE_PRIMARY_CONTEXT refuses a primary context already active with other flags).
/// Throws Error(kUnsupported) in a build without CUDA or on a machine without a GPU, Error(kCuda) on failure.
void* cuda_primary_context();

namespace detail {
// Allocation for the buffers below: CUDA's, or (a build without CUDA) a throw naming the reason.
void* device_alloc(std::size_t bytes);
void device_free(void* p) noexcept;
void* pinned_alloc(std::size_t bytes);
void pinned_free(void* p) noexcept;
} // namespace detail

/// Memory owned through Alloc / Free: grows on demand, never shrinks, moves but does not copy.
template <void* (*Alloc)(std::size_t), void (*Free)(void*) noexcept> class OwnedMemory {
  public:
    OwnedMemory() = default;
    explicit OwnedMemory(std::size_t bytes) { reserve(bytes); }
    ~OwnedMemory() { Free(p_); }
    OwnedMemory(OwnedMemory&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
    OwnedMemory& operator=(OwnedMemory&& o) noexcept {
        if (this != &o) Free(p_), p_ = o.p_, n_ = o.n_, o.p_ = nullptr, o.n_ = 0;
        return *this;
    }
    OwnedMemory(const OwnedMemory&) = delete;
    OwnedMemory& operator=(const OwnedMemory&) = delete;
    /// Grows to at least `bytes` (contents not kept); never shrinks.
    void reserve(std::size_t bytes) {
        if (bytes <= n_) return;
        Free(p_), p_ = nullptr, n_ = 0;
        p_ = Alloc(bytes);
        n_ = bytes;
    }
    void* data() const { return p_; }
    std::size_t size() const { return n_; }

  private:
    void* p_ = nullptr;
    std::size_t n_ = 0;
};

/// Device memory (cudaMalloc / cudaFree). Without CUDA (or a GPU) allocating throws Error(kUnsupported) /
/// Error(kCuda) with the runtime's reason; an empty buffer is always fine.
using DeviceBuffer = OwnedMemory<detail::device_alloc, detail::device_free>;
/// Page-locked host memory (cudaMallocHost), so that device-to-host copies into it run asynchronously on a stream.
/// Without CUDA (or a GPU) allocating throws as DeviceBuffer does.
using PinnedBuffer = OwnedMemory<detail::pinned_alloc, detail::pinned_free>;

/// A CUDA stream of its own, created non-blocking: no implicit ordering with the legacy default stream (so the
/// decoders' copies on other streams and other threads' work never wait for it, nor it for them).
class Stream {
  public:
    /// Throws Error(kUnsupported) without CUDA, Error(kCuda) when the runtime refuses.
    Stream();
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    StreamRef get() const { return s_; }
    /// Waits for everything enqueued on the stream; throws Error(kCuda) with the first asynchronous error.
    void synchronize() const;

  private:
    StreamRef s_ = nullptr;
};

/// The work `record(stream)` enqueues, captured once as a CUDA graph and replayed (one launch instead of one per
/// kernel) for as long as `key` (whatever the work depends on: pointers, sizes) stays the same; a new key captures
/// again and updates the executable graph in place where CUDA allows, else instantiates it anew. `record` must only
/// enqueue asynchronous work on the stream it is given (no synchronisation, no allocation).
class GraphCache {
  public:
    GraphCache() = default;
    ~GraphCache();
    GraphCache(const GraphCache&) = delete;
    GraphCache& operator=(const GraphCache&) = delete;
    /// Throws Error(kUnsupported) without CUDA, Error(kCuda) when capture or launch fails.
    void run(std::initializer_list<std::uint64_t> key, StreamRef stream, const std::function<void(StreamRef)>& record);
    /// Captures so far (a steady line captures once per batch size).
    int captures() const { return captures_; }

  private:
    std::vector<std::uint64_t> key_;
    void* exec_ = nullptr; ///< cudaGraphExec_t
    int captures_ = 0;
};

/// Copies `bytes` from device memory to host memory asynchronously on `stream` (into pinned memory for the copy to
/// overlap; pageable memory works but the runtime stages it). Wait with Stream::synchronize().
void copy_device_to_host_async(void* host, const void* device, std::size_t bytes, StreamRef stream);

/// Copies `bytes` from host memory to device memory asynchronously on `stream` (pageable host memory may be reused
/// on return: the runtime has staged it).
void copy_host_to_device_async(void* device, const void* host, std::size_t bytes, StreamRef stream);

/// Copies `bytes` within device memory asynchronously on `stream`.
void copy_device_to_device_async(void* to, const void* from, std::size_t bytes, StreamRef stream);

/// Copies `bytes` from device memory to host memory and waits for it (the default stream).
void copy_device_to_host(void* host, const void* device, std::size_t bytes);
/// Copies `bytes` from host memory to device memory and waits for it (the default stream).
void copy_host_to_device(void* device, const void* host, std::size_t bytes);

} // namespace sightline::kernels
