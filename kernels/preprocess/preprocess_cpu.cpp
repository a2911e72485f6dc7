// CPU twin of the preprocess kernel: the specification the CUDA version is tested against.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#ifdef SIGHTLINE_HAS_TBB
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#endif

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
        if (!std::isnormal(p.std[c]))
            throw Error(ErrorCode::kBadInput, "preprocess: std[" + std::to_string(c) +
                                                  "] must be a finite, non-zero, normal float, got " +
                                                  std::to_string(p.std[c]));
    for (std::size_t i = 0; i < frames.size(); ++i)
        validate_view(frames[i], "preprocess: frame " + std::to_string(i), expected);
}

void validate_view(const ImageView& f, const std::string& who, MemoryLocation expected) {
    if (f.where != expected)
        throw Error(ErrorCode::kBadInput, who + ": lives in " + (f.where == MemoryLocation::kHost ? "host" : "device") +
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
                                                  std::to_string(f.pitch[k]) + " < " + std::to_string(min_pitch[k]));
    }
}
} // namespace detail

std::size_t preprocess_frame_bytes(const PreprocessParams& p) {
    return 3ull * p.input_width * p.input_height * (p.dtype == TensorType::kFloat16 ? 2 : 4);
}

namespace {

// ---- Row primitives. The portable ones are the specification; the AVX2 ones perform the same float operations
// on eight lanes (no FMA: the library is built with -ffp-contract=off and the intrinsics below multiply and add
// separately), so both paths, and the per-pixel body the CUDA kernel runs, produce the same bits.

/// Blends two source rows vertically, `channels` interleaved channels of `pixels` pixels, into one planar float row
/// per channel: out[c][i] = lerp1(r0[channels * i + c], r1[channels * i + c], w).
void vblend(const std::uint8_t* r0, const std::uint8_t* r1, int pixels, int channels, float w, float* const* out) {
    for (int c = 0; c < channels; ++c)
        for (int i = 0; i < pixels; ++i) out[c][i] = detail::lerp1(r0[channels * i + c], r1[channels * i + c], w);
}

/// Horizontal taps of the resized columns, with, per block of 8 columns, each tap's offset from the block's first
/// tap (the AVX2 path selects taps by permuting at most kMaxChunks vectors of 8 source floats instead of gathering).
struct ColumnTaps {
    static constexpr int kMaxChunks = 4;
    std::vector<int> i0, i1;
    std::vector<float> w;
    struct Block {
        int base;
        alignas(32) std::int32_t rel0[8], rel1[8];
    };
    std::vector<Block> blocks; ///< one per full block of 8 columns
    int chunks = 0;            ///< vectors of 8 floats a block spans; 0: too wide a span, gather instead
    bool halving = false;      ///< every block's taps are 2j and 2j + 1 (an exact 2:1 downscale): even/odd split

