// CPU twin of the preprocess kernel: the specification the CUDA version is tested against.
#include <cmath>
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

void preprocess_cpu(std::span<const ImageView> frames, const PreprocessParams& p, void* output, Letterbox* letterboxes,
                    LumaStats* stats) {
    detail::validate(frames, p, MemoryLocation::kHost);
    const int W = p.input_width, H = p.input_height;
    const std::size_t frame_bytes = preprocess_frame_bytes(p);
    const detail::Normalised pad = detail::normalise(p, p.pad_value, p.pad_value, p.pad_value);
    std::vector<detail::Taps> xt;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const ImageView& f = frames[i];
        const Letterbox lb = compute_letterbox(f.width, f.height, W, H);
        if (letterboxes) letterboxes[i] = lb;
        void* out = static_cast<std::uint8_t*>(output) + i * frame_bytes;
        const float inv_x = static_cast<float>(f.width) / lb.resized_width;
        const float inv_y = static_cast<float>(f.height) / lb.resized_height;
        xt.resize(lb.resized_width);
        for (int x = 0; x < lb.resized_width; ++x) xt[x] = detail::taps(x, inv_x, f.width);
        double sum = 0, sumsq = 0;
        std::uint32_t hist[kLumaBins] = {};
        for (int y = 0; y < H; ++y) {
            const int ry = y - lb.pad_y;
            if (ry < 0 || ry >= lb.resized_height) {
                for (int x = 0; x < W; ++x) detail::store_pixel(p, pad, out, x, y);
                continue;
            }
            const detail::Taps ty = detail::taps(ry, inv_y, f.height);
            for (int x = 0; x < W; ++x) {
                const int rx = x - lb.pad_x;
                if (rx < 0 || rx >= lb.resized_width) {
                    detail::store_pixel(p, pad, out, x, y);
                    continue;
                }
                float r, g, b, l;
                detail::sample_rgb(f, xt[rx], ty, r, g, b, l);
                detail::store_pixel(p, detail::normalise(p, r, g, b), out, x, y);
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
