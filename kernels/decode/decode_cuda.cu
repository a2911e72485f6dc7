// CUDA version of head decode: score every candidate (one thread each, coalesced over the candidate axis for the v8
// layout), a stable segmented sort per image by score (CUB; ties keep index order, as the twin's ranks_before), then
// the top k gathered with all their fields.
#include <cuda_runtime.h>

#include <cub/device/device_segmented_sort.cuh>

#include "cuda/check.hpp"
#include "cuda/workspace.hpp"
#include "decode/decode_common.hpp"

namespace sightline::kernels {

namespace {

struct Head { // one image's fields, read the way its layout stores them
    const float* t;
    int n, num_candidates, fields;
    bool v8;
    __device__ float operator()(int k) const {
        return v8 ? t[static_cast<std::size_t>(k) * num_candidates + n] : t[static_cast<std::size_t>(n) * fields + k];
    }
};

__device__ Head head_of(const float* head, int b, int n, const DecodeParams& p, int fields) {
    const std::size_t per_image = static_cast<std::size_t>(fields) * p.num_candidates;
    return {head + b * per_image, n, p.num_candidates, fields, p.layout != HeadLayout::kYoloV5};
}

__global__ void score_kernel(const float* head, int batch, DecodeParams p, int fields, float* keys, int* values,
                             int* offsets, int* passed) {
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    const int b = blockIdx.y;
    if (n == 0) {
        offsets[b] = b * p.num_candidates;
        if (b == batch - 1) offsets[batch] = batch * p.num_candidates;
    }
    bool pass = false;
    if (n < p.num_candidates) {
        const Head h = head_of(head, b, n, p, fields);
        const detail::ClassScores cs =
            p.layout == HeadLayout::kYoloV8Dfl
                ? detail::class_scores(detail::DflFields<Head>{h, p.reg_max, detail::dfl_anchor(p, n)},
                                       HeadLayout::kYoloV8, p.num_classes)
                : detail::class_scores(h, p.layout, p.num_classes);
        pass = cs.best > p.confidence_threshold;
        const std::size_t at = static_cast<std::size_t>(b) * p.num_candidates + n;
        keys[at] = pass ? cs.best + 0.f : -INFINITY; // + 0: -0 sorts as +0, as the twin compares them
        values[at] = n;
    }
    const unsigned votes = __ballot_sync(0xffffffffu, pass);
    if ((threadIdx.x & 31) == 0 && votes) atomicAdd(&passed[b], __popc(votes));
}

__global__ void gather_kernel(const float* head, DecodeParams p, int fields, const int* sorted, const int* passed,
                              Candidate* out, int* counts) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int b = blockIdx.y;
    const int k = min(passed[b], p.top_k);
    if (i == 0) counts[b] = k;
    if (i >= k) return;
    const int n = sorted[static_cast<std::size_t>(b) * p.num_candidates + i];
    const Head h = head_of(head, b, n, p, fields);
    out[static_cast<std::size_t>(b) * p.top_k + i] =
        p.layout == HeadLayout::kYoloV8Dfl
            ? detail::decode_one(detail::DflFields<Head>{h, p.reg_max, detail::dfl_anchor(p, n)}, HeadLayout::kYoloV8,
                                 p.num_classes, n)
            : detail::decode_one(h, p.layout, p.num_classes, n);
}

struct Layout {
    float *keys, *keys_sorted;
    int *values, *values_sorted, *offsets, *passed;
    void* sort_temp;
    std::size_t sort_temp_bytes, total;
};

Layout carve(void* base, int batch, const DecodeParams& p) {
    const std::size_t items = static_cast<std::size_t>(batch) * p.num_candidates;
    std::size_t sort_bytes = 0;
    SL_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairsDescending(
        nullptr, sort_bytes, static_cast<const float*>(nullptr), static_cast<float*>(nullptr),
        static_cast<const int*>(nullptr), static_cast<int*>(nullptr), static_cast<std::int64_t>(items), batch,
        static_cast<const int*>(nullptr), static_cast<const int*>(nullptr)));
    detail::Carver c(base);
    Layout l{};
    l.keys = c.take<float>(items);
    l.keys_sorted = c.take<float>(items);
    l.values = c.take<int>(items);
    l.values_sorted = c.take<int>(items);
    l.offsets = c.take<int>(batch + 1);
    l.passed = c.take<int>(batch);
    l.sort_temp = c.take<std::uint8_t>(sort_bytes);
    l.sort_temp_bytes = sort_bytes;
    l.total = c.used();
    return l;
}

} // namespace

/// CUB's segmented sort partitions its segments above a few hundred (300 or 500, by version), copying the group sizes
/// back to the host and synchronising: illegal inside the CUDA graph the detector captures decode + NMS in. One
/// segment per image: batches stay below it.
void check_batch(int batch) {
    if (batch > kDecodeCudaMaxBatch)
        throw Error(ErrorCode::kBadInput, "decode_cuda: a batch of " + std::to_string(batch) + " images, at most " +
                                              std::to_string(kDecodeCudaMaxBatch) +
                                              " per launch (CUB's segmented sort synchronises beyond a few hundred "
                                              "segments, which a CUDA graph cannot hold)");
}

std::size_t decode_cuda_workspace_bytes(int batch, const DecodeParams& p) {
    detail::validate(p);
    check_batch(batch);
    return carve(nullptr, batch, p).total;
}

void decode_cuda(const float* d_head, int batch, const DecodeParams& p, Candidate* d_out, int* d_counts,
                 void* d_workspace, std::size_t workspace_bytes, StreamRef stream_ref) {
    detail::validate(p);
    if (batch <= 0) return;
    check_batch(batch);
    if (static_cast<std::size_t>(batch) * p.num_candidates > 0x7fffffffu)
        throw Error(ErrorCode::kBadInput, "decode_cuda: batch * num_candidates exceeds 2^31");
    const Layout l = carve(d_workspace, batch, p);
    if (!d_workspace || workspace_bytes < l.total)
        throw Error(ErrorCode::kBadInput, "decode_cuda: workspace of " + std::to_string(workspace_bytes) +
                                              " bytes, needs " + std::to_string(l.total) +
                                              " (decode_cuda_workspace_bytes)");
    auto stream = static_cast<cudaStream_t>(stream_ref);
    const int fields = detail::num_fields(p);
    SL_CUDA_CHECK(cudaMemsetAsync(l.passed, 0, sizeof(int) * batch, stream));
    if (p.num_candidates > 0) {
        const dim3 grid((p.num_candidates + 255) / 256, batch);
        score_kernel<<<grid, 256, 0, stream>>>(d_head, batch, p, fields, l.keys, l.values, l.offsets, l.passed);
        SL_CUDA_CHECK_LAUNCH("decode score_kernel");
        std::size_t temp = l.sort_temp_bytes;
        SL_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairsDescending(
            l.sort_temp, temp, l.keys, l.keys_sorted, l.values, l.values_sorted,
            static_cast<std::int64_t>(batch) * p.num_candidates, batch, l.offsets, l.offsets + 1, stream));
    }
    const dim3 grid((p.top_k + 127) / 128, batch);
    gather_kernel<<<grid, 128, 0, stream>>>(d_head, p, fields, l.values_sorted, l.passed, d_out, d_counts);
    SL_CUDA_CHECK_LAUNCH("decode gather_kernel");
}

} // namespace sightline::kernels
