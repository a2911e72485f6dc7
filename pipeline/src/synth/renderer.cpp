// Renders the conveyor scene of one camera, frame by frame, with exact occlusion-aware ground truth.
//
// Ground truth comes from an id buffer written by the same rasterisation that paints the parts: a box is the
// pixel extent of a part's visible pixels, its area their count, and its visible fraction that count over the
// pixels of the whole part (unclipped), so occlusion by other parts, by the overhead bar and by the frame edge
// all count as hidden.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <opencv2/imgproc.hpp>

#include "rng.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/synth.hpp"

namespace sightline::pipeline::synth {

using detail::Rng;

namespace {

using Polygon = std::vector<cv::Point2d>;

struct Shape {
    std::vector<Polygon> outer;
    std::vector<Polygon> holes;
    double radius; // bounding radius at scale 1
};

Polygon regular(double cx, double cy, double r, int n, double phase) {
    Polygon p;
    for (int k = 0; k < n; ++k) {
        double a = phase + 2 * std::numbers::pi * k / n;
        p.emplace_back(cx + r * std::cos(a), cy + r * std::sin(a));
    }
    return p;
}

Shape make_shape(PartClass shape) {
    const double pi = std::numbers::pi;
    switch (shape) {
    case PartClass::kBolt:
        return {{regular(-22, 0, 11, 6, pi / 6), {{-13, -5}, {31, -5}, {31, 5}, {-13, 5}}}, {}, 34};
    case PartClass::kNut:
        return {{regular(0, 0, 17, 6, 0)}, {regular(0, 0, 7.5, 20, 0)}, 17};
    case PartClass::kWasher:
        return {{regular(0, 0, 17, 36, 0)}, {regular(0, 0, 7, 20, 0)}, 17};
    case PartClass::kBracket:
        return {{{{-22, -17}, {22, -17}, {22, -5}, {-10, -5}, {-10, 17}, {-22, 17}}},
                {regular(12, -11, 3, 12, 0), regular(-16, 9, 3, 12, 0)},
                28};
    case PartClass::kGear: {
        Polygon g;
        const int teeth = 12;
        for (int k = 0; k < teeth * 4; ++k) {
            double a = 2 * pi * k / (teeth * 4);
            double r = (k % 4 == 0 || k % 4 == 1) ? 21.0 : 16.0;
            g.emplace_back(r * std::cos(a), r * std::sin(a));
        }
        return {{g}, {regular(0, 0, 6, 16, 0)}, 21};
    }
    case PartClass::kDefect:
        break;
    }
    SL_ASSERT(false);
    return {};
}

cv::Vec3d base_color(PartClass shape) { // BGR
    switch (shape) {
    case PartClass::kBolt:
        return {150, 152, 158};
    case PartClass::kNut:
        return {118, 124, 132};
    case PartClass::kWasher:
        return {105, 165, 195};
    case PartClass::kBracket:
        return {190, 120, 70};
    case PartClass::kGear:
        return {140, 140, 136};
    case PartClass::kDefect:
        break;
    }
    return {128, 128, 128};
}

struct Part {
    PartClass cls;
    PartClass shape;
    double x0, y, theta0, omega, scale, spawn_t;
    cv::Vec3d color;
    std::uint32_t track;
    Polygon crack;      // local coordinates, defects only
    cv::Point2d rust{}; // local centre of the rust blotch, defects only
    double rust_r = 0;
};

// Affine 2x3 as a small struct; maps local part coordinates to frame pixels.
struct Affine {
    double a, b, c, d, e, f; // x' = a x + b y + c ; y' = d x + e y + f
    cv::Point2d operator()(cv::Point2d p) const { return {a * p.x + b * p.y + c, d * p.x + e * p.y + f}; }
    Affine then(const Affine& m) const { // m after this
        return {m.a * a + m.b * d, m.a * b + m.b * e, m.a * c + m.b * f + m.c,
                m.d * a + m.e * d, m.d * b + m.e * e, m.d * c + m.e * f + m.f};
    }
};

constexpr int kSubpixelBits = 4;
/// A defect counts as visible while at least this fraction of its crack and rust pixels can be seen.
constexpr double kMinVisibleDefectMark = 0.35;

std::vector<cv::Point> to_fixed(const Polygon& poly, const Affine& m, cv::Point2d origin) {
    std::vector<cv::Point> out;
    out.reserve(poly.size());
    for (auto p : poly) {
        auto q = m(p) - origin;
        out.emplace_back(static_cast<int>(std::lround(q.x * (1 << kSubpixelBits))),
                         static_cast<int>(std::lround(q.y * (1 << kSubpixelBits))));
    }
    return out;
}

} // namespace

struct CameraRenderer::Impl {
    CameraSpec spec;
    Rng rng;
    int frame_index = 0;
    int belt_top, belt_bottom, period = 48;
    int bar_x, bar_w;
    cv::Mat static_bg, belt_tex, frame_tmp, warped;
    cv::Mat idbuf; // uint8: 0 background/occluder, k+1 part k of this frame's draw list
    std::vector<cv::Mat> noise_pos, noise_neg;
    std::vector<Part> parts;
    std::uint32_t next_track = 1;
    std::vector<Shape> shapes;

