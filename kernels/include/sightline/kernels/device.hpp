#pragma once
/// Where kernels run: a CUDA device when this build has CUDA and the machine has a GPU, else the CPU twins.
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

} // namespace sightline::kernels
