#pragma once
/// Preprocess: camera frames -> letterboxed, normalised planar tensor, plus per-frame luma statistics (mean, spread,
/// histogram, sharpness).
#include <cstddef>
#include <cstdint>
#include <span>

#include "sightline/kernels/views.hpp"

namespace sightline::kernels {

enum class ChannelOrder : std::uint8_t { kRGB, kBGR };
enum class TensorType : std::uint8_t { kFloat32, kFloat16 }; ///< kFloat16: IEEE binary16, round to nearest even
enum class TensorLayout : std::uint8_t { kNCHW, kNHWC };

/// Where a frame landed in the model input: input = frame * scale + pad. Map back with (input - pad) / scale.
struct Letterbox {
    float scale = 1.f;
    int pad_x = 0;
    int pad_y = 0;
    int resized_width = 0;  ///< round(frame width * scale)
    int resized_height = 0; ///< round(frame height * scale)
};

/// Aspect-preserving fit of a frame into the model input, centred (pad split floor/ceil, left/top smaller).
Letterbox compute_letterbox(int frame_width, int frame_height, int input_width, int input_height);

struct PreprocessParams {
    int input_width = 0;
    int input_height = 0;
    ChannelOrder order = ChannelOrder::kRGB;
    float scale = 1.f / 255.f; ///< value = (pixel * scale - mean[c]) / std[c]
    float mean[3] = {0, 0, 0}; ///< per output channel, in output channel order
    float std[3] = {1, 1, 1};
    float pad_value = 114.f; ///< pixel value of the letterbox border, before scaling
    TensorType dtype = TensorType::kFloat32;
    TensorLayout layout = TensorLayout::kNCHW;
};

/// Bytes of one frame's output tensor: 3 * input_height * input_width elements of `dtype`.
std::size_t preprocess_frame_bytes(const PreprocessParams& params);

inline constexpr int kLumaBins = 16;

/// Output rows per band of the sharpness statistic: the Laplacian at output row y needs rows y-1 and y+1 of the same
/// band (bands start at multiples of it), so a CPU thread working on one band needs no rows of another.
inline constexpr int kSharpnessBandRows = 16;

/// Luma (full-range BT.601 Y', 0..255) over the resized frame area, pad excluded: inputs for drift monitoring and
/// the frame-quality flags.
struct LumaStats {
    float mean = 0;
    float stddev = 0;
    std::uint32_t histogram[kLumaBins] = {}; ///< bin k counts Y' in [16k, 16k+16)
    /// Variance of the 4-neighbour Laplacian of the resized luma (the classic blur measure: a sharp picture has
    /// strong second derivatives, a defocused or motion-blurred one weak), over the resized pixels whose four
    /// neighbours are resized pixels in the same band of kSharpnessBandRows output rows; 0 where there are none.
    /// It is measured on the model's input size, so it compares frames of one camera, not cameras.
    float sharpness = 0;
};

/// The statistics as the kernels accumulate them: sums over the resized frame area, the histogram, and the sums of
/// the Laplacian over its pixels.
struct LumaSums {
    double sum = 0;
    double sumsq = 0;
    std::uint32_t hist[kLumaBins] = {};
    std::uint32_t lap_n = 0; ///< pixels the Laplacian was taken at
    double lap_sum = 0;
    double lap_sumsq = 0;
};

/// A frame's LumaStats from its sums over the letterbox's resized_width * resized_height pixels.
LumaStats luma_stats(const LumaSums& sums, const Letterbox& lb);

/// Preprocesses a batch on the CPU. `output` holds batch * preprocess_frame_bytes(params) bytes, laid out as
/// `params.layout` with elements of `params.dtype`;
/// `letterboxes` and `stats` one entry per frame. Frames must be host memory. Throws Error(kBadInput) on a bad view.
void preprocess_cpu(std::span<const ImageView> frames, const PreprocessParams& params, void* output,
                    Letterbox* letterboxes, LumaStats* stats);

/// Device workspace preprocess_cuda needs for `batch` frames (two-phase: ask, allocate once, reuse): the frames'
/// LumaSums, in order, at its start.
std::size_t preprocess_cuda_workspace_bytes(std::size_t batch);

/// The same function on the GPU, the whole batch in one launch per 32 frames: frames, `d_output` and `d_workspace`
/// in device memory; `h_letterboxes`/`h_stats` host memory filled before return (the call synchronises `stream`
/// once to read back the statistics). Throws Error(kUnsupported) in a build without CUDA, Error(kCuda) on failure.
void preprocess_cuda(std::span<const ImageView> frames, const PreprocessParams& params, void* d_output,
                     Letterbox* h_letterboxes, LumaStats* h_stats, void* d_workspace, StreamRef stream);

/// preprocess_cuda without waiting for the GPU: the work is enqueued on `stream`, the letterboxes are filled, and the
/// statistics stay in `d_workspace` as one LumaSums per frame, for the caller to copy back together with its other
/// results (one copy per batch) and turn into LumaStats with luma_stats() once the stream is done.
void preprocess_cuda_async(std::span<const ImageView> frames, const PreprocessParams& params, void* d_output,
                           Letterbox* h_letterboxes, void* d_workspace, StreamRef stream);

} // namespace sightline::kernels
