// GPU kernels against their anchors in the same run: preprocess vs a device-to-device copy of the same bytes,
// decode + top-k + NMS timed per image; both checked against the CPU twins. Writes the decode input and our kept
// boxes to --work DIR so bench/gpu/torch_compare.py can time torchvision on the same data and compare the boxes.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cuda/check.hpp"
#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/kernels/match.hpp"
#include "sightline/kernels/nms.hpp"
#include "sightline/kernels/preprocess.hpp"

using namespace sightline::kernels;

namespace {

struct Args {
    int frames = 32, reps = 50, width = 1920, height = 1080, input = 640;
    int candidates = 8400, classes = 80, top_k = 300, max_det = 300;
    float conf = 0.25f, iou = 0.45f;
    std::string work = "/tmp/sightline-bench-gpu";
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_gpu: %s needs a value\n", k.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (k == "--frames")
            a.frames = std::stoi(next());
        else if (k == "--reps")
            a.reps = std::stoi(next());
        else if (k == "--work")
            a.work = next();
        else if (k == "--candidates")
            a.candidates = std::stoi(next());
        else {
            std::fprintf(stderr,
                         "usage: bench_gpu [--frames N (32)] [--reps N (50)] [--candidates N (8400)] [--work DIR]\n");
            std::exit(k == "--help" ? 0 : 2);
        }
    }
    return a;
}

template <class T> T* device_alloc(std::size_t n) {
    T* p = nullptr;
    SL_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(1, n) * sizeof(T)));
    return p;
}

/// Median milliseconds of `reps` runs of `fn` on `stream`, timed with events around each run, after 3 warm-ups.
double median_ms(int reps, cudaStream_t stream, const std::function<void()>& fn) {
    cudaEvent_t a, b;
    SL_CUDA_CHECK(cudaEventCreate(&a));
    SL_CUDA_CHECK(cudaEventCreate(&b));
    for (int i = 0; i < 3; ++i) fn();
    SL_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        SL_CUDA_CHECK(cudaEventRecord(a, stream));
        fn();
        SL_CUDA_CHECK(cudaEventRecord(b, stream));
        SL_CUDA_CHECK(cudaEventSynchronize(b));
        float ms = 0;
        SL_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    return t[t.size() / 2];
}

float half_to_float(std::uint16_t h) {
    _Float16 f;
    std::memcpy(&f, &h, 2);
    return static_cast<float>(f);
}

struct Report {
    std::string json = "{";
    void add(const std::string& key, double v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s\"%s\": %.6g", json.size() > 1 ? ", " : "", key.c_str(), v);
        json += buf;
    }
};

// ---- anchor: device-to-device copy -------------------------------------------------------------------------------
double copy_gbps(const Args& a, cudaStream_t s) {
    const std::size_t bytes = std::size_t{1} << 30;
    auto* src = device_alloc<std::uint8_t>(bytes);
    auto* dst = device_alloc<std::uint8_t>(bytes);
    SL_CUDA_CHECK(cudaMemset(src, 0x5A, bytes));
    const double ms =
        median_ms(a.reps, s, [&] { SL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s)); });
    cudaFree(src);
    cudaFree(dst);
    return 2.0 * bytes / (ms * 1e6); // bytes read + written, GB/s
}

