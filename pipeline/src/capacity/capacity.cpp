#include "sightline/pipeline/capacity.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sightline/pipeline/stats.hpp"
#include "sightline/pipeline/synth.hpp"
#include "sightline/transport/pubsub.hpp"

namespace sightline::pipeline {

namespace {
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

double process_cpu_ms() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const auto ms = [](const timeval& t) { return double(t.tv_sec) * 1e3 + double(t.tv_usec) / 1e3; };
    return ms(u.ru_utime) + ms(u.ru_stime);
}
} // namespace

Percentiles percentiles(std::vector<double> v) {
    Percentiles p;
    p.n = v.size();
    if (v.empty()) return p;
    p.p50 = percentile(v, 0.5), p.p90 = percentile(v, 0.9), p.p99 = percentile(v, 0.99);
    p.p999 = percentile(v, 0.999), p.max = percentile(v, 1.0);
    return p;
}

RunConfig with_cameras(const RunConfig& base, int n) {
    RunConfig c = base;
    c.cameras.clear();
    const int have = int(base.cameras.size());
    for (int i = 0; i < n && have > 0; ++i) {
        CameraConfig cam = base.cameras[std::size_t(i % have)];
        if (i >= have) cam.id += "-" + std::to_string(i / have + 1);
        if (!cam.network()) cam.loop = true, cam.realtime = true; // a file plays as a live camera, for ever
        c.cameras.push_back(std::move(cam));
    }
    c.publish.samples.clear(), c.publish.control.clear();
    c.rollout.reset(); // a candidate's guardrails would switch cameras mid-measurement
    return c;
}

CapacityRow measure_line(RunConfig cfg, std::vector<std::unique_ptr<Engine>> engines, const CapacityOptions& o) {
    const std::string endpoint =
        "ipc:///tmp/sightline_capacity_" + std::to_string(::getpid()) + "_" + std::to_string(now_ns());
    cfg.publish.predictions = endpoint;
    cfg.publish.send_hwm = 10000;
    cfg.publish.wait_for_subscribers = 1;
    cfg.publish.wait_timeout_s = 10;
    std::atomic<bool> stop{false}, done{false};
    std::vector<double> receipt_ms;
    std::uint64_t received = 0;
    std::thread consumer([&] {
        transport::Subscriber sub(endpoint, {"pred/"});
        while (!done.load()) {
            auto r = sub.receive(std::chrono::milliseconds(100));
            if (!r) continue;
            const auto t = now_ns();
            const auto& m = std::get<transport::PredMessage>(r->message);
            receipt_ms.push_back(double(t - m.stamps_ns.at("arrival")) / 1e6);
            ++received;
        }
    });
    std::vector<double> publish_ms;
    std::map<std::string, std::vector<double>> stages;
    std::uint64_t frames = 0;
    LineOptions options;
    options.linger_ms = 0;
    options.on_frame = [&](const FrameOutput& f, const transport::PredMessage& m) {
        const auto& s = f.stamps;
        const std::int64_t published = m.stamps_ns.at("published");
        publish_ms.push_back(double(published - s.arrival_ns) / 1e6);
        stages["decode"].push_back(double(s.decoded_ns - s.arrival_ns) / 1e6);
        stages["wait"].push_back(double(s.batched_ns - s.decoded_ns) / 1e6);
        stages["infer"].push_back(double(s.inferred_ns - s.batched_ns) / 1e6);
        stages["publish"].push_back(double(published - s.inferred_ns) / 1e6);
        ++frames;
        if (o.on_frame) o.on_frame(f, m);
    };
    Line line(cfg, std::move(engines), options);
    line.publisher().wait_for_subscribers(1, std::chrono::seconds(10)); // joined before the clock starts
    const double cpu0 = process_cpu_ms();
    const auto t0 = Clock::now();
    std::thread timer([&] {
        while (!stop.load() && Clock::now() - t0 < std::chrono::duration<double>(o.seconds))
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        stop = true;
    });
    const LineSummary run = line.run(stop);
    CapacityRow row;
    row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    row.cpu_ms_per_frame = frames ? (process_cpu_ms() - cpu0) / double(frames) : 0;
    timer.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    done = true;
    consumer.join();
    if (o.after) o.after(line, run);
    row.cameras = int(cfg.cameras.size());
    row.frames = frames, row.received = received, row.fps = double(frames) / row.seconds;
    for (auto d : run.run.dropped) row.dropped_frames += d;
    for (auto d : run.run.late) row.dropped_frames += d;
    row.dropped_messages = run.dropped;
    row.publish_ms = percentiles(std::move(publish_ms));
    row.receipt_ms = percentiles(std::move(receipt_ms));
    for (auto& [k, v] : stages) row.stage_ms[k] = percentiles(std::move(v));
    row.sustained = frames > 0 && row.dropped_frames == 0 && row.dropped_messages == 0 && received == frames &&
                    row.receipt_ms.p99 < o.p99_ms;
    return row;
}

int play_live_cameras_as_scene(RunConfig& c, int w, int h, const std::filesystem::path& scene) {
    int replaced = 0;
    for (std::size_t i = 0; i < c.cameras.size(); ++i) {
        auto& cam = c.cameras[i];
        if (!cam.network()) continue;
        if (replaced++ == 0 &&
            synth::ensure_scene(
                {scene, 4, 20, 1, {"defaults.width=" + std::to_string(w), "defaults.height=" + std::to_string(h)}}))
            spdlog::info("bench: rendered a synthetic scene {}x{} into {}", w, h, scene.string());
        spdlog::info("bench: {} is live ({}): it plays a synthetic scene {}x{} instead (--live-size)", cam.id, cam.url,
                     w, h);
        cam.url = (scene / ("cam" + std::to_string(i % 4 + 1) + ".mp4")).string();
        cam.options.clear();
    }
    return replaced;
}

