// CUDA kernels against their CPU twins on fresh seeded random inputs (label gpu: skipped without a device).
#include <gtest/gtest.h>

#include "support/gpu.hpp"

#include <array>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "kernels/test_coco.hpp"
#include "kernels/test_frames.hpp"
#include "kernels/test_heads.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/background.hpp"
#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/kernels/match.hpp"
#include "sightline/kernels/nms.hpp"
#include "sightline/kernels/preprocess.hpp"

#ifdef SIGHTLINE_HAS_CUDA
#include <cuda_runtime.h>
#endif

using namespace sightline::kernels;

namespace {

#define SKIP_WITHOUT_GPU() SL_GPU_SKIP_UNLESS(cuda_available(), describe_device())

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

/// A device buffer of T, poisoned with 0xFF bytes on allocation so an element the kernel never wrote shows up.
template <class T> struct DeviceBuffer {
    T* p = nullptr;
    std::size_t n = 0;
    explicit DeviceBuffer(std::size_t count) : n(count) {
        EXPECT_EQ(cudaMalloc(&p, std::max<std::size_t>(1, n) * sizeof(T)), cudaSuccess);
        cudaMemset(p, 0xFF, std::max<std::size_t>(1, n) * sizeof(T));
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { cudaFree(p); }
    void upload(const std::vector<T>& v) { cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice); }
    std::vector<T> download() const {
        std::vector<T> v(n);
        EXPECT_EQ(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
        return v;
    }
};

float half_to_float(std::uint16_t h) {
    _Float16 f;
    std::memcpy(&f, &h, 2);
    return static_cast<float>(f);
}
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
        // 33 in all: the CUDA preprocess launches 32 frames at a time, so frames 4..31 of the first launch and the
        // second launch's one are checked too
        for (int k = 0; k < 29; ++k)
            frames.push_back(testing_frames::random_frame(format, 64 + 2 * k, 48 + 3 * (k % 7), rng, 64));
        std::vector<ImageView> host;
        std::vector<std::unique_ptr<DeviceCopy>> dev;
        std::vector<ImageView> dviews;
        for (auto& f : frames) {
            host.push_back(testing_frames::view_of(f));
            dev.push_back(std::make_unique<DeviceCopy>(f));
            dviews.push_back(dev.back()->view);
        }
        for (int variant = 0; variant < 3; ++variant) { // fp32 NCHW, fp16 NCHW, fp16 NHWC
            PreprocessParams p;
            p.input_width = 640, p.input_height = 384;
            p.order = format == 1 ? ChannelOrder::kBGR : ChannelOrder::kRGB;
            p.mean[1] = 0.45f, p.std[2] = 0.3f;
            p.dtype = variant == 0 ? TensorType::kFloat32 : TensorType::kFloat16;
            p.layout = variant == 2 ? TensorLayout::kNHWC : TensorLayout::kNCHW;
            const std::size_t bytes = frames.size() * preprocess_frame_bytes(p);
            std::vector<std::uint8_t> cpu(bytes);
            std::vector<Letterbox> lc(frames.size()), lg(frames.size());
            std::vector<LumaStats> sc(frames.size()), sg(frames.size());
            preprocess_cpu(host, p, cpu.data(), lc.data(), sc.data());
            DeviceBuffer<std::uint8_t> d_out(bytes); // poisoned: NaN in either type where unwritten
            DeviceBuffer<std::uint8_t> ws(preprocess_cuda_workspace_bytes(frames.size()));
            preprocess_cuda(dviews, p, d_out.p, lg.data(), sg.data(), ws.p, nullptr);
            const auto gpu = d_out.download();
            double worst = 0;
            int worst_steps = 0; // fp16: how many representable halves apart
            const std::size_t n = variant == 0 ? bytes / 4 : bytes / 2;
            for (std::size_t i = 0; i < n; ++i) {
                float a, b;
                if (variant == 0) {
                    std::memcpy(&a, &gpu[4 * i], 4), std::memcpy(&b, &cpu[4 * i], 4);
                } else {
                    std::uint16_t ha, hb;
                    std::memcpy(&ha, &gpu[2 * i], 2), std::memcpy(&hb, &cpu[2 * i], 2);
                    a = half_to_float(ha), b = half_to_float(hb);
                    // halves apart: adjacent ones of one sign differ by one in their bits; across zero, the
                    // magnitudes add (+0 and -0 are the same value)
                    const int steps = (ha ^ hb) & 0x8000 ? (ha & 0x7fff) + (hb & 0x7fff) : std::abs(int(ha) - int(hb));
                    worst_steps = std::max(worst_steps, steps);
                }
                ASSERT_FALSE(std::isnan(a))
                    << "unwritten element " << i << " format " << format << " variant " << variant;
                worst = std::max(worst, double(std::abs(a - b) / std::max(1.0f, std::abs(b))));
            }
            if (variant == 0) {
                EXPECT_LT(worst, 1e-5) << "format " << format << " seed " << seed;
            } else { // both sides round the same float: equal, or one half apart where a float differed in its last bit
                EXPECT_LE(worst_steps, 1) << "format " << format << " variant " << variant << " seed " << seed;
            }
            for (std::size_t i = 0; i < frames.size(); ++i) {
                EXPECT_EQ(lg[i].pad_x, lc[i].pad_x);
                EXPECT_EQ(lg[i].pad_y, lc[i].pad_y);
                EXPECT_NEAR(sg[i].mean, sc[i].mean, 1e-5 * std::max(1.f, sc[i].mean));
                EXPECT_NEAR(sg[i].stddev, sc[i].stddev, 1e-4 * std::max(1.f, sc[i].stddev));
                for (int b = 0; b < kLumaBins; ++b) EXPECT_EQ(sg[i].histogram[b], sc[i].histogram[b]) << "bin " << b;
                // the same Laplacian values (same float operations), summed in another order
                EXPECT_NEAR(sg[i].sharpness, sc[i].sharpness, 1e-6 * std::max(1.f, sc[i].sharpness)) << "frame " << i;
                EXPECT_GT(sc[i].sharpness, 0.f);
            }
        }
    }
#endif
}