// ---- preprocess ----------------------------------------------------------------------------------------------------
bool bench_preprocess(const Args& a, cudaStream_t s, double copy_rate, Report& r) {
    // NV12 frames as NVDEC leaves them: pitched planes (pitch rounded up to 512 bytes), random content.
    const int W = a.width, H = a.height, pitch = (W + 511) / 512 * 512;
    const std::size_t frame_bytes = static_cast<std::size_t>(pitch) * H * 3 / 2;
    std::vector<std::uint8_t> host(frame_bytes * a.frames);
    std::mt19937 rng(7);
    for (auto& v : host) v = static_cast<std::uint8_t>(rng() >> 24);
    auto* d_frames = device_alloc<std::uint8_t>(host.size());
    SL_CUDA_CHECK(cudaMemcpy(d_frames, host.data(), host.size(), cudaMemcpyHostToDevice));
    std::vector<ImageView> dev(a.frames), cpu(a.frames);
    for (int i = 0; i < a.frames; ++i) {
        ImageView v;
        v.format = PixelFormat::kNV12, v.width = W, v.height = H;
        v.pitch[0] = v.pitch[1] = pitch;
        const std::size_t off = frame_bytes * i;
        v.planes[0] = host.data() + off;
        v.planes[1] = host.data() + off + static_cast<std::size_t>(pitch) * H;
        cpu[i] = v;
        v.planes[0] = d_frames + off;
        v.planes[1] = d_frames + off + static_cast<std::size_t>(pitch) * H;
        v.where = MemoryLocation::kDevice;
        dev[i] = v;
    }
    void* ws = device_alloc<std::uint8_t>(preprocess_cuda_workspace_bytes(a.frames));
    std::vector<Letterbox> lbs(a.frames);
    std::vector<LumaStats> stats(a.frames);
    const double in_bytes = static_cast<double>(W) * H * 1.5 * a.frames; // frame data read, pitch padding excluded
    bool ok = true;
    std::printf("\npreprocess: %d x %dx%d NV12 (pitch %d) -> %dx%d letterboxed, luma stats fused\n", a.frames, W, H,
                pitch, a.input, a.input);
    std::printf("  %-22s %10s %10s %12s %10s %12s\n", "output", "ms/batch", "us/frame", "GB/s (r+w)", "of copy",
                "max|d| cpu");
    const struct {
        const char* name;
        TensorType t;
        TensorLayout l;
    } variants[] = {{"fp16 NCHW", TensorType::kFloat16, TensorLayout::kNCHW},
                    {"fp16 NHWC", TensorType::kFloat16, TensorLayout::kNHWC},
                    {"fp32 NCHW", TensorType::kFloat32, TensorLayout::kNCHW}};
    for (const auto& var : variants) {
        PreprocessParams p;
        p.input_width = p.input_height = a.input;
        p.dtype = var.t, p.layout = var.l;
        const std::size_t out_bytes = preprocess_frame_bytes(p) * a.frames;
        auto* d_out = device_alloc<std::uint8_t>(out_bytes);
        const double ms = median_ms(a.reps, s, [&] { preprocess_cuda(dev, p, d_out, lbs.data(), nullptr, ws, s); });
        const double with_stats_ms =
            median_ms(a.reps / 5 + 1, s, [&] { preprocess_cuda(dev, p, d_out, lbs.data(), stats.data(), ws, s); });
        const double gbps = (in_bytes + out_bytes) / (ms * 1e6);
        // CPU twin on the first 4 frames: max abs difference in normalised units (goal <= 1/255)
        const int check = std::min(a.frames, 4);
        std::vector<std::uint8_t> gpu(out_bytes), ref(preprocess_frame_bytes(p) * check);
        SL_CUDA_CHECK(cudaMemcpy(gpu.data(), d_out, out_bytes, cudaMemcpyDeviceToHost));
        preprocess_cpu(std::span(cpu.data(), check), p, ref.data(), nullptr, nullptr);
        double worst = 0;
        const std::size_t elems = ref.size() / (var.t == TensorType::kFloat16 ? 2 : 4);
        for (std::size_t i = 0; i < elems; ++i) {
            float x, y;
            if (var.t == TensorType::kFloat16) {
                std::uint16_t hx, hy;
                std::memcpy(&hx, &gpu[2 * i], 2), std::memcpy(&hy, &ref[2 * i], 2);
                x = half_to_float(hx), y = half_to_float(hy);
            } else {
                std::memcpy(&x, &gpu[4 * i], 4), std::memcpy(&y, &ref[4 * i], 4);
            }
            worst = std::max(worst, static_cast<double>(std::abs(x - y)));
            if (std::isnan(x)) worst = INFINITY;
        }
        ok = ok && worst <= 1.0 / 255;
        std::printf("  %-22s %10.3f %10.2f %12.0f %9.1f%% %12.2e   (with stats read back: %.3f ms)\n", var.name, ms,
                    1e3 * ms / a.frames, gbps, 100 * gbps / copy_rate, worst, with_stats_ms);
        std::string key = var.name;
        std::replace(key.begin(), key.end(), ' ', '_');
        r.add("preprocess_" + key + "_us_per_frame", 1e3 * ms / a.frames);
        r.add("preprocess_" + key + "_fraction_of_copy", gbps / copy_rate);
        r.add("preprocess_" + key + "_max_abs_diff", worst);
        cudaFree(d_out);
    }
    cudaFree(ws);
    cudaFree(d_frames);
    return ok;
}

