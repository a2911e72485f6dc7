// CPU twin of batched class-aware NMS, and the letterbox inverse.
#include <vector>

#include "sightline/error.hpp"
#include "sightline/kernels/box.hpp"
#include "sightline/kernels/nms.hpp"

namespace sightline::kernels {

void nms_cpu(const Candidate* candidates, const int* counts, int batch, int stride, const NmsParams& p, int* keep,
             int* keep_counts) {
    if (p.max_det < 1) throw Error(ErrorCode::kBadInput, "nms: max_det must be >= 1");
    if (!(p.iou_threshold >= 0.f && p.iou_threshold <= 1.f))
        throw Error(ErrorCode::kBadInput, "nms: iou_threshold must be in [0, 1]");
    for (int b = 0; b < batch; ++b) {
        const Candidate* c = candidates + static_cast<std::size_t>(b) * stride;
        int* k = keep + static_cast<std::size_t>(b) * p.max_det;
        int n = 0;
        for (int i = 0; i < counts[b] && n < p.max_det; ++i) {
            bool suppressed = false;
            for (int j = 0; j < n && !suppressed; ++j) {
                const Candidate& o = c[k[j]];
                if (p.class_aware && o.cls != c[i].cls) continue;
                suppressed =
                    detail::iou_xyxy(c[i].x1, c[i].y1, c[i].x2, c[i].y2, o.x1, o.y1, o.x2, o.y2) > p.iou_threshold;
            }
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

} // namespace sightline::kernels