// The background twins on a sequence of random frames (three formats, several sizes; a patch appears at frame 25,
// after the warmup): the cells' luma, the foreground and the state after every frame equal bit for bit (the same
// float operations in the same order on both sides).
TEST(GpuBackground, MatchesCpuTwin) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    std::mt19937 rng(4242);
    const int sizes[][6] = {{1920, 1080, 640, 640, 16, 4},
                            {641, 479, 320, 256, 16, 2},
                            {37, 23, 64, 64, 16, 4},
                            {641, 479, 320, 256, 7, 3}}; // frame, input, cell side, stride
    for (int format = 0; format < 3; ++format)
        for (const auto& sz : sizes) {
            BackgroundParams p;
            p.input_width = sz[2], p.input_height = sz[3], p.warmup = 20, p.cell = sz[4], p.stride = sz[5];
            const BackgroundGrid g = background_grid(sz[0], sz[1], p);
            const std::size_t cells = g.cells(), floats = background_state_floats(g);
            std::vector<float> state(floats), luma(cells);
            std::vector<std::uint8_t> fg(cells);
            DeviceBuffer<float> d_state(floats), d_luma(cells);
            DeviceBuffer<std::uint8_t> d_fg(cells);
            const reference::Frame base = testing_frames::random_frame(format, sz[0], sz[1], rng, 9);
            std::uniform_int_distribution<int> noise(-4, 4);
            int foreground = 0;
            for (int k = 0; k < 30; ++k) {
                reference::Frame f = base;
                for (auto& v : f.p0) v = static_cast<std::uint8_t>(std::clamp(int(v) + noise(rng), 0, 255));
                if (k >= 25) // a bright patch over the top left quarter of the first plane
                    for (int y = 0; y < sz[1] / 2; ++y)
                        std::fill_n(f.p0.begin() + static_cast<std::ptrdiff_t>(y) * f.s0,
                                    (format == 0 ? 3 : 1) * (sz[0] / 2), std::uint8_t(250));
                background_cpu(testing_frames::view_of(f), p, k, state.data(), fg.data(), luma.data());
                DeviceCopy dev(f);
                background_cuda_async(dev.view, p, k, d_state.p, d_fg.p, d_luma.p, nullptr);
                ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
                const std::string where = "format " + std::to_string(format) + " size " + std::to_string(sz[0]) +
                                          " frame " + std::to_string(k);
                ASSERT_EQ(d_luma.download(), luma) << where;
                ASSERT_EQ(d_fg.download(), fg) << where;
                ASSERT_EQ(d_state.download(), state) << where;
                foreground += static_cast<int>(std::count(fg.begin(), fg.end(), 1));
            }
            EXPECT_GT(foreground, 0) << "format " << format << ": the patch is foreground";
        }
