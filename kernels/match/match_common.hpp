#pragma once
// Shared math of the COCO matching twins: pycocotools' bbox IoU (maskApi.c bbIou) and its greedy assignment of one
// detection at one threshold (cocoeval.py evaluateImg), written once for both.
#include "sightline/kernels/hd.hpp"
#include "sightline/kernels/match.hpp"

namespace sightline::kernels::detail {

/// IoU of a detection and a ground-truth box; for a crowd box the union is the detection's area.
SL_HD double coco_iou(const BoxXywh& d, const BoxXywh& g, bool crowd) {
    const double w = (d.x + d.w < g.x + g.w ? d.x + d.w : g.x + g.w) - (d.x > g.x ? d.x : g.x);
    if (w <= 0) return 0;
    const double h = (d.y + d.h < g.y + g.h ? d.y + d.h : g.y + g.h) - (d.y > g.y ? d.y : g.y);
    if (h <= 0) return 0;
    const double i = w * h;
    const double u = crowd ? d.w * d.h : d.w * d.h + g.w * g.h - i;
    return i / u;
}

SL_HD bool outside(double area, const MatchParams& p) {
    return area < p.area_lo || area > p.area_hi;
}

/// One detection at one threshold: the index (into the ignore-sorted order) of the ground truth it takes, or -1.
/// `iou(j)` is its IoU with sorted ground truth j, `taken(j)` whether j is already matched, `ignored(j)` and
/// `crowd(j)` its flags.
template <class Iou, class Taken, class Ignored, class Crowd>
SL_HD int coco_assign(double threshold, int num_gt, const Iou& iou, const Taken& taken, const Ignored& ignored,
                      const Crowd& crowd) {
    double best = threshold < 1 - 1e-10 ? threshold : 1 - 1e-10;
    int m = -1;
    for (int j = 0; j < num_gt; ++j) {
        if (taken(j) && !crowd(j)) continue;
        if (m > -1 && !ignored(m) && ignored(j)) break;
        const double v = iou(j);
        if (v < best) continue;
        best = v;
        m = j;
    }
    return m;
}

} // namespace sightline::kernels::detail
