#pragma once
/// Head decode: a detector's raw output tensor -> scored candidate boxes, thresholded, top-k per image.
#include <cstddef>
#include <cstdint>

#include "sightline/kernels/views.hpp"

namespace sightline::kernels {

enum class HeadLayout : std::uint8_t {
    kYoloV8, ///< [B, 4+C, N]: cx, cy, w, h, then per-class scores (after sigmoid); Ultralytics v8/v11 exports
    kYoloV5, ///< [B, N, 5+C]: cx, cy, w, h, objectness, then per-class scores; score = objectness * class score
    /// [B, 4*reg_max + C, N]: an Ultralytics v8/v11 head cut before its decoding tail (the concat of every scale's
    /// box distributions and class logits): per side (l, t, r, b) reg_max bins whose softmax expectation is the
    /// distance in strides, then class logits. Candidates run over the strides 8, 16, 32 (row-major grids of
    /// input/stride cells), anchors at cell centres; decoded as Ultralytics does (DFL, dist2bbox, sigmoid).
    kYoloV8Dfl,
};

struct DecodeParams {
    HeadLayout layout = HeadLayout::kYoloV8;
    int num_classes = 0;
    int num_candidates = 0;                ///< N
    float confidence_threshold = 0.25f;    ///< candidates with best score <= this are dropped
    int top_k = 300;                       ///< at most this many candidates per image survive, best first
    int reg_max = 16;                      ///< kYoloV8Dfl: bins per box side
    int input_width = 0, input_height = 0; ///< kYoloV8Dfl: the model input (multiples of 32), for the anchors
};

/// Values per candidate in the head tensor for these parameters (4 + C, 5 + C, or 4 * reg_max + C).
int decode_fields(const DecodeParams& params);

/// One candidate in model-input pixels.
struct Candidate {
    float x1, y1, x2, y2;
    float score;   ///< best class score
    int cls;       ///< best class index
    float margin;  ///< best score minus second-best score (0 with one class)
    float entropy; ///< entropy of the class scores normalised to sum 1, divided by log(C): 0 certain .. 1 uniform
    int index;     ///< candidate index n in the head tensor (ties in score are broken by lower index first)
};

/// Decodes `batch` images of a host tensor. `out` has room for batch * top_k candidates: image b's candidates
/// start at out + b * top_k, sorted by score descending then index ascending; `counts[b]` says how many.
/// Throws Error(kBadInput) on bad parameters.
void decode_cpu(const float* head, int batch, const DecodeParams& params, Candidate* out, int* counts);

/// Most images one decode_cuda launch takes (its sort has a segment per image and must not synchronise: it is
/// replayed inside a CUDA graph). The line's batches are at most 256 (batching.max_batch).
inline constexpr int kDecodeCudaMaxBatch = 256;

/// Device workspace decode_cuda needs (two-phase: ask, allocate once, reuse for batches up to this size).
std::size_t decode_cuda_workspace_bytes(int batch, const DecodeParams& params);

/// The same function on the GPU: `d_head`, `d_out` (batch * top_k candidates), `d_counts` (batch) and `d_workspace`
/// in device memory; asynchronous on `stream` (nothing is copied to the host). Identical candidates, order and counts
/// as decode_cpu; entropy within float rounding of the device's logf. Throws Error(kUnsupported) without CUDA.
void decode_cuda(const float* d_head, int batch, const DecodeParams& params, Candidate* d_out, int* d_counts,
                 void* d_workspace, std::size_t workspace_bytes, StreamRef stream);

} // namespace sightline::kernels