#endif
}

#ifdef SIGHTLINE_HAS_CUDA
void expect_same_candidate(const Candidate& g, const Candidate& c, const std::string& where) {
    ASSERT_EQ(g.index, c.index) << where;
    ASSERT_EQ(g.cls, c.cls) << where;
    EXPECT_EQ(g.score, c.score) << where;
    EXPECT_EQ(g.x1, c.x1) << where;
    EXPECT_EQ(g.y1, c.y1) << where;
    EXPECT_EQ(g.x2, c.x2) << where;
    EXPECT_EQ(g.y2, c.y2) << where;
    EXPECT_EQ(g.margin, c.margin) << where;
    EXPECT_NEAR(g.entropy, c.entropy, 1e-5f * std::max(1.f, c.entropy)) << where; // device logf vs glibc logf
}
#endif

// The DFL layout (an Ultralytics head before its tail): the device's expf differs from glibc's by an ulp or two, so
// boxes and scores agree to 1e-5 relative; kept indices and counts must be identical (continuous random logits).
TEST(GpuDecodeDfl, MatchesCpuTwin) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    std::mt19937 rng(7);
    std::normal_distribution<float> g(0.f, 2.f);
    for (const auto [W, H, C, B] : {std::array<int, 4>{640, 640, 80, 2}, std::array<int, 4>{320, 256, 5, 3}}) {
        DecodeParams p;
        p.layout = HeadLayout::kYoloV8Dfl, p.num_classes = C, p.reg_max = 16, p.input_width = W, p.input_height = H;
        p.num_candidates = (W / 8) * (H / 8) + (W / 16) * (H / 16) + (W / 32) * (H / 32);
        p.top_k = 300, p.confidence_threshold = 0.9f;
        std::vector<float> head(static_cast<std::size_t>(B) * decode_fields(p) * p.num_candidates);
        for (auto& v : head) v = g(rng);
        std::vector<Candidate> cpu(static_cast<std::size_t>(B) * p.top_k);
        std::vector<int> cpu_counts(B);
        decode_cpu(head.data(), B, p, cpu.data(), cpu_counts.data());
        DeviceBuffer<float> d_head(head.size());
        d_head.upload(head);
        DeviceBuffer<Candidate> d_cand(cpu.size());
        DeviceBuffer<int> d_counts(B);
        const std::size_t ws_bytes = decode_cuda_workspace_bytes(B, p);
        DeviceBuffer<std::uint8_t> ws(ws_bytes);
        decode_cuda(d_head.p, B, p, d_cand.p, d_counts.p, ws.p, ws_bytes, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const auto gpu = d_cand.download();
        const auto gpu_counts = d_counts.download();
        for (int b = 0; b < B; ++b) {
            ASSERT_EQ(gpu_counts[b], cpu_counts[b]) << W << "x" << H << " image " << b;
            for (int i = 0; i < cpu_counts[b]; ++i) {
                const Candidate &x = gpu[b * p.top_k + i], &y = cpu[b * p.top_k + i];
                ASSERT_EQ(x.index, y.index) << "rank " << i;
                ASSERT_EQ(x.cls, y.cls);
                for (auto [u, v] :
                     {std::pair{x.score, y.score}, {x.x1, y.x1}, {x.y1, y.y1}, {x.x2, y.x2}, {x.y2, y.y2}})
                    EXPECT_NEAR(u, v, 1e-5f * std::max(1.f, std::abs(v))) << "rank " << i;
            }
        }
    }
#endif
}

