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

/// The outcome of a detection that took sorted ground truth `m` (-1: none). pycocotools stores a match as the
/// ground truth's id and tests it for truth, so a match on id 0 counts as none; an unmatched detection outside the
/// area range is ignored, as is one matched to ignored ground truth.
SL_HD std::uint8_t det_state(int m, bool id_zero, bool m_ignored, bool det_outside) {
    const bool matched = m >= 0 && !id_zero;
    const bool ignored = (m >= 0 && m_ignored) || (!matched && det_outside);
    return ignored ? kIgnoredDet : (matched ? kTruePositive : kFalsePositive);
}

/// pycocotools' precision at one position: tp / (fp + tp + np.spacing(1)) on float64 sums.
SL_HD double coco_precision(double tp, double fp) {
    return tp / (fp + tp + 2.220446049250313e-16);
}

/// The CUDA matching kernel's work for one group (one thread each), here so the CPU tests can check it against
/// coco_match_cpu: the same function, with IoU computed on the fly and the group's slice of `order` / `taken`
/// (one entry per ground-truth box) as scratch.
SL_HD void coco_match_group(const MatchGroups& g, const MatchParams& p, int grp, std::uint8_t* dt_state, int* valid_gt,
                            int* dt_match, int* order, std::uint8_t* taken) {
    const int g0 = g.gt_offsets[grp], G = g.gt_offsets[grp + 1] - g0;
    const int d0 = g.dt_offsets[grp], D = g.dt_offsets[grp + 1] - d0;
    const int T = p.num_thresholds;
    int valid = 0;
    for (int j = 0; j < G; ++j) valid += !(g.gt_crowd[g0 + j] || outside(g.gt_area[g0 + j], p));
    valid_gt[grp] = valid;
    if (D == 0) return;
    int* ord = order + g0; // this group's slice: sorted order of its ground truth (non-ignored first, stable)
    std::uint8_t* tk = taken + g0;
    int front = 0, back = valid;
    for (int j = 0; j < G; ++j) {
        const bool ig = g.gt_crowd[g0 + j] || outside(g.gt_area[g0 + j], p);
        ord[ig ? back++ : front++] = g0 + j;
    }
    for (int t = 0; t < T; ++t) {
        for (int j = 0; j < G; ++j) tk[j] = 0;
        for (int d = 0; d < D; ++d) {
            const BoxXywh db = g.dt_box[d0 + d];
            const int m = coco_assign(
                p.thresholds[t], G, [&](int j) { return coco_iou(db, g.gt_box[ord[j]], g.gt_crowd[ord[j]]); },
                [&](int j) { return tk[j] != 0; }, [&](int j) { return j >= valid; },
                [&](int j) { return g.gt_crowd[ord[j]] != 0; });
            if (m >= 0) tk[m] = 1;
            const std::size_t at = static_cast<std::size_t>(d0 + d) * T + t;
            if (dt_match) dt_match[at] = m >= 0 ? ord[m] : -1;
            dt_state[at] =
                det_state(m, m >= 0 && g.gt_id_zero[ord[m]], m >= 0 && m >= valid, outside(g.dt_area[d0 + d], p));
        }
    }
}

inline constexpr int kMaxRecallCuda = 128;

/// The CUDA accumulation kernel's work for one (segment, threshold) (one thread each), here so the CPU tests can
/// check it against coco_accumulate_cpu: a forward count, then one pass from the end keeping the precision
/// envelope, filling each recall point as the true positive it needs goes by. `order` is the sorted order.
SL_HD void coco_accumulate_one(const AccumulateSegments& s, const int* order, int seg, int t, double* precision,
                               double* recall, double* score_at) {
    const int T = s.num_thresholds, R = s.num_recall;
    double* q = precision + (static_cast<std::size_t>(seg) * T + t) * R;
    double* ss = score_at + (static_cast<std::size_t>(seg) * T + t) * R;
    const int n0 = s.offsets[seg], n = s.offsets[seg + 1] - n0;
    const int npig = s.valid_gt[seg];
    if (npig == 0) {
        for (int r = 0; r < R; ++r) q[r] = -1.0, ss[r] = -1.0;
        recall[seg * T + t] = -1.0;
        return;
    }
    auto st = [&](int i) { return s.state[static_cast<std::size_t>(order[n0 + i]) * T + t]; };
    int ntp = 0, nfp = 0;
    for (int i = 0; i < n; ++i) ntp += st(i) == kTruePositive, nfp += st(i) == kFalsePositive;
    recall[seg * T + t] = n ? static_cast<double>(ntp) / npig : 0.0;
    // the true positives each recall point needs: the least k with k / npig >= threshold (rc = tp / npig)
    int need[kMaxRecallCuda];
    int k = 0;
    for (int r = 0; r < R; ++r) {
        while (k <= ntp && static_cast<double>(k) / npig < s.recall_thresholds[r]) ++k;
        need[r] = k;
        if (k > ntp || n == 0) q[r] = 0.0, ss[r] = 0.0; // past the last recall reached
    }
    // from the end: env = max precision at true positives from here on; the k-th true positive fills the points
    // that need exactly k
    double env = -1;
    int ctp = ntp, cfp = nfp, r_hi = R - 1;
    for (int i = n - 1; i >= 0; --i) {
        const std::uint8_t x = st(i);
        if (x == kTruePositive) {
            {
                const double pr = coco_precision(ctp, cfp);
                env = pr > env ? pr : env;
            }
            while (r_hi >= 0 && need[r_hi] > ctp) --r_hi;
            for (int r = r_hi; r >= 0 && need[r] == ctp; --r) {
                q[r] = env;
                ss[r] = s.score[order[n0 + i]];
            }
            --ctp;
        } else if (x == kFalsePositive) {
            --cfp;
        }
    }
    if (n > 0) // points needing no true positive: position 0 itself, then the envelope beyond
        for (int r = 0; r < R && need[r] == 0; ++r) {
            const std::uint8_t x = st(0);
            const double pr = coco_precision(x == kTruePositive, x == kFalsePositive);
            q[r] = pr > env ? pr : env;
            ss[r] = s.score[order[n0]];
        }
}

} // namespace sightline::kernels::detail