// ---- decode + top-k + NMS ------------------------------------------------------------------------------------------
/// A YOLOv8-shaped head [B, 4+C, N] that looks like a busy scene: ~5% of candidates sit on one of 40 objects per
/// image (jittered box, the object's class scored high), the rest are background with low scores.
std::vector<float> realistic_head(const Args& a, std::mt19937& rng) {
    const int B = a.frames, C = a.classes, N = a.candidates, F = 4 + C;
    std::vector<float> t(static_cast<std::size_t>(B) * F * N);
    std::uniform_real_distribution<float> u(0, 1);
    std::normal_distribution<float> g(0, 1);
    auto sig = [](float x) { return 1.f / (1.f + std::exp(-x)); };
    for (int b = 0; b < B; ++b) {
        struct Obj {
            float cx, cy, w, h;
            int cls;
        };
        std::vector<Obj> objs(40);
        for (auto& o : objs)
            o = {u(rng) * a.input, u(rng) * a.input, 10 + u(rng) * 150, 10 + u(rng) * 150,
                 static_cast<int>(u(rng) * C) % C};
        for (int n = 0; n < N; ++n) {
            auto at = [&](int k) -> float& { return t[(static_cast<std::size_t>(b) * F + k) * N + n]; };
            const bool on = u(rng) < 0.05f;
            const Obj& o = objs[static_cast<std::size_t>(u(rng) * objs.size()) % objs.size()];
            if (on) {
                at(0) = o.cx + g(rng) * 0.08f * o.w, at(1) = o.cy + g(rng) * 0.08f * o.h;
                at(2) = o.w * (1 + 0.1f * g(rng)), at(3) = o.h * (1 + 0.1f * g(rng));
            } else {
                at(0) = u(rng) * a.input, at(1) = u(rng) * a.input, at(2) = 5 + u(rng) * 100, at(3) = 5 + u(rng) * 100;
            }
            for (int k = 0; k < C; ++k) at(4 + k) = sig(-7.f + 1.5f * g(rng));
            if (on) at(4 + o.cls) = sig(1.f + 1.5f * g(rng));
        }
    }
    return t;
}

