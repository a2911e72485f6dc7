// bench_monitor_scale: can one `sightline monitor` keep up with 256 cameras x 30 fps of pred messages? This
// process publishes them (8 detections each, encoded once up front) paced in stream order, to two receivers run as
// whole processes one after the other: the anchor (this binary with --receive: receive + msgpack-decode, nothing
// else: the ceiling of the path) and `sightline monitor --until-run-end`. Each is measured by wait4() (CPU, peak
// memory) and sampled for resident memory during the run; the monitor must report no sequence gaps and every
// message. Then the same without pacing (as fast as the publisher goes) for each receiver's ceiling rate.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "sightline/transport/pubsub.hpp"

using namespace sightline;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<transport::EncodedMessage> make_messages(int cameras, int fps, double seconds) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(0, 1);
    const int frames = static_cast<int>(fps * seconds);
    std::vector<transport::EncodedMessage> out;
    out.reserve(static_cast<std::size_t>(frames) * cameras);
    for (int f = 0; f < frames; ++f)
        for (int c = 0; c < cameras; ++c) {
            transport::PredMessage p;
            p.camera = "cam" + std::to_string(c + 1), p.seq = f, p.frame = f;
            p.pts_ns = static_cast<std::int64_t>(f) * 1'000'000'000 / fps;
            p.width = 1920, p.height = 1080, p.model = "parts-v1@1.0.0";
            for (int k = 0; k < 8; ++k) {
                const float x = 1800 * u(rng), y = 1000 * u(rng), s = 20 + 60 * u(rng);
                p.boxes.insert(p.boxes.end(), {x, y, x + s, y + s});
                p.scores.push_back(0.25f + 0.75f * u(rng));
                p.classes.push_back(static_cast<int>(6 * u(rng)));
                p.flags.push_back(u(rng) < 0.1f ? 1u : 0u);
                p.margins.push_back(u(rng)), p.entropies.push_back(u(rng));
            }
            const std::int64_t t0 = p.pts_ns;
            p.stamps_ns = {{"arrival", t0},
                           {"decoded", t0 + 3'000'000},
                           {"batched", t0 + 5'000'000},
                           {"inferred", t0 + 15'000'000},
                           {"published", t0 + 16'000'000}};
            p.meta = {{"line", "L1"}, {"site", "plant-a"}};
            p.luma = 60 + 20 * u(rng);
            p.time_ns = 1'700'000'000'000'000'000 + t0;
            out.push_back(transport::encode_message(p));
        }
    return out;
}

struct Measured {
    double wall_s = 0, cpu_s = 0, peak_mb = 0; ///< peak: the last VmHWM sampled (within a sample of the end)
    std::vector<double> rss_mb;                ///< sampled during the run
    std::string output;                        ///< the receiver's stderr
    int status = 0;
};

/// Runs `argv` as a child, publishes `msgs` (paced at `rate` messages/s, 0: as fast as possible) once it has
/// subscribed, then a run_end event; waits for it to exit.
Measured run_receiver(std::vector<std::string> argv, transport::Publisher& pub,
                      const std::vector<transport::EncodedMessage>& msgs, double rate) {
    int err[2];
    if (pipe(err) != 0) throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(err[1], 2);
        close(err[0]);
        std::vector<char*> a;
        for (auto& s : argv) a.push_back(s.data());
        a.push_back(nullptr);
        execv(a[0], a.data());
        _exit(127);
    }
    close(err[1]);
    std::string output;
    std::thread reader([&] {
        char buf[4096];
        for (ssize_t n; (n = read(err[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<std::size_t>(n));
    });
    Measured m;
    if (!pub.wait_for_subscribers(1, std::chrono::seconds(20))) throw std::runtime_error("receiver never subscribed");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto t0 = Clock::now();
    auto next_sample = t0;
    const std::string status_path = "/proc/" + std::to_string(pid) + "/status";
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        if (rate > 0)
            std::this_thread::sleep_until(
                t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(i) / rate)));
        while (!pub.publish(msgs[i])) std::this_thread::sleep_for(std::chrono::microseconds(50)); // never drop
        if (Clock::now() >= next_sample) {
            std::ifstream st(status_path);
            for (std::string line; std::getline(st, line);) {
                if (line.rfind("VmRSS:", 0) == 0) m.rss_mb.push_back(std::stod(line.substr(6)) / 1024);
                if (line.rfind("VmHWM:", 0) == 0) m.peak_mb = std::stod(line.substr(6)) / 1024;
            }
            next_sample += std::chrono::milliseconds(rate > 0 ? 5000 : 200);
        }
    }
    transport::EventMessage end{"run_end", "", "bench done", 0};
    pub.publish(end);
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    m.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    reader.join();
    close(err[0]);
    m.cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    // (ru_maxrss would count the pages the child shared with this process between fork and exec)
    m.output = output;
    m.status = status;
    return m;
}

