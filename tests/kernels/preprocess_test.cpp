// Preprocess CPU twin against the naive oracle, table-driven, plus a table of bad inputs.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "kernels/test_frames.hpp"
#include "preprocess/preprocess_common.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/preprocess.hpp"

using namespace sightline;
using namespace sightline::kernels;

// The compiler's float -> binary16 conversion, the oracle for the shared one: GCC's _Float16; clang has _Float16
// on x86 only from version 15, so under clang 14 (the sanitizer builds) the CPU's own F16C instruction, which
// rounds the same IEEE way (to nearest, ties to even) for every non-NaN value.
#if defined(__clang__) && __clang_major__ < 15
#include <immintrin.h>
__attribute__((target("f16c"))) static std::uint16_t compiler_half_bits(float f) {
    return static_cast<std::uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
#else
static std::uint16_t compiler_half_bits(float f) {
    const _Float16 h = static_cast<_Float16>(f);
    std::uint16_t bits;
    std::memcpy(&bits, &h, 2);
    return bits;
}
#endif

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
    // BGR through the fused AVX2 row: a width that leaves a tail (38 = 4 blocks + 6), a 3:1 downscale (taps span
    // three vectors, 50 columns), a 4.7:1 one (too wide for the permutes: the gather path)
    {"bgr_tail", 0, 37, 29, 45, 30, true, {0.1f, 0.2f, 0.3f}, {0.5f, 0.6f, 0.7f}},
    {"bgr_third", 0, 150, 30, 50, 50, false, {0, 0, 0}, {1, 1, 1}},
    {"bgr_wide_down", 0, 300, 40, 64, 64, true, {0, 0, 0}, {1, 1, 1}},
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
        EXPECT_NEAR(st[i].sharpness, ref.sharpness, 1e-2 + 1e-4 * ref.sharpness) << c.name << " frame " << i;
        long total = 0, diff = 0;
        for (int b = 0; b < kLumaBins; ++b)
            total += st[i].histogram[b], diff += std::abs(long(st[i].histogram[b]) - long(ref.hist[b]));
        EXPECT_EQ(total, long(ref.rw) * ref.rh);
        EXPECT_LE(diff, 2 + total / 1000) << "histogram differs beyond values on bin edges";
    }
}