    void set(int n) { i0.resize(n), i1.resize(n), w.resize(n); }
    void plan() {
        const int n = static_cast<int>(i0.size());
        blocks.resize(n / 8);
        int span = 0;
        for (int k = 0; k < n / 8; ++k) {
            Block& b = blocks[k];
            b.base = i0[8 * k];
            for (int j = 0; j < 8; ++j) {
                b.rel0[j] = i0[8 * k + j] - b.base, b.rel1[j] = i1[8 * k + j] - b.base;
                span = std::max({span, b.rel0[j], b.rel1[j]});
            }
        }
        chunks = span / 8 + 1 <= kMaxChunks ? span / 8 + 1 : 0;
        halving = !blocks.empty();
        for (const Block& b : blocks)
            for (int j = 0; j < 8; ++j) halving = halving && b.rel0[j] == 2 * j && b.rel1[j] == 2 * j + 1;
    }
};
/// Source floats a planar row must have past its end for the AVX2 sampler's whole-vector loads.
constexpr int kRowSlack = 8 * ColumnTaps::kMaxChunks;

/// out[c][x] = lerp1(v[c][i0[x]], v[c][i1[x]], w[x]) for c < rows: blended planar rows sampled horizontally at the
/// same taps.
void hsample(const float* const* v, int rows, const ColumnTaps& t, int n, float* const* out) {
    for (int c = 0; c < rows; ++c)
        for (int x = 0; x < n; ++x) out[c][x] = detail::lerp1(v[c][t.i0[x]], v[c][t.i1[x]], t.w[x]);
}
void luma_rgb(const float* r, const float* g, const float* b, int n, float* l) {
    for (int x = 0; x < n; ++x) l[x] = detail::luma_from_rgb(r[x], g[x], b[x]);
}
void convert_yuv(const float* yy, const float* u, const float* v, int n, float* r, float* g, float* b, float* l) {
    for (int x = 0; x < n; ++x) {
        detail::yuv_to_rgb(yy[x], u[x], v[x], r[x], g[x], b[x]);
        l[x] = detail::luma_from_y(yy[x]);
    }
}
/// Adds a row's luma to the running sums and the histogram.
using StatsAccum = LumaSums;
void stats_row(const float* l, int n, StatsAccum& s) {
    for (int x = 0; x < n; ++x) {
        s.sum += l[x];
        s.sumsq += static_cast<double>(l[x]) * l[x];
        ++s.hist[detail::luma_bin(l[x])];
    }
}
/// Adds the Laplacian of the middle of three luma rows (columns 1..n-2) to the sharpness sums.
void lap_row(const float* up, const float* mid, const float* down, int n, StatsAccum& s) {
    for (int x = 1; x + 1 < n; ++x) {
        const float v = detail::laplacian(up[x], down[x], mid[x - 1], mid[x + 1], mid[x]);
        s.lap_sum += v;
        s.lap_sumsq += static_cast<double>(v) * v;
    }
    if (n >= 3) s.lap_n += static_cast<std::uint32_t>(n - 2);
}

/// Writes `n` pixels of output row `y` from column `x0`: normalised values from r, g, b (or the pad when r is null).
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
        const float s = p.scale, m = p.mean[c], d = detail::inv_std(p, c);
        if constexpr (kNHWC) {
            T* dst = o + 3 * pix + c;
            if (!r)
                for (int x = 0; x < n; ++x) dst[3 * x] = put(pad.v[c]);
            else
                for (int x = 0; x < n; ++x) dst[3 * x] = put((src[c][x] * s - m) * d);
        } else {
            T* dst = o + c * plane + pix;
            if (!r)
                for (int x = 0; x < n; ++x) dst[x] = put(pad.v[c]);
            else
                for (int x = 0; x < n; ++x) dst[x] = put((src[c][x] * s - m) * d);
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

/// The row primitives one preprocess call uses.
struct RowOps {
    void (*vblend)(const std::uint8_t*, const std::uint8_t*, int, int, float, float* const*);
    void (*hsample)(const float* const*, int, const ColumnTaps&, int, float* const*);
    void (*luma_rgb)(const float*, const float*, const float*, int, float*);
    void (*convert_yuv)(const float*, const float*, const float*, int, float*, float*, float*, float*);
    void (*stats_row)(const float*, int, StatsAccum&);
    void (*lap_row)(const float*, const float*, const float*, int, StatsAccum&);
    StoreRow (*store_for)(const PreprocessParams&);
    /// BGR rows into an NCHW tensor in one pass (sample, luma, normalise, store), or null: hsample, luma_rgb and
    /// the store then run one after the other. Same float operations either way.
    void (*bgr_nchw)(const float* const* v, const ColumnTaps& t, int n, const PreprocessParams& p, void* out, int y,
                     int x0, float* l);
};
constexpr RowOps kPortable{&vblend, &hsample, &luma_rgb, &convert_yuv, &stats_row, &lap_row, &store_for, nullptr};

#if defined(__x86_64__) && defined(__GNUC__)
#define SL_AVX2 __attribute__((target("avx2,f16c")))

SL_AVX2 __m256 lerp8(__m256 a, __m256 b, __m256 w) {
    return _mm256_add_ps(a, _mm256_mul_ps(_mm256_sub_ps(b, a), w));
}
SL_AVX2 __m256 load8u(const std::uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
/// clamp255 with its exact semantics (x < 0 -> 0, x > 255 -> 255, otherwise x itself, -0 and NaN included).
SL_AVX2 __m256 clamp8(__m256 v) {
    return _mm256_min_ps(_mm256_set1_ps(255.f), _mm256_max_ps(_mm256_setzero_ps(), v));
}

/// pshufb masks that pick channel c of 8 interleaved pixels: from bytes 0..15 (lo) and, for three channels, from
/// bytes 8..23 (hi).
struct DeinterleaveMasks {
    __m256i dword[3]; ///< per channel: 8 pixels (4 per 128-bit lane, see load_lanes) to 32-bit integers
    DeinterleaveMasks(int channels) {
        alignas(32) std::int8_t d[32];
        for (int c = 0; c < channels; ++c) {
            for (int lane = 0; lane < 2; ++lane)
                for (int j = 0; j < 4; ++j) {
                    const int pos = channels == 3 ? 3 * j + c : 8 * lane + 2 * j + c;
                    std::int8_t* dw = d + 16 * lane + 4 * j;
                    dw[0] = static_cast<std::int8_t>(pos), dw[1] = dw[2] = dw[3] = -1;
                }
            std::memcpy(&dword[c], d, sizeof d);
        }
    }
};
/// 8 interleaved pixels at p spread over two 128-bit lanes: three channels, bytes 0..15 and 12..27 (pixels 0-3 and
/// 4-7 at the same lane offsets); two channels, bytes 0..15 in both lanes.
template <int kChannels> SL_AVX2 __m256i load_lanes(const std::uint8_t* p) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (kChannels == 3)
        return _mm256_inserti128_si256(_mm256_castsi128_si256(lo),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 12)), 1);
    else
        return _mm256_broadcastsi128_si256(lo);
}
template <int kChannels>
SL_AVX2 void vblend_avx2_c(const std::uint8_t* r0, const std::uint8_t* r1, int pixels, float w, float* const* out,
                           const DeinterleaveMasks& m) {
    const __m256 vw = _mm256_set1_ps(w);
    int i = 0;
    if constexpr (kChannels > 1) {
        // 8 pixels per step, pixels 0-3 in the low 128-bit lane and 4-7 in the high one at the same offsets, so one
        // in-lane byte shuffle per channel yields its 8 values as 32-bit integers. Three channels read 28 bytes
        // (two 16-byte loads at 0 and 12), two channels 16 (one load, broadcast to both lanes).
        constexpr int kReadPixels = kChannels == 3 ? 10 : 8;
        for (; i + kReadPixels <= pixels; i += 8) {
            const __m256i src[2] = {load_lanes<kChannels>(r0 + kChannels * i),
                                    load_lanes<kChannels>(r1 + kChannels * i)};
            for (int c = 0; c < kChannels; ++c) {
                const __m256 a = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(src[0], m.dword[c]));
                const __m256 b = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(src[1], m.dword[c]));
                _mm256_storeu_ps(out[c] + i, lerp8(a, b, vw));
            }
        }
    } else
        for (; i + 8 <= pixels; i += 8) _mm256_storeu_ps(out[0] + i, lerp8(load8u(r0 + i), load8u(r1 + i), vw));
    for (int c = 0; c < kChannels; ++c) // the last few pixels
        for (int k = i; k < pixels; ++k) out[c][k] = detail::lerp1(r0[kChannels * k + c], r1[kChannels * k + c], w);
}
SL_AVX2 void vblend_avx2(const std::uint8_t* r0, const std::uint8_t* r1, int pixels, int channels, float w,
                         float* const* out) {
    static const DeinterleaveMasks m2(2), m3(3);
    if (channels == 3) return vblend_avx2_c<3>(r0, r1, pixels, w, out, m3);
    if (channels == 2) return vblend_avx2_c<2>(r0, r1, pixels, w, out, m2);
    vblend_avx2_c<1>(r0, r1, pixels, w, out, m2);
}
/// Taps selected from kChunks vectors of 8 floats starting at the block's first tap (permute, then blend by range).
template <int kChunks> SL_AVX2 __m256 select_taps(const __m256 (&chunk)[kChunks], __m256i rel) {
    __m256 r = _mm256_permutevar8x32_ps(chunk[0], rel);
    for (int k = 1; k < kChunks; ++k) {
        const __m256 mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(rel, _mm256_set1_epi32(8 * k - 1)));
        r = _mm256_blendv_ps(r, _mm256_permutevar8x32_ps(chunk[k], rel), mask);
    }
    return r;
}
/// 8 horizontally sampled values of block k: taps selected from kChunks vectors, or (kChunks 0) an exact 2:1 block,
/// whose first taps are the even floats of the 16 at its base and second taps the odd ones.
template <int kChunks> SL_AVX2 __m256 sample8(const float* v, const ColumnTaps& t, int k, __m256 w) {
    const ColumnTaps::Block& b = t.blocks[k];
    if constexpr (kChunks == 0) {
        const __m256 lo = _mm256_loadu_ps(v + b.base), hi = _mm256_loadu_ps(v + b.base + 8);
        // shuffle_ps picks within 128-bit lanes: [e0 e2 e8 e10 | e4 e6 e12 e14]; the 64-bit permute restores order
        const __m256 even = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
        const __m256 odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
        return lerp8(even, odd, w);
    } else {
        __m256 chunk[kChunks];
        for (int j = 0; j < kChunks; ++j) chunk[j] = _mm256_loadu_ps(v + b.base + 8 * j);
        const __m256i r0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b.rel0));
        const __m256i r1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b.rel1));
        return lerp8(select_taps<kChunks>(chunk, r0), select_taps<kChunks>(chunk, r1), w);
    }
}
template <int kChunks>
SL_AVX2 void hsample_blocks(const float* const* v, int rows, const ColumnTaps& t, float* const* out) {
    const int blocks = static_cast<int>(t.blocks.size());
    for (int k = 0; k < blocks; ++k) {
        const __m256 w = _mm256_loadu_ps(t.w.data() + 8 * k);
        for (int c = 0; c < rows; ++c) _mm256_storeu_ps(out[c] + 8 * k, sample8<kChunks>(v[c], t, k, w));
    }
}
SL_AVX2 void hsample_avx2(const float* const* v, int rows, const ColumnTaps& t, int n, float* const* out) {
    const int full = static_cast<int>(t.blocks.size()) * 8;
    if (t.halving) {
        hsample_blocks<0>(v, rows, t, out);
    } else if (t.chunks == 0) {
        for (int x = 0; x < full; x += 8) {
            const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.i0.data() + x));
            const __m256i z = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.i1.data() + x));
            const __m256 w = _mm256_loadu_ps(t.w.data() + x);
            for (int c = 0; c < rows; ++c)
                _mm256_storeu_ps(out[c] + x,
                                 lerp8(_mm256_i32gather_ps(v[c], a, 4), _mm256_i32gather_ps(v[c], z, 4), w));
        }
    } else if (t.chunks == 1) {
        hsample_blocks<1>(v, rows, t, out);
    } else if (t.chunks == 2) {
        hsample_blocks<2>(v, rows, t, out);
    } else if (t.chunks == 3) {
        hsample_blocks<3>(v, rows, t, out);
    } else {
        hsample_blocks<4>(v, rows, t, out);
    }
    for (int c = 0; c < rows; ++c)
        for (int x = full; x < n; ++x) out[c][x] = detail::lerp1(v[c][t.i0[x]], v[c][t.i1[x]], t.w[x]);
}
SL_AVX2 void luma_rgb_avx2(const float* r, const float* g, const float* b, int n, float* l) {
    const __m256 kr = _mm256_set1_ps(0.299f), kg = _mm256_set1_ps(0.587f), kb = _mm256_set1_ps(0.114f);
    int x = 0;
    for (; x + 8 <= n; x += 8) {
        const __m256 rg =
            _mm256_add_ps(_mm256_mul_ps(kr, _mm256_loadu_ps(r + x)), _mm256_mul_ps(kg, _mm256_loadu_ps(g + x)));
        _mm256_storeu_ps(l + x, _mm256_add_ps(rg, _mm256_mul_ps(kb, _mm256_loadu_ps(b + x))));
    }
    luma_rgb(r + x, g + x, b + x, n - x, l + x);
}
SL_AVX2 void convert_yuv_avx2(const float* yy, const float* u, const float* v, int n, float* r, float* g, float* b,
                              float* l) {
    const __m256 k16 = _mm256_set1_ps(16.f), k128 = _mm256_set1_ps(128.f), ky = _mm256_set1_ps(1.164383562f);
    const __m256 krv = _mm256_set1_ps(1.596026786f), kgu = _mm256_set1_ps(0.391762290f),
                 kgv = _mm256_set1_ps(0.812967647f), kbu = _mm256_set1_ps(2.017232143f),
                 kl = _mm256_set1_ps(255.f / 219.f);
    int x = 0;
    for (; x + 8 <= n; x += 8) {
        const __m256 y16 = _mm256_sub_ps(_mm256_loadu_ps(yy + x), k16);
        const __m256 c = _mm256_mul_ps(ky, y16);
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(u + x), k128), e = _mm256_sub_ps(_mm256_loadu_ps(v + x), k128);
        _mm256_storeu_ps(r + x, clamp8(_mm256_add_ps(c, _mm256_mul_ps(krv, e))));
        _mm256_storeu_ps(g + x, clamp8(_mm256_sub_ps(_mm256_sub_ps(c, _mm256_mul_ps(kgu, d)), _mm256_mul_ps(kgv, e))));
        _mm256_storeu_ps(b + x, clamp8(_mm256_add_ps(c, _mm256_mul_ps(kbu, d))));
        _mm256_storeu_ps(l + x, clamp8(_mm256_mul_ps(y16, kl)));
    }
    convert_yuv(yy + x, u + x, v + x, n - x, r + x, g + x, b + x, l + x);
}
/// Bins of 8 luma values as 32-bit integers (luma_bin: truncated l / 16, clamped to the bins).
SL_AVX2 __m256i bins8(__m256 v) {
    const __m256i bin = _mm256_cvttps_epi32(_mm256_mul_ps(v, _mm256_set1_ps(1.f / 16.f)));
    return _mm256_min_epi32(_mm256_set1_epi32(kLumaBins - 1), _mm256_max_epi32(_mm256_setzero_si256(), bin));
}
/// Sums per row in float lanes (the statistics agree with the portable loop's to ~1e-6 relative, the histogram
/// exactly). The row's bins are packed to bytes, then counted bin by bin, 32 at a time (compare, subtract), in byte
/// counters summed every 255 steps, before they could overflow.
SL_AVX2 void stats_row_avx2(const float* l, int n, StatsAccum& s) {
    // per-row partial sums in eight float lanes (each lane adds at most a few hundred values of <= 255 and their
    // squares, exact to ~1e-5 relative), carried into the double totals at the end of the row
    __m256 sum = _mm256_setzero_ps(), sq = _mm256_setzero_ps();
    alignas(32) std::uint8_t packed[1024];
    const int full = n / 32 * 32;
    for (int x0 = 0; x0 < full; x0 += 1024) { // packs of at most 1024 pixels (32 steps per bin)
        const int len = std::min(1024, full - x0);
        for (int x = 0; x < len; x += 32) {
            __m256i b[4];
            for (int j = 0; j < 4; ++j) {
                const __m256 v = _mm256_loadu_ps(l + x0 + x + 8 * j);
                sum = _mm256_add_ps(sum, v);
                sq = _mm256_add_ps(sq, _mm256_mul_ps(v, v));
                b[j] = bins8(v);
            }
            // 32 bins as bytes (the packs reorder them across lanes; a histogram does not care)
            _mm256_store_si256(reinterpret_cast<__m256i*>(packed + x),
                               _mm256_packus_epi16(_mm256_packs_epi32(b[0], b[1]), _mm256_packs_epi32(b[2], b[3])));
        }
        for (int k = 0; k < kLumaBins; ++k) {
            const __m256i key = _mm256_set1_epi8(static_cast<char>(k));
            __m256i count = _mm256_setzero_si256();
            for (int x = 0; x < len; x += 32)
                count = _mm256_sub_epi8(
                    count, _mm256_cmpeq_epi8(_mm256_load_si256(reinterpret_cast<const __m256i*>(packed + x)), key));
            alignas(32) std::uint64_t part[4];
            _mm256_store_si256(reinterpret_cast<__m256i*>(part), _mm256_sad_epu8(count, _mm256_setzero_si256()));
            s.hist[k] += static_cast<std::uint32_t>(part[0] + part[1] + part[2] + part[3]);
        }
    }
    alignas(32) float ls[8], lq[8];
    _mm256_store_ps(ls, sum), _mm256_store_ps(lq, sq);
    for (int j = 0; j < 8; ++j) s.sum += ls[j], s.sumsq += lq[j];
    stats_row(l + full, n - full, s);
}
/// lap_row in 8 float lanes (the same float operations per pixel), summed in double lanes (the portable loop's sums
/// to rounding: the order of the additions differs).
SL_AVX2 void lap_row_avx2(const float* up, const float* mid, const float* down, int n, StatsAccum& s) {
    const __m256 k4 = _mm256_set1_ps(4.f);
    __m256d sum = _mm256_setzero_pd(), sq = _mm256_setzero_pd();
    int x = 1;
    for (; x + 9 <= n; x += 8) {
        const __m256 v =
            _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(up + x), _mm256_loadu_ps(down + x)),
                                        _mm256_add_ps(_mm256_loadu_ps(mid + x - 1), _mm256_loadu_ps(mid + x + 1))),
                          _mm256_mul_ps(k4, _mm256_loadu_ps(mid + x)));
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                      hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        sum = _mm256_add_pd(sum, _mm256_add_pd(lo, hi));
        sq = _mm256_add_pd(sq, _mm256_add_pd(_mm256_mul_pd(lo, lo), _mm256_mul_pd(hi, hi)));
    }
    alignas(32) double ls[4], lq[4];
    _mm256_store_pd(ls, sum), _mm256_store_pd(lq, sq);
    for (int j = 0; j < 4; ++j) s.lap_sum += ls[j], s.lap_sumsq += lq[j];
    s.lap_n += static_cast<std::uint32_t>(x - 1);
    // the last columns: lap_row over the window starting one column left of x
    if (x + 1 < n) lap_row(up + x - 1, mid + x - 1, down + x - 1, n - x + 1, s);
}
/// NCHW rows, 8 lanes: (v * scale - mean) * (1 / std), stored as float or as IEEE half rounded to nearest even (F16C,
/// which rounds as detail::half_bits does).
template <bool kHalf>
SL_AVX2 void store_nchw_avx2(const PreprocessParams& p, void* frame_out, int y, int x0, int n, const float* r,
                             const float* g, const float* b, const detail::Normalised& pad) {
    if (!r)
        return store_row<std::conditional_t<kHalf, std::uint16_t, float>, false>(p, frame_out, y, x0, n, r, g, b, pad);
    const std::size_t plane = static_cast<std::size_t>(p.input_width) * p.input_height;
    const std::size_t pix = static_cast<std::size_t>(y) * p.input_width + x0;
    const bool rgb = p.order == ChannelOrder::kRGB;
    const float* src[3] = {rgb ? r : b, g, rgb ? b : r};
    for (int c = 0; c < 3; ++c) {
        const __m256 s = _mm256_set1_ps(p.scale), m = _mm256_set1_ps(p.mean[c]),
                     d = _mm256_set1_ps(detail::inv_std(p, c));
        int x = 0;
        for (; x + 8 <= n; x += 8) {
            const __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(src[c] + x), s), m), d);
            if constexpr (kHalf)
                _mm_storeu_si128(
                    reinterpret_cast<__m128i*>(static_cast<std::uint16_t*>(frame_out) + c * plane + pix + x),
                    _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            else
                _mm256_storeu_ps(static_cast<float*>(frame_out) + c * plane + pix + x, v);
        }
        for (; x < n; ++x) {
            const float v = (src[c][x] * p.scale - p.mean[c]) * detail::inv_std(p, c);
            if constexpr (kHalf)
                static_cast<std::uint16_t*>(frame_out)[c * plane + pix + x] = detail::half_bits(v);
            else
                static_cast<float*>(frame_out)[c * plane + pix + x] = v;
        }
    }
}
template <bool kHalf, int kChunks>
SL_AVX2 void bgr_nchw_blocks(const float* const* v, const ColumnTaps& t, const PreprocessParams& p, void* const* dst,
                             float* l) {
    const bool rgb = p.order == ChannelOrder::kRGB;
    const __m256 kr = _mm256_set1_ps(0.299f), kg = _mm256_set1_ps(0.587f), kb = _mm256_set1_ps(0.114f);
    const __m256 s = _mm256_set1_ps(p.scale);
    __m256 m[3], d[3];
    for (int c = 0; c < 3; ++c) m[c] = _mm256_set1_ps(p.mean[c]), d[c] = _mm256_set1_ps(detail::inv_std(p, c));
    const int blocks = static_cast<int>(t.blocks.size());
    for (int k = 0; k < blocks; ++k) {
        const __m256 w = _mm256_loadu_ps(t.w.data() + 8 * k);
        const __m256 b = sample8<kChunks>(v[0], t, k, w), g = sample8<kChunks>(v[1], t, k, w),
                     r = sample8<kChunks>(v[2], t, k, w);
        _mm256_storeu_ps(
            l + 8 * k, _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(kr, r), _mm256_mul_ps(kg, g)), _mm256_mul_ps(kb, b)));
        const __m256 src[3] = {rgb ? r : b, g, rgb ? b : r};
        for (int c = 0; c < 3; ++c) {
            const __m256 val = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(src[c], s), m[c]), d[c]);
            if constexpr (kHalf)
                _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<std::uint16_t*>(dst[c]) + 8 * k),
                                 _mm256_cvtps_ph(val, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            else
                _mm256_storeu_ps(static_cast<float*>(dst[c]) + 8 * k, val);
        }
    }
}
template <bool kHalf>
SL_AVX2 void bgr_nchw_avx2_t(const float* const* v, const ColumnTaps& t, int n, const PreprocessParams& p, void* out,
                             int y, int x0, float* l) {
    const std::size_t plane = static_cast<std::size_t>(p.input_width) * p.input_height;
    const std::size_t pix = static_cast<std::size_t>(y) * p.input_width + x0;
    const std::size_t esize = kHalf ? 2 : 4;
    void* dst[3];
    for (int c = 0; c < 3; ++c) dst[c] = static_cast<std::uint8_t*>(out) + (c * plane + pix) * esize;
    if (t.halving)
        bgr_nchw_blocks<kHalf, 0>(v, t, p, dst, l);
    else if (t.chunks == 1)
        bgr_nchw_blocks<kHalf, 1>(v, t, p, dst, l);
    else if (t.chunks == 2)
        bgr_nchw_blocks<kHalf, 2>(v, t, p, dst, l);
    else if (t.chunks == 3)
        bgr_nchw_blocks<kHalf, 3>(v, t, p, dst, l);
    else if (t.chunks == 4)
        bgr_nchw_blocks<kHalf, 4>(v, t, p, dst, l);
    const int full = static_cast<int>(t.blocks.size()) * 8; // callers: halving or chunks > 0
    if (full == n) return;
    // the last n % 8 columns through the step-by-step path
    float tail[3][8];
    for (int x = full; x < n; x += 8) {
        const int m = std::min(8, n - x);
        for (int c = 0; c < 3; ++c)
            for (int j = 0; j < m; ++j) tail[c][j] = detail::lerp1(v[c][t.i0[x + j]], v[c][t.i1[x + j]], t.w[x + j]);
        luma_rgb(tail[2], tail[1], tail[0], m, l + x);
        store_row<std::conditional_t<kHalf, std::uint16_t, float>, false>(p, out, y, x0 + x, m, tail[2], tail[1],
                                                                          tail[0], detail::Normalised{});
    }
}