    Impl(const CameraSpec& s, std::uint64_t seed, int camera_index)
        : spec(s), rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(camera_index) * 7919 + 17) {
        if (s.width < 64 || s.height < 64 || s.width % 2 || s.height % 2)
            throw Error(ErrorCode::kBadInput, s.id + ": frame size must be even and at least 64x64, got " +
                                                  std::to_string(s.width) + "x" + std::to_string(s.height));
        if (s.fps <= 0 || s.fps > 240) throw Error(ErrorCode::kBadInput, s.id + ": fps must be in 1..240");
        for (int c = 0; c < kNumPartClasses; ++c)
            shapes.push_back(c == static_cast<int>(PartClass::kDefect) ? Shape{} : make_shape(PartClass(c)));
        const int W = s.width, H = s.height;
        belt_top = static_cast<int>(H * 0.12);
        belt_bottom = static_cast<int>(H * 0.88);
        bar_w = std::max(8, W / 40);
        bar_x = static_cast<int>(rng.uniform(0.35, 0.75) * W);
        build_background();
        build_noise();
        idbuf.create(H, W, CV_8UC1);
        // Start with a belt already carrying parts, as a camera that joins a running line.
        const double warmup = (W + 80.0) / spec.belt_speed;
        for (double t = -warmup; t < 0; t += 1.0 / spec.fps) maybe_spawn(t);
    }