INSTANTIATE_TEST_SUITE_P(Table, PreprocessVsOracle, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The CPU twin (separable: rows interpolated once, then blended) equals, bit for bit, the per-pixel body the CUDA
// kernel runs (kernels::detail::sample_rgb, normalise, store_pixel), for every input format, output type and layout,
// downscaling and upscaling, odd sizes and padded pitches.
// Both CPU paths are checked: the AVX2 row primitives (where the CPU has them) and the portable ones.
TEST(PreprocessPixelBody, CpuTwinEqualsPerPixelBodyBitForBit) {
    std::mt19937 rng(4242);
    const bool has_simd = kernels::detail::preprocess_simd(true);
    for (const Case& c : kCases)
        for (int variant = 0; variant < 8; ++variant) {
            if ((variant & 4) && !has_simd) continue;
            kernels::detail::preprocess_simd(!(variant & 4));
            auto frame = testing_frames::random_frame(c.format, c.w, c.h, rng);
            const ImageView v = testing_frames::view_of(frame);
            PreprocessParams p;
            p.input_width = c.in_w, p.input_height = c.in_h;
            p.order = c.rgb ? ChannelOrder::kRGB : ChannelOrder::kBGR;
            for (int k = 0; k < 3; ++k) p.mean[k] = c.mean[k], p.std[k] = c.std[k];
            p.dtype = variant & 1 ? TensorType::kFloat16 : TensorType::kFloat32;
            p.layout = variant & 2 ? TensorLayout::kNHWC : TensorLayout::kNCHW;
            const std::size_t bytes = preprocess_frame_bytes(p);
            std::vector<std::uint8_t> twin(bytes, 0xAB), body(bytes, 0xCD);
            preprocess_cpu(std::span(&v, 1), p, twin.data(), nullptr, nullptr);
            const Letterbox lb = compute_letterbox(v.width, v.height, p.input_width, p.input_height);
            const float inv_x = static_cast<float>(v.width) / lb.resized_width;
            const float inv_y = static_cast<float>(v.height) / lb.resized_height;
            const kernels::detail::Normalised pad =
                kernels::detail::normalise(p, p.pad_value, p.pad_value, p.pad_value);
            for (int y = 0; y < p.input_height; ++y)
                for (int x = 0; x < p.input_width; ++x) {
                    const int rx = x - lb.pad_x, ry = y - lb.pad_y;
                    if (rx < 0 || ry < 0 || rx >= lb.resized_width || ry >= lb.resized_height) {
                        kernels::detail::store_pixel(p, pad, body.data(), x, y);
                        continue;
                    }
                    float r, g, b, l;
                    kernels::detail::sample_rgb(v, kernels::detail::taps(rx, inv_x, v.width),
                                                kernels::detail::taps(ry, inv_y, v.height), r, g, b, l);
                    kernels::detail::store_pixel(p, kernels::detail::normalise(p, r, g, b), body.data(), x, y);
                }
            ASSERT_EQ(twin, body) << c.name << " variant " << variant << (variant & 4 ? " (portable)" : " (simd)");
        }
    kernels::detail::preprocess_simd(true);
}

// The sharpness statistic: the CPU twin's Laplacian sums (both paths) equal the per-pixel body the CUDA kernel runs
// (sample_luma at the four neighbours, laplacian, laplacian_row) to rounding of the summation order, and
// sample_luma is sample_rgb's luma bit for bit.
TEST(PreprocessPixelBody, SharpnessEqualsPerPixelBody) {
    std::mt19937 rng(99);
    const bool has_simd = kernels::detail::preprocess_simd(true);
    for (const Case& c : kCases)
        for (int simd = 0; simd < 2; ++simd) {
            if (simd && !has_simd) continue;
            kernels::detail::preprocess_simd(simd == 1);
            auto frame = testing_frames::random_frame(c.format, c.w, c.h, rng);
            const ImageView v = testing_frames::view_of(frame);
            PreprocessParams p;
            p.input_width = c.in_w, p.input_height = c.in_h;
            std::vector<float> out(3ull * c.in_w * c.in_h);
            LumaStats st;
            preprocess_cpu(std::span(&v, 1), p, out.data(), nullptr, &st);
            const Letterbox lb = compute_letterbox(v.width, v.height, p.input_width, p.input_height);
            const float inv_x = static_cast<float>(v.width) / lb.resized_width;
            const float inv_y = static_cast<float>(v.height) / lb.resized_height;
            auto tx = [&](int rx) { return kernels::detail::taps(rx, inv_x, v.width); };
            auto ty = [&](int ry) { return kernels::detail::taps(ry, inv_y, v.height); };
            LumaSums sums;
            for (int y = 0; y < p.input_height; ++y)
                for (int x = 0; x < p.input_width; ++x) {
                    const int rx = x - lb.pad_x, ry = y - lb.pad_y;
                    if (rx < 0 || ry < 0 || rx >= lb.resized_width || ry >= lb.resized_height) continue;
                    float r, g, b, l;
                    kernels::detail::sample_rgb(v, tx(rx), ty(ry), r, g, b, l);
                    const float alone = kernels::detail::sample_luma(v, tx(rx), ty(ry));
                    ASSERT_EQ(std::memcmp(&alone, &l, sizeof l), 0) << c.name << " pixel " << x << "," << y;
                    if (rx < 1 || rx + 1 >= lb.resized_width ||
                        !kernels::detail::laplacian_row(y, lb.pad_y, lb.resized_height))
                        continue;
                    const float lap =
                        kernels::detail::laplacian(kernels::detail::sample_luma(v, tx(rx), ty(ry - 1)),
                                                   kernels::detail::sample_luma(v, tx(rx), ty(ry + 1)),
                                                   kernels::detail::sample_luma(v, tx(rx - 1), ty(ry)),
                                                   kernels::detail::sample_luma(v, tx(rx + 1), ty(ry)), l);
                    sums.lap_sum += lap, sums.lap_sumsq += double(lap) * lap, ++sums.lap_n;
                }
            const LumaStats body = luma_stats(sums, lb);
            EXPECT_NEAR(st.sharpness, body.sharpness, 1e-6 * body.sharpness + 1e-6)
                << c.name << (simd ? " (simd)" : " (portable)");
        }
    kernels::detail::preprocess_simd(true);
}

// Sharpness reads blur: a fine checkerboard scores high; the same picture box-blurred scores a small fraction; a
// flat one scores 0; the pad does not count (a letterboxed frame scores what its content scores).
TEST(PreprocessSharpness, FallsWithBlur) {
    const int w = 96, h = 64;
    auto picture = [&](int radius) {
        std::vector<std::uint8_t> sharp(w * h), out(w * h);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) sharp[y * w + x] = ((x / 2 + y / 2) % 2) ? 200 : 40;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                int sum = 0, n = 0;
                for (int dy = -radius; dy <= radius; ++dy)
                    for (int dx = -radius; dx <= radius; ++dx) {
                        const int xx = std::clamp(x + dx, 0, w - 1), yy = std::clamp(y + dy, 0, h - 1);
                        sum += sharp[yy * w + xx], ++n;
                    }
                out[y * w + x] = static_cast<std::uint8_t>(sum / n);
            }
        return out;
    };
    auto sharpness = [&](const std::vector<std::uint8_t>& y, int in_w, int in_h) {
        std::vector<std::uint8_t> chroma(((w + 1) / 2) * ((h + 1) / 2), 128);
        ImageView v;
        v.format = PixelFormat::kYUV420P, v.width = w, v.height = h;
        v.planes[0] = y.data(), v.pitch[0] = w;
        v.planes[1] = v.planes[2] = chroma.data(), v.pitch[1] = v.pitch[2] = (w + 1) / 2;
        PreprocessParams p;
        p.input_width = in_w, p.input_height = in_h;
        std::vector<float> out(3ull * in_w * in_h);
        LumaStats st;
        preprocess_cpu(std::span(&v, 1), p, out.data(), nullptr, &st);
        return st.sharpness;
    };
    const float sharp = sharpness(picture(0), w, h), blurred = sharpness(picture(2), w, h);
    EXPECT_GT(sharp, 1000.f);
    EXPECT_LT(blurred, 0.1f * sharp);
    EXPECT_EQ(sharpness(std::vector<std::uint8_t>(w * h, 90), w, h), 0.f);
    // the same picture letterboxed into a taller input: its pad (flat) is left out, so it scores about the same
    EXPECT_NEAR(sharpness(picture(0), w, 2 * h), sharp, 0.1 * sharp);
}