bool bench_decode_nms(const Args& a, cudaStream_t s, Report& r) {
    std::mt19937 rng(11);
    const auto head = realistic_head(a, rng);
    DecodeParams dp;
    dp.layout = HeadLayout::kYoloV8, dp.num_classes = a.classes, dp.num_candidates = a.candidates;
    dp.confidence_threshold = a.conf, dp.top_k = a.top_k;
    NmsParams np;
    np.iou_threshold = a.iou, np.max_det = a.max_det;
    const int B = a.frames;
    auto* d_head = device_alloc<float>(head.size());
    SL_CUDA_CHECK(cudaMemcpy(d_head, head.data(), head.size() * sizeof(float), cudaMemcpyHostToDevice));
    auto* d_cand = device_alloc<Candidate>(static_cast<std::size_t>(B) * a.top_k);
    auto* d_counts = device_alloc<int>(B);
    auto* d_keep = device_alloc<int>(static_cast<std::size_t>(B) * a.max_det);
    auto* d_keep_counts = device_alloc<int>(B);
    const std::size_t dws = decode_cuda_workspace_bytes(B, dp), nws = nms_cuda_workspace_bytes(B, a.top_k);
    void* d_dws = device_alloc<std::uint8_t>(dws);
    void* d_nws = device_alloc<std::uint8_t>(nws);
    auto run_decode = [&] { decode_cuda(d_head, B, dp, d_cand, d_counts, d_dws, dws, s); };
    auto run_all = [&] {
        run_decode();
        nms_cuda(d_cand, d_counts, B, a.top_k, np, d_keep, d_keep_counts, d_nws, nws, s);
    };
    const double decode_ms = median_ms(a.reps, s, run_decode);
    const double all_ms = median_ms(a.reps, s, run_all);
    // graph replay, as the line's detector does it: the same launches captured once (launch overhead out of the
    // figure), then replayed under the same key
    GraphCache graph;
    auto replay = [&] { graph.run({static_cast<std::uint64_t>(B)}, s, [&](StreamRef) { run_all(); }); };
    replay(); // the capture, untimed
    const double graph_ms = median_ms(a.reps, s, replay);

    // results vs the CPU twins
    std::vector<Candidate> cand(static_cast<std::size_t>(B) * a.top_k), cpu_cand(cand.size());
    std::vector<int> counts(B), keep(static_cast<std::size_t>(B) * a.max_det), keep_counts(B), cpu_counts(B),
        cpu_keep(keep.size()), cpu_keep_counts(B);
    run_all();
    SL_CUDA_CHECK(cudaMemcpy(cand.data(), d_cand, cand.size() * sizeof(Candidate), cudaMemcpyDeviceToHost));
    SL_CUDA_CHECK(cudaMemcpy(counts.data(), d_counts, B * sizeof(int), cudaMemcpyDeviceToHost));
    SL_CUDA_CHECK(cudaMemcpy(keep.data(), d_keep, keep.size() * sizeof(int), cudaMemcpyDeviceToHost));
    SL_CUDA_CHECK(cudaMemcpy(keep_counts.data(), d_keep_counts, B * sizeof(int), cudaMemcpyDeviceToHost));
    decode_cpu(head.data(), B, dp, cpu_cand.data(), cpu_counts.data());
    nms_cpu(cpu_cand.data(), cpu_counts.data(), B, a.top_k, np, cpu_keep.data(), cpu_keep_counts.data());
    int mismatched = 0;
    long kept_total = 0, passed_total = 0;
    for (int b = 0; b < B; ++b) {
        passed_total += counts[b];
        kept_total += keep_counts[b];
        bool same = counts[b] == cpu_counts[b] && keep_counts[b] == cpu_keep_counts[b];
        for (int i = 0; same && i < keep_counts[b]; ++i) {
            const Candidate& g = cand[b * a.top_k + keep[b * a.max_det + i]];
            const Candidate& c = cpu_cand[b * a.top_k + cpu_keep[b * a.max_det + i]];
            same = g.index == c.index && g.cls == c.cls && g.score == c.score && g.x1 == c.x1 && g.y2 == c.y2;
        }
        mismatched += !same;
    }
    // for torch_compare.py: the head, then per image the kept candidates (index n, class, score, box)
    {
        std::ofstream h(a.work + "/head.f32", std::ios::binary);
        h.write(reinterpret_cast<const char*>(head.data()), static_cast<std::streamsize>(head.size() * 4));
        std::ofstream k(a.work + "/kept.txt");
        k << B << ' ' << a.classes << ' ' << a.candidates << ' ' << a.conf << ' ' << a.iou << ' ' << a.top_k << ' '
          << a.max_det << '\n';
        for (int b = 0; b < B; ++b) {
            k << keep_counts[b];
            for (int i = 0; i < keep_counts[b]; ++i) k << ' ' << cand[b * a.top_k + keep[b * a.max_det + i]].index;
            k << '\n';
        }
        if (!h || !k) {
            std::fprintf(stderr, "bench_gpu: cannot write to %s\n", a.work.c_str());
            return false;
        }
    }
    std::printf("\ndecode + top-k + NMS: %d x [4+%d, %d] head, conf > %.2f, top %d, IoU %.2f, max_det %d\n", B,
                a.classes, a.candidates, a.conf, a.top_k, a.iou, a.max_det);
    std::printf("  %.1f candidates per image above the threshold, %.1f kept after NMS\n",
                static_cast<double>(passed_total) / B, static_cast<double>(kept_total) / B);
    std::printf("  decode + top-k           %8.3f ms/batch %8.2f us/image\n", decode_ms, 1e3 * decode_ms / B);
    std::printf("  decode + top-k + NMS     %8.3f ms/batch %8.2f us/image\n", all_ms, 1e3 * all_ms / B);
    std::printf("  same, CUDA graph replay  %8.3f ms/batch %8.2f us/image\n", graph_ms, 1e3 * graph_ms / B);
    std::printf("  vs CPU twins: %d of %d images differ\n", mismatched, B);
    r.add("decode_topk_us_per_image", 1e3 * decode_ms / B);
    r.add("decode_nms_us_per_image", 1e3 * all_ms / B);
    r.add("decode_nms_graph_us_per_image", 1e3 * graph_ms / B);
    r.add("decode_nms_images_differing_from_cpu", mismatched);
    for (void* p : {static_cast<void*>(d_head), static_cast<void*>(d_cand), static_cast<void*>(d_counts),
                    static_cast<void*>(d_keep), static_cast<void*>(d_keep_counts), d_dws, d_nws})
        cudaFree(p);
    return mismatched == 0;
}

