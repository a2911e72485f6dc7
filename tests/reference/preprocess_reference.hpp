#pragma once
// Naive oracle for preprocess: double precision, one pixel at a time, written from the spec in
// kernels/include/sightline/kernels/preprocess.hpp and sharing no code with the twins.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace reference {

struct Frame { // planar copies: format 0 = BGR (packed in p0), 1 = YUV420P, 2 = NV12
    int format, w, h;
    std::vector<std::uint8_t> p0, p1, p2;
    int s0, s1, s2; // pitches
};

inline double px(const std::vector<std::uint8_t>& p, int pitch, int x, int y, int step, int off) {
    return p[static_cast<std::size_t>(y) * pitch + x * step + off];
}

inline double bilinear(const std::vector<std::uint8_t>& p, int pitch, int w, int h, double sx, double sy, int step,
                       int off) {
    sx = std::clamp(sx, 0.0, double(w - 1));
    sy = std::clamp(sy, 0.0, double(h - 1));
    int x0 = int(std::floor(sx)), y0 = int(std::floor(sy));
    int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
    double ax = sx - x0, ay = sy - y0;
    return (1 - ay) * ((1 - ax) * px(p, pitch, x0, y0, step, off) + ax * px(p, pitch, x1, y0, step, off)) +
           ay * ((1 - ax) * px(p, pitch, x0, y1, step, off) + ax * px(p, pitch, x1, y1, step, off));
}

struct Out {
    std::vector<double> chw; // 3 x H x W
    double mean, stddev;
    std::vector<std::uint32_t> hist;
    double sharpness; // variance of the 4-neighbour Laplacian of the resized luma (rows banded by 16, see the spec)
    double scale;
    int pad_x, pad_y, rw, rh;
};

/// order_rgb: output channel order; norm: value = (pixel*scale - mean)/std
inline Out preprocess(const Frame& f, int W, int H, bool order_rgb, double scale, const double mean[3],
                      const double stdv[3], double pad) {
    Out o;
    o.scale = std::min(double(W) / f.w, double(H) / f.h);
    o.scale = double(float(std::min(float(W) / f.w, float(H) / f.h))); // the spec computes the scale in float
    o.rw = std::clamp(int(std::lround(f.w * float(o.scale))), 1, W);
    o.rh = std::clamp(int(std::lround(f.h * float(o.scale))), 1, H);
    o.pad_x = (W - o.rw) / 2;
    o.pad_y = (H - o.rh) / 2;
    o.chw.assign(3ull * W * H, 0);
    o.hist.assign(16, 0);
    double sum = 0, sq = 0;
    long n = 0;
    std::vector<double> luma_map(static_cast<std::size_t>(W) * H, 0); // luma at output pixels, resized area only
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            double rgb[3];
            bool inside = x >= o.pad_x && x < o.pad_x + o.rw && y >= o.pad_y && y < o.pad_y + o.rh;
            if (!inside) {
                rgb[0] = rgb[1] = rgb[2] = pad;
            } else {
                double sx = (x - o.pad_x + 0.5) * (double(f.w) / o.rw) - 0.5;
                double sy = (y - o.pad_y + 0.5) * (double(f.h) / o.rh) - 0.5;
                sx = std::clamp(sx, 0.0, double(f.w - 1));
                sy = std::clamp(sy, 0.0, double(f.h - 1));
                double luma;
                if (f.format == 0) {
                    double b = bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 3, 0);
                    double g = bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 3, 1);
                    double r = bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 3, 2);
                    rgb[0] = r, rgb[1] = g, rgb[2] = b;
                    luma = 0.299 * r + 0.587 * g + 0.114 * b;
                } else {
                    int cw = (f.w + 1) / 2, ch = (f.h + 1) / 2;
                    double Y = bilinear(f.p0, f.s0, f.w, f.h, sx, sy, 1, 0);
                    double cx = (sx + 0.5) / 2 - 0.5, cy = (sy + 0.5) / 2 - 0.5;
                    double U, V;
                    if (f.format == 1) {
                        U = bilinear(f.p1, f.s1, cw, ch, cx, cy, 1, 0);
                        V = bilinear(f.p2, f.s2, cw, ch, cx, cy, 1, 0);
                    } else {
                        U = bilinear(f.p1, f.s1, cw, ch, cx, cy, 2, 0);
                        V = bilinear(f.p1, f.s1, cw, ch, cx, cy, 2, 1);
                    }
                    double c = (Y - 16) * 255.0 / 219.0;
                    rgb[0] = std::clamp(c + 1.596026786 * (V - 128), 0.0, 255.0);
                    rgb[1] = std::clamp(c - 0.391762290 * (U - 128) - 0.812967647 * (V - 128), 0.0, 255.0);
                    rgb[2] = std::clamp(c + 2.017232143 * (U - 128), 0.0, 255.0);
                    luma = std::clamp(c, 0.0, 255.0);
                }
                sum += luma, sq += luma * luma, ++n;
                luma_map[static_cast<std::size_t>(y) * W + x] = luma;
                o.hist[std::clamp(int(luma / 16), 0, 15)]++;
            }
            for (int c = 0; c < 3; ++c) {
                double v = order_rgb ? rgb[c] : rgb[2 - c];
                o.chw[(static_cast<std::size_t>(c) * H + y) * W + x] = (v * scale - mean[c]) / stdv[c];
            }
        }
    o.mean = sum / n;
    o.stddev = std::sqrt(std::max(0.0, sq / n - o.mean * o.mean));
    // the Laplacian at output pixels whose four neighbours are resized pixels, rows y-1 and y+1 in y's band of 16
    double ls = 0, lq = 0;
    long ln = 0;
    auto at = [&](int x, int y) { return luma_map[static_cast<std::size_t>(y) * W + x]; };
    for (int y = o.pad_y + 1; y + 1 < o.pad_y + o.rh; ++y) {
        if ((y - 1) / 16 != (y + 1) / 16) continue;
        for (int x = o.pad_x + 1; x + 1 < o.pad_x + o.rw; ++x) {
            const double v = at(x, y - 1) + at(x, y + 1) + at(x - 1, y) + at(x + 1, y) - 4 * at(x, y);
            ls += v, lq += v * v, ++ln;
        }
    }
    o.sharpness = ln ? std::max(0.0, lq / ln - (ls / ln) * (ls / ln)) : 0;
    return o;
}

} // namespace reference