struct DecodeCase {
    int layout, B, C, N, top_k;
    float thr;
    bool ties; ///< scores quantised to 1/16 (the shared random_head) vs continuous
};

TEST(GpuDecodeNms, MatchesCpuTwins) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    const DecodeCase cases[] = {
        {8, 3, 80, 8400, 300, 0.25f, false}, {8, 2, 5, 1680, 100, 0.5f, true},    {5, 4, 7, 1001, 50, 0.3f, true},
        {8, 1, 1, 333, 2048, 0.0f, true},    {5, 2, 80, 8400, 1000, 0.1f, false}, {8, 2, 3, 17, 5, 0.9f, true},
        {8, 2, 4, 0, 10, 0.25f, true},
    };
    std::mt19937 rng(99);
    for (const auto& c : cases) {
        const std::string where = "layout v" + std::to_string(c.layout) + " B=" + std::to_string(c.B) +
                                  " C=" + std::to_string(c.C) + " N=" + std::to_string(c.N);
        auto head = testing_heads::random_head(c.layout, c.B, c.C, c.N, rng);
        if (!c.ties)
            for (auto& v : head) v += std::uniform_real_distribution<float>(0.f, 1e-3f)(rng);
        DecodeParams p;
        p.layout = c.layout == 8 ? HeadLayout::kYoloV8 : HeadLayout::kYoloV5;
        p.num_classes = c.C, p.num_candidates = c.N, p.confidence_threshold = c.thr, p.top_k = c.top_k;
        std::vector<Candidate> cpu(static_cast<std::size_t>(c.B) * c.top_k);
        std::vector<int> cpu_counts(c.B);
        decode_cpu(head.data(), c.B, p, cpu.data(), cpu_counts.data());

        DeviceBuffer<float> d_head(head.size());
        d_head.upload(head);
        DeviceBuffer<Candidate> d_cand(cpu.size());
        DeviceBuffer<int> d_counts(c.B);
        const std::size_t ws_bytes = decode_cuda_workspace_bytes(c.B, p);
        DeviceBuffer<std::uint8_t> ws(ws_bytes);
        decode_cuda(d_head.p, c.B, p, d_cand.p, d_counts.p, ws.p, ws_bytes, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const auto gpu = d_cand.download();
        const auto gpu_counts = d_counts.download();
        for (int b = 0; b < c.B; ++b) {
            ASSERT_EQ(gpu_counts[b], cpu_counts[b]) << where << " image " << b;
            for (int i = 0; i < cpu_counts[b]; ++i)
                expect_same_candidate(gpu[b * c.top_k + i], cpu[b * c.top_k + i],
                                      where + " image " + std::to_string(b) + " rank " + std::to_string(i));
        }
        if (c.top_k > kNmsCudaMaxStride) continue;
        for (const bool aware : {true, false})
            for (const int max_det : {1, 7, 300}) {
                NmsParams np;
                np.iou_threshold = 0.45f, np.max_det = max_det, np.class_aware = aware;
                std::vector<int> keep(static_cast<std::size_t>(c.B) * max_det), keep_counts(c.B);
                nms_cpu(cpu.data(), cpu_counts.data(), c.B, c.top_k, np, keep.data(), keep_counts.data());
                DeviceBuffer<int> d_keep(keep.size()), d_keep_counts(c.B);
                const std::size_t nws = nms_cuda_workspace_bytes(c.B, c.top_k);
                DeviceBuffer<std::uint8_t> nw(nws);
                nms_cuda(d_cand.p, d_counts.p, c.B, c.top_k, np, d_keep.p, d_keep_counts.p, nw.p, nws, nullptr);
                ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
                const auto gk = d_keep.download();
                const auto gkc = d_keep_counts.download();
                for (int b = 0; b < c.B; ++b) {
                    ASSERT_EQ(gkc[b], keep_counts[b]) << where << " nms image " << b << " max_det " << max_det;
                    for (int i = 0; i < keep_counts[b]; ++i)
                        ASSERT_EQ(gk[b * max_det + i], keep[b * max_det + i]) << where << " kept #" << i;
                }
            }
    }
#endif
}

