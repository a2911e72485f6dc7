// CUDA kernels against their CPU twins on fresh seeded random inputs (label gpu: skipped without a device).
#include <gtest/gtest.h>

#include <random>

#include "kernels/test_frames.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/kernels/preprocess.hpp"

#ifdef SIGHTLINE_HAS_CUDA
#include <cuda_runtime.h>
#endif

using namespace sightline::kernels;

namespace {

#define SKIP_WITHOUT_GPU()                                                                                             \
    if (!cuda_available()) GTEST_SKIP() << describe_device()

#ifdef SIGHTLINE_HAS_CUDA
struct DeviceCopy { // a frame's planes copied to the device, with the same pitches
    void* d[3] = {nullptr, nullptr, nullptr};
    ImageView view;
    explicit DeviceCopy(const reference::Frame& f) {
        view = testing_frames::view_of(f);
        const std::vector<std::uint8_t>* planes[3] = {&f.p0, &f.p1, &f.p2};
        for (int k = 0; k < 3; ++k) {
            if (!view.planes[k]) continue;
            cudaMalloc(&d[k], planes[k]->size());
            cudaMemcpy(d[k], planes[k]->data(), planes[k]->size(), cudaMemcpyHostToDevice);
            view.planes[k] = static_cast<const std::uint8_t*>(d[k]);
        }
        view.where = MemoryLocation::kDevice;
    }
    ~DeviceCopy() {
        for (auto* p : d) cudaFree(p);
    }
};
#endif

TEST(GpuPreprocess, MatchesCpuTwin) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    const unsigned seed = 2024;
    std::mt19937 rng(seed);
    for (int format = 0; format < 3; ++format) {
        std::vector<reference::Frame> frames;
        const int sizes[][2] = {{1920, 1080}, {641, 479}, {37, 23}, {30, 90}};
        for (auto [w, h] : sizes) frames.push_back(testing_frames::random_frame(format, w, h, rng, 64));
        std::vector<ImageView> host;
        std::vector<std::unique_ptr<DeviceCopy>> dev;
        std::vector<ImageView> dviews;
        for (auto& f : frames) {
            host.push_back(testing_frames::view_of(f));
            dev.push_back(std::make_unique<DeviceCopy>(f));
            dviews.push_back(dev.back()->view);
        }
        PreprocessParams p;
        p.input_width = 640, p.input_height = 384, p.order = format == 1 ? ChannelOrder::kBGR : ChannelOrder::kRGB;
        const std::size_t n = frames.size() * 3ull * p.input_width * p.input_height;
        std::vector<float> cpu(n), gpu(n);
        std::vector<Letterbox> lc(frames.size()), lg(frames.size());
        std::vector<LumaStats> sc(frames.size()), sg(frames.size());
        preprocess_cpu(host, p, cpu.data(), lc.data(), sc.data());
        float* d_out = nullptr;
        void* ws = nullptr;
        cudaMalloc(&d_out, n * sizeof(float));
        cudaMemset(d_out, 0xFF, n * sizeof(float)); // poison: NaN everywhere, so an unwritten element fails
        cudaMalloc(&ws, preprocess_cuda_workspace_bytes(frames.size()));
        preprocess_cuda(dviews, p, d_out, lg.data(), sg.data(), ws, nullptr);
        cudaMemcpy(gpu.data(), d_out, n * sizeof(float), cudaMemcpyDeviceToHost);
        cudaFree(d_out);
        cudaFree(ws);
        double worst = 0;
        for (std::size_t i = 0; i < n; ++i) {
            ASSERT_FALSE(std::isnan(gpu[i])) << "unwritten element " << i << " format " << format;
            worst = std::max(worst, double(std::abs(gpu[i] - cpu[i]) / std::max(1.0f, std::abs(cpu[i]))));
        }
        EXPECT_LT(worst, 1e-5) << "format " << format << " seed " << seed;
        for (std::size_t i = 0; i < frames.size(); ++i) {
            EXPECT_EQ(lg[i].pad_x, lc[i].pad_x);
            EXPECT_EQ(lg[i].pad_y, lc[i].pad_y);
            EXPECT_NEAR(sg[i].mean, sc[i].mean, 1e-5 * std::max(1.f, sc[i].mean));
            EXPECT_NEAR(sg[i].stddev, sc[i].stddev, 1e-4 * std::max(1.f, sc[i].stddev));
            for (int b = 0; b < kLumaBins; ++b) EXPECT_EQ(sg[i].histogram[b], sc[i].histogram[b]) << "bin " << b;
        }
    }
#endif
}

TEST(GpuDevice, ReportsWhereKernelsRun) {
    const auto& d = device_info();
    if (d.device_count == 0) {
        EXPECT_FALSE(d.reason.empty());
    }
    EXPECT_FALSE(describe_device().empty());
    SKIP_WITHOUT_GPU();
    EXPECT_FALSE(d.name.empty());
}

} // namespace
