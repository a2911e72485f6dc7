// CPU twin of the preprocess kernel: the specification the CUDA version is tested against.
#include <cmath>
#include <type_traits>
#include <vector>

#include "preprocess/preprocess_common.hpp"

namespace sightline::kernels {

Letterbox compute_letterbox(int frame_width, int frame_height, int input_width, int input_height) {
    if (frame_width <= 0 || frame_height <= 0 || input_width <= 0 || input_height <= 0)
        throw Error(ErrorCode::kBadInput, "letterbox: sizes must be positive, got frame " +
                                              std::to_string(frame_width) + "x" + std::to_string(frame_height) +
                                              ", input " + std::to_string(input_width) + "x" +
                                              std::to_string(input_height));
    Letterbox lb;
    lb.scale = std::min(static_cast<float>(input_width) / frame_width, static_cast<float>(input_height) / frame_height);
    lb.resized_width = std::max(1, std::min(input_width, static_cast<int>(std::lround(frame_width * lb.scale))));
    lb.resized_height = std::max(1, std::min(input_height, static_cast<int>(std::lround(frame_height * lb.scale))));
    lb.pad_x = (input_width - lb.resized_width) / 2;
    lb.pad_y = (input_height - lb.resized_height) / 2;
    return lb;
}

namespace detail {
void validate(std::span<const ImageView> frames, const PreprocessParams& p, MemoryLocation expected) {
    if (p.input_width <= 0 || p.input_height <= 0)
        throw Error(ErrorCode::kBadInput, "preprocess: model input size must be positive");
    for (int c = 0; c < 3; ++c)
        if (!(p.std[c] != 0.f) || !std::isfinite(p.std[c]))
            throw Error(ErrorCode::kBadInput, "preprocess: std[" + std::to_string(c) + "] must be finite and non-zero");
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const auto& f = frames[i];
        const std::string who = "preprocess: frame " + std::to_string(i);
        if (f.where != expected)
            throw Error(ErrorCode::kBadInput, who + ": lives in " +
                                                  (f.where == MemoryLocation::kHost ? "host" : "device") +
                                                  " memory, this kernel reads " +
                                                  (expected == MemoryLocation::kHost ? "host" : "device") + " memory");
        if (f.width <= 0 || f.height <= 0) throw Error(ErrorCode::kBadInput, who + ": empty frame");
        const int planes = f.format == PixelFormat::kBGR ? 1 : f.format == PixelFormat::kNV12 ? 2 : 3;
        const int min_pitch[3] = {f.format == PixelFormat::kBGR ? 3 * f.width : f.width,
                                  f.format == PixelFormat::kNV12 ? 2 * ((f.width + 1) / 2) : (f.width + 1) / 2,
                                  (f.width + 1) / 2};
        for (int k = 0; k < planes; ++k) {
            if (!f.planes[k]) throw Error(ErrorCode::kBadInput, who + ": plane " + std::to_string(k) + " is null");
            if (f.pitch[k] < min_pitch[k])
                throw Error(ErrorCode::kBadInput, who + ": plane " + std::to_string(k) + " pitch " +
                                                      std::to_string(f.pitch[k]) + " < " +
                                                      std::to_string(min_pitch[k]));
        }
    }
}
} // namespace detail

std::size_t preprocess_frame_bytes(const PreprocessParams& p) {
    return 3ull * p.input_width * p.input_height * (p.dtype == TensorType::kFloat16 ? 2 : 4);
}

namespace {

/// One output row's worth of work, separable: each source row is interpolated horizontally once (into `top` and
/// `bot`), then blended vertically, then converted, normalised and stored. Every float operation is the one
/// detail::sample_rgb / normalise / store_pixel perform per pixel (the CUDA kernel's body), in the same order (the
/// kernels library is built without FMA contraction), so the outputs are bit-identical to it.
struct RowWork {
    std::vector<detail::Taps> xt;              ///< luma / BGR column taps, per resized column
    std::vector<int> cx0, cx1;                 ///< chroma column taps
    std::vector<float> cwx;                    ///< chroma column weight
    std::vector<float> top[3], bot[3];         ///< horizontal results of the two source rows (per channel)
    std::vector<float> utop, ubot, vtop, vbot; ///< chroma, for YUV input
    std::vector<float> r, g, b, l;             ///< the row's pixels before normalisation, and their luma

    void columns(const ImageView& f, int resized_width, float inv_x) {
        xt.resize(resized_width);
        for (int x = 0; x < resized_width; ++x) xt[x] = detail::taps(x, inv_x, f.width);
        for (auto* v : {&r, &g, &b, &l}) v->resize(resized_width);
        if (f.format == PixelFormat::kBGR) {
            for (int c = 0; c < 3; ++c) top[c].resize(resized_width), bot[c].resize(resized_width);
            return;
        }
        top[0].resize(resized_width), bot[0].resize(resized_width);
        for (auto* v : {&utop, &ubot, &vtop, &vbot, &cwx}) v->resize(resized_width);
        cx0.resize(resized_width), cx1.resize(resized_width);
        const int cw = (f.width + 1) / 2;
        for (int x = 0; x < resized_width; ++x) {
            const float fx = (static_cast<float>(xt[x].i0) + xt[x].w1 + 0.5f) * 0.5f - 0.5f;
            const float cx = fx < 0.f ? 0.f : (fx > static_cast<float>(cw - 1) ? static_cast<float>(cw - 1) : fx);
            cx0[x] = static_cast<int>(cx);
            cx1[x] = cx0[x] + 1 < cw ? cx0[x] + 1 : cx0[x];
            cwx[x] = cx - static_cast<float>(cx0[x]);
        }
    }

