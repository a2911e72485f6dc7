// Preprocess CPU twin against the naive oracle, table-driven, plus a table of bad inputs.
#include <gtest/gtest.h>

#include "kernels/test_frames.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/preprocess.hpp"

using namespace sightline;
using namespace sightline::kernels;

namespace {

struct Case {
    const char* name;
    int format, w, h, in_w, in_h;
    bool rgb;
    float mean[3], std[3];
};

const Case kCases[] = {
    {"bgr_down_rgb", 0, 64, 48, 32, 32, true, {0, 0, 0}, {1, 1, 1}},
    {"bgr_up_bgr_norm", 0, 17, 9, 40, 32, false, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {"yuv420p_down", 1, 640, 480, 320, 256, true, {0, 0, 0}, {1, 1, 1}},
    {"yuv420p_odd", 1, 37, 23, 64, 64, true, {0.1f, 0.2f, 0.3f}, {0.5f, 0.6f, 0.7f}},
    {"nv12_tall", 2, 30, 90, 64, 48, true, {0, 0, 0}, {1, 1, 1}},
    {"nv12_odd_bgr", 2, 41, 33, 32, 40, false, {0, 0, 0}, {1, 1, 1}},
    {"one_pixel", 1, 2, 2, 8, 8, true, {0, 0, 0}, {1, 1, 1}},
};

class PreprocessVsOracle : public ::testing::TestWithParam<Case> {};

TEST_P(PreprocessVsOracle, MatchesOracle) {
    const Case& c = GetParam();
    const unsigned seed = 1234u + c.w * 31 + c.h;
    std::mt19937 rng(seed);
    auto frame = testing_frames::random_frame(c.format, c.w, c.h, rng);
    auto frame2 = testing_frames::random_frame(c.format, c.h + 3, c.w + 1, rng); // a second, differently sized frame
    ImageView views[2] = {testing_frames::view_of(frame), testing_frames::view_of(frame2)};
    PreprocessParams p;
    p.input_width = c.in_w;
    p.input_height = c.in_h;
    p.order = c.rgb ? ChannelOrder::kRGB : ChannelOrder::kBGR;
    for (int k = 0; k < 3; ++k) p.mean[k] = c.mean[k], p.std[k] = c.std[k];
    std::vector<float> out(2ull * 3 * c.in_w * c.in_h, -999.f);
    Letterbox lb[2];
    LumaStats st[2];
    preprocess_cpu(views, p, out.data(), lb, st);

    const reference::Frame* frames[2] = {&frame, &frame2};
    for (int i = 0; i < 2; ++i) {
        const double mean[3] = {c.mean[0], c.mean[1], c.mean[2]}, stdv[3] = {c.std[0], c.std[1], c.std[2]};
        auto ref = reference::preprocess(*frames[i], c.in_w, c.in_h, c.rgb, 1.0 / 255, mean, stdv, 114);
        EXPECT_EQ(lb[i].pad_x, ref.pad_x) << c.name << " frame " << i << " seed " << seed;
        EXPECT_EQ(lb[i].pad_y, ref.pad_y);
        EXPECT_EQ(lb[i].resized_width, ref.rw);
        EXPECT_EQ(lb[i].resized_height, ref.rh);
        const float* o = out.data() + i * 3ull * c.in_w * c.in_h;
        double worst = 0;
        for (std::size_t k = 0; k < ref.chw.size(); ++k)
            worst = std::max(worst, std::abs(o[k] - ref.chw[k]) * c.std[k / (c.in_w * c.in_h)]);
        EXPECT_LT(worst, 2e-4) << c.name << " frame " << i << ": max |diff| in pixel/255 units, seed " << seed;
        EXPECT_NEAR(st[i].mean, ref.mean, 1e-2);
        EXPECT_NEAR(st[i].stddev, ref.stddev, 1e-2);
        long total = 0, diff = 0;
        for (int b = 0; b < kLumaBins; ++b)
            total += st[i].histogram[b], diff += std::abs(long(st[i].histogram[b]) - long(ref.hist[b]));
        EXPECT_EQ(total, long(ref.rw) * ref.rh);
        EXPECT_LE(diff, 2 + total / 1000) << "histogram differs beyond values on bin edges";
    }
}

INSTANTIATE_TEST_SUITE_P(Table, PreprocessVsOracle, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Letterbox, CentresAndMapsBack) {
    auto lb = compute_letterbox(640, 480, 320, 256);
    EXPECT_FLOAT_EQ(lb.scale, 0.5f);
    EXPECT_EQ(lb.resized_width, 320);
    EXPECT_EQ(lb.resized_height, 240);
    EXPECT_EQ(lb.pad_x, 0);
    EXPECT_EQ(lb.pad_y, 8);
    auto tall = compute_letterbox(1080, 1920, 640, 640);
    EXPECT_EQ(tall.resized_height, 640);
    EXPECT_EQ(tall.resized_width, 360);
    EXPECT_EQ(tall.pad_x, 140);
}

TEST(PreprocessBadInput, Table) {
    std::vector<std::uint8_t> buf(64 * 64 * 3, 0);
    auto good = [&] {
        ImageView v;
        v.format = PixelFormat::kBGR, v.width = 16, v.height = 16, v.planes[0] = buf.data(), v.pitch[0] = 48;
        return v;
    };
    PreprocessParams p;
    p.input_width = 8, p.input_height = 8;
    std::vector<float> out(3 * 64);
    struct Bad {
        const char* what;
        ImageView v;
        PreprocessParams p;
        const char* message;
    };
    std::vector<Bad> bad;
    {
        auto v = good();
        v.planes[0] = nullptr;
        bad.push_back({"null plane", v, p, "plane 0 is null"});
    }
    {
        auto v = good();
        v.pitch[0] = 47;
        bad.push_back({"short pitch", v, p, "pitch 47 < 48"});
    }
    {
        auto v = good();
        v.width = 0;
        bad.push_back({"empty", v, p, "empty frame"});
    }
    {
        auto v = good();
        v.where = MemoryLocation::kDevice;
        bad.push_back({"device memory", v, p, "device memory"});
    }
    {
        auto v = good();
        v.format = PixelFormat::kNV12;
        v.pitch[0] = 16;
        bad.push_back({"nv12 without uv", v, p, "plane 1 is null"});
    }
    {
        auto q = p;
        q.std[1] = 0;
        bad.push_back({"zero std", good(), q, "std[1]"});
    }
    {
        auto q = p;
        q.input_width = 0;
        bad.push_back({"zero input", good(), q, "input size"});
    }
    for (const auto& b : bad) {
        try {
            preprocess_cpu(std::span(&b.v, 1), b.p, out.data(), nullptr, nullptr);
            ADD_FAILURE() << b.what << ": no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadInput) << b.what;
            EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << b.what << ": " << e.what();
        }
    }
}

} // namespace