void bgr_nchw_avx2(const float* const* v, const ColumnTaps& t, int n, const PreprocessParams& p, void* out, int y,
                   int x0, float* l) {
    if (p.dtype == TensorType::kFloat16)
        bgr_nchw_avx2_t<true>(v, t, n, p, out, y, x0, l);
    else
        bgr_nchw_avx2_t<false>(v, t, n, p, out, y, x0, l);
}

StoreRow store_for_avx2(const PreprocessParams& p) {
    if (p.layout == TensorLayout::kNHWC) return store_for(p);
    return p.dtype == TensorType::kFloat16 ? &store_nchw_avx2<true> : &store_nchw_avx2<false>;
}
constexpr RowOps kAvx2{&vblend_avx2,    &hsample_avx2, &luma_rgb_avx2,  &convert_yuv_avx2,
                       &stats_row_avx2, &lap_row_avx2, &store_for_avx2, &bgr_nchw_avx2};

bool cpu_has_avx2() {
    // F16C through cpuid (leaf 1, ECX bit 29): clang's __builtin_cpu_supports does not know "f16c"
    static const bool has = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        return __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
    }();
    return has;
}
#else
bool cpu_has_avx2() {
    return false;
}
#endif

std::atomic<bool> g_simd_allowed{true};

const RowOps& row_ops() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (g_simd_allowed.load(std::memory_order_relaxed) && cpu_has_avx2()) return kAvx2;
#endif
    return kPortable;
}

