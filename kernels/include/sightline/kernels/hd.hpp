#pragma once
/// SL_HD marks the per-element math that the CPU twin and the CUDA kernel share.
#if defined(__CUDACC__)
#define SL_HD __host__ __device__ __forceinline__
#else
#define SL_HD inline
#endif