int receive_only(const std::string& endpoint) {
    transport::Subscriber sub(endpoint, {""});
    std::uint64_t preds = 0, bytes = 0;
    for (;;) {
        auto r = sub.receive(std::chrono::milliseconds(1000));
        if (!r) continue;
        if (const auto* p = std::get_if<transport::PredMessage>(&r->message))
            ++preds, bytes += p->scores.size();
        else if (const auto* e = std::get_if<transport::EventMessage>(&r->message); e && e->kind == "run_end")
            break;
    }
    std::fprintf(stderr, "received %llu pred messages (%llu detections)\n", static_cast<unsigned long long>(preds),
                 static_cast<unsigned long long>(bytes));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_monitor_scale: one monitor against 256 cameras x 30 fps of pred messages, against the raw "
                 "receive + decode rate of the same messages"};
    int cameras = 256, fps = 30;
    double seconds = 30;
    std::string sightline = SIGHTLINE_BINARY, receive_endpoint;
    app.add_option("--cameras", cameras)->capture_default_str();
    app.add_option("--fps", fps)->capture_default_str();
    app.add_option("--seconds", seconds, "stream seconds published paced")->capture_default_str();
    app.add_option("--sightline", sightline)->capture_default_str();
    app.add_option("--receive", receive_endpoint, "(internal) be the anchor receiver on this endpoint");
    CLI11_PARSE(app, argc, argv);
    if (!receive_endpoint.empty()) return receive_only(receive_endpoint);

    const auto msgs = make_messages(cameras, fps, seconds);
    const std::size_t body = msgs.front().body.size();
    std::printf("%zu pred messages (%d cameras x %d fps x %.0f s), %zu bytes each\n", msgs.size(), cameras, fps,
                seconds, body);
    transport::Publisher pub({"tcp://127.0.0.1:*", 1'000'000, 2000});
    const std::string ep = pub.bound_endpoint();
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    const double rate = double(cameras) * fps;
    auto monitor_argv = [&] {
        return std::vector<std::string>{sightline, "--log-level",    "info", "monitor", "--connect",
                                        ep,        "--until-run-end"};
    };
    nlohmann::json report;
    bool ok = true;
    for (const bool paced : {true, false}) {
        const auto anchor = run_receiver({self, "--receive", ep}, pub, msgs, paced ? rate : 0);
        const auto mon = run_receiver(monitor_argv(), pub, msgs, paced ? rate : 0);
        std::smatch mm;
        const std::regex done(
            R"(monitor: (\d+) messages, \d+ line\(s\), (\d+) camera\(s\), (\d+) sequence-gap message)");
        const bool parsed = std::regex_search(mon.output, mm, done);
        const std::uint64_t got = parsed ? std::stoull(mm[1]) : 0, gaps = parsed ? std::stoull(mm[3]) : ~0ull;
        const bool anchor_ok =
            anchor.output.find("received " + std::to_string(msgs.size()) + " pred") != std::string::npos;
        const bool mon_ok = parsed && got == msgs.size() + 1 && gaps == 0 && WEXITSTATUS(mon.status) == 0;
        ok = ok && anchor_ok && mon_ok;
        const double n = double(msgs.size());
        const char* mode = paced ? "paced" : "unpaced";
        std::printf("\n%s (%s): anchor %.0f msg/s, %.2f us CPU/msg, peak %.0f MB | monitor %.0f msg/s, %.2f us "
                    "CPU/msg, peak %.0f MB, gaps %llu, messages %llu | CPU ratio monitor/anchor %.2f\n",
                    mode, paced ? "256 x 30 fps" : "as fast as published", n / anchor.wall_s, anchor.cpu_s / n * 1e6,
                    anchor.peak_mb, n / mon.wall_s, mon.cpu_s / n * 1e6, mon.peak_mb,
                    static_cast<unsigned long long>(gaps), static_cast<unsigned long long>(got),
                    mon.cpu_s / std::max(anchor.cpu_s, 1e-9));
        std::string rss;
        for (double r : mon.rss_mb) rss += std::to_string(static_cast<int>(r)) + " ";
        std::printf("  monitor resident MB over the run: %s\n", rss.c_str());
        if (!anchor_ok) std::printf("  ANCHOR FAILED: %s\n", anchor.output.c_str());
        if (!mon_ok)
            std::printf("  MONITOR FAILED (exit %d): %s\n", WEXITSTATUS(mon.status),
                        mon.output.substr(mon.output.size() > 600 ? mon.output.size() - 600 : 0).c_str());
        report[mode] = {{"messages", msgs.size()},
                        {"anchor_msg_per_s", n / anchor.wall_s},
                        {"anchor_cpu_us_per_msg", anchor.cpu_s / n * 1e6},
                        {"monitor_msg_per_s", n / mon.wall_s},
                        {"monitor_cpu_us_per_msg", mon.cpu_s / n * 1e6},
                        {"monitor_peak_mb", mon.peak_mb},
                        {"monitor_rss_mb", mon.rss_mb},
                        {"monitor_gaps", gaps},
                        {"cpu_ratio", mon.cpu_s / std::max(anchor.cpu_s, 1e-9)},
                        {"rate_ratio", anchor.wall_s / mon.wall_s}};
    }
    std::printf("%s\n", report.dump().c_str());
    return ok ? 0 : 1;
}