/// The column taps of one frame (read-only while its rows are processed, shared by the threads).
struct FrameColumns {
    ColumnTaps lx, cx; ///< luma (or BGR pixel) and chroma column taps

    void set(const ImageView& f, int resized_width, float inv_x) {
        const int n = resized_width;
        const bool bgr = f.format == PixelFormat::kBGR;
        lx.set(n), cx.set(bgr ? 0 : n);
        const int cw = (f.width + 1) / 2;
        for (int x = 0; x < n; ++x) {
            const detail::Taps t = detail::taps(x, inv_x, f.width);
            lx.i0[x] = t.i0, lx.i1[x] = t.i1, lx.w[x] = t.w1;
            if (bgr) continue;
            const float fx = (static_cast<float>(t.i0) + t.w1 + 0.5f) * 0.5f - 0.5f;
            const float c = fx < 0.f ? 0.f : (fx > static_cast<float>(cw - 1) ? static_cast<float>(cw - 1) : fx);
            const int i0 = static_cast<int>(c);
            cx.i0[x] = i0, cx.i1[x] = i0 + 1 < cw ? i0 + 1 : i0, cx.w[x] = c - static_cast<float>(i0);
        }
        lx.plan(), cx.plan();
    }
};

/// One thread's row buffers. A row's work: the two source rows are blended vertically into planar float rows
/// (contiguous), then sampled horizontally at the frame's column taps, converted to R, G, B and luma.
struct RowWork {
    std::vector<float> blended[3];  ///< blended source rows, one per channel: B, G, R or Y; U, V
    std::vector<float> yy, cu, cv;  ///< horizontally sampled Y, U, V (YUV input)
    std::vector<float> r, g, b, l;  ///< the row's pixels before normalisation, and their luma
    std::vector<float> l_up, l_mid; ///< the luma of the two rows above, for the Laplacian

