// CUDA twin of the background statistic: one thread per cell (a cell's sum runs in the CPU twin's order, so both
// agree bit for bit); the camera's state stays on the device.
#include <cuda_runtime.h>

#include "background/background_common.hpp"
#include "cuda/check.hpp"

namespace sightline::kernels {

namespace {

__global__ void background_kernel(ImageView f, Letterbox lb, BackgroundParams p, int cols, int rows, float inv_x,
                                  float inv_y, std::int64_t seen, float* state, std::uint8_t* fg, float* luma) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int r = blockIdx.y * blockDim.y + threadIdx.y;
    if (c >= cols || r >= rows) return;
    const std::size_t i = static_cast<std::size_t>(r) * cols + c, n = static_cast<std::size_t>(cols) * rows;
    const float x = detail::cell_luma(f, lb, inv_x, inv_y, c, r, p.cell, p.stride);
    if (luma) luma[i] = x;
    fg[i] = detail::update_cell(x, state[i], state[n + i], seen, p);
}

} // namespace

void background_cuda_async(const ImageView& frame, const BackgroundParams& p, std::int64_t frames_seen, float* d_state,
                           std::uint8_t* d_foreground, float* d_cell_luma, StreamRef stream) {
    detail::validate_background(frame, p, MemoryLocation::kDevice);
    if (!d_state || !d_foreground)
        throw Error(ErrorCode::kBadInput, "background: state and foreground must not be null");
    const BackgroundGrid g = background_grid(frame.width, frame.height, p);
    const dim3 block(16, 8);
    const dim3 grid((g.cols + block.x - 1) / block.x, (g.rows + block.y - 1) / block.y);
    background_kernel<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(
        frame, g.lb, p, g.cols, g.rows, detail::inverse_scale(frame.width, g.lb.resized_width),
        detail::inverse_scale(frame.height, g.lb.resized_height), frames_seen, d_state, d_foreground, d_cell_luma);
    SL_CUDA_CHECK_LAUNCH("background_kernel");
}

} // namespace sightline::kernels
