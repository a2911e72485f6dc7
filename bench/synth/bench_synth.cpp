// Synthetic line speed: the default scene (4 cameras, 640x480@30, 60 s) rendered and encoded, as a multiple of
// real time; side by side in the same run, the two halves of the work measured alone (render only, and x264
// encode only of pre-rendered frames), so the figure can be read against this machine's encoder speed.
//
//   build/bench/bench_synth [--seconds S] [--out DIR]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>

#include "sightline/pipeline/synth.hpp"
#include "sightline/pipeline/video_writer.hpp"

using namespace sightline::pipeline;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

static double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
    double seconds = 60;
    fs::path out = fs::temp_directory_path() / "sightline_bench_synth";
    CLI::App app{"sightline synth's generate() on the default scene against its two halves (render, encode) alone"};
    app.add_option("--seconds", seconds, "seconds of video per camera")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    app.add_option("--out", out, "output folder")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    const int cameras = 4;
    auto specs = synth::make_specs(cameras, synth::default_scenario_yaml(), "default", {});
    const int fps = specs[0].fps, frames = static_cast<int>(seconds * fps);

    // 1. The real thing: sightline synth's generate() on the default scene.
    fs::remove_all(out);
    synth::SynthOptions o;
    o.out_dir = out;
    o.cameras = cameras;
    o.seconds = seconds;
    o.specs = specs;
    auto t0 = Clock::now();
    synth::generate(o);
    const double full = since(t0);
    long annotations = 0;
    for (int c = 1; c <= cameras; ++c) {
        std::ifstream f(out / ("cam" + std::to_string(c) + ".json"));
        auto j = nlohmann::json::parse(f);
        if (static_cast<int>(j["images"].size()) != frames) {
            std::fprintf(stderr, "bench_synth: cam%d has %zu images, expected %d\n", c, j["images"].size(), frames);
            return 1;
        }
        annotations += static_cast<long>(j["annotations"].size());
    }

    // 2. Anchors on the same machine in the same run, one camera's worth of frames per thread as generate() does.
    const int threads = std::min<int>(cameras, std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::vector<std::uint8_t>> i420(cameras);
    t0 = Clock::now();
    {
        std::vector<std::thread> pool;
        for (int w = 0; w < threads; ++w)
            pool.emplace_back([&, w] {
                for (int c = w; c < cameras; c += threads) {
                    synth::CameraRenderer r(specs[c], o.seed, c);
                    cv::Mat bgr(specs[c].height, specs[c].width, CV_8UC3), yuv;
                    for (int k = 0; k < frames; ++k) {
                        r.next(bgr.data);
                        cv::cvtColor(bgr, yuv, cv::COLOR_BGR2YUV_I420);
                        if (k < fps * 2) i420[c].insert(i420[c].end(), yuv.data, yuv.data + yuv.total());
                    }
                }
            });
        for (auto& t : pool) t.join();
    }
    const double render = since(t0);
    t0 = Clock::now();
    {
        std::vector<std::thread> pool;
        for (int w = 0; w < threads; ++w)
            pool.emplace_back([&, w] {
                for (int c = w; c < cameras; c += threads) {
                    VideoWriterOptions vo;
                    vo.preset = o.preset;
                    vo.crf = o.crf;
                    VideoWriter wr(out / ("anchor" + std::to_string(c) + ".mp4"), vo);
                    const std::size_t sz = 640 * 480 * 3 / 2, n = i420[c].size() / sz;
                    for (int k = 0; k < frames; ++k) wr.write_i420(i420[c].data() + (k % n) * sz);
                    wr.finish();
                }
            });
        for (auto& t : pool) t.join();
    }
    const double encode = since(t0);
    fs::remove_all(out);

    const double video = seconds * cameras;
    std::printf("synth, default scene: %d cameras x %.0f s (640x480@%d), %d threads, x264 preset %s\n", cameras,
                seconds, fps, threads, o.preset.c_str());
    std::printf("  %-34s %8.2f s  %6.1fx real time\n", "render + encode + truth (synth)", full, video / full);
    std::printf("  %-34s %8.2f s  %6.1fx real time\n", "anchor: render only", render, video / render);
    std::printf("  %-34s %8.2f s  %6.1fx real time\n", "anchor: x264 encode only", encode, video / encode);
    std::printf("  synth time / (render + encode alone) = %.2f;  %ld annotations checked\n", full / (render + encode),
                annotations);
    nlohmann::json j = {{"bench", "synth"},        {"cameras", cameras},         {"seconds", seconds},
                        {"synth_s", full},         {"realtime_x", video / full}, {"render_only_s", render},
                        {"encode_only_s", encode}, {"annotations", annotations}, {"threads", threads}};
    std::printf("%s\n", j.dump().c_str());
    return video / full >= 10.0 ? 0 : 2; // the foundation issue's target: at least 10x real time
}