    void size_for(const ImageView& f, int n) {
        const bool bgr = f.format == PixelFormat::kBGR;
        const int cw = (f.width + 1) / 2;
        for (int c = 0; c < 3; ++c) {
            // zeroed slack past the row's end: the AVX2 sampler loads whole vectors there (values never selected)
            const std::size_t need = static_cast<std::size_t>(bgr || c == 0 ? f.width : cw) + kRowSlack;
            if (blended[c].size() < need) blended[c].assign(need, 0.f);
        }
        for (auto* v : {&yy, &cu, &cv, &r, &g, &b, &l, &l_up, &l_mid})
            if (v->size() < static_cast<std::size_t>(n)) v->resize(n);
    }

    /// BGR input, NCHW output, fused (ops.bgr_nchw): output row y from column x0, and l.
    void row_bgr_nchw(const RowOps& ops, const ImageView& f, const FrameColumns& cols, const detail::Taps& ty,
                      const PreprocessParams& p, void* out, int y, int x0) {
        const int n = static_cast<int>(cols.lx.i0.size());
        size_for(f, n);
        float* const rows[3] = {blended[0].data(), blended[1].data(), blended[2].data()};
        ops.vblend(f.planes[0] + static_cast<std::ptrdiff_t>(ty.i0) * f.pitch[0],
                   f.planes[0] + static_cast<std::ptrdiff_t>(ty.i1) * f.pitch[0], f.width, 3, ty.w1, rows);
        ops.bgr_nchw(rows, cols.lx, n, p, out, y, x0, l.data());
    }

