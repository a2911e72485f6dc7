// Head decode and NMS CPU twins against naive oracles on seeded random heads.
#include <gtest/gtest.h>

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
};

class DecodeNms : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeNms, MatchesOracle) {
    const Case c = GetParam();
    const unsigned seed = 77u + c.N * 3 + c.C;
    std::mt19937 rng(seed);
    auto head = testing_heads::random_head(c.layout, c.B, c.C, c.N, rng);
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
    np.iou_threshold = 0.45f;
    np.max_det = 25;
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
        auto rk = reference::nms(ref, np.iou_threshold, np.max_det, true);
        ASSERT_EQ(kc[b], int(rk.size())) << "image " << b << " seed " << seed;
        for (int i = 0; i < kc[b]; ++i) EXPECT_EQ(keep[b * np.max_det + i], rk[i]);
    }
}

INSTANTIATE_TEST_SUITE_P(Table, DecodeNms,
                         ::testing::Values(Case{8, 2, 5, 1680, 300, 0.25f}, Case{8, 3, 80, 600, 100, 0.5f},
                                           Case{5, 2, 3, 500, 300, 0.2f}, Case{8, 1, 1, 64, 10, 0.0f},
                                           Case{5, 1, 80, 200, 1000, 0.9f}));

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
