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

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        DeviceBuffer gone(std::move(*this));
        p_ = o.p_, n_ = o.n_;
        o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
}

#ifndef SIGHTLINE_HAS_CUDA
DeviceBuffer::~DeviceBuffer() = default;
void DeviceBuffer::reserve(std::size_t bytes) {
    if (bytes > n_) throw Error(ErrorCode::kUnsupported, "device memory: " + device_info().reason);
}
void copy_device_to_host(void*, const void*, std::size_t bytes) {
    if (bytes) throw Error(ErrorCode::kUnsupported, "device memory: " + device_info().reason);
}
void copy_host_to_device(void*, const void*, std::size_t bytes) {
    if (bytes) throw Error(ErrorCode::kUnsupported, "device memory: " + device_info().reason);
}
#endif

} // namespace sightline::kernels