    /// r, g, b, l of resized row `ty` (its taps).
    void row(const ImageView& f, const detail::Taps& ty) {
        const int n = static_cast<int>(xt.size());
        if (f.format == PixelFormat::kBGR) {
            const std::uint8_t* r0 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i0) * f.pitch[0];
            const std::uint8_t* r1 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i1) * f.pitch[0];
            for (int c = 0; c < 3; ++c) {
                float* t = top[c].data();
                float* bt = bot[c].data();
                for (int x = 0; x < n; ++x) {
                    const int a = 3 * xt[x].i0 + c, z = 3 * xt[x].i1 + c;
                    const float w = xt[x].w1;
                    t[x] = static_cast<float>(r0[a]) + (static_cast<float>(r0[z]) - static_cast<float>(r0[a])) * w;
                    bt[x] = static_cast<float>(r1[a]) + (static_cast<float>(r1[z]) - static_cast<float>(r1[a])) * w;
                }
            }
            const float wy = ty.w1;
            for (int x = 0; x < n; ++x) {
                b[x] = top[0][x] + (bot[0][x] - top[0][x]) * wy;
                g[x] = top[1][x] + (bot[1][x] - top[1][x]) * wy;
                r[x] = top[2][x] + (bot[2][x] - top[2][x]) * wy;
                l[x] = detail::luma_from_rgb(r[x], g[x], b[x]);
            }
            return;
        }
        const std::uint8_t* y0 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i0) * f.pitch[0];
        const std::uint8_t* y1 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i1) * f.pitch[0];
        for (int x = 0; x < n; ++x) {
            const int a = xt[x].i0, z = xt[x].i1;
            const float w = xt[x].w1;
            top[0][x] = static_cast<float>(y0[a]) + (static_cast<float>(y0[z]) - static_cast<float>(y0[a])) * w;
            bot[0][x] = static_cast<float>(y1[a]) + (static_cast<float>(y1[z]) - static_cast<float>(y1[a])) * w;
        }
        const int chh = (f.height + 1) / 2;
        const float fy = (static_cast<float>(ty.i0) + ty.w1 + 0.5f) * 0.5f - 0.5f;
        const float cy = fy < 0.f ? 0.f : (fy > static_cast<float>(chh - 1) ? static_cast<float>(chh - 1) : fy);
        const int cy0 = static_cast<int>(cy), cy1 = cy0 + 1 < chh ? cy0 + 1 : cy0;
        const float wy = cy - static_cast<float>(cy0);
        auto lerp = [](const std::uint8_t* p, int i, int j, float w) {
            return static_cast<float>(p[i]) + (static_cast<float>(p[j]) - static_cast<float>(p[i])) * w;
        };
        if (f.format == PixelFormat::kNV12) {
            const std::uint8_t* c0 = f.planes[1] + static_cast<std::ptrdiff_t>(cy0) * f.pitch[1];
            const std::uint8_t* c1 = f.planes[1] + static_cast<std::ptrdiff_t>(cy1) * f.pitch[1];
            for (int x = 0; x < n; ++x) {
                const int i = 2 * cx0[x], j = 2 * cx1[x];
                utop[x] = lerp(c0, i, j, cwx[x]), ubot[x] = lerp(c1, i, j, cwx[x]);
                vtop[x] = lerp(c0, i + 1, j + 1, cwx[x]), vbot[x] = lerp(c1, i + 1, j + 1, cwx[x]);
            }
        } else {
            const std::uint8_t* u0 = f.planes[1] + static_cast<std::ptrdiff_t>(cy0) * f.pitch[1];
            const std::uint8_t* u1 = f.planes[1] + static_cast<std::ptrdiff_t>(cy1) * f.pitch[1];
            const std::uint8_t* v0 = f.planes[2] + static_cast<std::ptrdiff_t>(cy0) * f.pitch[2];
            const std::uint8_t* v1 = f.planes[2] + static_cast<std::ptrdiff_t>(cy1) * f.pitch[2];
            for (int x = 0; x < n; ++x) {
                utop[x] = lerp(u0, cx0[x], cx1[x], cwx[x]), ubot[x] = lerp(u1, cx0[x], cx1[x], cwx[x]);
                vtop[x] = lerp(v0, cx0[x], cx1[x], cwx[x]), vbot[x] = lerp(v1, cx0[x], cx1[x], cwx[x]);
            }
        }
        const float lwy = ty.w1;
        for (int x = 0; x < n; ++x) {
            const float yy = top[0][x] + (bot[0][x] - top[0][x]) * lwy;
            const float u = utop[x] + (ubot[x] - utop[x]) * wy;
            const float v = vtop[x] + (vbot[x] - vtop[x]) * wy;
            detail::yuv_to_rgb(yy, u, v, r[x], g[x], b[x]);
            l[x] = detail::luma_from_y(yy);
        }
    }
};