TEST(GpuDecodeNms, RejectsBadArguments) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    DecodeParams p;
    p.num_classes = 3, p.num_candidates = 10;
    DeviceBuffer<float> head(7 * 10);
    DeviceBuffer<Candidate> out(300);
    DeviceBuffer<int> counts(1);
    const std::size_t need = decode_cuda_workspace_bytes(1, p);
    DeviceBuffer<std::uint8_t> ws(need);
    EXPECT_THROW(decode_cuda(head.p, 1, p, out.p, counts.p, ws.p, need - 1, nullptr), sightline::Error);
    NmsParams np;
    EXPECT_THROW(nms_cuda(out.p, counts.p, 1, kNmsCudaMaxStride + 1, np, counts.p, counts.p, ws.p, need, nullptr),
                 sightline::Error);
    np.iou_threshold = 1.5f;
    EXPECT_THROW(nms_cuda(out.p, counts.p, 1, 300, np, counts.p, counts.p, ws.p, need, nullptr), sightline::Error);
#endif
}

TEST(GpuCocoMatch, MatchesCpuTwin) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    std::mt19937 rng(31);
    const auto r = testing_coco::random_groups(rng, 700);
    MatchParams p;
    coco_iou_thresholds(p.thresholds);
    p.area_lo = 32 * 32, p.area_hi = 96 * 96; // the medium range: ignore rules in play
    const int T = p.num_thresholds, ND = static_cast<int>(r.dt_box.size());
    std::vector<std::uint8_t> state(static_cast<std::size_t>(ND) * T);
    std::vector<int> valid(r.groups), match(static_cast<std::size_t>(ND) * T);
    coco_match_cpu(r.view(), p, state.data(), valid.data(), match.data());

    DeviceBuffer<int> d_gt_off(r.gt_off.size()), d_dt_off(r.dt_off.size());
    DeviceBuffer<BoxXywh> d_gt_box(r.gt_box.size()), d_dt_box(r.dt_box.size());
    DeviceBuffer<double> d_gt_area(r.gt_area.size()), d_dt_area(r.dt_area.size());
    DeviceBuffer<std::uint8_t> d_crowd(r.crowd.size()), d_id_zero(r.id_zero.size());
    d_gt_off.upload(r.gt_off), d_dt_off.upload(r.dt_off), d_gt_box.upload(r.gt_box), d_dt_box.upload(r.dt_box);
    d_gt_area.upload(r.gt_area), d_dt_area.upload(r.dt_area), d_crowd.upload(r.crowd), d_id_zero.upload(r.id_zero);
    MatchGroups dev = r.view();
    dev.gt_offsets = d_gt_off.p, dev.dt_offsets = d_dt_off.p, dev.gt_box = d_gt_box.p, dev.gt_area = d_gt_area.p;
    dev.gt_crowd = d_crowd.p, dev.gt_id_zero = d_id_zero.p, dev.dt_box = d_dt_box.p, dev.dt_area = d_dt_area.p;
    DeviceBuffer<std::uint8_t> d_state(state.size());
    DeviceBuffer<int> d_valid(valid.size()), d_match(match.size());
    const std::size_t ws_bytes = coco_match_cuda_workspace_bytes(static_cast<int>(r.gt_box.size()));
    DeviceBuffer<std::uint8_t> ws(ws_bytes);
    coco_match_cuda(dev, p, d_state.p, d_valid.p, d_match.p, ws.p, ws_bytes, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(d_state.download(), state);
    EXPECT_EQ(d_valid.download(), valid);
    EXPECT_EQ(d_match.download(), match);
#endif
}