    /// r, g, b, l of resized row `ty` (its taps).
    void row(const RowOps& ops, const ImageView& f, const FrameColumns& cols, const detail::Taps& ty) {
        const int n = static_cast<int>(cols.lx.i0.size());
        const int cw = (f.width + 1) / 2;
        size_for(f, n);
        auto src = [&](int plane, int row) {
            return f.planes[plane] + static_cast<std::ptrdiff_t>(row) * f.pitch[plane];
        };
        float* const rows[3] = {blended[0].data(), blended[1].data(), blended[2].data()};
        if (f.format == PixelFormat::kBGR) {
            ops.vblend(src(0, ty.i0), src(0, ty.i1), f.width, 3, ty.w1, rows);
            float* const bgr[3] = {b.data(), g.data(), r.data()};
            ops.hsample(rows, 3, cols.lx, n, bgr);
            ops.luma_rgb(r.data(), g.data(), b.data(), n, l.data());
            return;
        }
        ops.vblend(src(0, ty.i0), src(0, ty.i1), f.width, 1, ty.w1, rows);
        float* const luma[1] = {yy.data()};
        ops.hsample(rows, 1, cols.lx, n, luma);
        const int chh = (f.height + 1) / 2;
        const float fy = (static_cast<float>(ty.i0) + ty.w1 + 0.5f) * 0.5f - 0.5f;
        const float cy = fy < 0.f ? 0.f : (fy > static_cast<float>(chh - 1) ? static_cast<float>(chh - 1) : fy);
        const int cy0 = static_cast<int>(cy), cy1 = cy0 + 1 < chh ? cy0 + 1 : cy0;
        const float wy = cy - static_cast<float>(cy0);
        if (f.format == PixelFormat::kNV12) {
            ops.vblend(src(1, cy0), src(1, cy1), cw, 2, wy, rows + 1);
        } else {
            ops.vblend(src(1, cy0), src(1, cy1), cw, 1, wy, rows + 1);
            ops.vblend(src(2, cy0), src(2, cy1), cw, 1, wy, rows + 2);
        }
        float* const chroma[2] = {cu.data(), cv.data()};
        ops.hsample(rows + 1, 2, cols.cx, n, chroma);
        ops.convert_yuv(yy.data(), cu.data(), cv.data(), n, r.data(), g.data(), b.data(), l.data());
    }
};

