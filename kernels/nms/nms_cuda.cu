// CUDA version of batched NMS, in two launches: a suppression bitmask (bit j of row i: candidate i would remove
// candidate j > i), 64 x 64 tiles, upper triangle only; then one block per image walks the rows in score order,
// keeping a row unless an earlier kept row removed it, exactly the twin's greedy rule.
#include <cuda_runtime.h>

#include "cuda/check.hpp"
#include "cuda/workspace.hpp"
#include "nms/nms_common.hpp"

namespace sightline::kernels {

namespace {

using Word = unsigned long long;
constexpr int kTile = 64;

__global__ void mask_kernel(const Candidate* cand, const int* counts, int stride, int words, NmsParams p, Word* mask) {
    const int b = blockIdx.z, row_tile = blockIdx.y, col_tile = blockIdx.x;
    const int n = min(counts[b], stride);
    if (col_tile < row_tile || row_tile * kTile >= n || col_tile * kTile >= n) return; // uniform per block
    const Candidate* c = cand + static_cast<std::size_t>(b) * stride;
    __shared__ Candidate cols[kTile];
    const int col0 = col_tile * kTile, ncols = min(kTile, n - col0);
    if (threadIdx.x < ncols) cols[threadIdx.x] = c[col0 + threadIdx.x];
    __syncthreads();
    const int row = row_tile * kTile + threadIdx.x;
    if (row >= n) return;
    const Candidate me = c[row];
    Word bits = 0;
    for (int j = row_tile == col_tile ? threadIdx.x + 1 : 0; j < ncols; ++j)
        if (detail::suppresses(me, cols[j], p)) bits |= Word{1} << j;
    mask[(static_cast<std::size_t>(b) * stride + row) * words + col_tile] = bits;
}

// One block per image. Rows are staged 64 at a time into shared memory by the whole block, then warp 0 walks them;
// lane w holds word w of the "removed" bitmask (words <= 32, so stride <= 2048).
__global__ void reduce_kernel(const Word* mask, const int* counts, int stride, int words, int max_det, int* keep,
                              int* keep_counts) {
    extern __shared__ Word rows[]; // kTile * words
    __shared__ int done;
    const int b = blockIdx.x, tid = threadIdx.x, lane = tid & 31;
    const int n = min(counts[b], stride), nw = (n + kTile - 1) / kTile;
    int* k = keep + static_cast<std::size_t>(b) * max_det;
    Word removed = 0;
    int kept = 0;
    if (tid == 0) done = 0;
    for (int c0 = 0; c0 < n; c0 += kTile) {
        __syncthreads();
        if (done) break;
        const int m = min(kTile, n - c0);
        for (int t = tid; t < m * nw; t += blockDim.x) {
            const int r = t / nw, w = t % nw;
            rows[r * nw + w] =
                w >= (c0 + r) / kTile ? mask[(static_cast<std::size_t>(b) * stride + c0 + r) * words + w] : Word{0};
        }
        __syncthreads();
        if (tid < 32) {
            for (int r = 0; r < m; ++r) {
                const int i = c0 + r;
                const Word word = __shfl_sync(0xffffffffu, removed, i / kTile);
                if ((word >> (i % kTile)) & 1) continue;
                if (lane == 0) k[kept] = i;
                if (++kept == max_det) {
                    if (lane == 0) done = 1;
                    break;
                }
                if (lane < nw) removed |= rows[r * nw + lane];
            }
        }
    }
    if (tid == 0) keep_counts[b] = kept;
}

std::size_t mask_bytes(int batch, int stride) {
    const int words = (stride + kTile - 1) / kTile;
    detail::Carver c(nullptr);
    c.take<Word>(static_cast<std::size_t>(batch) * stride * words);
    return c.used();
}

} // namespace

std::size_t nms_cuda_workspace_bytes(int batch, int stride) {
    return mask_bytes(batch, stride);
}

void nms_cuda(const Candidate* d_candidates, const int* d_counts, int batch, int stride, const NmsParams& p,
              int* d_keep, int* d_keep_counts, void* d_workspace, std::size_t workspace_bytes, StreamRef stream_ref) {
    detail::validate(p);
    if (stride < 1 || stride > kNmsCudaMaxStride)
        throw Error(ErrorCode::kBadInput, "nms_cuda: stride " + std::to_string(stride) + " outside [1, " +
                                              std::to_string(kNmsCudaMaxStride) +
                                              "] (lower decode top_k, or use nms_cpu)");
    if (batch <= 0) return;
    if (!d_workspace || workspace_bytes < mask_bytes(batch, stride))
        throw Error(ErrorCode::kBadInput, "nms_cuda: workspace of " + std::to_string(workspace_bytes) +
                                              " bytes, needs " + std::to_string(mask_bytes(batch, stride)) +
                                              " (nms_cuda_workspace_bytes)");
    auto stream = static_cast<cudaStream_t>(stream_ref);
    const int words = (stride + kTile - 1) / kTile;
    auto* mask = static_cast<Word*>(d_workspace);
    mask_kernel<<<dim3(words, words, batch), kTile, 0, stream>>>(d_candidates, d_counts, stride, words, p, mask);
    SL_CUDA_CHECK_LAUNCH("nms mask_kernel");
    reduce_kernel<<<batch, 128, kTile * words * sizeof(Word), stream>>>(mask, d_counts, stride, words, p.max_det,
                                                                        d_keep, d_keep_counts);
    SL_CUDA_CHECK_LAUNCH("nms reduce_kernel");
}

} // namespace sightline::kernels
