#pragma once
// Shared math of the background twins (sightline/kernels/background.hpp states the function): a cell's luma from the
// preprocess's own sampling, and one cell's update.
#include <cstdint>

#include "preprocess/preprocess_common.hpp"
#include "sightline/kernels/background.hpp"

namespace sightline::kernels::detail {

/// Cell (c, r)'s luma: the mean of the resized luma at every stride-th pixel of every stride-th row of the cell,
/// summed in row-major order (inv_x, inv_y: frame pixels per resized pixel, as the preprocess computes them).
SL_HD float cell_luma(const ImageView& f, const Letterbox& lb, float inv_x, float inv_y, int c, int r, int cell,
                      int stride) {
    const int x0 = c * cell, y0 = r * cell;
    const int x1 = x0 + cell < lb.resized_width ? x0 + cell : lb.resized_width;
    const int y1 = y0 + cell < lb.resized_height ? y0 + cell : lb.resized_height;
    float sum = 0.f;
    int n = 0;
    for (int y = y0; y < y1; y += stride) {
        const Taps ty = taps(y, inv_y, f.height);
        for (int x = x0; x < x1; x += stride, ++n) sum += sample_luma(f, taps(x, inv_x, f.width), ty);
    }
    return sum / static_cast<float>(n);
}

/// One cell's step: whether x is foreground against background b and deviation s, then b and s updated.
SL_HD std::uint8_t update_cell(float x, float& b, float& s, std::int64_t seen, const BackgroundParams& p) {
    if (seen == 0) {
        b = x, s = 0.f;
        return 0;
    }
    const float d = x - b;
    const float ad = d < 0.f ? -d : d;
    const float ks = p.k * s;
    const std::uint8_t fg = seen >= p.warmup && ad > (ks > p.floor ? ks : p.floor) ? 1 : 0;
    b = d > 0.f ? b + (d < p.step ? d : p.step) : b - (-d < p.step ? -d : p.step);
    s = ad > s ? s + p.deviation_step : (ad < s ? s - p.deviation_step : s);
    if (s < 0.f) s = 0.f;
    return fg;
}

/// frame width / resized width and height / resized height, as the preprocess computes its inverse scales.
SL_HD float inverse_scale(int frame_extent, int resized_extent) {
    return static_cast<float>(frame_extent) / static_cast<float>(resized_extent);
}

/// One shared validation, so both twins throw alike.
void validate_background(const ImageView& frame, const BackgroundParams& p, MemoryLocation expected);

} // namespace sightline::kernels::detail
