#pragma once
// How a gpu test skips: naming the reason, and never silently on the GPU machine. bench/gpu/run.sh sets
// SIGHTLINE_REQUIRE_GPU=1 there: a gpu test that would skip (no device, NVDEC fell back, no LibTorch) fails
// instead, so a GPU run cannot pass by skipping.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace sightline::testing {

inline bool gpu_required() {
    const char* v = std::getenv("SIGHTLINE_REQUIRE_GPU");
    return v && std::strcmp(v, "1") == 0;
}

} // namespace sightline::testing

/// Unless `cond`, skips with `reason` (a failure with SIGHTLINE_REQUIRE_GPU=1). A statement inside a TEST body.
#define SL_GPU_SKIP_UNLESS(cond, reason)                                                                               \
    if (cond) {                                                                                                        \
    } else if (::sightline::testing::gpu_required())                                                                   \
        FAIL() << "SIGHTLINE_REQUIRE_GPU=1, and this gpu test would skip: " << reason;                                 \
    else                                                                                                               \
        GTEST_SKIP() << reason
