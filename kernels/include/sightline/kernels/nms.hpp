#pragma once
/// Non-maximum suppression over decoded candidates, batched, class-aware, and the map back to frame pixels.
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

/// Maps a candidate from model-input pixels back to frame pixels and clips it to the frame.
void to_frame(Candidate& c, const Letterbox& lb, int frame_width, int frame_height);

} // namespace sightline::kernels