// ---- COCO matching + accumulation --------------------------------------------------------------------------------
/// A COCO-val-sized evaluation (5000 images, 80 classes, ~36k ground truth with 1% crowd, 100 detections per image)
/// as the kernels see it: groups per (category, image), detections sorted by score in each group.
struct CocoSet {
    std::vector<int> gt_off = {0}, dt_off = {0}, seg_off = {0}; ///< seg_off: one segment per category
    std::vector<BoxXywh> gt_box, dt_box;
    std::vector<double> gt_area, dt_area, score;
    std::vector<std::uint8_t> crowd, id_zero;
    int groups = 0, categories = 80;
};

CocoSet coco_val_like(std::mt19937& rng) {
    CocoSet c;
    const int I = 5000, K = c.categories;
    std::uniform_real_distribution<double> u(0, 1);
    std::poisson_distribution<int> objects(7.3);
    std::vector<std::vector<BoxXywh>> gt(static_cast<std::size_t>(K) * I), dt(gt.size());
    std::vector<std::vector<double>> sc(gt.size());
    for (int i = 0; i < I; ++i) {
        const int n = objects(rng);
        std::vector<std::pair<BoxXywh, int>> mine;
        for (int o = 0; o < n; ++o) {
            const double side = std::exp(std::log(4.0) + u(rng) * (std::log(500.0) - std::log(4.0)));
            const BoxXywh b{u(rng) * (640 - side / 2), u(rng) * (480 - side / 2), side, side * (0.5 + u(rng))};
            const int k = static_cast<int>(u(rng) * K) % K;
            gt[static_cast<std::size_t>(k) * I + i].push_back(b);
            mine.push_back({b, k});
        }
        for (int d = 0; d < 100; ++d) {
            BoxXywh b{u(rng) * 600, u(rng) * 440, 4 + u(rng) * 200, 4 + u(rng) * 200};
            int k = static_cast<int>(u(rng) * K) % K;
            if (!mine.empty() && u(rng) < 0.6) {
                const auto& m = mine[static_cast<std::size_t>(u(rng) * mine.size()) % mine.size()];
                b = m.first, k = m.second;
                b.x += (u(rng) - 0.5) * 0.2 * b.w, b.w *= 0.85 + 0.3 * u(rng);
            }
            dt[static_cast<std::size_t>(k) * I + i].push_back(b);
            sc[static_cast<std::size_t>(k) * I + i].push_back(u(rng));
        }
    }
    c.groups = K * I;
    for (int g = 0; g < c.groups; ++g) {
        for (const auto& b : gt[g]) {
            c.gt_box.push_back(b);
            c.gt_area.push_back(b.w * b.h * (0.5 + 0.5 * u(rng)));
            c.crowd.push_back(u(rng) < 0.01);
            c.id_zero.push_back(0);
        }
        std::vector<int> idx(dt[g].size());
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](int x, int y) { return sc[g][x] > sc[g][y]; });
        for (int j : idx) {
            c.dt_box.push_back(dt[g][j]);
            c.dt_area.push_back(dt[g][j].w * dt[g][j].h);
            c.score.push_back(sc[g][j]);
        }
        c.gt_off.push_back(static_cast<int>(c.gt_box.size()));
        c.dt_off.push_back(static_cast<int>(c.dt_box.size()));
        if ((g + 1) % I == 0) c.seg_off.push_back(static_cast<int>(c.dt_box.size()));
    }
    return c;
}

