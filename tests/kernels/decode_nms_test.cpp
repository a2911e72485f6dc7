// Head decode and NMS CPU twins against naive oracles on seeded random heads.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <fstream>
#include <random>

#include "kernels/test_heads.hpp"
#include "reference/detect_reference.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/nms.hpp"

using namespace sightline;
using namespace sightline::kernels;

namespace {

struct Case {
    int layout, B, C, N, top_k;
    float thr;
    float iou = 0.45f;
    int max_det = 25;
    bool class_aware = true;
    bool degenerate = false; ///< every third candidate's box has zero width (or height): IoU 0 with everything
};

class DecodeNms : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeNms, MatchesOracle) {
    const Case c = GetParam();
    const unsigned seed = 77u + c.N * 3 + c.C;
    std::mt19937 rng(seed);
    auto head = testing_heads::random_head(c.layout, c.B, c.C, c.N, rng);
    if (c.degenerate) {
        const int F = c.C + (c.layout == 8 ? 4 : 5);
        for (int b = 0; b < c.B; ++b)
            for (int n = 0; n < c.N; n += 3) {
                const int k = 2 + (n / 3) % 2; // width, then height
                const std::size_t at = c.layout == 8 ? (static_cast<std::size_t>(b) * F + k) * c.N + n
                                                     : (static_cast<std::size_t>(b) * c.N + n) * F + k;
                head[at] = 0.f;
            }
    }
    DecodeParams p;
    p.layout = c.layout == 8 ? HeadLayout::kYoloV8 : HeadLayout::kYoloV5;
    p.num_classes = c.C;
    p.num_candidates = c.N;
    p.confidence_threshold = c.thr;
    p.top_k = c.top_k;
    std::vector<Candidate> out(static_cast<std::size_t>(c.B) * c.top_k);
    std::vector<int> counts(c.B);
    decode_cpu(head.data(), c.B, p, out.data(), counts.data());
    NmsParams np;
    np.iou_threshold = c.iou;
    np.max_det = c.max_det;
    np.class_aware = c.class_aware;
    std::vector<int> keep(static_cast<std::size_t>(c.B) * np.max_det), kc(c.B);
    nms_cpu(out.data(), counts.data(), c.B, c.top_k, np, keep.data(), kc.data());
    const int F = c.C + (c.layout == 8 ? 4 : 5);
    for (int b = 0; b < c.B; ++b) {
        auto ref =
            reference::decode(head.data() + static_cast<std::size_t>(b) * F * c.N, c.layout, c.C, c.N, c.thr, c.top_k);
        ASSERT_EQ(counts[b], int(ref.size())) << "image " << b << " seed " << seed;
        for (int i = 0; i < counts[b]; ++i) {
            const auto& g = out[static_cast<std::size_t>(b) * c.top_k + i];
            const auto& r = ref[i];
            ASSERT_EQ(g.index, r.index) << "rank " << i << " image " << b << " seed " << seed;
            EXPECT_EQ(g.cls, r.cls);
            EXPECT_NEAR(g.score, r.score, 1e-6);
            EXPECT_NEAR(g.margin, r.margin, 1e-6);
            EXPECT_NEAR(g.entropy, r.entropy, 1e-5);
            EXPECT_NEAR(g.x1, r.x1, 1e-4);
            EXPECT_NEAR(g.y2, r.y2, 1e-4);
        }
        auto rk = reference::nms(ref, np.iou_threshold, np.max_det, c.class_aware);
        ASSERT_EQ(kc[b], int(rk.size())) << "image " << b << " seed " << seed;
        for (int i = 0; i < kc[b]; ++i) EXPECT_EQ(keep[b * np.max_det + i], rk[i]);
    }
}

INSTANTIATE_TEST_SUITE_P(Table, DecodeNms,
                         ::testing::Values(Case{8, 2, 5, 1680, 300, 0.25f}, Case{8, 3, 80, 600, 100, 0.5f},
                                           Case{5, 2, 3, 500, 300, 0.2f}, Case{8, 1, 1, 64, 10, 0.0f},
                                           Case{5, 1, 80, 200, 1000, 0.9f},
                                           // other IoU thresholds and max_det, class-agnostic
                                           Case{8, 2, 5, 1680, 300, 0.25f, 0.7f, 100, true},
                                           Case{8, 2, 5, 1680, 300, 0.25f, 0.3f, 5, false},
                                           Case{5, 2, 3, 500, 300, 0.2f, 0.5f, 300, false},
                                           Case{8, 1, 5, 400, 400, 0.1f, 1.0f, 1000, true},
                                           Case{8, 2, 5, 600, 200, 0.25f, 0.01f, 3, false},
                                           // no candidate passes (scores never exceed 1): empty input to NMS
                                           Case{8, 2, 5, 300, 100, 1.0f}, Case{5, 2, 3, 300, 100, 1.0f, 0.5f, 10, false},
                                           // degenerate boxes (zero width or height) among the candidates
                                           Case{8, 2, 5, 900, 300, 0.25f, 0.45f, 50, true, true},
                                           Case{5, 2, 3, 500, 300, 0.2f, 0.45f, 50, false, true}));

