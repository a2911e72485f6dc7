// CUDA versions of COCO matching and accumulation. Matching: one thread per (image, category) group, IoU computed
// on the fly with the twins' shared coco_iou / coco_assign. Accumulation: CUB's stable segmented sort by score
// (unless presorted), then one thread per (segment, threshold): a forward count of true positives, then one pass
// from the end keeping the precision envelope, which fills every recall point as its true positive goes by.
#include <cuda_runtime.h>

#include <cub/device/device_segmented_sort.cuh>

#include "cuda/check.hpp"
#include "cuda/workspace.hpp"
#include "match/match_common.hpp"

namespace sightline::kernels {

namespace {

__global__ void match_kernel(MatchGroups g, MatchParams p, std::uint8_t* dt_state, int* valid_gt, int* dt_match,
                             int* order, std::uint8_t* taken) {
    const int grp = blockIdx.x * blockDim.x + threadIdx.x;
    if (grp < g.num_groups) detail::coco_match_group(g, p, grp, dt_state, valid_gt, dt_match, order, taken);
}

__global__ void iota_kernel(int* v, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) v[i] = i;
}

__global__ void accumulate_kernel(AccumulateSegments s, const int* order, double* precision, double* recall,
                                  double* score_at) {
    const int id = blockIdx.x * blockDim.x + threadIdx.x;
    if (id < s.num_segments * s.num_thresholds)
        detail::coco_accumulate_one(s, order, id / s.num_thresholds, id % s.num_thresholds, precision, recall,
                                    score_at);
}

struct AccLayout {
    double* keys_out;
    int* values_in;
    void* sort_temp;
    std::size_t sort_bytes, total;
};

// Above a few hundred segments CUB's segmented sort synchronises the stream (a host copy of its partition sizes):
// fine here, where evaluation runs outside any CUDA graph capture; decode_cuda, which is captured, caps its batch.
AccLayout carve_acc(void* base, int num_segments, int num_dets) {
    std::size_t sort_bytes = 0;
    SL_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairsDescending(
        nullptr, sort_bytes, static_cast<const double*>(nullptr), static_cast<double*>(nullptr),
        static_cast<const int*>(nullptr), static_cast<int*>(nullptr), static_cast<std::int64_t>(num_dets), num_segments,
        static_cast<const int*>(nullptr), static_cast<const int*>(nullptr)));
    detail::Carver c(base);
    AccLayout l{};
    l.keys_out = c.take<double>(num_dets);
    l.values_in = c.take<int>(num_dets);
    l.sort_temp = c.take<std::uint8_t>(sort_bytes);
    l.sort_bytes = sort_bytes;
    l.total = c.used();
    return l;
}

} // namespace

std::size_t coco_match_cuda_workspace_bytes(int num_gt) {
    detail::Carver c(nullptr);
    c.take<int>(num_gt);
    c.take<std::uint8_t>(num_gt);
    return c.used();
}

void coco_match_cuda(const MatchGroups& g, const MatchParams& p, std::uint8_t* dt_state, int* valid_gt, int* dt_match,
                     void* d_workspace, std::size_t workspace_bytes, StreamRef stream_ref) {
    if (p.num_thresholds < 1 || p.num_thresholds > kMaxIouThresholds)
        throw Error(ErrorCode::kBadInput, "coco_match_cuda: num_thresholds outside [1, 16]");
    if (g.num_groups <= 0) return;
    const int num_gt = g.num_gt;
    if (num_gt < 0) throw Error(ErrorCode::kBadInput, "coco_match_cuda: MatchGroups::num_gt not set");
    if (workspace_bytes < coco_match_cuda_workspace_bytes(num_gt) || !d_workspace)
        throw Error(ErrorCode::kBadInput, "coco_match_cuda: workspace too small (coco_match_cuda_workspace_bytes)");
    detail::Carver c(d_workspace);
    int* order = c.take<int>(num_gt);
    auto* taken = c.take<std::uint8_t>(num_gt);
    auto stream = static_cast<cudaStream_t>(stream_ref);
    match_kernel<<<(g.num_groups + 127) / 128, 128, 0, stream>>>(g, p, dt_state, valid_gt, dt_match, order, taken);
    SL_CUDA_CHECK_LAUNCH("coco match_kernel");
}

std::size_t coco_accumulate_cuda_workspace_bytes(int num_segments, int num_dets) {
    return carve_acc(nullptr, num_segments, num_dets).total;
}

void coco_accumulate_cuda(const AccumulateSegments& s, double* precision, double* recall, double* score_at,
                          int* scratch, void* d_workspace, std::size_t workspace_bytes, StreamRef stream_ref) {
    if (s.num_recall < 1 || s.num_recall > detail::kMaxRecallCuda)
        throw Error(ErrorCode::kBadInput, "coco_accumulate_cuda: num_recall outside [1, 128]");
    if (s.num_thresholds < 1 || s.num_thresholds > kMaxIouThresholds)
        throw Error(ErrorCode::kBadInput, "coco_accumulate_cuda: num_thresholds outside [1, 16]");
    if (s.num_segments <= 0) return;
    auto stream = static_cast<cudaStream_t>(stream_ref);
    const int num_dets = s.num_dets;
    if (num_dets < 0) throw Error(ErrorCode::kBadInput, "coco_accumulate_cuda: AccumulateSegments::num_dets not set");
    const AccLayout l = carve_acc(d_workspace, s.num_segments, num_dets);
    if (!d_workspace || workspace_bytes < l.total)
        throw Error(ErrorCode::kBadInput,
                    "coco_accumulate_cuda: workspace too small (coco_accumulate_cuda_workspace_bytes)");
    if (num_dets > 0) {
        int* into = s.presorted ? scratch : l.values_in;
        iota_kernel<<<(num_dets + 255) / 256, 256, 0, stream>>>(into, num_dets);
        SL_CUDA_CHECK_LAUNCH("coco iota_kernel");
        if (!s.presorted) {
            std::size_t temp = l.sort_bytes;
            SL_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairsDescending(
                l.sort_temp, temp, s.score, l.keys_out, l.values_in, scratch, static_cast<std::int64_t>(num_dets),
                s.num_segments, s.offsets, s.offsets + 1, stream));
        }
    }
    const int threads = s.num_segments * s.num_thresholds;
    accumulate_kernel<<<(threads + 127) / 128, 128, 0, stream>>>(s, scratch, precision, recall, score_at);
    SL_CUDA_CHECK_LAUNCH("coco accumulate_kernel");
}

} // namespace sightline::kernels