template <class T> T* upload(const std::vector<T>& v) {
    T* d = device_alloc<T>(v.size());
    SL_CUDA_CHECK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

bool bench_coco(const Args& a, cudaStream_t s, Report& r) {
    std::mt19937 rng(5);
    const CocoSet c = coco_val_like(rng);
    const int T = kCocoIouThresholds, R = kCocoRecallThresholds, K = c.categories, A = 4;
    const int ND = static_cast<int>(c.dt_box.size()), NG = static_cast<int>(c.gt_box.size());
    const double areas[A][2] = {{0, 1e10}, {0, 1024}, {1024, 9216}, {9216, 1e10}};
    MatchGroups h;
    h.num_groups = c.groups, h.num_gt = NG, h.gt_offsets = c.gt_off.data(), h.dt_offsets = c.dt_off.data();
    h.gt_box = c.gt_box.data(), h.gt_area = c.gt_area.data(), h.gt_crowd = c.crowd.data();
    h.gt_id_zero = c.id_zero.data(), h.dt_box = c.dt_box.data(), h.dt_area = c.dt_area.data();
    double rthr[R];
    coco_recall_thresholds(rthr);
    // the CPU twins on the same data: the anchor and the reference (valid ground truth per category summed)
    std::vector<std::uint8_t> state(static_cast<std::size_t>(A) * ND * T);
    std::vector<int> valid(static_cast<std::size_t>(A) * c.groups), seg_valid(static_cast<std::size_t>(A) * K, 0);
    std::vector<double> prec(static_cast<std::size_t>(A) * K * T * R), sat(prec.size()),
        rec(static_cast<std::size_t>(A) * K * T);
    std::vector<int> scratch(ND);
    const auto t0 = std::chrono::steady_clock::now();
    for (int ar = 0; ar < A; ++ar) {
        MatchParams p;
        coco_iou_thresholds(p.thresholds);
        p.area_lo = areas[ar][0], p.area_hi = areas[ar][1];
        coco_match_cpu(h, p, state.data() + static_cast<std::size_t>(ar) * ND * T, valid.data() + ar * c.groups);
        for (int k = 0; k < K; ++k)
            for (int i = 0; i < 5000; ++i) seg_valid[ar * K + k] += valid[ar * c.groups + k * 5000 + i];
        AccumulateSegments sg;
        sg.num_segments = K, sg.num_dets = ND, sg.offsets = c.seg_off.data(), sg.score = c.score.data();
        sg.state = state.data() + static_cast<std::size_t>(ar) * ND * T, sg.valid_gt = seg_valid.data() + ar * K;
        sg.recall_thresholds = rthr;
        coco_accumulate_cpu(sg, prec.data() + static_cast<std::size_t>(ar) * K * T * R,
                            rec.data() + static_cast<std::size_t>(ar) * K * T,
                            sat.data() + static_cast<std::size_t>(ar) * K * T * R, scratch.data());
    }
    const double cpu_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    MatchGroups d = h;
    auto* d_gt_off = upload(c.gt_off);
    auto* d_dt_off = upload(c.dt_off);
    auto* d_gt_box = upload(c.gt_box);
    auto* d_dt_box = upload(c.dt_box);
    auto* d_gt_area = upload(c.gt_area);
    auto* d_dt_area = upload(c.dt_area);
    auto* d_crowd = upload(c.crowd);
    auto* d_id_zero = upload(c.id_zero);
    auto* d_seg_off = upload(c.seg_off);
    auto* d_score = upload(c.score);
    auto* d_seg_valid = upload(seg_valid);
    auto* d_rthr = upload(std::vector<double>(rthr, rthr + R));
    d.gt_offsets = d_gt_off, d.dt_offsets = d_dt_off, d.gt_box = d_gt_box, d.dt_box = d_dt_box;
    d.gt_area = d_gt_area, d.dt_area = d_dt_area, d.gt_crowd = d_crowd, d.gt_id_zero = d_id_zero;
    auto* d_state = device_alloc<std::uint8_t>(state.size());
    auto* d_valid = device_alloc<int>(valid.size());
    auto* d_prec = device_alloc<double>(prec.size());
    auto* d_sat = device_alloc<double>(sat.size());
    auto* d_rec = device_alloc<double>(rec.size());
    auto* d_scratch = device_alloc<int>(ND);
    const std::size_t mws = coco_match_cuda_workspace_bytes(NG), aws = coco_accumulate_cuda_workspace_bytes(K, ND);
    void* d_mws = device_alloc<std::uint8_t>(mws);
    void* d_aws = device_alloc<std::uint8_t>(aws);
    auto run = [&] {
        for (int ar = 0; ar < A; ++ar) {
            MatchParams p;
            coco_iou_thresholds(p.thresholds);
            p.area_lo = areas[ar][0], p.area_hi = areas[ar][1];
            coco_match_cuda(d, p, d_state + static_cast<std::size_t>(ar) * ND * T, d_valid + ar * c.groups, nullptr,
                            d_mws, mws, s);
            AccumulateSegments sg;
            sg.num_segments = K, sg.num_dets = ND, sg.offsets = d_seg_off, sg.score = d_score;
            sg.state = d_state + static_cast<std::size_t>(ar) * ND * T, sg.valid_gt = d_seg_valid + ar * K;
            sg.recall_thresholds = d_rthr;
            coco_accumulate_cuda(sg, d_prec + static_cast<std::size_t>(ar) * K * T * R,
                                 d_rec + static_cast<std::size_t>(ar) * K * T,
                                 d_sat + static_cast<std::size_t>(ar) * K * T * R, d_scratch, d_aws, aws, s);
        }
    };
    const double gpu_ms = median_ms(std::max(5, a.reps / 5), s, run);
    std::vector<double> gprec(prec.size());
    std::vector<std::uint8_t> gstate(state.size());
    SL_CUDA_CHECK(cudaMemcpy(gprec.data(), d_prec, prec.size() * sizeof(double), cudaMemcpyDeviceToHost));
    SL_CUDA_CHECK(cudaMemcpy(gstate.data(), d_state, state.size(), cudaMemcpyDeviceToHost));
    const bool same = gprec == prec && gstate == state;
    std::printf("\nCOCO matching + accumulation: 5000 images x 80 classes, %d ground truth, %d detections, 4 area "
                "ranges x 10 IoU thresholds\n",
                NG, ND);
    std::printf("  GPU %.3f ms (match + segmented sort + accumulate, median)   CPU twins on this machine %.1f ms "
                "(1 thread): %.0fx; outputs %s\n",
                gpu_ms, cpu_ms, cpu_ms / gpu_ms, same ? "identical" : "DIFFER");
    r.add("coco_match_accumulate_gpu_ms", gpu_ms);
    r.add("coco_match_accumulate_cpu_twin_ms", cpu_ms);
    for (void* p : {static_cast<void*>(d_gt_off),
                    static_cast<void*>(d_dt_off),
                    static_cast<void*>(d_gt_box),
                    static_cast<void*>(d_dt_box),
                    static_cast<void*>(d_gt_area),
                    static_cast<void*>(d_dt_area),
                    static_cast<void*>(d_crowd),
                    static_cast<void*>(d_id_zero),
                    static_cast<void*>(d_seg_off),
                    static_cast<void*>(d_score),
                    static_cast<void*>(d_seg_valid),
                    static_cast<void*>(d_rthr),
                    static_cast<void*>(d_state),
                    static_cast<void*>(d_valid),
                    static_cast<void*>(d_prec),
                    static_cast<void*>(d_sat),
                    static_cast<void*>(d_rec),
                    static_cast<void*>(d_scratch),
                    d_mws,
                    d_aws})
        cudaFree(p);
    return same;
}

} // namespace

