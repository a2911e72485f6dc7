#include "sightline/kernels/device.hpp"

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

} // namespace sightline::kernels
