#pragma once
// Shared math of the decode twins: one candidate from one column (v8) or row (v5) of the head tensor.
#include <cmath>
#include <string>

#include "sightline/error.hpp"
#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/hd.hpp"

namespace sightline::kernels::detail {

/// Best and second-best class score of one candidate. `at(k)` returns field k (0..3 box, then scores).
struct ClassScores {
    float best, second;
    int best_k;
};
template <class At> SL_HD ClassScores class_scores(const At& at, HeadLayout layout, int num_classes) {
    const int first = layout == HeadLayout::kYoloV5 ? 5 : 4;
    const float obj = layout == HeadLayout::kYoloV5 ? at(4) : 1.f;
    ClassScores r{-1.f, -1.f, 0};
    for (int k = 0; k < num_classes; ++k) {
        const float s = at(first + k) * obj;
        if (s > r.best) {
            r.second = r.best, r.best = s, r.best_k = k;
        } else if (s > r.second) {
            r.second = s;
        }
    }
    return r;
}

/// Reads candidate n of one image, all fields.
template <class At> SL_HD Candidate decode_one(const At& at, HeadLayout layout, int num_classes, int n) {
    Candidate c{};
    const int first = layout == HeadLayout::kYoloV5 ? 5 : 4;
    const float obj = layout == HeadLayout::kYoloV5 ? at(4) : 1.f;
    const ClassScores cs = class_scores(at, layout, num_classes);
    const float best = cs.best, second = cs.second;
    const int best_k = cs.best_k;
    float sum = 0.f;
    for (int k = 0; k < num_classes; ++k) {
        const float s = at(first + k) * obj;
        sum += s > 0.f ? s : 0.f;
    }
    float h = 0.f;
    if (num_classes > 1 && sum > 0.f) {
        for (int k = 0; k < num_classes; ++k) {
            const float s = at(first + k) * obj;
            const float p = (s > 0.f ? s : 0.f) / sum;
            if (p > 0.f) h -= p * logf(p);
        }
        h /= logf(static_cast<float>(num_classes));
    }
    const float cx = at(0), cy = at(1), w = at(2), hh = at(3);
    c.x1 = cx - 0.5f * w;
    c.y1 = cy - 0.5f * hh;
    c.x2 = cx + 0.5f * w;
    c.y2 = cy + 0.5f * hh;
    c.score = best;
    c.cls = best_k;
    c.margin = num_classes > 1 ? best - second : best;
    c.entropy = h;
    c.index = n;
    return c;
}

/// Strict order of candidates: higher score first, then lower index.
SL_HD bool ranks_before(const Candidate& a, const Candidate& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

inline void validate(const DecodeParams& p) {
    if (p.num_classes < 1) throw Error(ErrorCode::kBadInput, "decode: num_classes must be >= 1");
    if (p.num_candidates < 0) throw Error(ErrorCode::kBadInput, "decode: num_candidates must be >= 0");
    if (p.top_k < 1) throw Error(ErrorCode::kBadInput, "decode: top_k must be >= 1");
    if (!std::isfinite(p.confidence_threshold))
        throw Error(ErrorCode::kBadInput, "decode: confidence_threshold must be finite");
}

} // namespace sightline::kernels::detail