    void build_background() {
        const int W = spec.width, H = spec.height;
        static_bg.create(H, W, CV_8UC3);
        for (int y = 0; y < H; ++y) { // rails: brushed metal, darker towards the belt
            double v = y < belt_top ? 95 + 35.0 * (belt_top - y) / belt_top
                                    : 95 + 35.0 * (y - belt_bottom) / std::max(1, H - belt_bottom);
            static_bg.row(y).setTo(cv::Scalar(v, v + 2, v + 5));
        }
        for (int x = 20; x < W; x += 80) { // rail bolts
            cv::circle(static_bg, {x, belt_top / 2}, 4, cv::Scalar(60, 60, 62), cv::FILLED, cv::LINE_AA);
            cv::circle(static_bg, {x, (belt_bottom + H) / 2}, 4, cv::Scalar(60, 60, 62), cv::FILLED, cv::LINE_AA);
        }
        const int band = belt_bottom - belt_top;
        cv::Mat tile(band, period, CV_8UC3);
        for (int y = 0; y < band; ++y)
            for (int x = 0; x < period; ++x) {
                double g = 52 + 6 * rng.uniform(-1, 1) + (x < 2 ? 14 : 0);
                tile.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(g), cv::saturate_cast<uchar>(g + 1),
                                                     cv::saturate_cast<uchar>(g + 3));
            }
        const int reps = (W + period) / period + 1;
        cv::repeat(tile, 1, reps, belt_tex);
    }

    void build_noise() {
        if (spec.noise_sigma <= 0) return;
        const int W = spec.width, H = spec.height;
        for (int k = 0; k < 4; ++k) {
            cv::Mat pos(H, W, CV_8UC3), neg(H, W, CV_8UC3);
            auto* p = pos.ptr<uchar>();
            auto* n = neg.ptr<uchar>();
            for (std::size_t i = 0; i < pos.total() * 3; ++i) {
                int v = static_cast<int>(std::lround(rng.fast_normal() * spec.noise_sigma));
                p[i] = cv::saturate_cast<uchar>(std::max(v, 0));
                n[i] = cv::saturate_cast<uchar>(std::max(-v, 0));
            }
            noise_pos.push_back(pos);
            noise_neg.push_back(neg);
        }
    }

    double strength(const auto& knob, double t) const { return knob ? knob->when.at(t) : 0.0; }

    void maybe_spawn(double t) {
        if (!rng.bernoulli(std::min(1.0, spec.parts_per_second / spec.fps))) return;
        Part p{};
        p.spawn_t = t;
        const double novel = spec.novel_part ? spec.novel_part->rate * strength(spec.novel_part, t) : 0.0;
        std::array<double, 4> w{1, 1, 1, 1};
        if (spec.class_mix) {
            double f = strength(spec.class_mix, t);
            for (int i = 0; i < 4; ++i) w[i] = (1 - f) * w[i] + f * spec.class_mix->weights[i];
        }
        if (rng.bernoulli(novel)) {
            p.cls = p.shape = PartClass::kGear;
        } else {
            p.shape = PartClass(rng.pick(w));
            p.cls = rng.bernoulli(spec.defect_rate) ? PartClass::kDefect : p.shape;
        }
        p.scale = rng.uniform(1.05, 1.6) * std::min(spec.width / 640.0, spec.height / 480.0);
        const double r = shapes[static_cast<int>(p.shape)].radius * p.scale;
        p.x0 = -r - 2;
        p.y = rng.uniform(belt_top + 0.5 * r, belt_bottom - 0.5 * r);
        p.theta0 = rng.uniform(0, 2 * std::numbers::pi);
        p.omega = rng.uniform(-0.35, 0.35);
        const double jitter = rng.uniform(0.88, 1.12);
        p.color = base_color(p.shape) * jitter;
        p.track = next_track++;
        if (p.cls == PartClass::kDefect) {
            const double rr = shapes[static_cast<int>(p.shape)].radius;
            double a = rng.uniform(0, std::numbers::pi);
            cv::Point2d dir(std::cos(a), std::sin(a)), nrm(-dir.y, dir.x);
            for (int k = 0; k <= 4; ++k) {
                double s = -0.8 * rr + 1.6 * rr * k / 4;
                p.crack.push_back(dir * s + nrm * rng.uniform(-0.18, 0.18) * rr);
            }
            p.rust = cv::Point2d(rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)) * rr;
            p.rust_r = rng.uniform(0.35, 0.5) * rr;
        }
        parts.push_back(std::move(p));
    }

    Affine camera_transform(double t) const {
        if (!spec.camera_shift) return {1, 0, 0, 0, 1, 0};
        const double f = strength(spec.camera_shift, t);
        const double a = spec.camera_shift->rotation_deg * f * std::numbers::pi / 180;
        const double cx = spec.width / 2.0, cy = spec.height / 2.0, ca = std::cos(a), sa = std::sin(a);
        return {ca, -sa, cx - ca * cx + sa * cy + spec.camera_shift->dx * f,
                sa, ca,  cy - sa * cx - ca * cy + spec.camera_shift->dy * f};
    }

    FrameInfo render(cv::Mat& frame) {
        const int W = spec.width, H = spec.height;
        const double t = static_cast<double>(frame_index) / spec.fps;
        FrameInfo info;
        info.index = frame_index;
        info.timestamp = t;

        maybe_spawn(t);
        std::erase_if(parts, [&](const Part& p) {
            return p.x0 + spec.belt_speed * (t - p.spawn_t) - shapes[static_cast<int>(p.shape)].radius * p.scale >
                   W + 40;
        });

        // Background: static rails plus the belt scrolled by its travel.
        static_bg.copyTo(frame);
        const int off = static_cast<int>(std::fmod(spec.belt_speed * t, period));
        belt_tex(cv::Rect(period - off, 0, W, belt_bottom - belt_top)).copyTo(frame.rowRange(belt_top, belt_bottom));
        const Affine cam = camera_transform(t);
        const bool shifted = cam.a != 1 || cam.b != 0 || cam.c != 0 || cam.f != 0;
        if (shifted) {
            cv::Matx23d m(cam.a, cam.b, cam.c, cam.d, cam.e, cam.f);
            cv::warpAffine(frame, warped, m, frame.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
            warped.copyTo(frame);
        }

        idbuf.setTo(0);
        struct Drawn {
            const Part* part;
            cv::Rect roi; // unclipped
            int full_pixels;
            cv::Mat mark;    // defects: the crack and rust pixels on the part (roi-sized), else empty
            int mark_pixels; // their count
        };
        std::vector<Drawn> drawn;
        for (const Part& p : parts) {
            if (drawn.size() >= 254) break;
            const double dt = t - p.spawn_t;
            const double th = p.theta0 + p.omega * dt, s = p.scale;
            const Affine local{s * std::cos(th), -s * std::sin(th), p.x0 + spec.belt_speed * dt,
                               s * std::sin(th), s * std::cos(th),  p.y};
            const Affine m = local.then(cam);
            const Shape& shape = shapes[static_cast<int>(p.shape)];
            double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
            for (const auto& poly : shape.outer)
                for (auto v : poly) {
                    auto q = m(v);
                    x0 = std::min(x0, q.x), y0 = std::min(y0, q.y), x1 = std::max(x1, q.x), y1 = std::max(y1, q.y);
                }
            cv::Rect roi(static_cast<int>(std::floor(x0)) - 1, static_cast<int>(std::floor(y0)) - 1, 0, 0);
            roi.width = static_cast<int>(std::ceil(x1)) + 2 - roi.x;
            roi.height = static_cast<int>(std::ceil(y1)) + 2 - roi.y;
            const cv::Rect clipped = roi & cv::Rect(0, 0, W, H);
            if (clipped.empty()) continue;
            const cv::Point2d origin(roi.x, roi.y);

            cv::Mat mask = cv::Mat::zeros(roi.size(), CV_8UC1);
            for (const auto& poly : shape.outer)
                cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{to_fixed(poly, m, origin)}, 255, cv::LINE_8,
                             kSubpixelBits);
            for (const auto& poly : shape.holes)
                cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{to_fixed(poly, m, origin)}, 0, cv::LINE_8,
                             kSubpixelBits);
            const int full = cv::countNonZero(mask);
            if (full == 0) continue;

            // Shaded metal: brighter towards the light (upper left), darker away from it.
            cv::Mat patch(roi.size(), CV_8UC3);
            const double cx = (x0 + x1) / 2 - roi.x, cy = (y0 + y1) / 2 - roi.y;
            const double rad = std::max(1.0, std::max(x1 - x0, y1 - y0) / 2);
            for (int yy = 0; yy < patch.rows; ++yy) {
                auto* row = patch.ptr<cv::Vec3b>(yy);
                for (int xx = 0; xx < patch.cols; ++xx) {
                    double k = 0.92 - 0.22 * ((xx - cx) * 0.6 + (yy - cy) * 0.8) / rad;
                    row[xx] =
                        cv::Vec3b(cv::saturate_cast<uchar>(p.color[0] * k), cv::saturate_cast<uchar>(p.color[1] * k),
                                  cv::saturate_cast<uchar>(p.color[2] * k));
                }
            }
            const cv::Scalar dark(p.color[0] * 0.55, p.color[1] * 0.55, p.color[2] * 0.55);
            for (const auto& poly : shape.outer)
                cv::polylines(patch, std::vector<std::vector<cv::Point>>{to_fixed(poly, m, origin)}, true, dark, 2,
                              cv::LINE_AA, kSubpixelBits);
            if (p.shape == PartClass::kBolt) // thread ridges along the shaft
                for (double xs = -8; xs < 30; xs += 4)
                    cv::line(patch, to_fixed({{xs, -5}}, m, origin)[0], to_fixed({{xs + 1.5, 5}}, m, origin)[0], dark,
                             1, cv::LINE_AA, kSubpixelBits);
            cv::Mat mark;
            int mark_pixels = 0;
            if (p.cls == PartClass::kDefect) {
                // The defect's marks are drawn twice: in colour on the part, and into a mask that later tells how
                // much of them stays visible.
                mark = cv::Mat::zeros(roi.size(), CV_8UC1);
                const cv::Point2d rc = m(p.rust) - origin;
                const int rr = std::max(2, static_cast<int>(p.rust_r * s));
                const auto crack = std::vector<std::vector<cv::Point>>{to_fixed(p.crack, m, origin)};
                const int thick = std::max(3, static_cast<int>(std::lround(3.0 * s)));
                cv::circle(patch, rc, rr, cv::Scalar(45, 80, 150), cv::FILLED, cv::LINE_AA);
                cv::polylines(patch, crack, false, cv::Scalar(22, 22, 24), thick, cv::LINE_AA, kSubpixelBits);
                cv::circle(mark, rc, rr, 255, cv::FILLED, cv::LINE_8);
                cv::polylines(mark, crack, false, 255, thick, cv::LINE_8, kSubpixelBits);
                mark &= mask;
                mark_pixels = cv::countNonZero(mark);
            }
            const cv::Rect local_clip(clipped.x - roi.x, clipped.y - roi.y, clipped.width, clipped.height);
            patch(local_clip).copyTo(frame(clipped), mask(local_clip));
            idbuf(clipped).setTo(static_cast<int>(drawn.size() + 1), mask(local_clip));
            drawn.push_back({&p, roi, full, mark, mark_pixels});
        }

        // Motion blur along the belt (parts and belt move; rails do not), then the static overhead bar.
        int blur = std::max(1, static_cast<int>(std::lround(spec.belt_speed / spec.fps * 0.5)));
        if (spec.blur) blur += static_cast<int>(std::lround(spec.blur->extra_px * strength(spec.blur, t)));
        if (blur > 1) {
            cv::Mat band = frame.rowRange(belt_top, belt_bottom);
            cv::blur(band, band, cv::Size(blur, 1));
        }
        const cv::Rect bar = cv::Rect(bar_x, 0, bar_w, H);
        frame(bar).setTo(cv::Scalar(48, 52, 58));
        frame(cv::Rect(bar_x + 2, 0, 2, H)).setTo(cv::Scalar(90, 95, 100));
        idbuf(bar).setTo(0);

        if (spec.lighting_drift) {
            const double f = strength(spec.lighting_drift, t);
            if (f > 0) {
                const double gain = 1 + (spec.lighting_drift->gain - 1) * f;
                const double kelvin = 6500 + (spec.lighting_drift->color_temperature - 6500) * f;
                const double warm = std::sqrt(6500.0 / kelvin);
                const double mul[3] = {gain / warm, gain, gain * warm}; // B, G, R
                cv::Mat lut(1, 256, CV_8UC3);
                for (int v = 0; v < 256; ++v)
                    for (int c = 0; c < 3; ++c) lut.at<cv::Vec3b>(0, v)[c] = cv::saturate_cast<uchar>(v * mul[c]);
                cv::LUT(frame, lut, frame);
            }
        }
        if (!noise_pos.empty()) {
            const int k = rng.integer(0, static_cast<int>(noise_pos.size()) - 1);
            cv::add(frame, noise_pos[k], frame);
            cv::subtract(frame, noise_neg[k], frame);
        }

        // Ground truth from the id buffer.
        for (std::size_t k = 0; k < drawn.size(); ++k) {
            const auto& d = drawn[k];
            const cv::Rect clipped = d.roi & cv::Rect(0, 0, W, H);
            const uchar id = static_cast<uchar>(k + 1);
            int count = 0, mx0 = W, my0 = H, mx1 = -1, my1 = -1;
            for (int y = clipped.y; y < clipped.y + clipped.height; ++y) {
                const uchar* row = idbuf.ptr<uchar>(y);
                for (int x = clipped.x; x < clipped.x + clipped.width; ++x)
                    if (row[x] == id) {
                        ++count;
                        mx0 = std::min(mx0, x), mx1 = std::max(mx1, x), my0 = std::min(my0, y), my1 = std::max(my1, y);
                    }
            }
            if (count == 0) continue;
            const double visible = std::min(1.0, static_cast<double>(count) / d.full_pixels);
            // A defective part whose marks are (almost) all hidden looks like a sound part: it is labelled as what
            // it looks like, and flagged, as an annotator would.
            PartClass cls = d.part->cls;
            bool defect_hidden = false;
            if (cls == PartClass::kDefect) {
                const cv::Rect local(clipped.x - d.roi.x, clipped.y - d.roi.y, clipped.width, clipped.height);
                const int seen = cv::countNonZero(d.mark(local) & (idbuf(clipped) == id));
                if (seen < kMinVisibleDefectMark * d.mark_pixels) cls = d.part->shape, defect_hidden = true;
            }
            info.objects.push_back({cls, double(mx0), double(my0), double(mx1 - mx0 + 1), double(my1 - my0 + 1),
                                    double(count), visible, 1.0 - visible > spec.occluded_fraction, d.part->track,
                                    defect_hidden});
        }

        auto knob = [&](const char* name, const auto& opt) {
            if (!opt) return;
            const double f = strength(opt, t);
            info.knobs[name] = f;
            if (f > 0) info.tags.emplace_back(name);
        };
        knob("lighting_drift", spec.lighting_drift);
        knob("camera_shift", spec.camera_shift);
        knob("novel_part", spec.novel_part);
        knob("class_mix", spec.class_mix);
        knob("blur", spec.blur);
        if (info.tags.empty()) info.tags.emplace_back("nominal");
        ++frame_index;
        return info;
    }
};

CameraRenderer::CameraRenderer(const CameraSpec& spec, std::uint64_t seed, int camera_index)
    : impl_(std::make_unique<Impl>(spec, seed, camera_index)) {}
CameraRenderer::~CameraRenderer() = default;
CameraRenderer::CameraRenderer(CameraRenderer&&) noexcept = default;
CameraRenderer& CameraRenderer::operator=(CameraRenderer&&) noexcept = default;
const CameraSpec& CameraRenderer::spec() const {
    return impl_->spec;
}

FrameInfo CameraRenderer::next(std::uint8_t* bgr) {
    cv::Mat frame(impl_->spec.height, impl_->spec.width, CV_8UC3, bgr);
    return impl_->render(frame);
}

} // namespace sightline::pipeline::synth
