#pragma once
// Shared math of the preprocess twins: sampling, colour conversion, letterbox geometry, argument validation.
#include <cstdint>
#include <span>
#include <string>

#include "sightline/error.hpp"
#include "sightline/kernels/hd.hpp"
#include "sightline/kernels/preprocess.hpp"

namespace sightline::kernels::detail {

SL_HD float clamp255(float v) {
    return v < 0.f ? 0.f : (v > 255.f ? 255.f : v);
}

/// Source coordinate of an output pixel centre along one axis (cv::resize INTER_LINEAR convention), clamped to
/// [0, n-1]; returns the two taps and the weight of the second.
struct Taps {
    int i0, i1;
    float w1;
};
SL_HD Taps taps(int out_index, float inv_scale, int n) {
    float s = (static_cast<float>(out_index) + 0.5f) * inv_scale - 0.5f;
    if (s < 0.f) s = 0.f;
    const float maxs = static_cast<float>(n - 1);
    if (s > maxs) s = maxs;
    const int i0 = static_cast<int>(s);
    const int i1 = i0 + 1 < n ? i0 + 1 : i0;
    return {i0, i1, s - static_cast<float>(i0)};
}

/// Bilinear blend of taps a (x0, y0), b (x1, y0), c (x0, y1), d (x1, y1): vertical first, then horizontal. The
/// order is part of the function: the CPU twin blends whole source rows vertically (contiguous, vectorised), then
/// samples them horizontally, performing exactly these float operations.
SL_HD float lerp1(float a, float b, float w) {
    return a + (b - a) * w;
}
SL_HD float lerp2(float a, float b, float c, float d, float wx, float wy) {
    return lerp1(lerp1(a, c, wy), lerp1(b, d, wy), wx);
}

/// BT.601 limited range YUV -> R, G, B in 0..255 (unclamped inputs, clamped outputs).
SL_HD void yuv_to_rgb(float y, float u, float v, float& r, float& g, float& b) {
    const float c = 1.164383562f * (y - 16.f);
    const float d = u - 128.f, e = v - 128.f;
    r = clamp255(c + 1.596026786f * e);
    g = clamp255(c - 0.391762290f * d - 0.812967647f * e);
    b = clamp255(c + 2.017232143f * d);
}

/// Full-range luma of a limited-range Y sample, and of an RGB pixel.
SL_HD float luma_from_y(float y) {
    return clamp255((y - 16.f) * (255.f / 219.f));
}
SL_HD float luma_from_rgb(float r, float g, float b) {
    return 0.299f * r + 0.587f * g + 0.114f * b;
}
SL_HD int luma_bin(float l) {
    int k = static_cast<int>(l * (1.f / 16.f));
    return k < 0 ? 0 : (k > kLumaBins - 1 ? kLumaBins - 1 : k);
}

/// Samples the frame at output pixel (x, y) of the resized area; returns R, G, B and the full-range luma.
SL_HD void sample_rgb(const ImageView& f, const Taps& tx, const Taps& ty, float& r, float& g, float& b, float& luma) {
    if (f.format == PixelFormat::kBGR) {
        const std::uint8_t* r0 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i0) * f.pitch[0];
        const std::uint8_t* r1 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i1) * f.pitch[0];
        float ch[3];
        for (int c = 0; c < 3; ++c)
            ch[c] = lerp2(r0[3 * tx.i0 + c], r0[3 * tx.i1 + c], r1[3 * tx.i0 + c], r1[3 * tx.i1 + c], tx.w1, ty.w1);
        b = ch[0], g = ch[1], r = ch[2];
        luma = luma_from_rgb(r, g, b);
        return;
    }
    const std::uint8_t* y0 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i0) * f.pitch[0];
    const std::uint8_t* y1 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i1) * f.pitch[0];
    const float yy = lerp2(y0[tx.i0], y0[tx.i1], y1[tx.i0], y1[tx.i1], tx.w1, ty.w1);
    // Chroma is centre-sited at half resolution: its coordinate is (luma + 0.5) / 2 - 0.5, clamped.
    const int cw = (f.width + 1) / 2, chh = (f.height + 1) / 2;
    const float fx = (static_cast<float>(tx.i0) + tx.w1 + 0.5f) * 0.5f - 0.5f;
    const float fy = (static_cast<float>(ty.i0) + ty.w1 + 0.5f) * 0.5f - 0.5f;
    const float cx = fx < 0.f ? 0.f : (fx > static_cast<float>(cw - 1) ? static_cast<float>(cw - 1) : fx);
    const float cy = fy < 0.f ? 0.f : (fy > static_cast<float>(chh - 1) ? static_cast<float>(chh - 1) : fy);
    const int cx0 = static_cast<int>(cx), cy0 = static_cast<int>(cy);
    const int cx1 = cx0 + 1 < cw ? cx0 + 1 : cx0, cy1 = cy0 + 1 < chh ? cy0 + 1 : cy0;
    const float wx = cx - static_cast<float>(cx0), wy = cy - static_cast<float>(cy0);
    float u, v;
    if (f.format == PixelFormat::kNV12) {
        const std::uint8_t* c0 = f.planes[1] + static_cast<std::ptrdiff_t>(cy0) * f.pitch[1];
        const std::uint8_t* c1 = f.planes[1] + static_cast<std::ptrdiff_t>(cy1) * f.pitch[1];
        u = lerp2(c0[2 * cx0], c0[2 * cx1], c1[2 * cx0], c1[2 * cx1], wx, wy);
        v = lerp2(c0[2 * cx0 + 1], c0[2 * cx1 + 1], c1[2 * cx0 + 1], c1[2 * cx1 + 1], wx, wy);
    } else {
        const std::uint8_t* u0 = f.planes[1] + static_cast<std::ptrdiff_t>(cy0) * f.pitch[1];
        const std::uint8_t* u1 = f.planes[1] + static_cast<std::ptrdiff_t>(cy1) * f.pitch[1];
        const std::uint8_t* v0 = f.planes[2] + static_cast<std::ptrdiff_t>(cy0) * f.pitch[2];
        const std::uint8_t* v1 = f.planes[2] + static_cast<std::ptrdiff_t>(cy1) * f.pitch[2];
        u = lerp2(u0[cx0], u0[cx1], u1[cx0], u1[cx1], wx, wy);
        v = lerp2(v0[cx0], v0[cx1], v1[cx0], v1[cx1], wx, wy);
    }
    yuv_to_rgb(yy, u, v, r, g, b);
    luma = luma_from_y(yy);
}

