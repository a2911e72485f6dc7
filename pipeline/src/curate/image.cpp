#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "sightline/error.hpp"
#include "sightline/pipeline/curate.hpp"

namespace sightline::pipeline {

namespace {

using kernels::PixelFormat;

/// Luma of pixel (x, y), full-range or limited as the frame has it (the hash compares neighbours: either works).
std::uint8_t luma_at(const kernels::ImageView& f, int x, int y) {
    const std::uint8_t* row = f.planes[0] + static_cast<std::size_t>(y) * f.pitch[0];
    if (f.format != PixelFormat::kBGR) return row[x];
    const std::uint8_t* p = row + 3 * x;
    return static_cast<std::uint8_t>((29 * p[0] + 150 * p[1] + 77 * p[2]) >> 8);
}

struct TjHandle {
    void operator()(void* h) const { tjDestroy(h); }
};
struct TjBuffer {
    void operator()(unsigned char* b) const { tjFree(b); }
};

/// BT.601 limited range (Y 16..235, C 16..240) to full range, as JFIF's YCbCr.
struct RangeLut {
    std::array<std::uint8_t, 256> y{}, c{};
    RangeLut() {
        for (int v = 0; v < 256; ++v) {
            y[v] = static_cast<std::uint8_t>(std::clamp((v - 16) * 255.0 / 219.0 + 0.5, 0.0, 255.0));
            c[v] = static_cast<std::uint8_t>(std::clamp((v - 128) * 255.0 / 224.0 + 128.5, 0.0, 255.0));
        }
    }
};

} // namespace

std::uint64_t dhash(const kernels::ImageView& f) {
    if (f.where != kernels::MemoryLocation::kHost)
        throw Error(ErrorCode::kUnsupported, "dhash: the frame is in device memory");
    if (f.width < 9 || f.height < 8) return 0;
    double cells[8][9] = {};
    for (int cy = 0; cy < 8; ++cy)
        for (int cx = 0; cx < 9; ++cx) {
            const int x0 = cx * f.width / 9, x1 = (cx + 1) * f.width / 9;
            const int y0 = cy * f.height / 8, y1 = (cy + 1) * f.height / 8;
            const int sx = std::max(1, (x1 - x0) / 8), sy = std::max(1, (y1 - y0) / 8); // 8 x 8 taps a cell
            long sum = 0, n = 0;
            for (int y = y0; y < y1; y += sy)
                for (int x = x0; x < x1; x += sx) sum += luma_at(f, x, y), ++n;
            cells[cy][cx] = n ? static_cast<double>(sum) / n : 0;
        }
    std::uint64_t h = 0;
    for (int cy = 0; cy < 8; ++cy)
        for (int cx = 0; cx < 8; ++cx) h = (h << 1) | (cells[cy][cx] > cells[cy][cx + 1] ? 1u : 0u);
    return h;
}

std::string encode_png(const kernels::ImageView& f) {
    if (f.where != kernels::MemoryLocation::kHost || f.format != PixelFormat::kBGR)
        throw Error(ErrorCode::kUnsupported, "encode_png: a BGR image in host memory only");
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(f.width), image.height = static_cast<png_uint_32>(f.height);
    image.format = PNG_FORMAT_BGR;
    png_alloc_size_t size = 0;
    // libpng's simplified API: the size first, then the bytes
    if (!png_image_write_to_memory(&image, nullptr, &size, 0, f.planes[0], f.pitch[0], nullptr))
        throw Error(ErrorCode::kIo, std::string("libpng: ") + image.message);
    std::string out(size, '\0');
    if (!png_image_write_to_memory(&image, out.data(), &size, 0, f.planes[0], f.pitch[0], nullptr))
        throw Error(ErrorCode::kIo, std::string("libpng: ") + image.message);
    out.resize(size);
    return out;
}

std::string encode_jpeg(const kernels::ImageView& f, int quality) {
    if (f.where != kernels::MemoryLocation::kHost)
        throw Error(ErrorCode::kUnsupported, "encode_jpeg: the frame is in device memory");
    std::unique_ptr<void, TjHandle> tj(tjInitCompress());
    if (!tj) throw Error(ErrorCode::kIo, std::string("libturbojpeg: ") + tjGetErrorStr());
    unsigned char* out = nullptr;
    unsigned long size = 0;
    int r = 0;
    quality = std::clamp(quality, 1, 100);
    if (f.format == PixelFormat::kBGR) {
        r = tjCompress2(tj.get(), f.planes[0], f.width, f.pitch[0], f.height, TJPF_BGR, &out, &size, TJSAMP_420,
                        quality, 0);
    } else { // YUV 4:2:0: expanded to full range plane by plane (NV12's interleaved chroma split)
        static const RangeLut lut;
        const int cw = (f.width + 1) / 2, ch = (f.height + 1) / 2;
        std::vector<std::uint8_t> y(static_cast<std::size_t>(f.width) * f.height), u(static_cast<std::size_t>(cw) * ch),
            v(u.size());
        for (int row = 0; row < f.height; ++row) {
            const std::uint8_t* src = f.planes[0] + static_cast<std::size_t>(row) * f.pitch[0];
            std::uint8_t* dst = y.data() + static_cast<std::size_t>(row) * f.width;
            for (int x = 0; x < f.width; ++x) dst[x] = lut.y[src[x]];
        }
        for (int row = 0; row < ch; ++row) {
            std::uint8_t* du = u.data() + static_cast<std::size_t>(row) * cw;
            std::uint8_t* dv = v.data() + static_cast<std::size_t>(row) * cw;
            if (f.format == PixelFormat::kNV12) {
                const std::uint8_t* uv = f.planes[1] + static_cast<std::size_t>(row) * f.pitch[1];
                for (int x = 0; x < cw; ++x) du[x] = lut.c[uv[2 * x]], dv[x] = lut.c[uv[2 * x + 1]];
            } else {
                const std::uint8_t* su = f.planes[1] + static_cast<std::size_t>(row) * f.pitch[1];
                const std::uint8_t* sv = f.planes[2] + static_cast<std::size_t>(row) * f.pitch[2];
                for (int x = 0; x < cw; ++x) du[x] = lut.c[su[x]], dv[x] = lut.c[sv[x]];
            }
        }
        const unsigned char* planes[3] = {y.data(), u.data(), v.data()};
        const int strides[3] = {f.width, cw, cw};
        r = tjCompressFromYUVPlanes(tj.get(), planes, f.width, strides, f.height, TJSAMP_420, &out, &size, quality, 0);
    }
    std::unique_ptr<unsigned char, TjBuffer> owned(out);
    if (r != 0) throw Error(ErrorCode::kIo, std::string("libturbojpeg: ") + tjGetErrorStr2(tj.get()));
    return {reinterpret_cast<const char*>(out), size};
}

} // namespace sightline::pipeline
