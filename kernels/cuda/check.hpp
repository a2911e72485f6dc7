#pragma once
// Every CUDA call and launch is checked; failures become sightline::Error(kCuda) naming the call.
#include <cuda_runtime.h>

#include <string>

#include "sightline/error.hpp"

namespace sightline::kernels::detail {
inline void cuda_check(cudaError_t err, const char* what, const char* file, int line) {
    if (err != cudaSuccess) {
        // a non-sticky error stays the thread's last error until read: cleared here, where it is handled, so
        // every later SL_CUDA_CHECK_LAUNCH (cudaPeekAtLastError) in this thread does not report it again
        (void)cudaGetLastError();
        throw Error(ErrorCode::kCuda, std::string(what) + ": " + cudaGetErrorString(err) + " (" + file + ":" +
                                          std::to_string(line) + ")");
    }
}
} // namespace sightline::kernels::detail

#define SL_CUDA_CHECK(expr) ::sightline::kernels::detail::cuda_check((expr), #expr, __FILE__, __LINE__)
/// After every launch: catches bad configurations without synchronising.
#define SL_CUDA_CHECK_LAUNCH(name)                                                                                     \
    ::sightline::kernels::detail::cuda_check(cudaPeekAtLastError(), name, __FILE__, __LINE__)
