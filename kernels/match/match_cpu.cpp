// CPU twin of COCO matching and accumulation: the specification the CUDA version is tested against, and the
// engine of `sightline eval` where no GPU is present.
#include <algorithm>
#include <numeric>
#include <vector>

#include "match/match_common.hpp"
#include "sightline/error.hpp"

namespace sightline::kernels {

void coco_iou_thresholds(double out[kCocoIouThresholds]) {
    // np.linspace(.5, .95, 10): arange(10) * ((.95 - .5) / 9) + .5, last element set to .95
    const double step = (0.95 - 0.5) / 9;
    for (int i = 0; i < kCocoIouThresholds; ++i) out[i] = i * step + 0.5;
    out[kCocoIouThresholds - 1] = 0.95;
}

void coco_recall_thresholds(double out[kCocoRecallThresholds]) {
    const double step = 1.0 / 100;
    for (int i = 0; i < kCocoRecallThresholds; ++i) out[i] = i * step + 0.0;
    out[kCocoRecallThresholds - 1] = 1.0;
}

double coco_box_iou(const BoxXywh& det, const BoxXywh& gt, bool crowd) {
    return detail::coco_iou(det, gt, crowd);
}

void coco_match_cpu(const MatchGroups& g, const MatchParams& p, std::uint8_t* dt_state, int* valid_gt, int* dt_match) {
    const int T = p.num_thresholds;
    std::vector<int> order;        // ground truth, non-ignored first (stable)
    std::vector<std::uint8_t> ign; // per sorted ground truth
    std::vector<double> ious;      // D x G, sorted ground-truth order
    std::vector<std::uint8_t> taken, outside;
    for (int grp = 0; grp < g.num_groups; ++grp) {
        const int g0 = g.gt_offsets[grp], G = g.gt_offsets[grp + 1] - g0;
        const int d0 = g.dt_offsets[grp], D = g.dt_offsets[grp + 1] - d0;
        order.resize(G);
        ign.resize(G);
        int valid = 0;
        for (int j = 0; j < G; ++j) valid += !(g.gt_crowd[g0 + j] || detail::outside(g.gt_area[g0 + j], p));
        valid_gt[grp] = valid;
        if (D == 0) continue; // nothing to match (most groups: categories absent from an image)
        if (G == 0) {         // no ground truth: every detection is a false positive, or ignored outside the range
            for (int d = 0; d < D; ++d) {
                const std::uint8_t st = detail::det_state(-1, false, false, detail::outside(g.dt_area[d0 + d], p));
                std::fill_n(dt_state + static_cast<std::size_t>(d0 + d) * T, T, st);
                if (dt_match) std::fill_n(dt_match + static_cast<std::size_t>(d0 + d) * T, T, -1);
            }
            continue;
        }
        int front = 0, back = valid;
        for (int j = 0; j < G; ++j) {
            const bool ig = g.gt_crowd[g0 + j] || detail::outside(g.gt_area[g0 + j], p);
            order[ig ? back++ : front++] = g0 + j;
        }
        for (int j = 0; j < G; ++j) ign[j] = j >= valid;
        ious.resize(static_cast<std::size_t>(D) * G);
        for (int d = 0; d < D; ++d)
            for (int j = 0; j < G; ++j)
                ious[static_cast<std::size_t>(d) * G + j] =
                    detail::coco_iou(g.dt_box[d0 + d], g.gt_box[order[j]], g.gt_crowd[order[j]]);
        taken.assign(G, 0);
        outside.resize(D);
        for (int d = 0; d < D; ++d) outside[d] = detail::outside(g.dt_area[d0 + d], p);
        for (int t = 0; t < T; ++t) {
            std::fill(taken.begin(), taken.end(), 0);
            for (int d = 0; d < D; ++d) {
                const double* row = &ious[static_cast<std::size_t>(d) * G];
                const int m = detail::coco_assign(
                    p.thresholds[t], G, [&](int j) { return row[j]; }, [&](int j) { return taken[j] != 0; },
                    [&](int j) { return ign[j] != 0; }, [&](int j) { return g.gt_crowd[order[j]] != 0; });
                if (m >= 0) taken[m] = 1;
                if (dt_match) dt_match[static_cast<std::size_t>(d0 + d) * T + t] = m >= 0 ? order[m] : -1;
                dt_state[static_cast<std::size_t>(d0 + d) * T + t] =
                    detail::det_state(m, m >= 0 && g.gt_id_zero[order[m]], m >= 0 && ign[m], outside[d] != 0);
            }
        }
    }
}

void coco_accumulate_cpu(const AccumulateSegments& s, double* precision, double* recall, double* score_at,
                         int* scratch) {
    const int T = s.num_thresholds, R = s.num_recall;
    std::vector<int> tp_pos[kMaxIouThresholds], tp_fp[kMaxIouThresholds];
    std::vector<double> env;
    for (int seg = 0; seg < s.num_segments; ++seg) {
        double* prec = precision + static_cast<std::size_t>(seg) * T * R;
        double* sc = score_at + static_cast<std::size_t>(seg) * T * R;
        double* rec = recall + static_cast<std::size_t>(seg) * T;
        const int n0 = s.offsets[seg], n = s.offsets[seg + 1] - n0;
        const int npig = s.valid_gt[seg];
        if (npig == 0) {
            std::fill(prec, prec + T * R, -1.0);
            std::fill(sc, sc + T * R, -1.0);
            std::fill(rec, rec + T, -1.0);
            continue;
        }
        int* order = scratch + n0;
        std::iota(order, order + n, n0);
        if (!s.presorted) std::stable_sort(order, order + n, [&](int a, int b) { return s.score[a] > s.score[b]; });
        // One pass for all thresholds: where each true positive falls and the false positives before it. Ignored
        // detections stay in pycocotools' cumulative arrays with unchanged sums; they only move positions.
        for (int t = 0; t < T; ++t) tp_pos[t].clear(), tp_fp[t].clear();
        int cfp[kMaxIouThresholds] = {};
        for (int i = 0; i < n; ++i) {
            const std::uint8_t* row = s.state + static_cast<std::size_t>(order[i]) * T;
            for (int t = 0; t < T; ++t) {
                cfp[t] += row[t] == kFalsePositive;
                if (row[t] == kTruePositive) tp_pos[t].push_back(i), tp_fp[t].push_back(cfp[t]);
            }
        }
        for (int t = 0; t < T; ++t) {
            const auto& pos = tp_pos[t];
            const auto& fps = tp_fp[t];
            const int ntp = static_cast<int>(pos.size());
            rec[t] = n ? static_cast<double>(ntp) / npig : 0.0;
            // pr = tp / (fp + tp + eps) (float64 cumulative sums are exact integers); its envelope max(pr[j], j >=
            // i) at a true positive is the max over the true positives from there on (pr only falls between them)
            auto pr = [](double tp, double fp) { return detail::coco_precision(tp, fp); };
            env.resize(ntp + 1);
            env[ntp] = -1;
            for (int k = ntp; k-- > 0;) env[k] = std::max(pr(k + 1, fps[k]), env[k + 1]);
            double* q = prec + static_cast<std::size_t>(t) * R;
            double* ss = sc + static_cast<std::size_t>(t) * R;
            int k = 0; // true positives needed: the least k with k / npig >= threshold (rc is tp / npig)
            for (int r = 0; r < R; ++r) {
                const double thr = s.recall_thresholds[r];
                while (k <= ntp && static_cast<double>(k) / npig < thr) ++k;
                // np.searchsorted(rc, thr, 'left'): the first position whose cumulative tp reaches k
                const int at = k == 0 ? 0 : (k <= ntp ? pos[k - 1] : n);
                if (at >= n) {
                    for (; r < R; ++r) q[r] = 0.0, ss[r] = 0.0;
                    break;
                }
                if (k == 0) { // position 0 itself, whatever it is, then the envelope beyond
                    const std::uint8_t st = s.state[static_cast<std::size_t>(order[0]) * T + t];
                    q[r] = std::max(pr(st == kTruePositive, st == kFalsePositive), env[0]);
                } else {
                    q[r] = env[k - 1];
                }
                ss[r] = s.score[order[at]];
            }
        }
    }
}

#ifndef SIGHTLINE_HAS_CUDA
std::size_t coco_match_cuda_workspace_bytes(int) {
    return 0;
}
void coco_match_cuda(const MatchGroups&, const MatchParams&, std::uint8_t*, int*, int*, void*, std::size_t, StreamRef) {
    throw Error(ErrorCode::kUnsupported, "coco_match_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
std::size_t coco_accumulate_cuda_workspace_bytes(int, int) {
    return 0;
}
void coco_accumulate_cuda(const AccumulateSegments&, double*, double*, double*, int*, void*, std::size_t, StreamRef) {
    throw Error(ErrorCode::kUnsupported, "coco_accumulate_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
#endif

} // namespace sightline::kernels
