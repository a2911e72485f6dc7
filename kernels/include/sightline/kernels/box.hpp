#pragma once
/// Box math shared by decode, NMS and matching twins.
#include "sightline/kernels/hd.hpp"

namespace sightline::kernels::detail {

/// Intersection over union of two xyxy boxes; 0 when the union is empty.
SL_HD float iou_xyxy(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2, float by2) {
    const float iw = (ax2 < bx2 ? ax2 : bx2) - (ax1 > bx1 ? ax1 : bx1);
    const float ih = (ay2 < by2 ? ay2 : by2) - (ay1 > by1 ? ay1 : by1);
    if (iw <= 0.f || ih <= 0.f) return 0.f;
    const float inter = iw * ih;
    const float uni = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
    return uni > 0.f ? inter / uni : 0.f;
}

SL_HD float clampf(float v, float lo, float hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

} // namespace sightline::kernels::detail
