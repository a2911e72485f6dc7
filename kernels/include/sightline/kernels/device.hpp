#pragma once
/// Where kernels run: a CUDA device when this build has CUDA and the machine has a GPU, else the CPU twins.
#include <cstddef>
#include <string>

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

/// Device memory, owned (cudaMalloc / cudaFree). Without CUDA (or a GPU) allocating throws Error(kUnsupported) /
/// Error(kCuda) with the runtime's reason; an empty buffer is always fine.
class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(std::size_t bytes) { reserve(bytes); }
    ~DeviceBuffer();
    DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    /// Grows to at least `bytes` (contents not kept); never shrinks.
    void reserve(std::size_t bytes);
    void* data() const { return p_; }
    std::size_t size() const { return n_; }

  private:
    void* p_ = nullptr;
    std::size_t n_ = 0;
};

/// Copies `bytes` from device memory to host memory and waits for it (the default stream).
void copy_device_to_host(void* host, const void* device, std::size_t bytes);
/// Copies `bytes` from host memory to device memory and waits for it (the default stream).
void copy_host_to_device(void* device, const void* host, std::size_t bytes);

} // namespace sightline::kernels
