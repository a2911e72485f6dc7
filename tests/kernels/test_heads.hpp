#pragma once
// Random detector heads in the v8 ([B, 4+C, N]) and v5 ([B, N, 5+C]) layouts, shared by the CPU and GPU tests.
#include <cmath>
#include <random>
#include <vector>

namespace testing_heads {

/// A head with clustered boxes (so NMS has work), scores quantised to force ties.
inline std::vector<float> random_head(int layout, int B, int C, int N, std::mt19937& rng) {
    const int F = C + (layout == 8 ? 4 : 5);
    std::vector<float> t(static_cast<std::size_t>(B) * F * N);
    std::uniform_real_distribution<float> u(0, 1);
    for (int b = 0; b < B; ++b)
        for (int n = 0; n < N; ++n) {
            auto at = [&](int k) -> float& {
                return layout == 8 ? t[(static_cast<std::size_t>(b) * F + k) * N + n]
                                   : t[(static_cast<std::size_t>(b) * N + n) * F + k];
            };
            const int cluster = n % 7;
            at(0) = 40.f * cluster + 6 * u(rng);
            at(1) = 30.f + 25.f * (cluster % 3) + 6 * u(rng);
            at(2) = 20 + 10 * u(rng);
            at(3) = 20 + 10 * u(rng);
            const int first = layout == 8 ? 4 : 5;
            if (layout == 5) at(4) = std::round(u(rng) * 8) / 8;
            for (int k = 0; k < C; ++k) at(first + k) = std::round(u(rng) * 16) / 16; // ties on purpose
        }
    return t;
}

} // namespace testing_heads