/// Output rows per task: fixed, so the statistics (summed per block, blocks merged in order) do not depend on how
/// many threads ran or which took what; one band of the sharpness statistic, so a task needs no rows of another.
constexpr int kBlockRows = kSharpnessBandRows;

/// Output rows y0..y1 of one frame.
void frame_rows(const RowOps& ops, StoreRow store, const PreprocessParams& p, const ImageView& f, const Letterbox& lb,
                const FrameColumns& cols, float inv_y, void* out, int y0, int y1, const detail::Normalised& pad,
                RowWork& work, StatsAccum& acc) {
    const int W = p.input_width, right = W - lb.pad_x - lb.resized_width;
    int held = 0; // resized rows of this band whose luma is in l_mid (the last) and l_up (the one before)
    for (int y = y0; y < y1; ++y) {
        const int ry = y - lb.pad_y;
        if (ry < 0 || ry >= lb.resized_height) {
            store(p, out, y, 0, W, nullptr, nullptr, nullptr, pad);
            held = 0;
            continue;
        }
        if (ops.bgr_nchw && f.format == PixelFormat::kBGR && p.layout == TensorLayout::kNCHW &&
            (cols.lx.halving || cols.lx.chunks > 0)) {
            work.row_bgr_nchw(ops, f, cols, detail::taps(ry, inv_y, f.height), p, out, y, lb.pad_x);
        } else {
            work.row(ops, f, cols, detail::taps(ry, inv_y, f.height));
            store(p, out, y, lb.pad_x, lb.resized_width, work.r.data(), work.g.data(), work.b.data(), pad);
        }
        if (lb.pad_x > 0) store(p, out, y, 0, lb.pad_x, nullptr, nullptr, nullptr, pad);
        if (right > 0) store(p, out, y, lb.pad_x + lb.resized_width, right, nullptr, nullptr, nullptr, pad);
        ops.stats_row(work.l.data(), lb.resized_width, acc);
        // the Laplacian at row y - 1 (detail::laplacian_row), now that its row below is here
        if (held == 2) ops.lap_row(work.l_up.data(), work.l_mid.data(), work.l.data(), lb.resized_width, acc);
        std::swap(work.l_up, work.l_mid), std::swap(work.l_mid, work.l);
        held = std::min(held + 1, 2);
    }
}

} // namespace