TEST(Nms, ClassAgnosticSuppressesAcrossClasses) {
    Candidate c[2] = {{0, 0, 10, 10, 0.9f, 0, 0, 0, 0}, {1, 1, 10, 10, 0.8f, 1, 0, 0, 1}};
    int counts = 2, keep[4], kc;
    NmsParams p;
    p.iou_threshold = 0.5f;
    nms_cpu(c, &counts, 1, 2, p, keep, &kc);
    EXPECT_EQ(kc, 2);
    p.class_aware = false;
    nms_cpu(c, &counts, 1, 2, p, keep, &kc);
    EXPECT_EQ(kc, 1);
}

TEST(ToFrame, InvertsLetterboxAndClips) {
    auto lb = compute_letterbox(640, 480, 320, 256);
    Candidate c{10, 18, 330, 100, 1, 0, 0, 0, 0};
    to_frame(c, lb, 640, 480);
    EXPECT_FLOAT_EQ(c.x1, 20);
    EXPECT_FLOAT_EQ(c.y1, 20);
    EXPECT_FLOAT_EQ(c.x2, 640); // clipped
    EXPECT_FLOAT_EQ(c.y2, 184);
}

// The DFL layout (an Ultralytics head cut before its decoding tail) against a naive double-precision decode written
// from Ultralytics' own steps: softmax over the bins and its expectation per side, anchors at cell centres over the
// 8/16/32 grids, x1y1 = anchor - lt, x2y2 = anchor + rb, centre and size times the stride, sigmoid of the logits.
TEST(DecodeDfl, MatchesUltralyticsStepsInDouble) {
    const int W = 96, H = 64, R = 16, C = 3;
    const int N = (W / 8) * (H / 8) + (W / 16) * (H / 16) + (W / 32) * (H / 32);
    const int F = 4 * R + C, B = 2;
    std::mt19937 rng(99);
    std::normal_distribution<float> g(0.f, 2.f);
    std::vector<float> head(static_cast<std::size_t>(B) * F * N);
    for (auto& v : head) v = g(rng);
    DecodeParams p;
    p.layout = HeadLayout::kYoloV8Dfl, p.num_classes = C, p.num_candidates = N, p.top_k = N;
    p.reg_max = R, p.input_width = W, p.input_height = H, p.confidence_threshold = 0.6f;
    EXPECT_EQ(decode_fields(p), F);
    std::vector<Candidate> out(static_cast<std::size_t>(B) * N);
    std::vector<int> counts(B);
    decode_cpu(head.data(), B, p, out.data(), counts.data());
    for (int b = 0; b < B; ++b) {
        const float* t = head.data() + static_cast<std::size_t>(b) * F * N;
        int expected_kept = 0;
        std::vector<std::array<double, 5>> ref(N); // cx, cy, w, h, best score
        for (int n = 0, base = 0, s = 8; s <= 32; base += (W / s) * (H / s), s *= 2)
            for (; n < base + (W / s) * (H / s); ++n) {
                const int cell = n - base;
                const double ax = cell % (W / s) + 0.5, ay = cell / (W / s) + 0.5;
                double d[4];
                for (int side = 0; side < 4; ++side) {
                    double m = -1e300, sum = 0, w = 0;
                    for (int j = 0; j < R; ++j) m = std::max(m, double(t[(side * R + j) * N + n]));
                    for (int j = 0; j < R; ++j) {
                        const double e = std::exp(double(t[(side * R + j) * N + n]) - m);
                        sum += e, w += e * j;
                    }
                    d[side] = w / sum;
                }
                const double x1 = ax - d[0], y1 = ay - d[1], x2 = ax + d[2], y2 = ay + d[3];
                double best = 0;
                for (int k = 0; k < C; ++k) best = std::max(best, 1 / (1 + std::exp(-double(t[(4 * R + k) * N + n]))));
                ref[n] = {(x1 + x2) / 2 * s, (y1 + y2) / 2 * s, (x2 - x1) * s, (y2 - y1) * s, best};
                expected_kept += best > p.confidence_threshold;
            }
        EXPECT_NEAR(counts[b], expected_kept, 2) << "only scores within float rounding of the threshold may differ";
        ASSERT_GT(counts[b], 10);
        for (int i = 0; i < counts[b]; ++i) {
            const Candidate& c = out[static_cast<std::size_t>(b) * N + i];
            const auto& r = ref[c.index];
            EXPECT_NEAR(c.score, r[4], 1e-6) << "candidate " << c.index;
            EXPECT_NEAR((c.x1 + c.x2) / 2, r[0], 1e-3) << "candidate " << c.index;
            EXPECT_NEAR((c.y1 + c.y2) / 2, r[1], 1e-3);
            EXPECT_NEAR(c.x2 - c.x1, r[2], 1e-3);
            EXPECT_NEAR(c.y2 - c.y1, r[3], 1e-3);
            if (i > 0) {
                EXPECT_GE(out[static_cast<std::size_t>(b) * N + i - 1].score, c.score);
            }
        }
    }
    // parameters that cannot describe a DFL head
    auto bad = p;
    bad.num_candidates = N - 1;
    EXPECT_THROW(decode_cpu(head.data(), 1, bad, out.data(), counts.data()), Error);
    bad = p;
    bad.input_width = 100;
    EXPECT_THROW(decode_cpu(head.data(), 1, bad, out.data(), counts.data()), Error);
}