/// The luma sample_rgb returns at a resized pixel, computed alone, in the same float operations (the CUDA kernel takes
/// a pixel's four neighbours with it for the Laplacian; a test checks it equals sample_rgb's bit for bit).
SL_HD float sample_luma(const ImageView& f, const Taps& tx, const Taps& ty) {
    const std::uint8_t* r0 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i0) * f.pitch[0];
    const std::uint8_t* r1 = f.planes[0] + static_cast<std::ptrdiff_t>(ty.i1) * f.pitch[0];
    if (f.format != PixelFormat::kBGR)
        return luma_from_y(lerp2(r0[tx.i0], r0[tx.i1], r1[tx.i0], r1[tx.i1], tx.w1, ty.w1));
    float ch[3];
    for (int c = 0; c < 3; ++c)
        ch[c] = lerp2(r0[3 * tx.i0 + c], r0[3 * tx.i1 + c], r1[3 * tx.i0 + c], r1[3 * tx.i1 + c], tx.w1, ty.w1);
    return luma_from_rgb(ch[2], ch[1], ch[0]);
}

/// 4-neighbour Laplacian of the luma, in this float order: ((up + down) + (left + right)) - 4 * centre.
SL_HD float laplacian(float up, float down, float left, float right, float centre) {
    return ((up + down) + (left + right)) - 4.f * centre;
}

