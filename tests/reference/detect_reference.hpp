#pragma once
// Naive oracles for head decode and NMS, written from the specs in decode.hpp / nms.hpp.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace reference {

struct Cand {
    double x1, y1, x2, y2, score, margin, entropy;
    int cls, index;
};

/// layout 8: [4+C, N] per image; layout 5: [N, 5+C].
inline std::vector<Cand> decode(const float* t, int layout, int C, int N, double thr, int top_k) {
    std::vector<Cand> all;
    for (int n = 0; n < N; ++n) {
        auto f = [&](int k) -> double { return layout == 8 ? t[k * N + n] : t[n * (5 + C) + k]; };
        std::vector<double> s(C);
        for (int k = 0; k < C; ++k) s[k] = layout == 8 ? f(4 + k) : double(float(f(5 + k) * f(4)));
        int best = int(std::max_element(s.begin(), s.end()) - s.begin());
        std::vector<double> sorted = s;
        std::sort(sorted.rbegin(), sorted.rend());
        if (!(s[best] > thr)) continue;
        double sum = 0, h = 0;
        for (double v : s) sum += std::max(v, 0.0);
        if (C > 1 && sum > 0) {
            for (double v : s) {
                double p = std::max(v, 0.0) / sum;
                if (p > 0) h -= p * std::log(p);
            }
            h /= std::log(double(C));
        }
        Cand c{f(0) - f(2) / 2,
               f(1) - f(3) / 2,
               f(0) + f(2) / 2,
               f(1) + f(3) / 2,
               s[best],
               C > 1 ? sorted[0] - sorted[1] : sorted[0],
               h,
               best,
               n};
        all.push_back(c);
    }
    std::stable_sort(all.begin(), all.end(), [](const Cand& a, const Cand& b) { return a.score > b.score; });
    if (int(all.size()) > top_k) all.resize(top_k);
    return all;
}

inline double iou(const Cand& a, const Cand& b) {
    double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1), ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    if (iw <= 0 || ih <= 0) return 0;
    double inter = iw * ih;
    return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

/// Suppression-flag formulation of greedy NMS over candidates already in rank order.
inline std::vector<int> nms(const std::vector<Cand>& c, double thr, int max_det, bool class_aware) {
    std::vector<bool> dead(c.size(), false);
    std::vector<int> keep;
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (dead[i]) continue;
        keep.push_back(int(i));
        if (int(keep.size()) == max_det) break;
        for (std::size_t j = i + 1; j < c.size(); ++j)
            if ((!class_aware || c[j].cls == c[i].cls) && iou(c[i], c[j]) > thr) dead[j] = true;
    }
    return keep;
}

} // namespace reference
