#pragma once
// Naive oracle for the background statistic: double precision, written from the spec in
// kernels/include/sightline/kernels/background.hpp (the resized luma from the preprocess oracle's bilinear sampling),
// sharing no code with the twins.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "reference/preprocess_reference.hpp"

namespace reference {

/// Full-range luma of the resized frame at resized pixel (x, y), for a resized size rw x rh.
inline double resized_luma(const Frame& f, int rw, int rh, int x, int y) {
    const double sx = std::clamp((x + 0.5) * (double(f.w) / rw) - 0.5, 0.0, double(f.w - 1));
    const double sy = std::clamp((y + 0.5) * (double(f.h) / rh) - 0.5, 0.0, double(f.h - 1));
    if (f.format == 0)
        return 0.299 * bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 3, 2) +
               0.587 * bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 3, 1) +
               0.114 * bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 3, 0);
    return std::clamp((bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 1, 0) - 16) * 255.0 / 219.0, 0.0, 255.0);
}

struct Background {
    int cell, stride, rw = 0, rh = 0, cols = 0, rows = 0;
    double step, dev_step, k, floor;
    long warmup, seen = 0;
    std::vector<double> b, s;

    /// One frame: the cells' luma (out) and foreground (returned), then the update.
    std::vector<int> add(const Frame& f, int W, int H, std::vector<double>* luma = nullptr) {
        const double scale = double(std::min(float(W) / f.w, float(H) / f.h));
        rw = std::clamp(int(std::lround(f.w * float(scale))), 1, W);
        rh = std::clamp(int(std::lround(f.h * float(scale))), 1, H);
        cols = (rw + cell - 1) / cell, rows = (rh + cell - 1) / cell;
        std::vector<int> fg(static_cast<std::size_t>(cols) * rows, 0);
        if (luma) luma->assign(fg.size(), 0);
        if (seen == 0) b.assign(fg.size(), 0), s.assign(fg.size(), 0);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c) {
                double sum = 0;
                int n = 0;
                for (int y = r * cell; y < std::min((r + 1) * cell, rh); y += stride)
                    for (int x = c * cell; x < std::min((c + 1) * cell, rw); x += stride)
                        sum += resized_luma(f, rw, rh, x, y), ++n;
                const double v = sum / n;
                const std::size_t i = static_cast<std::size_t>(r) * cols + c;
                if (luma) (*luma)[i] = v;
                if (seen == 0) {
                    b[i] = v, s[i] = 0;
                    continue;
                }
                const double d = v - b[i];
                fg[i] = seen >= warmup && std::abs(d) > std::max(k * s[i], floor);
                b[i] += std::clamp(d, -step, step);
                s[i] = std::max(0.0, s[i] + (std::abs(d) > s[i] ? dev_step : std::abs(d) < s[i] ? -dev_step : 0));
            }
        ++seen;
        return fg;
    }
};

} // namespace reference
