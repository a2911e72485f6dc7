// Scene generation through FFmpeg and back: files, frame counts, determinism, atomic writes, bad inputs.
#include <gtest/gtest.h>

#include "support/gpu.hpp"
#include "support/test_support.hpp"

#include <dlfcn.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"

using namespace sightline;
namespace fs = std::filesystem;

namespace {

using sightline::testing::temp_dir;

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

pipeline::synth::SynthOptions tiny(const fs::path& dir) {
    pipeline::synth::SynthOptions o;
    o.out_dir = dir;
    o.cameras = 2;
    o.seconds = 1.0;
    o.seed = 11;
    o.specs = pipeline::synth::make_specs(2, pipeline::synth::default_scenario_yaml(), "default",
                                          {"defaults.width=160", "defaults.height=120", "defaults.fps=15"});
    return o;
}

TEST(Media, GenerateWritesDecodableVideoAndMatchingTruth) {
    auto dir = temp_dir("gen");
    pipeline::synth::generate(tiny(dir));
    for (const char* cam : {"cam1", "cam2"}) {
        ASSERT_TRUE(fs::exists(dir / (std::string(cam) + ".mp4")));
        auto j = nlohmann::json::parse(slurp(dir / (std::string(cam) + ".json")));
        ASSERT_EQ(j["images"].size(), 15u);
        EXPECT_EQ(j["images"][0]["id"], 0);
        EXPECT_EQ(j["images"][14]["id"], 14);
        EXPECT_EQ(j["images"][3]["camera"], cam);
        EXPECT_EQ(j["categories"].size(), 6u);
        for (const auto& a : j["annotations"]) {
            EXPECT_GE(a["id"].get<int>(), 1); // pycocotools treats id 0 as "no match"
            EXPECT_GT(a["bbox"][2].get<double>(), 0);
        }
        pipeline::VideoReader r((dir / (std::string(cam) + ".mp4")).string());
        EXPECT_EQ(r.width(), 160);
        EXPECT_EQ(r.height(), 120);
        EXPECT_NEAR(r.fps(), 15.0, 1e-6);
        pipeline::DecodedFrame f;
        int n = 0;
        std::int64_t last = -1;
        while (r.next(f)) {
            EXPECT_GT(f.pts_ns, last);
            last = f.pts_ns;
            ++n;
        }
        EXPECT_EQ(n, 15) << "frame k of the video is image k of the JSON";
        EXPECT_EQ(r.corrupt_packets(), 0);
    }
    for (const auto& e : fs::directory_iterator(dir)) EXPECT_NE(e.path().extension(), ".partial") << e.path();
    fs::remove_all(dir);
}

// A file whose compressed data is damaged in the middle (packet sizes intact, payload overwritten): reading goes
// on to the end, the damage is counted, and frames after the next keyframe decode again.
// Frames held by reference (no copy) stay intact while the decoder goes on: every held frame still equals the
// copy taken when it was decoded, after the whole video has been decoded past it.
TEST(Media, HeldFramesStayValidWithoutCopies) {
    auto dir = temp_dir("hold");
    pipeline::synth::generate(tiny(dir));
    pipeline::VideoReader r((dir / "cam1.mp4").string());
    std::vector<pipeline::OwnedFrame> held, copies;
    pipeline::DecodedFrame f;
    while (r.next(f)) {
        ASSERT_TRUE(f.buffers) << "the reader lends its buffers";
        held.push_back(pipeline::hold_frame(f));
        copies.push_back(pipeline::copy_frame(f));
        EXPECT_TRUE(held.back().data.empty()) << "held, not copied";
        EXPECT_EQ(held.back().view.planes[0], f.view.planes[0]);
    }
    ASSERT_EQ(held.size(), 15u);
    for (std::size_t k = 0; k < held.size(); ++k) {
        const auto& h = held[k].view;
        const auto& c = copies[k].view;
        ASSERT_EQ(h.format, c.format);
        for (int p = 0; p < 3; ++p) {
            if (!c.planes[p]) continue;
            const int rows = p == 0 ? h.height : (h.height + 1) / 2, width = p == 0 ? h.width : (h.width + 1) / 2;
            for (int y = 0; y < rows; ++y)
                ASSERT_EQ(std::memcmp(h.planes[p] + std::ptrdiff_t(y) * h.pitch[p],
                                      c.planes[p] + std::ptrdiff_t(y) * c.pitch[p], width),
                          0)
                    << "frame " << k << " plane " << p << " row " << y;
        }
    }
    fs::remove_all(dir);
}

/// Why NVDEC may rightly be missing on a machine with a GPU (the driver's video decoder library), else empty.
std::string nvdec_library_missing() {
    if (void* h = ::dlopen("libnvcuvid.so.1", RTLD_LAZY)) {
        ::dlclose(h);
        return {};
    }
    return "libnvcuvid.so.1 missing (the driver's NVDEC library is not installed)";
}

/// Decodes `url` on the CPU and with `hw` (asked for NVDEC) and compares every frame: where the reader got NVDEC, its
/// device frames (NV12) must equal the CPU decoder's byte for byte (H.264 and HEVC decoding is exact); where it fell
/// back, its host frames must be the CPU decoder's and the note must name the input. Returns the frame count.
int compare_with_cpu(const std::string& url, pipeline::VideoReader& hw) {
    pipeline::VideoReader cpu(url);
    pipeline::DecodedFrame a, b;
    int n = 0;
    while (cpu.next(a)) {
        EXPECT_TRUE(hw.next(b)) << url << " frame " << n;
        if (::testing::Test::HasFailure()) return n;
        EXPECT_EQ(a.view.format, kernels::PixelFormat::kYUV420P);
        EXPECT_EQ(b.pts_ns, a.pts_ns);
        const int w = a.view.width, h = a.view.height, cw = (w + 1) / 2, chh = (h + 1) / 2;
        if (hw.decoder() == pipeline::Decoder::kNvdec) {
            EXPECT_EQ(b.view.where, kernels::MemoryLocation::kDevice);
            EXPECT_EQ(b.view.format, kernels::PixelFormat::kNV12);
            if (::testing::Test::HasFailure()) return n;
            std::vector<std::uint8_t> y(std::size_t(b.view.pitch[0]) * h), uv(std::size_t(b.view.pitch[1]) * chh);
            kernels::copy_device_to_host(y.data(), b.view.planes[0], y.size());
            kernels::copy_device_to_host(uv.data(), b.view.planes[1], uv.size());
            for (int r = 0; r < h; ++r)
                if (std::memcmp(y.data() + std::ptrdiff_t(r) * b.view.pitch[0],
                                a.view.planes[0] + std::ptrdiff_t(r) * a.view.pitch[0], w) != 0) {
                    ADD_FAILURE() << url << " frame " << n << " luma row " << r;
                    return n;
                }
            for (int r = 0; r < chh; ++r)
                for (int x = 0; x < cw; ++x)
                    if (uv[std::size_t(r) * b.view.pitch[1] + 2 * x] != a.view.planes[1][r * a.view.pitch[1] + x] ||
                        uv[std::size_t(r) * b.view.pitch[1] + 2 * x + 1] != a.view.planes[2][r * a.view.pitch[2] + x]) {
                        ADD_FAILURE() << url << " frame " << n << " chroma row " << r;
                        return n;
                    }
        } else {
            EXPECT_NE(hw.decode_note().find(url + ": decoding on the CPU: "), std::string::npos) << hw.decode_note();
            EXPECT_EQ(b.view.where, kernels::MemoryLocation::kHost);
            for (int p = 0; p < 3; ++p)
                for (int r = 0; r < (p ? chh : h); ++r)
                    if (std::memcmp(b.view.planes[p] + std::ptrdiff_t(r) * b.view.pitch[p],
                                    a.view.planes[p] + std::ptrdiff_t(r) * a.view.pitch[p], p ? cw : w) != 0) {
                        ADD_FAILURE() << url << " frame " << n << " plane " << p << " row " << r;
                        return n;
                    }
        }
        ++n;
    }
    EXPECT_FALSE(hw.next(b)) << url << ": more frames than the CPU decoder";
    return n;
}

/// On a machine with a GPU a reader asked for NVDEC must have it: a CPU fallback fails the test (or skips it naming
/// the missing library, a failure too under SIGHTLINE_REQUIRE_GPU=1), never passes.
#define REQUIRE_NVDEC_WHERE_A_GPU_IS(reader)                                                                           \
    if (kernels::cuda_available() && (reader).decoder() != pipeline::Decoder::kNvdec) {                                \
        const std::string missing = nvdec_library_missing();                                                           \
        SL_GPU_SKIP_UNLESS(missing.empty(), missing);                                                                  \
        FAIL() << "a GPU is here and NVDEC fell back to the CPU: " << (reader).decode_note();                          \
    }

// decode: nvdec. Where NVDEC can be had, frames come in device memory (NV12) and equal, byte for byte, the CPU
// decoder's (H.264 decoding is exact); where it cannot (no GPU here), the reader decodes on the CPU, says why in one
// line naming the input, and its frames are the CPU decoder's.
TEST(Media, NvdecDecodesWhereItCanAndSaysWhyWhereNot) {
    auto dir = temp_dir("nvdec");
    pipeline::synth::generate(tiny(dir));
    const std::string url = (dir / "cam1.mp4").string();
    pipeline::VideoReader hw(url, 0, nullptr, {}, pipeline::Decoder::kNvdec);
    EXPECT_EQ(compare_with_cpu(url, hw), 15);
    if (!kernels::cuda_available()) {
        EXPECT_EQ(hw.decoder(), pipeline::Decoder::kCpu) << "no GPU here";
    }
    REQUIRE_NVDEC_WHERE_A_GPU_IS(hw);
    fs::remove_all(dir);
}

// Streams whose DPB holds 4 or more frames (H.264 with 3 B-frames and 4 references; HEVC Main): NVDEC opens them
// (the decode surfaces FFmpeg asks for stay within NVDEC's 32) and decodes them exactly.
TEST(Media, NvdecDecodesBFramesFourReferencesAndHevc) {
    for (const char* clip : {"h264_bframes3_ref4.mp4", "hevc_main.mp4"}) {
        const std::string url = (fs::path(SIGHTLINE_SOURCE_DIR) / "tests/fixtures/video" / clip).string();
        pipeline::VideoReader hw(url, 0, nullptr, {}, pipeline::Decoder::kNvdec);
        EXPECT_EQ(compare_with_cpu(url, hw), 30) << clip;
        REQUIRE_NVDEC_WHERE_A_GPU_IS(hw);
    }
}

// The CUDA primary context is active before any reader opens in run, demo and the benchmarks (the detector's
// streams and buffers, LibTorch loading onto the GPU): a reader opened after them still decodes on NVDEC.
TEST(Media, NvdecSharesThePrimaryContextWhateverInitialisedCudaFirst) {
    SL_GPU_SKIP_UNLESS(kernels::cuda_available(), kernels::describe_device());
    const auto spec = pipeline::load_model_spec(fs::path(SIGHTLINE_SOURCE_DIR) / "models/parts-v1/model.yaml");
    pipeline::Detector det(pipeline::libtorch_available() ? pipeline::make_libtorch_engine(spec)
                                                          : pipeline::make_opencv_engine(spec));
    kernels::Stream stream;
    kernels::DeviceBuffer held(1 << 20);
    auto dir = temp_dir("nvdec_ctx");
    pipeline::synth::generate(tiny(dir));
    const std::string url = (dir / "cam1.mp4").string();
    pipeline::VideoReader hw(url, 0, nullptr, {}, pipeline::Decoder::kNvdec);
    EXPECT_EQ(compare_with_cpu(url, hw), 15);
    REQUIRE_NVDEC_WHERE_A_GPU_IS(hw);
    // and the detector still works on the frames NVDEC gives, in the same context
    pipeline::VideoReader again(url, 0, nullptr, {}, pipeline::Decoder::kNvdec);
    pipeline::DecodedFrame f;
    ASSERT_TRUE(again.next(f));
    EXPECT_EQ(f.view.where, kernels::MemoryLocation::kDevice);
    EXPECT_NO_THROW(det.detect(std::span(&f.view, 1)));
    fs::remove_all(dir);
}

TEST(Media, CorruptPacketsAreSkippedAndCounted) {
    auto dir = temp_dir("corrupt");
    auto o = tiny(dir);
    o.cameras = 1;
    o.seconds = 4.0;
    o.specs = pipeline::synth::make_specs(1, pipeline::synth::default_scenario_yaml(), "default",
                                          {"defaults.width=160", "defaults.height=120", "defaults.fps=15"});
    pipeline::synth::generate(o);
    const fs::path video = dir / "cam1.mp4";
    std::string bytes = slurp(video);
    const auto mdat = bytes.find("mdat");
    ASSERT_NE(mdat, std::string::npos);
    const std::size_t payload = (mdat < bytes.find("moov") ? bytes.find("moov") : bytes.size()) - mdat;
    std::mt19937 rng(3);
    for (std::size_t i = mdat + payload * 2 / 5; i < mdat + payload / 2; ++i)
        bytes[i] = static_cast<char>(rng() & 0xFF);
    std::ofstream(video, std::ios::binary | std::ios::trunc) << bytes;

    pipeline::VideoReader r(video.string());
    pipeline::DecodedFrame f;
    int n = 0;
    EXPECT_NO_THROW(while (r.next(f))++ n);
    EXPECT_GT(r.corrupt_packets(), 0) << "the damage must be counted, not silent";
    EXPECT_GE(n, 30) << "frames outside the damaged stretch still decode (of 60)";
    fs::remove_all(dir);
}

TEST(Media, SameSeedSameBytes) {
    auto a = temp_dir("det_a"), b = temp_dir("det_b");
    pipeline::synth::generate(tiny(a));
    pipeline::synth::generate(tiny(b));
    for (const char* f : {"cam1.mp4", "cam1.json", "cam2.mp4", "cam2.json"}) EXPECT_EQ(slurp(a / f), slurp(b / f)) << f;
    fs::remove_all(a);
    fs::remove_all(b);
}

TEST(Media, UnwritableOutputIsAnErrorAndLeavesNothing) {
    auto dir = temp_dir("ro");
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    auto o = tiny(dir / "sub");
    if (::geteuid() == 0) o.out_dir = "/proc/sightline-cannot-write-here"; // root ignores permissions
    try {
        pipeline::synth::generate(o);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(o.out_dir.string()), std::string::npos) << e.what();
    }
    fs::permissions(dir, fs::perms::owner_all);
    fs::remove_all(dir);
}

TEST(Media, BadVideoInputsAreClearErrors) {
    auto dir = temp_dir("bad");
    try {
        pipeline::VideoReader r((dir / "missing.mp4").string());
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kNotFound);
        EXPECT_NE(std::string(e.what()).find("missing.mp4"), std::string::npos);
    }
    std::ofstream(dir / "garbage.mp4") << std::string(4096, '\x5a');
    try {
        pipeline::VideoReader r((dir / "garbage.mp4").string());
        pipeline::DecodedFrame f;
        while (r.next(f)) {
        }
        ADD_FAILURE() << "garbage decoded without error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("garbage.mp4"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

} // namespace