namespace detail {
bool preprocess_simd(bool allow) {
    g_simd_allowed.store(allow);
    return cpu_has_avx2();
}
} // namespace detail

void preprocess_cpu(std::span<const ImageView> frames, const PreprocessParams& p, void* output, Letterbox* letterboxes,
                    LumaStats* stats) {
    detail::validate(frames, p, MemoryLocation::kHost);
    if (frames.empty()) return;
    const int W = p.input_width, H = p.input_height;
    const std::size_t frame_bytes = preprocess_frame_bytes(p);
    const detail::Normalised pad = detail::normalise(p, p.pad_value, p.pad_value, p.pad_value);
    const RowOps& ops = row_ops();
    const StoreRow store = ops.store_for(p);
    struct Plan {
        Letterbox lb;
        float inv_y;
        FrameColumns cols;
    };
    std::vector<Plan> plans(frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const ImageView& f = frames[i];
        Plan& pl = plans[i];
        pl.lb = compute_letterbox(f.width, f.height, W, H);
        if (letterboxes) letterboxes[i] = pl.lb;
        pl.inv_y = static_cast<float>(f.height) / pl.lb.resized_height;
        pl.cols.set(f, pl.lb.resized_width, static_cast<float>(f.width) / pl.lb.resized_width);
    }
    const std::size_t per_frame = (H + kBlockRows - 1) / kBlockRows;
    std::vector<StatsAccum> acc(frames.size() * per_frame);
    auto run_blocks = [&](std::size_t first, std::size_t last, RowWork& work) {
        for (std::size_t k = first; k < last; ++k) {
            const std::size_t i = k / per_frame;
            const int y0 = static_cast<int>(k % per_frame) * kBlockRows;
            frame_rows(ops, store, p, frames[i], plans[i].lb, plans[i].cols, plans[i].inv_y,
                       static_cast<std::uint8_t*>(output) + i * frame_bytes, y0, std::min(H, y0 + kBlockRows), pad,
                       work, acc[k]);
        }
    };
    // each thread keeps its row buffers from call to call (a few pages), so a call allocates none
    static thread_local RowWork work;
#ifdef SIGHTLINE_HAS_TBB
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, acc.size(), 1),
        [&](const tbb::blocked_range<std::size_t>& r) { run_blocks(r.begin(), r.end(), work); },
        tbb::simple_partitioner());
#else
    run_blocks(0, acc.size(), work);
#endif
    if (!stats) return;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        StatsAccum total;
        for (std::size_t k = i * per_frame; k < (i + 1) * per_frame; ++k) {
            total.sum += acc[k].sum, total.sumsq += acc[k].sumsq;
            total.lap_n += acc[k].lap_n, total.lap_sum += acc[k].lap_sum, total.lap_sumsq += acc[k].lap_sumsq;
            for (int b = 0; b < kLumaBins; ++b) total.hist[b] += acc[k].hist[b];
        }
        stats[i] = luma_stats(total, plans[i].lb);
    }
}

LumaStats luma_stats(const LumaSums& sums, const Letterbox& lb) {
    LumaStats st;
    const double n = static_cast<double>(lb.resized_width) * lb.resized_height;
    const double mean = sums.sum / n;
    st.mean = static_cast<float>(mean);
    st.stddev = static_cast<float>(std::sqrt(std::max(0.0, sums.sumsq / n - mean * mean)));
    std::copy(sums.hist, sums.hist + kLumaBins, st.histogram);
    if (sums.lap_n > 0) {
        const double lm = sums.lap_sum / sums.lap_n;
        st.sharpness = static_cast<float>(std::max(0.0, sums.lap_sumsq / sums.lap_n - lm * lm));
    }
    return st;
}

#ifndef SIGHTLINE_HAS_CUDA
std::size_t preprocess_cuda_workspace_bytes(std::size_t) {
    return 0;
}
void preprocess_cuda(std::span<const ImageView>, const PreprocessParams&, void*, Letterbox*, LumaStats*, void*,
                     StreamRef) {
    throw Error(ErrorCode::kUnsupported, "preprocess_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
void preprocess_cuda_async(std::span<const ImageView>, const PreprocessParams&, void*, Letterbox*, void*, StreamRef) {
    throw Error(ErrorCode::kUnsupported, "preprocess_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
#endif

} // namespace sightline::kernels
