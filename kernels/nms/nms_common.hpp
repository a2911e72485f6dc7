#pragma once
// Shared rule of the NMS twins: argument checks and when a kept box suppresses a candidate.
#include "sightline/error.hpp"
#include "sightline/kernels/box.hpp"
#include "sightline/kernels/nms.hpp"

namespace sightline::kernels::detail {

inline void validate(const NmsParams& p) {
    if (p.max_det < 1) throw Error(ErrorCode::kBadInput, "nms: max_det must be >= 1");
    if (!(p.iou_threshold >= 0.f && p.iou_threshold <= 1.f))
        throw Error(ErrorCode::kBadInput, "nms: iou_threshold must be in [0, 1]");
}

/// True when kept box `k` removes candidate `c`: same class (or class-agnostic) and IoU above the threshold.
SL_HD bool suppresses(const Candidate& k, const Candidate& c, const NmsParams& p) {
    if (p.class_aware && k.cls != c.cls) return false;
    return iou_xyxy(c.x1, c.y1, c.x2, c.y2, k.x1, k.y1, k.x2, k.y2) > p.iou_threshold;
}

} // namespace sightline::kernels::detail