// fp16 and NHWC outputs hold the same values as the fp32 NCHW output: fp16 rounded to nearest even exactly as GCC's
// _Float16 conversion rounds (an independent implementation), NHWC the same floats transposed.
TEST(PreprocessOutputFormats, HalfAndNhwcMatchFloatNchw) {
    std::mt19937 rng(77);
    auto frame = testing_frames::random_frame(2, 75, 41, rng);
    const ImageView v = testing_frames::view_of(frame);
    PreprocessParams p;
    p.input_width = 48, p.input_height = 40;
    p.mean[0] = 0.4f, p.std[0] = 0.003f; // spreads values over [-140, 200] so fp16's coarse ranges are exercised
    const std::size_t plane = 48 * 40;
    std::vector<float> nchw(3 * plane), nhwc(3 * plane);
    std::vector<std::uint16_t> half_nchw(3 * plane, 0xFFFF), half_nhwc(3 * plane, 0xFFFF);
    preprocess_cpu(std::span(&v, 1), p, nchw.data(), nullptr, nullptr);
    p.layout = TensorLayout::kNHWC;
    preprocess_cpu(std::span(&v, 1), p, nhwc.data(), nullptr, nullptr);
    p.dtype = TensorType::kFloat16;
    EXPECT_EQ(preprocess_frame_bytes(p), 3 * plane * 2);
    preprocess_cpu(std::span(&v, 1), p, half_nhwc.data(), nullptr, nullptr);
    p.layout = TensorLayout::kNCHW;
    preprocess_cpu(std::span(&v, 1), p, half_nchw.data(), nullptr, nullptr);
    for (std::size_t pix = 0; pix < plane; ++pix)
        for (std::size_t c = 0; c < 3; ++c) {
            const float f = nchw[c * plane + pix];
            ASSERT_EQ(nhwc[pix * 3 + c], f) << "pixel " << pix << " channel " << c;
            const std::uint16_t bits = compiler_half_bits(f);
            ASSERT_EQ(half_nchw[c * plane + pix], bits) << "value " << f;
            ASSERT_EQ(half_nhwc[pix * 3 + c], bits) << "value " << f;
        }
}

// The shared float -> binary16 conversion on every edge (subnormals, ties, overflow, NaN) and a million random bit
// patterns, against GCC's _Float16.
TEST(HalfBits, MatchesCompilerConversion) {
    auto expect = [](float f) { return compiler_half_bits(f); };
    const float edges[] = {0.f,
                           -0.f,
                           1.f,
                           -2.f,
                           0.1f,
                           65504.f,
                           65519.99f,
                           65520.f,
                           1e9f,
                           -1e9f,
                           5.960464477539063e-08f,
                           2.98023223876953125e-08f,
                           2.98023259e-08f,
                           6.103515625e-05f,
                           6.1e-05f,
                           1.0009765625f,
                           1.00048828125f,
                           1.00146484375f,
                           std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::denorm_min()};
    for (float f : edges) EXPECT_EQ(kernels::detail::half_bits(f), expect(f)) << f;
    EXPECT_EQ(kernels::detail::half_bits(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
    std::mt19937 rng(5);
    for (int i = 0; i < 1000000; ++i) {
        const std::uint32_t u = rng();
        float f;
        std::memcpy(&f, &u, 4);
        if (std::isnan(f)) continue;
        ASSERT_EQ(kernels::detail::half_bits(f), expect(f)) << "bits 0x" << std::hex << u;
    }
}

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