TEST(GpuCocoAccumulate, MatchesCpuTwin) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    std::mt19937 rng(32);
    for (const bool presorted : {false, true}) {
        const auto r = testing_coco::random_segments(rng, 300, presorted);
        const int T = kCocoIouThresholds, R = kCocoRecallThresholds;
        std::vector<double> prec(static_cast<std::size_t>(r.segments) * T * R), sat(prec.size()),
            rec(static_cast<std::size_t>(r.segments) * T);
        std::vector<int> scratch(r.score.size());
        coco_accumulate_cpu(r.view(), prec.data(), rec.data(), sat.data(), scratch.data());

        DeviceBuffer<int> d_off(r.off.size()), d_valid(r.valid.size()), d_scratch(r.score.size());
        DeviceBuffer<double> d_score(r.score.size()), d_thr(R);
        DeviceBuffer<std::uint8_t> d_state(r.state.size());
        d_off.upload(r.off), d_valid.upload(r.valid), d_score.upload(r.score), d_state.upload(r.state);
        d_thr.upload(std::vector<double>(r.thresholds, r.thresholds + R));
        AccumulateSegments d = r.view();
        d.offsets = d_off.p, d.score = d_score.p, d.state = d_state.p, d.valid_gt = d_valid.p;
        d.recall_thresholds = d_thr.p;
        DeviceBuffer<double> d_prec(prec.size()), d_sat(sat.size()), d_rec(rec.size()); // poisoned: NaN
        const std::size_t ws_bytes = coco_accumulate_cuda_workspace_bytes(r.segments, static_cast<int>(r.score.size()));
        DeviceBuffer<std::uint8_t> ws(ws_bytes);
        coco_accumulate_cuda(d, d_prec.p, d_rec.p, d_sat.p, d_scratch.p, ws.p, ws_bytes, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        EXPECT_EQ(d_prec.download(), prec) << "presorted " << presorted;
        EXPECT_EQ(d_sat.download(), sat) << "presorted " << presorted;
        EXPECT_EQ(d_rec.download(), rec) << "presorted " << presorted;
    }
#endif
}