int main(int argc, char** argv) {
    const Args a = parse(argc, argv);
    try {
        cudaDeviceProp prop{};
        SL_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
        std::string mk = "mkdir -p '" + a.work + "'";
        if (std::system(mk.c_str()) != 0) throw std::runtime_error("cannot create " + a.work);
        cudaStream_t s;
        SL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        Report r;
        const double copy = copy_gbps(a, s);
        std::printf("anchor: device-to-device copy of 1 GiB: %.0f GB/s (bytes read + written)\n", copy);
        r.add("copy_gbps", copy);
        const bool pre_ok = bench_preprocess(a, s, copy, r);
        const bool nms_ok = bench_decode_nms(a, s, r);
        const bool coco_ok = bench_coco(a, s, r);
        if (!coco_ok) std::fprintf(stderr, "bench_gpu: COCO matching/accumulation differs from the CPU twins\n");
        std::printf("\nJSON %s}\n", r.json.c_str());
        if (!pre_ok) std::fprintf(stderr, "bench_gpu: preprocess differs from the CPU twin by more than 1/255\n");
        if (!nms_ok) std::fprintf(stderr, "bench_gpu: decode/NMS results differ from the CPU twins\n");
        return pre_ok && nms_ok && coco_ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_gpu: %s\n", e.what());
        return 1;
    }
}