namespace {
nlohmann::json to_json(const Percentiles& p) {
    return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"p999", p.p999}, {"max", p.max}, {"n", p.n}};
}
} // namespace

std::string capacity_json(const CapacityReport& r) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& x : r.rows) {
        nlohmann::json stages = nlohmann::json::object();
        for (const auto& [k, v] : x.stage_ms) stages[k] = to_json(v);
        rows.push_back({{"cameras", x.cameras},
                        {"seconds", x.seconds},
                        {"fps", x.fps},
                        {"frames", x.frames},
                        {"received", x.received},
                        {"dropped_frames", x.dropped_frames},
                        {"dropped_messages", x.dropped_messages},
                        {"publish_ms", to_json(x.publish_ms)},
                        {"receipt_ms", to_json(x.receipt_ms)},
                        {"stage_ms", stages},
                        {"cpu_ms_per_frame", x.cpu_ms_per_frame},
                        {"sustained", x.sustained}});
    }
    return nlohmann::json{{"config", r.config},       {"models", r.models},   {"engine", r.engine},
                          {"p99_bound_ms", r.p99_ms}, {"seconds", r.seconds}, {"rows", rows},
                          {"sustained", r.sustained}}
        .dump(1);
}

std::string capacity_svg(const std::vector<CapacityRow>& rows, double p99_ms, const std::string& title) {
    constexpr double W = 720, H = 400, L = 70, R = 70, T = 50, B = 60;
    int max_cams = 1;
    double max_ms = p99_ms * 1.2, max_fps = 1;
    for (const auto& r : rows) {
        max_cams = std::max(max_cams, r.cameras);
        max_ms = std::max(max_ms, std::min(r.receipt_ms.p99, p99_ms * 4));
        max_fps = std::max(max_fps, r.fps);
    }
    const auto x = [&](double c) { return L + (W - L - R) * c / max_cams; };
    const auto y_ms = [&](double v) { return H - B - (H - T - B) * std::min(v, max_ms) / max_ms; };
    const auto y_fps = [&](double v) { return H - B - (H - T - B) * v / (max_fps * 1.1); };
    std::string s;
    char buf[512];
    const auto add = [&](const char* fmt, auto... a) {
        std::snprintf(buf, sizeof buf, fmt, a...);
        s += buf;
    };
    add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"DejaVu Sans, "
        "sans-serif\" "
        "font-size=\"12\"><rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
        W, H);
    std::string t;
    for (char c : title) t += c == '<' ? std::string("&lt;") : c == '&' ? std::string("&amp;") : std::string(1, c);
    add("<text x=\"%.0f\" y=\"24\" font-size=\"14\" font-weight=\"bold\">%s</text>\n", L, t.c_str());
    add("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>\n", L, H - B, W - R, H - B);
    add("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>\n", L, T, L, H - B);
    add("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>\n", W - R, T, W - R, H - B);
    add("<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#c62828\" stroke-dasharray=\"5 4\"/>\n", L,
        y_ms(p99_ms), W - R, y_ms(p99_ms));
    add("<text x=\"%.0f\" y=\"%.1f\" fill=\"#c62828\">p99 bound %.0f ms</text>\n", L + 6, y_ms(p99_ms) - 5, p99_ms);
    add("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">cameras</text>\n", (L + W - R) / 2, H - 20);
    add("<text x=\"16\" y=\"%.0f\" fill=\"#1565c0\" transform=\"rotate(-90 16 %.0f)\" text-anchor=\"middle\">receipt "
        "p99, ms</text>\n",
        (T + H - B) / 2, (T + H - B) / 2);
    add("<text x=\"%.0f\" y=\"%.0f\" fill=\"#2e7d32\" transform=\"rotate(90 %.0f %.0f)\" text-anchor=\"middle\">"
        "frames per second</text>\n",
        W - 20, (T + H - B) / 2, W - 20, (T + H - B) / 2);
    for (int k = 0; k <= 4; ++k) {
        const double v = max_ms * k / 4, f = max_fps * 1.1 * k / 4;
        add("<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1565c0\">%.0f</text>\n", L - 6, y_ms(v) + 4, v);
        add("<text x=\"%.0f\" y=\"%.1f\" fill=\"#2e7d32\">%.0f</text>\n", W - R + 6, y_fps(f) + 4, f);
    }
    std::string ms_path, fps_path;
    for (const auto& r : rows) {
        add("<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x(r.cameras), H - B + 16, r.cameras);
        ms_path += (ms_path.empty() ? "M" : " L") + std::to_string(x(r.cameras)) + "," +
                   std::to_string(y_ms(r.receipt_ms.p99));
        fps_path += (fps_path.empty() ? "M" : " L") + std::to_string(x(r.cameras)) + "," + std::to_string(y_fps(r.fps));
    }
    s += "<path d=\"" + ms_path + "\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\"/>\n";
    s +=
        "<path d=\"" + fps_path + "\" fill=\"none\" stroke=\"#2e7d32\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\n";
    int best = 0;
    for (const auto& r : rows) {
        add("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" stroke=\"#1565c0\"/>\n", x(r.cameras),
            y_ms(r.receipt_ms.p99), r.sustained ? "#1565c0" : "#fff");
        if (r.sustained) best = std::max(best, r.cameras);
    }
    add("<text x=\"%.0f\" y=\"42\">sustained (filled: no drop, every frame received, p99 under the bound): %d "
        "camera(s)</text>\n",
        L, best);
    s += "</svg>\n";
    return s;
}

} // namespace sightline::pipeline
