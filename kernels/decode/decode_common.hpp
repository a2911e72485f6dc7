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

SL_HD int num_fields(const DecodeParams& p) {
    return p.layout == HeadLayout::kYoloV5 ? 5 + p.num_classes
                                           : (p.layout == HeadLayout::kYoloV8Dfl ? 4 * p.reg_max : 4) + p.num_classes;
}

/// Anchor of candidate n in the DFL layout: cell centre in grid units, and the grid's stride.
struct Anchor {
    float x, y, stride;
};
SL_HD Anchor dfl_anchor(const DecodeParams& p, int n) {
    int s = 8;
    for (int level = 0; level < 3; ++level, s *= 2) {
        const int gw = p.input_width / s, gh = p.input_height / s;
        if (n < gw * gh) return {static_cast<float>(n % gw) + 0.5f, static_cast<float>(n / gw) + 0.5f, float(s)};
        n -= gw * gh;
    }
    return {0.f, 0.f, 0.f};
}

/// A raw DFL column read as decoded fields, as Ultralytics' tail computes them: at(0..3) = cx, cy, w, h in input
/// pixels (per side the softmax expectation over the bins, then x1y1 = anchor - lt, x2y2 = anchor + rb, centre and
/// size, times the stride), at(4 + k) = sigmoid of class k's logit. `raw(k)` returns raw field k.
template <class Raw> struct DflFields {
    Raw raw;
    int reg_max;
    Anchor a;
    SL_HD float distance(int side) const {
        float m = raw(side * reg_max);
        for (int j = 1; j < reg_max; ++j) m = fmaxf(m, raw(side * reg_max + j));
        float sum = 0.f, weighted = 0.f;
        for (int j = 0; j < reg_max; ++j) {
            const float e = expf(raw(side * reg_max + j) - m);
            sum += e;
            weighted += e * static_cast<float>(j);
        }
        return weighted / sum;
    }
    SL_HD float operator()(int k) const {
        if (k >= 4) return 1.f / (1.f + expf(-raw(4 * reg_max + k - 4)));
        const bool horizontal = k == 0 || k == 2;
        const float c = horizontal ? a.x : a.y;
        const float lo = c - distance(horizontal ? 0 : 1), hi = c + distance(horizontal ? 2 : 3);
        return (k < 2 ? (lo + hi) * 0.5f : hi - lo) * a.stride;
    }
};

/// Strict order of candidates: higher score first, then lower index.
SL_HD bool ranks_before(const Candidate& a, const Candidate& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

inline void validate(const DecodeParams& p) {
    if (p.layout == HeadLayout::kYoloV8Dfl) {
        if (p.reg_max < 1 || p.reg_max > 64) throw Error(ErrorCode::kBadInput, "decode: reg_max must be in 1..64");
        if (p.input_width <= 0 || p.input_height <= 0 || p.input_width % 32 || p.input_height % 32)
            throw Error(ErrorCode::kBadInput, "decode: the DFL layout needs the input size, multiples of 32");
        const int expected = (p.input_width / 8) * (p.input_height / 8) + (p.input_width / 16) * (p.input_height / 16) +
                             (p.input_width / 32) * (p.input_height / 32);
        if (p.num_candidates != expected)
            throw Error(ErrorCode::kBadInput, "decode: " + std::to_string(p.num_candidates) + " candidates, but a " +
                                                  std::to_string(p.input_width) + "x" + std::to_string(p.input_height) +
                                                  " input at strides 8/16/32 has " + std::to_string(expected));
    }
    if (p.num_classes < 1) throw Error(ErrorCode::kBadInput, "decode: num_classes must be >= 1");
    if (p.num_candidates < 0) throw Error(ErrorCode::kBadInput, "decode: num_candidates must be >= 0");
    if (p.top_k < 1) throw Error(ErrorCode::kBadInput, "decode: top_k must be >= 1");
    if (!std::isfinite(p.confidence_threshold))
        throw Error(ErrorCode::kBadInput, "decode: confidence_threshold must be finite");
}

} // namespace sightline::kernels::detail