// What the line's device path does with a batch: decode + NMS captured once as a CUDA graph on a stream of its own
// and replayed on new head values (same buffers), against the CPU twins each time; a new key captures again. And the
// asynchronous preprocess on that stream: its luma sums copied back (pinned) give the synchronous call's statistics.
TEST(GpuStreamGraph, ReplaysDecodeNmsAndPreprocessesAsynchronously) {
    SKIP_WITHOUT_GPU();
#ifdef SIGHTLINE_HAS_CUDA
    Stream stream;
    GraphCache graph;
    std::mt19937 rng(7);
    const int C = 80, N = 8400;
    DecodeParams p;
    p.num_classes = C, p.num_candidates = N, p.confidence_threshold = 0.25f, p.top_k = 300;
    NmsParams np;
    np.iou_threshold = 0.5f, np.max_det = 100;
    for (const int B : {4, 2}) {
        DeviceBuffer<float> d_head(static_cast<std::size_t>(B) * (4 + C) * N);
        DeviceBuffer<Candidate> d_cand(static_cast<std::size_t>(B) * p.top_k);
        DeviceBuffer<int> d_counts(B), d_keep(static_cast<std::size_t>(B) * np.max_det), d_keep_counts(B);
        const std::size_t ws = std::max(decode_cuda_workspace_bytes(B, p), nms_cuda_workspace_bytes(B, p.top_k));
        DeviceBuffer<std::uint8_t> d_ws(ws);
        for (int round = 0; round < 3; ++round) {
            auto head = testing_heads::random_head(8, B, C, N, rng);
            cudaMemcpyAsync(d_head.p, head.data(), head.size() * sizeof(float), cudaMemcpyHostToDevice,
                            static_cast<cudaStream_t>(stream.get()));
            graph.run({reinterpret_cast<std::uintptr_t>(d_head.p), static_cast<std::uint64_t>(B)}, stream.get(),
                      [&](StreamRef s) {
                          decode_cuda(d_head.p, B, p, d_cand.p, d_counts.p, d_ws.p, ws, s);
                          nms_cuda(d_cand.p, d_counts.p, B, p.top_k, np, d_keep.p, d_keep_counts.p, d_ws.p, ws, s);
                      });
            stream.synchronize();
            std::vector<Candidate> cand(static_cast<std::size_t>(B) * p.top_k);
            std::vector<int> counts(B), keep(static_cast<std::size_t>(B) * np.max_det), keep_counts(B);
            decode_cpu(head.data(), B, p, cand.data(), counts.data());
            nms_cpu(cand.data(), counts.data(), B, p.top_k, np, keep.data(), keep_counts.data());
            EXPECT_EQ(d_counts.download(), counts) << "B " << B << " round " << round;
            EXPECT_EQ(d_keep_counts.download(), keep_counts) << "B " << B << " round " << round;
            const auto gk = d_keep.download();
            for (int b = 0; b < B; ++b)
                for (int i = 0; i < keep_counts[b]; ++i)
                    ASSERT_EQ(gk[b * np.max_det + i], keep[b * np.max_det + i]) << "B " << B << " round " << round;
        }
    }
    EXPECT_EQ(graph.captures(), 2) << "one capture per key (batch 4, then batch 2), replays in between";

    std::vector<reference::Frame> frames;
    for (auto [w, h] : {std::pair{1920, 1080}, std::pair{641, 479}})
        frames.push_back(testing_frames::random_frame(0, w, h, rng, 64));
    std::vector<std::unique_ptr<DeviceCopy>> dev;
    std::vector<ImageView> views;
    for (auto& f : frames) dev.push_back(std::make_unique<DeviceCopy>(f)), views.push_back(dev.back()->view);
    PreprocessParams pp;
    pp.input_width = 640, pp.input_height = 640, pp.dtype = TensorType::kFloat16;
    DeviceBuffer<std::uint8_t> out_sync(2 * preprocess_frame_bytes(pp)), out_async(2 * preprocess_frame_bytes(pp));
    DeviceBuffer<std::uint8_t> ws_sync(preprocess_cuda_workspace_bytes(2)),
        ws_async(preprocess_cuda_workspace_bytes(2));
    std::vector<Letterbox> lb_sync(2), lb_async(2);
    std::vector<LumaStats> st_sync(2);
    preprocess_cuda(views, pp, out_sync.p, lb_sync.data(), st_sync.data(), ws_sync.p, nullptr);
    preprocess_cuda_async(views, pp, out_async.p, lb_async.data(), ws_async.p, stream.get());
    PinnedBuffer sums;
    sums.reserve(2 * sizeof(LumaSums));
    copy_device_to_host_async(sums.data(), ws_async.p, 2 * sizeof(LumaSums), stream.get());
    stream.synchronize();
    EXPECT_EQ(out_async.download(), out_sync.download());
    for (int i = 0; i < 2; ++i) {
        const LumaStats st = luma_stats(static_cast<const LumaSums*>(sums.data())[i], lb_async[i]);
        EXPECT_EQ(lb_async[i].pad_y, lb_sync[i].pad_y);
        EXPECT_NEAR(st.mean, st_sync[i].mean, 1e-4);
        EXPECT_NEAR(st.stddev, st_sync[i].stddev, 1e-4);
        EXPECT_NEAR(st.sharpness, st_sync[i].sharpness, 1e-6 * std::max(1.f, st_sync[i].sharpness));
        for (int k = 0; k < kLumaBins; ++k) EXPECT_EQ(st.histogram[k], st_sync[i].histogram[k]);
    }
#endif
}

// Without a GPU (or without CUDA in the build) the device objects refuse with an Error naming what was asked for,
// and empty ones cost nothing: the line's CPU path never makes them.
TEST(GpuDevice, WithoutAGpuDeviceObjectsSayWhy) {
    if (cuda_available()) GTEST_SKIP() << "a GPU is here: the device objects work (GpuStreamGraph)";
    sightline::kernels::DeviceBuffer empty_device;
    PinnedBuffer empty_pinned;
    EXPECT_EQ(empty_device.data(), nullptr);
    EXPECT_EQ(empty_pinned.size(), 0u);
    const auto says = [](const std::function<void()>& f, const std::string& what) {
        try {
            f();
            ADD_FAILURE() << what << ": no error without a GPU";
        } catch (const sightline::Error& e) {
            EXPECT_FALSE(std::string(e.what()).empty()) << what;
        }
    };
    says([] { Stream s; }, "Stream");
    says([&] { empty_pinned.reserve(64); }, "PinnedBuffer");
    says([&] { empty_device.reserve(64); }, "DeviceBuffer");
    says([] { GraphCache().run({1}, nullptr, [](StreamRef) {}); }, "GraphCache");
    EXPECT_EQ(empty_pinned.data(), nullptr) << "a refused allocation leaves the buffer empty";
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
