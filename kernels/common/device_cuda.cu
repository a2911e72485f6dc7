#include <cuda_runtime.h>

#include "sightline/kernels/device.hpp"

namespace sightline::kernels::detail {

DeviceInfo probe_cuda() {
    DeviceInfo d;
    d.cuda_built = true;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
        d.reason = err != cudaSuccess ? std::string("CUDA runtime: ") + cudaGetErrorString(err) : "no CUDA device";
        cudaGetLastError(); // clear the sticky error so later calls start clean
        return d;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) d.name = prop.name;
    d.device_count = n;
    return d;
}

} // namespace sightline::kernels::detail
