#pragma once
/// Background: each camera's usual picture, learned frame by frame on the preprocess's resized luma in square cells,
/// and which cells of a frame differ from it (its foreground). Production cameras are mostly static, so what changes
/// in a camera's picture and no box covers is where an object the model does not see may be (the flags stage's
/// `unexplained`, docs/wire.md).
///
/// The function, per camera and cell (both twins perform exactly these float operations, so they agree bit for bit):
///  - the cell's luma x: the mean of the resized luma (LumaStats' Y', sampled as the preprocess samples it) at every
///    `stride`-th pixel of every `stride`-th row of the cell from its first, summed in row-major order in float;
///  - the first frame sets the background b = x and the deviation s = 0; afterwards, with d = x - b, the cell is
///    foreground when the camera has seen at least `warmup` frames and |d| > max(k * s, floor); then b moves towards
///    x by at most `step` (a running median: a part passing by does not become background) and s by
///    `deviation_step` towards |d| (a running median of the deviation). A part left lying stops being foreground
///    after about |d| / (step + k * deviation_step) frames (116 frames, 4 s at 30 fps, for |d| 174).
#include <cstddef>
#include <cstdint>

#include "sightline/kernels/preprocess.hpp"
#include "sightline/kernels/views.hpp"

namespace sightline::kernels {

struct BackgroundParams {
    int input_width = 0; ///< the model input the frame is letterboxed into, as the preprocess does
    int input_height = 0;
    int cell = 16;                ///< a cell's side, in resized pixels (the last row and column may be smaller)
    int stride = 4;               ///< a cell's luma samples every stride-th pixel of every stride-th row
    float step = 0.5f;            ///< luma the background moves per frame, at most
    float deviation_step = 0.25f; ///< luma the deviation moves per frame
    float k = 4.f;                ///< foreground: |x - b| > max(k * s, floor)
    float floor = 10.f;
    int warmup = 50; ///< frames a camera's background learns before any cell is foreground
};

/// The cells over a frame's resized area (letterbox as compute_letterbox): `cols` x `rows`, row-major.
struct BackgroundGrid {
    Letterbox lb;
    int cols = 0, rows = 0;
    std::size_t cells() const { return static_cast<std::size_t>(cols) * rows; }
    /// Cell (c, r) in frame pixels: x0, y0, x1, y1 (the resized area mapped back through the letterbox's scale).
    void cell_box(int c, int r, int cell, float box[4]) const;
};

/// The grid of a frame of this size. Throws Error(kBadInput) for a non-positive size, input size or cell.
BackgroundGrid background_grid(int frame_width, int frame_height, const BackgroundParams& params);

/// A camera's state: 2 * grid.cells() floats, the background of every cell, then its deviation. Only the twin that
/// made it reads it (host memory for the CPU, device memory for CUDA); its contents before the first frame do not
/// matter.
inline std::size_t background_state_floats(const BackgroundGrid& grid) {
    return 2 * grid.cells();
}

/// One frame of one camera on the CPU: updates `state` (host memory) and writes one byte per cell to `foreground`
/// (1: foreground, 0: not); `cell_luma` (optional, grid.cells() floats) receives the cells' luma. `frames_seen`: the
/// frames of this camera that went into `state` before (0 initialises it). Throws Error(kBadInput) on a bad view or
/// parameters, naming them.
void background_cpu(const ImageView& frame, const BackgroundParams& params, std::int64_t frames_seen, float* state,
                    std::uint8_t* foreground, float* cell_luma = nullptr);

/// The same function on the GPU, enqueued on `stream` without waiting: `frame`, `d_state`, `d_foreground` and
/// `d_cell_luma` (optional) in device memory; one thread per cell. Throws Error(kUnsupported) in a build without
/// CUDA, Error(kBadInput) as background_cpu, Error(kCuda) when the launch fails.
void background_cuda_async(const ImageView& frame, const BackgroundParams& params, std::int64_t frames_seen,
                           float* d_state, std::uint8_t* d_foreground, float* d_cell_luma, StreamRef stream);

} // namespace sightline::kernels
