#pragma once
/// Non-maximum suppression over decoded candidates, batched, class-aware, and the map back to frame pixels.
#include <cstddef>

#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/preprocess.hpp"

namespace sightline::kernels {

struct NmsParams {
    float iou_threshold = 0.6f; ///< a candidate overlapping a kept one of its class by more than this is dropped
    int max_det = 100;          ///< at most this many boxes kept per image
    bool class_aware = true;    ///< false: boxes of different classes also suppress each other
};

/// Greedy NMS per image over candidates sorted as decode_cpu leaves them (`stride` slots per image, `counts[b]`
/// used). Writes kept candidate positions (indices into the image's slots, in score order) to
/// keep + b * max_det and their number to keep_counts[b].
void nms_cpu(const Candidate* candidates, const int* counts, int batch, int stride, const NmsParams& params, int* keep,
             int* keep_counts);

/// Largest `stride` (candidates per image) nms_cuda takes: its suppression bitmask row fits one warp of 64-bit words.
inline constexpr int kNmsCudaMaxStride = 2048;

/// Device workspace nms_cuda needs for `batch` images of `stride` slots.
std::size_t nms_cuda_workspace_bytes(int batch, int stride);

/// The same function on the GPU, over decode_cuda's device output: `d_keep` (batch * max_det) and `d_keep_counts`
/// (batch) in device memory, asynchronous on `stream`. Kept positions identical to nms_cpu. stride <= 2048.
void nms_cuda(const Candidate* d_candidates, const int* d_counts, int batch, int stride, const NmsParams& params,
              int* d_keep, int* d_keep_counts, void* d_workspace, std::size_t workspace_bytes, StreamRef stream);

/// Maps a candidate from model-input pixels back to frame pixels and clips it to the frame.
void to_frame(Candidate& c, const Letterbox& lb, int frame_width, int frame_height);

} // namespace sightline::kernels
