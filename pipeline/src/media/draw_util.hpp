#pragma once
// Drawing on decoded frames, shared by `sightline draw` (annotate.cpp) and `sightline compare`'s contact sheet.
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "sightline/kernels/views.hpp"

namespace sightline::pipeline::draw {

/// A rectangle outline in dashes (7 px on, 5 off).
inline void dashed_rect(cv::Mat& img, cv::Point a, cv::Point b, const cv::Scalar& c, int thickness) {
    const auto dash = [&](cv::Point p, cv::Point q) {
        const double len = std::hypot(q.x - p.x, q.y - p.y);
        for (double t = 0; t < len; t += 12) {
            const double u = std::min(len, t + 7);
            cv::line(img, p + (q - p) * (t / len), p + (q - p) * (u / len), c, thickness);
        }
    };
    dash(a, {b.x, a.y}), dash({b.x, a.y}, b), dash(b, {a.x, b.y}), dash({a.x, b.y}, a);
}

/// A decoded frame (YUV 4:2:0 planes with pitches) as a BGR image.
inline cv::Mat to_bgr(const kernels::ImageView& v) {
    cv::Mat i420(v.height * 3 / 2, v.width, CV_8UC1);
    std::uint8_t* out = i420.data;
    const int cw = v.width / 2, ch = v.height / 2;
    for (int y = 0; y < v.height; ++y) std::memcpy(out + y * v.width, v.planes[0] + y * v.pitch[0], v.width);
    out += v.width * v.height;
    for (int p = 1; p <= 2; ++p, out += cw * ch)
        for (int y = 0; y < ch; ++y) std::memcpy(out + y * cw, v.planes[p] + y * v.pitch[p], cw);
    cv::Mat bgr;
    cv::cvtColor(i420, bgr, cv::COLOR_YUV2BGR_I420);
    return bgr;
}

} // namespace sightline::pipeline::draw
