// CUDA version of preprocess: one thread per output pixel, a whole batch per launch, luma statistics fused (the
// Laplacian's four neighbours sampled again by the thread: luma only, through the cache).
#include <cuda_runtime.h>

#include <vector>

#include "cuda/check.hpp"
#include "preprocess/preprocess_common.hpp"

namespace sightline::kernels {

namespace {

constexpr int kMaxFramesPerLaunch = 32;

struct FrameJob {
    ImageView view;
    Letterbox lb;
    float inv_x, inv_y;
};
struct Batch {
    FrameJob jobs[kMaxFramesPerLaunch];
};

using StatsAccum = LumaSums; // device workspace, one per frame

__global__ void preprocess_kernel(Batch batch, PreprocessParams p, std::uint8_t* out, std::size_t frame_bytes,
                                  StatsAccum* acc) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const FrameJob& job = batch.jobs[blockIdx.z];
    __shared__ unsigned int s_hist[kLumaBins];
    __shared__ double s_sum[32], s_sumsq[32], s_lap[32], s_lapsq[32];
    __shared__ unsigned int s_lapn[32];
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    if (tid < kLumaBins) s_hist[tid] = 0;
    __syncthreads();

    double l_sum = 0, l_sq = 0, l_lap = 0, l_lapsq = 0;
    unsigned int l_lapn = 0;
    if (x < p.input_width && y < p.input_height) {
        void* o = out + blockIdx.z * frame_bytes;
        const int rx = x - job.lb.pad_x, ry = y - job.lb.pad_y;
        if (rx < 0 || ry < 0 || rx >= job.lb.resized_width || ry >= job.lb.resized_height) {
            detail::store_pixel(p, detail::normalise(p, p.pad_value, p.pad_value, p.pad_value), o, x, y);
        } else {
            const detail::Taps tx = detail::taps(rx, job.inv_x, job.view.width);
            const detail::Taps ty = detail::taps(ry, job.inv_y, job.view.height);
            float r, g, b, l;
            detail::sample_rgb(job.view, tx, ty, r, g, b, l);
            detail::store_pixel(p, detail::normalise(p, r, g, b), o, x, y);
            l_sum = l;
            l_sq = static_cast<double>(l) * l;
            atomicAdd(&s_hist[detail::luma_bin(l)], 1u);
            if (rx >= 1 && rx + 1 < job.lb.resized_width &&
                detail::laplacian_row(y, job.lb.pad_y, job.lb.resized_height)) {
                const detail::Taps txl = detail::taps(rx - 1, job.inv_x, job.view.width);
                const detail::Taps txr = detail::taps(rx + 1, job.inv_x, job.view.width);
                const detail::Taps tyu = detail::taps(ry - 1, job.inv_y, job.view.height);
                const detail::Taps tyd = detail::taps(ry + 1, job.inv_y, job.view.height);
                const float lap = detail::laplacian(
                    detail::sample_luma(job.view, tx, tyu), detail::sample_luma(job.view, tx, tyd),
                    detail::sample_luma(job.view, txl, ty), detail::sample_luma(job.view, txr, ty), l);
                l_lap = lap;
                l_lapsq = static_cast<double>(lap) * lap;
                l_lapn = 1;
            }
        }
    }
    for (int off = 16; off > 0; off >>= 1) {
        l_sum += __shfl_down_sync(0xffffffffu, l_sum, off);
        l_sq += __shfl_down_sync(0xffffffffu, l_sq, off);
        l_lap += __shfl_down_sync(0xffffffffu, l_lap, off);
        l_lapsq += __shfl_down_sync(0xffffffffu, l_lapsq, off);
        l_lapn += __shfl_down_sync(0xffffffffu, l_lapn, off);
    }
    const int warp = tid / 32, lane = tid % 32, warps = (blockDim.x * blockDim.y + 31) / 32;
    if (lane == 0)
        s_sum[warp] = l_sum, s_sumsq[warp] = l_sq, s_lap[warp] = l_lap, s_lapsq[warp] = l_lapsq, s_lapn[warp] = l_lapn;
    __syncthreads();
    if (tid == 0) {
        double s = 0, q = 0, ls = 0, lq = 0;
        unsigned int ln = 0;
        for (int w = 0; w < warps; ++w)
            s += s_sum[w], q += s_sumsq[w], ls += s_lap[w], lq += s_lapsq[w], ln += s_lapn[w];
        atomicAdd(&acc[blockIdx.z].sum, s);
        atomicAdd(&acc[blockIdx.z].sumsq, q);
        if (ln) {
            atomicAdd(&acc[blockIdx.z].lap_n, ln);
            atomicAdd(&acc[blockIdx.z].lap_sum, ls);
            atomicAdd(&acc[blockIdx.z].lap_sumsq, lq);
        }
    }
    if (tid < kLumaBins && s_hist[tid]) atomicAdd(&acc[blockIdx.z].hist[tid], s_hist[tid]);
}

} // namespace

