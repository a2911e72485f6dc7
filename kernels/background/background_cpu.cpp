// CPU twin of the background statistic (the function: sightline/kernels/background.hpp).
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "background/background_common.hpp"

namespace sightline::kernels {

void BackgroundGrid::cell_box(int c, int r, int cell, float box[4]) const {
    const float inv = 1.f / lb.scale;
    box[0] = static_cast<float>(c * cell) * inv;
    box[1] = static_cast<float>(r * cell) * inv;
    box[2] = static_cast<float>(std::min((c + 1) * cell, lb.resized_width)) * inv;
    box[3] = static_cast<float>(std::min((r + 1) * cell, lb.resized_height)) * inv;
}

BackgroundGrid background_grid(int frame_width, int frame_height, const BackgroundParams& p) {
    if (p.cell <= 0)
        throw Error(ErrorCode::kBadInput, "background: cell must be positive, got " + std::to_string(p.cell));
    if (p.stride <= 0 || p.stride > p.cell)
        throw Error(ErrorCode::kBadInput, "background: stride must be in 1..cell (" + std::to_string(p.cell) +
                                              "), got " + std::to_string(p.stride));
    BackgroundGrid g;
    g.lb = compute_letterbox(frame_width, frame_height, p.input_width, p.input_height);
    g.cols = (g.lb.resized_width + p.cell - 1) / p.cell;
    g.rows = (g.lb.resized_height + p.cell - 1) / p.cell;
    return g;
}

namespace detail {
void validate_background(const ImageView& frame, const BackgroundParams& p, MemoryLocation expected) {
    if (!(p.step >= 0.f) || !(p.deviation_step >= 0.f) || !(p.k >= 0.f) || !(p.floor >= 0.f))
        throw Error(ErrorCode::kBadInput, "background: step, deviation_step, k and floor must be >= 0");
    if (p.warmup < 1) throw Error(ErrorCode::kBadInput, "background: warmup must be at least 1 frame");
    if (p.input_width <= 0 || p.input_height <= 0)
        throw Error(ErrorCode::kBadInput, "background: model input size must be positive");
    validate_view(frame, "background", expected);
}
} // namespace detail

void background_cpu(const ImageView& frame, const BackgroundParams& p, std::int64_t frames_seen, float* state,
                    std::uint8_t* foreground, float* cell_luma) {
    detail::validate_background(frame, p, MemoryLocation::kHost);
    if (!state || !foreground) throw Error(ErrorCode::kBadInput, "background: state and foreground must not be null");
    const BackgroundGrid g = background_grid(frame.width, frame.height, p);
    const float inv_x = detail::inverse_scale(frame.width, g.lb.resized_width);
    const float inv_y = detail::inverse_scale(frame.height, g.lb.resized_height);
    // detail::cell_luma's sums, a sampled row of the whole frame at a time: each cell still adds its samples row by
    // row, left to right, so the floats are the same; the columns' taps are computed once per frame
    struct Column {
        detail::Taps t;
        std::size_t cell;
    };
    std::vector<Column> columns; // every stride-th pixel of each cell, counted from the cell's first
    for (int x = 0; x < g.lb.resized_width; ++x)
        if (x % p.cell % p.stride == 0)
            columns.push_back({detail::taps(x, inv_x, frame.width), std::size_t(x / p.cell)});
    std::vector<float> sums(g.cells(), 0.f);
    std::vector<int> counts(g.cells(), 0);
    for (int y = 0; y < g.lb.resized_height; ++y) {
        if (y % p.cell % p.stride != 0) continue;
        const detail::Taps ty = detail::taps(y, inv_y, frame.height);
        const std::size_t row = static_cast<std::size_t>(y / p.cell) * g.cols;
        for (const Column& c : columns) {
            sums[row + c.cell] += detail::sample_luma(frame, c.t, ty);
            ++counts[row + c.cell];
        }
    }
    const std::size_t n = g.cells();
    for (std::size_t i = 0; i < n; ++i) {
        const float x = sums[i] / static_cast<float>(counts[i]);
        if (cell_luma) cell_luma[i] = x;
        foreground[i] = detail::update_cell(x, state[i], state[n + i], frames_seen, p);
    }
}

#ifndef SIGHTLINE_HAS_CUDA
void background_cuda_async(const ImageView&, const BackgroundParams&, std::int64_t, float*, std::uint8_t*, float*,
                           StreamRef) {
    throw Error(ErrorCode::kUnsupported, "background_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
#endif

} // namespace sightline::kernels