// Against Ultralytics itself: a genuine YOLOv8 export (tests/fixtures/ultralytics, made with Ultralytics from
// PyPI), run by onnxruntime on one input both cut before its decoding tail (raw.f32) and whole (output0.f32, its
// own DFL, anchors, strides and sigmoid). Decoding the raw head must give Ultralytics' boxes and scores.
TEST(DecodeDfl, EqualsUltralyticsOwnTailOnARealExport) {
    const std::string dir = std::string(SIGHTLINE_SOURCE_DIR) + "/tests/fixtures/ultralytics/";
    auto read = [&](const std::string& name, std::size_t n) {
        std::vector<float> v(n);
        std::ifstream f(dir + name, std::ios::binary);
        f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
        EXPECT_TRUE(f) << name;
        return v;
    };
    const int N = 1680, C = 5, R = 16;
    const auto raw = read("raw.f32", static_cast<std::size_t>(4 * R + C) * N);
    const auto ref = read("output0.f32", static_cast<std::size_t>(4 + C) * N);
    DecodeParams p;
    p.layout = HeadLayout::kYoloV8Dfl, p.num_classes = C, p.num_candidates = N, p.top_k = N, p.reg_max = R;
    p.input_width = 320, p.input_height = 256, p.confidence_threshold = 0.f;
    std::vector<Candidate> out(N);
    int count = 0;
    decode_cpu(raw.data(), 1, p, out.data(), &count);
    ASSERT_EQ(count, N) << "random weights: every score is small but positive";
    double worst_box = 0, worst_score = 0;
    for (int i = 0; i < count; ++i) {
        const Candidate& c = out[i];
        const int n = c.index;
        const float want[4] = {ref[0 * N + n], ref[1 * N + n], ref[2 * N + n], ref[3 * N + n]};
        const float got[4] = {(c.x1 + c.x2) / 2, (c.y1 + c.y2) / 2, c.x2 - c.x1, c.y2 - c.y1};
        for (int k = 0; k < 4; ++k) worst_box = std::max(worst_box, double(std::abs(got[k] - want[k])));
        float best = 0;
        for (int k = 0; k < C; ++k) best = std::max(best, ref[(4 + k) * N + n]);
        worst_score = std::max(worst_score, double(std::abs(c.score - best)));
    }
    EXPECT_LT(worst_box, 1e-3) << "pixels";
    EXPECT_LT(worst_score, 1e-6) << "absolute (onnxruntime's vectorised sigmoid differs from 1 / (1 + expf(-x)) "
                                    "by ~2e-4 relative at these ~0.002 scores)";
}

TEST(DecodeBadInput, Table) {
    float head[10] = {};
    Candidate out[4];
    int counts[1];
    DecodeParams p;
    p.num_classes = 1, p.num_candidates = 2, p.top_k = 4;
    auto expect_bad = [&](DecodeParams q, const char* msg) {
        try {
            decode_cpu(head, 1, q, out, counts);
            ADD_FAILURE() << msg;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadInput);
            EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
        }
    };
    {
        auto q = p;
        q.num_classes = 0;
        expect_bad(q, "num_classes");
    }
    {
        auto q = p;
        q.top_k = 0;
        expect_bad(q, "top_k");
    }
    {
        auto q = p;
        q.confidence_threshold = NAN;
        expect_bad(q, "confidence_threshold");
    }
    NmsParams np;
    np.max_det = 0;
    int keep[1], kc[1];
    EXPECT_THROW(nms_cpu(out, counts, 1, 4, np, keep, kc), Error);
}

} // namespace