std::size_t preprocess_cuda_workspace_bytes(std::size_t batch) {
    return batch * sizeof(StatsAccum);
}

void preprocess_cuda_async(std::span<const ImageView> frames, const PreprocessParams& p, void* d_output,
                           Letterbox* h_letterboxes, void* d_workspace, StreamRef stream_ref) {
    detail::validate(frames, p, MemoryLocation::kDevice);
    if (frames.empty()) return;
    if (!d_output || !d_workspace) throw Error(ErrorCode::kBadInput, "preprocess_cuda: null output or workspace");
    auto stream = static_cast<cudaStream_t>(stream_ref);
    auto* acc = static_cast<StatsAccum*>(d_workspace);
    SL_CUDA_CHECK(cudaMemsetAsync(acc, 0, preprocess_cuda_workspace_bytes(frames.size()), stream));
    const std::size_t frame_bytes = preprocess_frame_bytes(p);
    const dim3 block(32, 8);
    for (std::size_t first = 0; first < frames.size(); first += kMaxFramesPerLaunch) {
        const std::size_t n = std::min<std::size_t>(kMaxFramesPerLaunch, frames.size() - first);
        Batch batch{};
        for (std::size_t i = 0; i < n; ++i) {
            const ImageView& f = frames[first + i];
            FrameJob& j = batch.jobs[i];
            j.view = f;
            j.lb = compute_letterbox(f.width, f.height, p.input_width, p.input_height);
            j.inv_x = static_cast<float>(f.width) / j.lb.resized_width;
            j.inv_y = static_cast<float>(f.height) / j.lb.resized_height;
            if (h_letterboxes) h_letterboxes[first + i] = j.lb;
        }
        const dim3 grid((p.input_width + block.x - 1) / block.x, (p.input_height + block.y - 1) / block.y,
                        static_cast<unsigned>(n));
        preprocess_kernel<<<grid, block, 0, stream>>>(
            batch, p, static_cast<std::uint8_t*>(d_output) + first * frame_bytes, frame_bytes, acc + first);
        SL_CUDA_CHECK_LAUNCH("preprocess_kernel");
    }
}

void preprocess_cuda(std::span<const ImageView> frames, const PreprocessParams& p, void* d_output,
                     Letterbox* h_letterboxes, LumaStats* h_stats, void* d_workspace, StreamRef stream_ref) {
    std::vector<Letterbox> lbs(frames.size());
    preprocess_cuda_async(frames, p, d_output, lbs.data(), d_workspace, stream_ref);
    if (h_letterboxes) std::copy(lbs.begin(), lbs.end(), h_letterboxes);
    if (!h_stats || frames.empty()) return;
    auto stream = static_cast<cudaStream_t>(stream_ref);
    std::vector<StatsAccum> host(frames.size());
    SL_CUDA_CHECK(
        cudaMemcpyAsync(host.data(), d_workspace, host.size() * sizeof(StatsAccum), cudaMemcpyDeviceToHost, stream));
    SL_CUDA_CHECK(cudaStreamSynchronize(stream));
    for (std::size_t i = 0; i < frames.size(); ++i) h_stats[i] = luma_stats(host[i], lbs[i]);
}

} // namespace sightline::kernels