/// Whether output row y is a row the Laplacian is taken at: rows y-1, y and y+1 in the resized area (pad_y, rh)
/// and y-1, y+1 in y's band of kSharpnessBandRows rows.
SL_HD bool laplacian_row(int y, int pad_y, int resized_height) {
    const int in_band = y % kSharpnessBandRows;
    return in_band >= 1 && in_band <= kSharpnessBandRows - 2 && y - 1 >= pad_y && y + 1 < pad_y + resized_height;
}

/// 1 / std of channel c: normalising multiplies by it (a division per value would cost the CPU twin a quarter of its
/// time); validate() requires std to be a normal float, so this is finite.
SL_HD float inv_std(const PreprocessParams& p, int c) {
    return 1.f / p.std[c];
}

/// Output channel values of one pixel: channel order applied, scaled, normalised: (v * scale - mean) * (1 / std).
struct Normalised {
    float v[3];
};
SL_HD Normalised normalise(const PreprocessParams& p, float r, float g, float b) {
    const float first = p.order == ChannelOrder::kRGB ? r : b;
    const float third = p.order == ChannelOrder::kRGB ? b : r;
    return {{(first * p.scale - p.mean[0]) * inv_std(p, 0), (g * p.scale - p.mean[1]) * inv_std(p, 1),
             (third * p.scale - p.mean[2]) * inv_std(p, 2)}};
}

/// IEEE binary16 bits of `f`, rounded to nearest even; both twins use it, so fp16 outputs agree bit for bit.
SL_HD std::uint16_t half_bits(float f) {
#if defined(__CUDA_ARCH__)
    const std::uint32_t x = __float_as_uint(f);
#else
    std::uint32_t x;
    __builtin_memcpy(&x, &f, sizeof x);
#endif
    const std::uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
    if (ax >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u); // rounds to infinity
    if (ax < 0x38800000u) {                                                   // half subnormal or zero
        if (ax < 0x33000000u) return static_cast<std::uint16_t>(sign);
        const std::uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
        const int shift = 126 - static_cast<int>(ax >> 23);
        std::uint32_t r = mant >> shift;
        const std::uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) ++r;
        return static_cast<std::uint16_t>(sign | r);
    }
    std::uint32_t h = ((ax >> 23) - 112u) << 10 | ((ax >> 13) & 0x3ffu);
    const std::uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
}

/// Writes output pixel (x, y) of one frame's tensor `frame_out` in the layout and type `p` asks for.
SL_HD void store_pixel(const PreprocessParams& p, const Normalised& n, void* frame_out, int x, int y) {
    const std::size_t pix = static_cast<std::size_t>(y) * p.input_width + x;
    const bool nhwc = p.layout == TensorLayout::kNHWC;
    const std::size_t base = nhwc ? 3 * pix : pix;
    const std::size_t step = nhwc ? 1 : static_cast<std::size_t>(p.input_width) * p.input_height;
    if (p.dtype == TensorType::kFloat16) {
        auto* o = static_cast<std::uint16_t*>(frame_out) + base;
        for (int c = 0; c < 3; ++c) o[c * step] = half_bits(n.v[c]);
    } else {
        float* o = static_cast<float*>(frame_out) + base;
        for (int c = 0; c < 3; ++c) o[c * step] = n.v[c];
    }
}

/// Lets the CPU twin use its AVX2 row primitives (the default, where the CPU has AVX2 and F16C) or not; returns
/// whether the CPU has them. Both paths compute the same bits; tests run both.
bool preprocess_simd(bool allow);

/// One shared validation, so both twins throw alike.
void validate(std::span<const ImageView> frames, const PreprocessParams& p, MemoryLocation expected);

/// The checks of one frame's view (where it lives, its size, its planes and pitches), each error starting with
/// `who` ("preprocess: frame 3", "background"): every kernel that reads frames refuses them in the same words.
void validate_view(const ImageView& f, const std::string& who, MemoryLocation expected);

} // namespace sightline::kernels::detail
