#pragma once
// Drawing on decoded frames, shared by `sightline draw` (annotate.cpp) and `sightline compare`'s contact sheet.
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "sightline/kernels/views.hpp"
#include "sightline/pipeline/versions.hpp"

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

/// Two versions' detections on one frame as `sightline compare` draws them: both (green, thin), class changed
/// (orange, "a>b"), only a (red), only b (blue, dashed). Returns the differences drawn (all but both).
inline int version_pairs(cv::Mat& img, const std::vector<VersionBox>& a, const std::vector<VersionBox>& b) {
    const cv::Scalar both{60, 170, 60}, changed{0, 140, 255}, only_a{50, 50, 225}, only_b{225, 120, 20}; // BGR
    const auto corners = [](const VersionBox& v) {
        return std::make_pair(cv::Point(static_cast<int>(v.x1), static_cast<int>(v.y1)),
                              cv::Point(static_cast<int>(v.x2), static_cast<int>(v.y2)));
    };
    const auto label = [&](cv::Point at, const std::string& text, const cv::Scalar& colour) {
        const cv::Point p{at.x, std::max(10, at.y - 3)};
        cv::putText(img, text, p, cv::FONT_HERSHEY_SIMPLEX, 0.4, {0, 0, 0}, 3, cv::LINE_AA);
        cv::putText(img, text, p, cv::FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv::LINE_AA);
    };
    int differences = 0;
    for (const AgreementPair& p : match_versions(a, b)) {
        const VersionBox& box = p.kind == Agreement::kOnlyB ? b[p.b] : a[p.a];
        const auto [p1, p2] = corners(box);
        differences += p.kind == Agreement::kBoth ? 0 : 1;
        switch (p.kind) {
        case Agreement::kBoth:
            cv::rectangle(img, p1, p2, both, 1);
            break;
        case Agreement::kClassChanged:
            cv::rectangle(img, p1, p2, changed, 2);
            label(p1, box.cls + ">" + b[p.b].cls, changed);
            break;
        case Agreement::kOnlyA:
            cv::rectangle(img, p1, p2, only_a, 2);
            label(p1, "a " + box.cls, only_a);
            break;
        case Agreement::kOnlyB:
            dashed_rect(img, p1, p2, only_b, 2);
            label(p1, "b " + box.cls, only_b);
            break;
        }
    }
    return differences;
}

} // namespace sightline::pipeline::draw