/// Writes `n` pixels of output row `y` from column `x0`: normalised values from r, g, b (or the pad when null).
template <class T, bool kNHWC>
void store_row(const PreprocessParams& p, void* frame_out, int y, int x0, int n, const float* r, const float* g,
               const float* b, const detail::Normalised& pad) {
    const std::size_t plane = static_cast<std::size_t>(p.input_width) * p.input_height;
    const std::size_t pix = static_cast<std::size_t>(y) * p.input_width + x0;
    T* o = static_cast<T*>(frame_out);
    auto put = [](float v) {
        if constexpr (std::is_same_v<T, float>)
            return v;
        else
            return detail::half_bits(v);
    };
    const bool rgb = p.order == ChannelOrder::kRGB;
    const float* first = rgb ? r : b;
    const float* third = rgb ? b : r;
    const float* src[3] = {first, g, third};
    for (int c = 0; c < 3; ++c) {
        const float s = p.scale, m = p.mean[c], d = p.std[c];
        if constexpr (kNHWC) {
            T* dst = o + 3 * pix + c;
            if (!r)
                for (int x = 0; x < n; ++x) dst[3 * x] = put(pad.v[c]);
            else
                for (int x = 0; x < n; ++x) dst[3 * x] = put((src[c][x] * s - m) / d);
        } else {
            T* dst = o + c * plane + pix;
            if (!r)
                for (int x = 0; x < n; ++x) dst[x] = put(pad.v[c]);
            else
                for (int x = 0; x < n; ++x) dst[x] = put((src[c][x] * s - m) / d);
        }
    }
}

using StoreRow = void (*)(const PreprocessParams&, void*, int, int, int, const float*, const float*, const float*,
                          const detail::Normalised&);

StoreRow store_for(const PreprocessParams& p) {
    const bool nhwc = p.layout == TensorLayout::kNHWC;
    if (p.dtype == TensorType::kFloat16)
        return nhwc ? &store_row<std::uint16_t, true> : &store_row<std::uint16_t, false>;
    return nhwc ? &store_row<float, true> : &store_row<float, false>;
}

} // namespace

void preprocess_cpu(std::span<const ImageView> frames, const PreprocessParams& p, void* output, Letterbox* letterboxes,
                    LumaStats* stats) {
    detail::validate(frames, p, MemoryLocation::kHost);
    const int W = p.input_width, H = p.input_height;
    const std::size_t frame_bytes = preprocess_frame_bytes(p);
    const detail::Normalised pad = detail::normalise(p, p.pad_value, p.pad_value, p.pad_value);
    const StoreRow store = store_for(p);
    RowWork work;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const ImageView& f = frames[i];
        const Letterbox lb = compute_letterbox(f.width, f.height, W, H);
        if (letterboxes) letterboxes[i] = lb;
        void* out = static_cast<std::uint8_t*>(output) + i * frame_bytes;
        const float inv_x = static_cast<float>(f.width) / lb.resized_width;
        const float inv_y = static_cast<float>(f.height) / lb.resized_height;
        work.columns(f, lb.resized_width, inv_x);
        double sum = 0, sumsq = 0;
        std::uint32_t hist[kLumaBins] = {};
        const int right = W - lb.pad_x - lb.resized_width;
        for (int y = 0; y < H; ++y) {
            const int ry = y - lb.pad_y;
            if (ry < 0 || ry >= lb.resized_height) {
                store(p, out, y, 0, W, nullptr, nullptr, nullptr, pad);
                continue;
            }
            work.row(f, detail::taps(ry, inv_y, f.height));
            if (lb.pad_x > 0) store(p, out, y, 0, lb.pad_x, nullptr, nullptr, nullptr, pad);
            store(p, out, y, lb.pad_x, lb.resized_width, work.r.data(), work.g.data(), work.b.data(), pad);
            if (right > 0) store(p, out, y, lb.pad_x + lb.resized_width, right, nullptr, nullptr, nullptr, pad);
            for (const float l : work.l) {
                sum += l;
                sumsq += static_cast<double>(l) * l;
                ++hist[detail::luma_bin(l)];
            }
        }
        if (stats) {
            const double n = static_cast<double>(lb.resized_width) * lb.resized_height;
            const double mean = sum / n;
            stats[i].mean = static_cast<float>(mean);
            stats[i].stddev = static_cast<float>(std::sqrt(std::max(0.0, sumsq / n - mean * mean)));
            std::copy(hist, hist + kLumaBins, stats[i].histogram);
        }
    }
}

#ifndef SIGHTLINE_HAS_CUDA
std::size_t preprocess_cuda_workspace_bytes(std::size_t) {
    return 0;
}
void preprocess_cuda(std::span<const ImageView>, const PreprocessParams&, void*, Letterbox*, LumaStats*, void*,
                     StreamRef) {
    throw Error(ErrorCode::kUnsupported, "preprocess_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
#endif

} // namespace sightline::kernels
