// CPU twin of batched class-aware NMS, and the letterbox inverse.
#include <vector>

#include "nms/nms_common.hpp"

namespace sightline::kernels {

void nms_cpu(const Candidate* candidates, const int* counts, int batch, int stride, const NmsParams& p, int* keep,
             int* keep_counts) {
    detail::validate(p);
    for (int b = 0; b < batch; ++b) {
        const Candidate* c = candidates + static_cast<std::size_t>(b) * stride;
        int* k = keep + static_cast<std::size_t>(b) * p.max_det;
        int n = 0;
        for (int i = 0; i < counts[b] && n < p.max_det; ++i) {
            bool suppressed = false;
            for (int j = 0; j < n && !suppressed; ++j) suppressed = detail::suppresses(c[k[j]], c[i], p);
            if (!suppressed) k[n++] = i;
        }
        keep_counts[b] = n;
    }
}

void to_frame(Candidate& c, const Letterbox& lb, int frame_width, int frame_height) {
    const float fw = static_cast<float>(frame_width), fh = static_cast<float>(frame_height);
    c.x1 = detail::clampf((c.x1 - lb.pad_x) / lb.scale, 0.f, fw);
    c.y1 = detail::clampf((c.y1 - lb.pad_y) / lb.scale, 0.f, fh);
    c.x2 = detail::clampf((c.x2 - lb.pad_x) / lb.scale, 0.f, fw);
    c.y2 = detail::clampf((c.y2 - lb.pad_y) / lb.scale, 0.f, fh);
}

#ifndef SIGHTLINE_HAS_CUDA
std::size_t nms_cuda_workspace_bytes(int, int) {
    return 0;
}
void nms_cuda(const Candidate*, const int*, int, int, const NmsParams&, int*, int*, void*, std::size_t, StreamRef) {
    throw Error(ErrorCode::kUnsupported, "nms_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
#endif

} // namespace sightline::kernels
