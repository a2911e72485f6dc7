#include "sightline/kernels/device.hpp"

#include "sightline/error.hpp"

namespace sightline::kernels {

#ifdef SIGHTLINE_HAS_CUDA
namespace detail {
DeviceInfo probe_cuda(); // device_cuda.cu
}
#endif

const DeviceInfo& device_info() {
    static const DeviceInfo info = [] {
#ifdef SIGHTLINE_HAS_CUDA
        return detail::probe_cuda();
#else
        DeviceInfo d;
        d.reason = "this build has no CUDA kernels (SIGHTLINE_CUDA=OFF or no nvcc at build time)";
        return d;
#endif
    }();
    return info;
}

std::string describe_device() {
    const auto& d = device_info();
    if (d.device_count > 0) return "CUDA kernels on " + d.name + " (" + std::to_string(d.device_count) + " device(s))";
    return "no GPU: kernels run as CPU twins (" + d.reason + ")";
}

#ifndef SIGHTLINE_HAS_CUDA
namespace {
[[noreturn]] void no_cuda(const char* what) {
    throw Error(ErrorCode::kUnsupported, std::string(what) + ": " + device_info().reason);
}
} // namespace
void* detail::device_alloc(std::size_t) {
    no_cuda("device memory");
}
void detail::device_free(void*) noexcept {}
void* detail::pinned_alloc(std::size_t) {
    no_cuda("pinned host memory");
}
void detail::pinned_free(void*) noexcept {}
void* cuda_primary_context() {
    no_cuda("CUDA primary context");
}
Stream::Stream() {
    no_cuda("CUDA stream");
}
Stream::~Stream() = default;
void Stream::synchronize() const {}
GraphCache::~GraphCache() = default;
void GraphCache::run(std::initializer_list<std::uint64_t>, StreamRef, const std::function<void(StreamRef)>&) {
    no_cuda("CUDA graph");
}
void copy_device_to_host_async(void*, const void*, std::size_t bytes, StreamRef) {
    if (bytes) no_cuda("device memory");
}
void copy_host_to_device_async(void*, const void*, std::size_t bytes, StreamRef) {
    if (bytes) no_cuda("device memory");
}
void copy_device_to_device_async(void*, const void*, std::size_t bytes, StreamRef) {
    if (bytes) no_cuda("device memory");
}
void copy_device_to_host(void*, const void*, std::size_t bytes) {
    if (bytes) no_cuda("device memory");
}
void copy_host_to_device(void*, const void*, std::size_t bytes) {
    if (bytes) no_cuda("device memory");
}
#endif

} // namespace sightline::kernels
