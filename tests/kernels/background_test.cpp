// Background CPU twin against the naive oracle (three pixel formats, a sequence of frames), its behaviour on a
// crafted scene (an object appears, is foreground, and becomes background), the grid, and a table of bad inputs.
#include <gtest/gtest.h>

#include <random>

#include "background/background_common.hpp"
#include "kernels/test_frames.hpp"
#include "reference/background_reference.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/background.hpp"

using namespace sightline;
using namespace sightline::kernels;

namespace {

BackgroundParams params(int w, int h) {
    BackgroundParams p;
    p.input_width = w, p.input_height = h;
    return p;
}

/// `base` with every sample moved by up to +-noise, and from frame `from` on a patch (x0, y0, x1, y1 in the
/// frame's luma plane / pixels) set to `value`.
reference::Frame frame_at(const reference::Frame& base, std::mt19937& rng, int noise, int k, int from,
                          const int patch[4], int value) {
    reference::Frame f = base;
    std::uniform_int_distribution<int> d(-noise, noise);
    for (auto* p : {&f.p0, &f.p1, &f.p2})
        for (auto& v : *p) v = static_cast<std::uint8_t>(std::clamp(int(v) + d(rng), 0, 255));
    if (k >= from)
        for (int y = patch[1]; y < patch[3]; ++y)
            for (int x = patch[0]; x < patch[2]; ++x)
                for (int c = 0; c < (f.format == 0 ? 3 : 1); ++c)
                    f.p0[static_cast<std::size_t>(y) * f.s0 + (f.format == 0 ? 3 : 1) * x + c] =
                        static_cast<std::uint8_t>(value);
    return f;
}

TEST(Background, CpuTwinMatchesTheOracle) {
    std::mt19937 rng(77);
    // frame and input sizes, cell side and stride (an odd side: its cells' samples start at odd pixels every other
    // cell)
    const int sizes[][6] = {
        {641, 479, 320, 256, 16, 4}, {1280, 720, 640, 640, 16, 2}, {37, 23, 64, 64, 16, 4}, {641, 479, 320, 256, 7, 3}};
    for (int format = 0; format < 3; ++format)
        for (const auto& sz : sizes) {
            const reference::Frame base = testing_frames::random_frame(format, sz[0], sz[1], rng, 5);
            BackgroundParams p = params(sz[2], sz[3]);
            p.warmup = 20, p.cell = sz[4], p.stride = sz[5];
            reference::Background oracle{p.cell, p.stride,         0,   0,       0,       0,
                                         p.step, p.deviation_step, p.k, p.floor, p.warmup};
            const BackgroundGrid g = background_grid(sz[0], sz[1], p);
            std::vector<float> state(background_state_floats(g));
            std::vector<std::uint8_t> fg(g.cells());
            std::vector<float> luma(g.cells());
            const int patch[4] = {sz[0] / 4, sz[1] / 4, sz[0] / 2, sz[1] / 2};
            int foreground = 0, compared = 0;
            for (int k = 0; k < 40; ++k) {
                const reference::Frame f = frame_at(base, rng, 3, k, 30, patch, 255);
                std::vector<double> want_luma;
                const std::vector<int> want = oracle.add(f, sz[2], sz[3], &want_luma);
                background_cpu(testing_frames::view_of(f), p, k, state.data(), fg.data(), luma.data());
                ASSERT_EQ(oracle.cols, g.cols);
                ASSERT_EQ(oracle.rows, g.rows);
                if (k == 0) { // the twin's whole-row sweep gives the shared per-cell body's floats (the CUDA thread's)
                    const ImageView v = testing_frames::view_of(f);
                    const float ix = kernels::detail::inverse_scale(v.width, g.lb.resized_width),
                                iy = kernels::detail::inverse_scale(v.height, g.lb.resized_height);
                    for (int r = 0; r < g.rows; ++r)
                        for (int c = 0; c < g.cols; ++c)
                            ASSERT_EQ(luma[std::size_t(r) * g.cols + c],
                                      kernels::detail::cell_luma(v, g.lb, ix, iy, c, r, p.cell, p.stride))
                                << "format " << format << " cell " << c << "," << r;
                }
                for (std::size_t i = 0; i < g.cells(); ++i) {
                    ASSERT_NEAR(luma[i], want_luma[i], 5e-3)
                        << "format " << format << " frame " << k << " cell " << i; // float sums of up to 64 samples
                    // the decision, where the oracle's difference is not within float error of the limit
                    const double d = std::abs(want_luma[i] - oracle.b[i]);
                    if (std::abs(d - std::max(p.k * oracle.s[i], double(p.floor))) < 0.05) continue;
                    EXPECT_EQ(fg[i], want[i]) << "format " << format << " frame " << k << " cell " << i;
                    foreground += fg[i], ++compared;
                }
            }
            EXPECT_GT(foreground, 0) << "the patch from frame 30 is foreground (format " << format << ")";
            EXPECT_GT(compared, 0);
        }
}

TEST(Background, AnObjectThatAppearsIsForegroundWhereItIsUntilItBecomesBackground) {
    // a static 1280x720 BGR gradient, into a 640x640 input (scale 0.5): a white square at frame pixels 320..447 x
    // 160..287 from frame 60 covers resized pixels 160..223 x 80..143, cells 10..13 x 5..8 (16 px cells)
    reference::Frame f{0, 1280, 720, {}, {}, {}, 3 * 1280, 0, 0};
    f.p0.resize(static_cast<std::size_t>(f.s0) * 720);
    for (int y = 0; y < 720; ++y)
        for (int x = 0; x < 1280; ++x)
            for (int c = 0; c < 3; ++c)
                f.p0[static_cast<std::size_t>(y) * f.s0 + 3 * x + c] = std::uint8_t(60 + x / 20);
    reference::Frame square = f;
    for (int y = 160; y < 288; ++y)
        for (int x = 320; x < 448; ++x)
            for (int c = 0; c < 3; ++c) square.p0[static_cast<std::size_t>(y) * f.s0 + 3 * x + c] = 255;
    const BackgroundParams p = params(640, 640);
    const BackgroundGrid g = background_grid(1280, 720, p);
    ASSERT_EQ(g.cols, 40);
    ASSERT_EQ(g.rows, 23); // 360 resized rows: the last cell row holds 8
    float box[4];
    g.cell_box(10, 5, p.cell, box);
    EXPECT_FLOAT_EQ(box[0], 320.f);
    EXPECT_FLOAT_EQ(box[1], 160.f);
    EXPECT_FLOAT_EQ(box[2], 352.f);
    EXPECT_FLOAT_EQ(box[3], 192.f);
    g.cell_box(39, 22, p.cell, box);
    EXPECT_FLOAT_EQ(box[3], 720.f) << "the last row of cells ends at the frame's edge";
    std::vector<float> state(background_state_floats(g));
    std::vector<std::uint8_t> fg(g.cells());
    const auto count = [&] { return std::count(fg.begin(), fg.end(), 1); };
    const ImageView plain = testing_frames::view_of(f), with = testing_frames::view_of(square);
    for (int k = 0; k < 60; ++k) {
        // during the warmup (50 frames) nothing is foreground, even the square shown once at frame 10
        background_cpu(k == 10 ? with : plain, p, k, state.data(), fg.data());
        ASSERT_EQ(count(), 0) << "frame " << k;
    }
    int last_foreground = -1;
    for (int k = 60; k < 600; ++k) {
        background_cpu(with, p, k, state.data(), fg.data());
        if (k == 60) {
            for (int r = 0; r < g.rows; ++r)
                for (int c = 0; c < g.cols; ++c)
                    EXPECT_EQ(fg[std::size_t(r) * g.cols + c], c >= 10 && c <= 13 && r >= 5 && r <= 8 ? 1 : 0)
                        << "cell " << c << "," << r;
        }
        if (count() > 0) last_foreground = k;
    }
    // the square's cells differ by 255 - (76..82) = 173..179 luma at first; after t frames the background has
    // climbed 0.5 t and the deviation 0.25 t, so a cell stays foreground while 179 - 0.5 t > 4 x 0.25 t: t < 119.3
    // (a part left lying is background after about |d| / (step + k x deviation_step) frames)
    EXPECT_EQ(last_foreground, 60 + 119);
}

TEST(BackgroundBadInput, Table) {
    std::vector<std::uint8_t> buf(64 * 64 * 3, 0);
    ImageView good;
    good.format = PixelFormat::kBGR, good.width = 16, good.height = 16, good.planes[0] = buf.data(), good.pitch[0] = 48;
    const BackgroundParams p = params(8, 8);
    std::vector<float> state(64);
    std::vector<std::uint8_t> fg(16);
    struct Bad {
        const char* what;
        ImageView v;
        BackgroundParams p;
        bool null_state;
        const char* message;
    };
    std::vector<Bad> bad;
    auto v = good;
    v.planes[0] = nullptr;
    bad.push_back({"null plane", v, p, false, "background: plane 0 is null"});
    v = good, v.where = MemoryLocation::kDevice;
    bad.push_back({"device memory", v, p, false, "background: lives in device memory"});
    v = good, v.width = 0;
    bad.push_back({"empty", v, p, false, "background: empty frame"});
    auto q = p;
    q.cell = 0;
    bad.push_back({"zero cell", good, q, false, "background: cell must be positive, got 0"});
    q = p, q.stride = 17;
    bad.push_back({"stride over the cell", good, q, false, "background: stride must be in 1..cell (16), got 17"});
    q = p, q.warmup = 0;
    bad.push_back({"no warmup", good, q, false, "warmup must be at least 1"});
    q = p, q.floor = -1;
    bad.push_back({"negative floor", good, q, false, "must be >= 0"});
    q = p, q.input_width = 0;
    bad.push_back({"zero input", good, q, false, "input size"});
    bad.push_back({"null state", good, p, true, "state and foreground must not be null"});
    for (const auto& b : bad) {
        try {
            background_cpu(b.v, b.p, 0, b.null_state ? nullptr : state.data(), fg.data());
            ADD_FAILURE() << b.what << ": no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadInput) << b.what;
            EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << b.what << ": " << e.what();
        }
    }
}

} // namespace
