#pragma once
// Random test frames in the three pixel formats, with padded pitches, as both kernel views and oracle frames.
#include <random>

#include "reference/preprocess_reference.hpp"
#include "sightline/kernels/views.hpp"

namespace testing_frames {

inline reference::Frame random_frame(int format, int w, int h, std::mt19937& rng, int extra_pitch = 7) {
    std::uniform_int_distribution<int> d(0, 255);
    reference::Frame f{format, w, h, {}, {}, {}, 0, 0, 0};
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    auto fill = [&](std::vector<std::uint8_t>& p, int pitch, int rows) {
        p.resize(static_cast<std::size_t>(pitch) * rows);
        for (auto& v : p) v = static_cast<std::uint8_t>(d(rng));
    };
    if (format == 0) {
        f.s0 = 3 * w + extra_pitch;
        fill(f.p0, f.s0, h);
    } else {
        f.s0 = w + extra_pitch;
        fill(f.p0, f.s0, h);
        if (format == 1) {
            f.s1 = f.s2 = cw + extra_pitch;
            fill(f.p1, f.s1, ch);
            fill(f.p2, f.s2, ch);
        } else {
            f.s1 = 2 * cw + extra_pitch;
            fill(f.p1, f.s1, ch);
        }
    }
    return f;
}

inline sightline::kernels::ImageView view_of(const reference::Frame& f) {
    using sightline::kernels::PixelFormat;
    sightline::kernels::ImageView v;
    v.format = f.format == 0 ? PixelFormat::kBGR : f.format == 1 ? PixelFormat::kYUV420P : PixelFormat::kNV12;
    v.width = f.w;
    v.height = f.h;
    v.planes[0] = f.p0.data();
    v.pitch[0] = f.s0;
    if (f.format >= 1) v.planes[1] = f.p1.data(), v.pitch[1] = f.s1;
    if (f.format == 1) v.planes[2] = f.p2.data(), v.pitch[2] = f.s2;
    return v;
}

} // namespace testing_frames
