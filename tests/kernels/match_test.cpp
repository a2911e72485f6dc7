// The CUDA match/accumulate kernels' per-thread bodies (shared __host__ __device__ functions) run on the CPU against
// the CPU twins, so the GPU algorithm is checked on every machine; tests/gpu checks the launches on a GPU.
#include <gtest/gtest.h>

#include "kernels/test_coco.hpp"
#include "match/match_common.hpp"

using namespace sightline::kernels;

namespace {

TEST(CocoMatchGroupBody, EqualsCpuTwin) {
    std::mt19937 rng(41);
    for (int area = 0; area < 3; ++area) {
        const auto r = testing_coco::random_groups(rng, 500);
        MatchParams p;
        coco_iou_thresholds(p.thresholds);
        const double ranges[3][2] = {{0, 1e10}, {0, 1024}, {1024, 9216}};
        p.area_lo = ranges[area][0], p.area_hi = ranges[area][1];
        const std::size_t cells = r.dt_box.size() * p.num_thresholds;
        std::vector<std::uint8_t> state(cells), state2(cells, 0xAA);
        std::vector<int> valid(r.groups), valid2(r.groups, -7), match(cells), match2(cells, -7);
        coco_match_cpu(r.view(), p, state.data(), valid.data(), match.data());
        std::vector<int> order(r.gt_box.size());
        std::vector<std::uint8_t> taken(r.gt_box.size());
        const MatchGroups g = r.view();
        for (int grp = 0; grp < r.groups; ++grp)
            detail::coco_match_group(g, p, grp, state2.data(), valid2.data(), match2.data(), order.data(),
                                     taken.data());
        EXPECT_EQ(state2, state) << "area " << area;
        EXPECT_EQ(valid2, valid);
        EXPECT_EQ(match2, match);
    }
}

TEST(CocoAccumulateBody, EqualsCpuTwin) {
    std::mt19937 rng(42);
    for (const bool presorted : {true, false}) {
        const auto r = testing_coco::random_segments(rng, 400, presorted);
        const AccumulateSegments s = r.view();
        const int T = s.num_thresholds, R = s.num_recall;
        std::vector<double> prec(static_cast<std::size_t>(r.segments) * T * R), sat(prec.size()),
            rec(static_cast<std::size_t>(r.segments) * T);
        std::vector<int> order(r.score.size());
        coco_accumulate_cpu(s, prec.data(), rec.data(), sat.data(), order.data()); // order: the sorted positions
        std::vector<double> prec2(prec.size(), std::nan("")), sat2(sat.size(), std::nan("")),
            rec2(rec.size(), std::nan(""));
        for (int seg = 0; seg < r.segments; ++seg)
            for (int t = 0; t < T; ++t)
                detail::coco_accumulate_one(s, order.data(), seg, t, prec2.data(), rec2.data(), sat2.data());
        EXPECT_EQ(prec2, prec) << "presorted " << presorted;
        EXPECT_EQ(sat2, sat) << "presorted " << presorted;
        EXPECT_EQ(rec2, rec) << "presorted " << presorted;
    }
}

} // namespace
