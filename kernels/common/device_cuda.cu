#include <cuda_runtime.h>

#include "cuda/check.hpp"
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

namespace sightline::kernels {

DeviceBuffer::~DeviceBuffer() {
    if (p_) cudaFree(p_);
}
void DeviceBuffer::reserve(std::size_t bytes) {
    if (bytes <= n_) return;
    if (p_) cudaFree(p_), p_ = nullptr, n_ = 0;
    SL_CUDA_CHECK(cudaMalloc(&p_, bytes));
    n_ = bytes;
}
void copy_device_to_host(void* host, const void* device, std::size_t bytes) {
    if (bytes) SL_CUDA_CHECK(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost));
}
void copy_host_to_device(void* device, const void* host, std::size_t bytes) {
    if (bytes) SL_CUDA_CHECK(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
}

} // namespace sightline::kernels
