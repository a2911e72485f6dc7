// Decode rate of sightline's reader against the ffmpeg command line on the same file, in one run:
//   sightline, CPU:   VideoReader (software decode, frame threads), every frame received;
//   sightline, NVDEC: VideoReader with Decoder::kNvdec (frames stay in device memory), where a GPU exists;
//   anchors:          `ffmpeg -i FILE -f null -` and, with a GPU, `ffmpeg -hwaccel cuda -hwaccel_output_format
//                     cuda -i FILE -f null -`, when an ffmpeg binary is on PATH (its process start is included:
//                     ~0.05 s against seconds of decoding).
// Frame counts are checked equal across all runs, so a fast wrong result fails. Issue 5's goal: NVDEC >= 0.95x
// the ffmpeg hwaccel rate.
//
//   build/bench/bench_decode [--video FILE | --width 1920 --height 1080 --seconds 10] [--reps 3]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_reader.hpp"

using namespace sightline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Rate {
    double seconds = 0;
    long frames = 0;
    bool ran = false;
};

/// Median wall time of `reps` full decodes through the reader; frames counted.
Rate decode_reader(const std::string& file, pipeline::Decoder decoder, int reps, std::string& note) {
    std::vector<double> t;
    Rate r;
    for (int k = 0; k < reps; ++k) {
        const auto t0 = Clock::now();
        pipeline::VideoReader reader(file, 0, nullptr, {}, decoder);
        if (decoder == pipeline::Decoder::kNvdec && reader.decoder() != pipeline::Decoder::kNvdec) {
            note = reader.decode_note();
            return r;
        }
        pipeline::DecodedFrame f;
        long n = 0;
        while (reader.next(f)) ++n;
        if (decoder == pipeline::Decoder::kNvdec && reader.decoder() != pipeline::Decoder::kNvdec) {
            note = reader.decode_note();
            return r;
        }
        t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        r.frames = n;
    }
    std::sort(t.begin(), t.end());
    r.seconds = t[t.size() / 2];
    r.ran = true;
    return r;
}

/// Median wall time of `reps` runs of the ffmpeg command line decoding to the null muxer; frames parsed from its
/// final "frame=" progress line.
Rate decode_ffmpeg(const std::string& file, bool cuda, int reps) {
    Rate r;
    if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0) return r;
    const std::string log = (fs::temp_directory_path() / "sightline_bench_decode_ffmpeg.log").string();
    const std::string cmd = std::string("ffmpeg -hide_banner -nostdin -loglevel error -stats ") +
                            (cuda ? "-hwaccel cuda -hwaccel_output_format cuda " : "") + "-i '" + file +
                            "' -f null - 2>'" + log + "'";
    std::vector<double> t;
    for (int k = 0; k < reps; ++k) {
        const auto t0 = Clock::now();
        if (std::system(cmd.c_str()) != 0) return r;
        t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    FILE* f = std::fopen(log.c_str(), "r");
    if (!f) return r;
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
    const auto at = text.rfind("frame=");
    if (at == std::string::npos) return r;
    r.frames = std::atol(text.c_str() + at + 6);
    std::sort(t.begin(), t.end());
    r.seconds = t[t.size() / 2];
    r.ran = true;
    return r;
}

} // namespace

int main(int argc, char** argv) {
    std::string video;
    int width = 1920, height = 1080, reps = 3;
    double seconds = 10;
    CLI::App app{"Decode rate of sightline's reader (CPU, and NVDEC where a GPU exists) against the ffmpeg command "
                 "line on the same file"};
    app.add_option("--video", video, "file to decode (default: a synthetic clip rendered into .cache/)")
        ->check(CLI::ExistingFile);
    app.add_option("--width", width, "synthetic clip width")->check(CLI::Range(16, 16384))->capture_default_str();
    app.add_option("--height", height, "synthetic clip height")->check(CLI::Range(16, 16384))->capture_default_str();
    app.add_option("--seconds", seconds, "synthetic clip length")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    app.add_option("--reps", reps, "runs of each, the median reported")
        ->check(CLI::Range(1, 100000000))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (video.empty()) {
        const fs::path dir = fs::path(SIGHTLINE_SOURCE_DIR) / ".cache" /
                             ("decode-" + std::to_string(width) + "x" + std::to_string(height) + "-" +
                              std::to_string(static_cast<int>(seconds)) + "s");
        if (pipeline::synth::ensure_scene(
                {dir,
                 1,
                 seconds,
                 1,
                 {"defaults.width=" + std::to_string(width), "defaults.height=" + std::to_string(height)}}))
            std::fprintf(stderr, "bench_decode: rendered a %dx%d x %.0f s clip into %s\n", width, height, seconds,
                         dir.c_str());
        video = (dir / "cam1.mp4").string();
    }
    if (!fs::exists(video)) {
        std::fprintf(stderr, "bench_decode: %s: no such file\n", video.c_str());
        return 2;
    }
    std::string note;
    const Rate cpu = decode_reader(video, pipeline::Decoder::kCpu, reps, note);
    const Rate nvdec = decode_reader(video, pipeline::Decoder::kNvdec, reps, note);
    const Rate ff_cpu = decode_ffmpeg(video, false, reps);
    const Rate ff_cuda = kernels::cuda_available() ? decode_ffmpeg(video, true, reps) : Rate{};

    auto fps = [](const Rate& r) { return r.ran && r.seconds > 0 ? r.frames / r.seconds : 0.0; };
    std::printf("decode rate, %s (%ld frames), median of %d\n", video.c_str(), cpu.frames, reps);
    auto line = [&](const char* what, const Rate& r, const std::string& why) {
        if (r.ran)
            std::printf("  %-46s %8.1f fps (%.3f s)\n", what, fps(r), r.seconds);
        else
            std::printf("  %-46s  not run: %s\n", what, why.c_str());
    };
    line("sightline VideoReader, CPU", cpu, "");
    line("sightline VideoReader, NVDEC", nvdec, note);
    line("anchor: ffmpeg -f null (CPU)", ff_cpu, "no ffmpeg binary on PATH");
    line("anchor: ffmpeg -hwaccel cuda -f null", ff_cuda,
         kernels::cuda_available() ? "no ffmpeg binary on PATH, or it has no CUDA" : kernels::describe_device());
    int rc = 0;
    for (const Rate* r : {&nvdec, &ff_cpu, &ff_cuda})
        if (r->ran && r->frames != cpu.frames) {
            std::printf("  FRAME COUNTS DIFFER: %ld vs %ld\n", r->frames, cpu.frames);
            rc = 1;
        }
    if (ff_cpu.ran) std::printf("  CPU decode: %.2fx ffmpeg's rate\n", fps(cpu) / fps(ff_cpu));
    if (nvdec.ran && ff_cuda.ran)
        std::printf("  NVDEC: %.2fx ffmpeg -hwaccel cuda's rate (goal >= 0.95x)\n", fps(nvdec) / fps(ff_cuda));
    std::printf("JSON %s\n", nlohmann::json{{"bench", "decode"},
                                            {"video", video},
                                            {"frames", cpu.frames},
                                            {"cpu_fps", fps(cpu)},
                                            {"nvdec_fps", fps(nvdec)},
                                            {"ffmpeg_cpu_fps", fps(ff_cpu)},
                                            {"ffmpeg_cuda_fps", fps(ff_cuda)}}
                                 .dump()
                                 .c_str());
    return rc;
}
