// What CURVE costs (issue 24, item 4): CPU per message of the publishing process (the line's side) and of the
// subscribing one (a sink's), plain ZeroMQ against CURVE, at the line's rate and as fast as they go. Two processes
// over tcp loopback; each message a real pred of the demo line's size (a recording's, or made up when none is
// given). Checks its output: the subscriber must receive every message sent (lossless at these rates).
//
// Usage: bench_curve [--recording RUN.slrec] [--rate MSG_PER_S] [--seconds S] [--json]
// CPU per message: each process's own (getrusage, ZeroMQ's I/O thread included, where CURVE's work happens) over
// the messages it handled.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"
#include "sightline/transport/security.hpp"

using namespace sightline::transport;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::vector<EncodedMessage> messages(const std::string& recording) {
    std::vector<EncodedMessage> out;
    if (!recording.empty()) {
        RecordingReader r(recording);
        std::string topic;
        Message m;
        while (r.next(topic, m))
            if (std::holds_alternative<PredMessage>(m)) out.push_back(encode_message(m));
    }
    if (out.empty()) { // the demo line's typical frame: 6 detections
        PredMessage p;
        p.camera = "cam1", p.width = 640, p.height = 480, p.model = "parts-v1@1.0.0", p.time_ns = 1;
        for (int k = 0; k < 6; ++k) {
            p.boxes.insert(p.boxes.end(), {10.f * k, 20, 10.f * k + 40, 60});
            p.scores.push_back(0.8f), p.classes.push_back(k % 5), p.flags.push_back(0), p.margins.push_back(0.5f);
            p.entropies.push_back(0.1f), p.track_ids.push_back(k);
        }
        p.stamps_ns = {{"arrival", 1}, {"decoded", 2}, {"batched", 3}, {"inferred", 4}, {"published", 5}};
        p.meta = {{"line", "L1"}, {"location", "bay1"}};
        p.luma = 100, p.sharpness = 300, p.uncertainty = 0.2f;
        out.push_back(encode_message(p));
    }
    return out;
}

struct Side {
    double cpu_s = 0;
    std::uint64_t messages = 0;
};

/// The sink's side, in a process of its own (ZeroMQ contexts do not survive a fork): subscribes (CURVE when keys
/// are given), counts until `total` arrive or 10 s of silence, prints "messages cpu_s".
int sink(const std::string& endpoint, std::uint64_t total, const std::string& keys) {
    std::vector<CurveClient> c;
    if (!keys.empty()) { // "client_public client_secret server_public"
        c.push_back({{keys.substr(0, 40), keys.substr(41, 40)}, keys.substr(82, 40)});
    }
    Subscriber sub({endpoint}, {""}, 1000000, c);
    std::printf("ready\n");
    std::fflush(stdout);
    const double c0 = cpu_s();
    std::uint64_t n = 0;
    while (n < total && sub.receive(std::chrono::milliseconds(10000))) ++n;
    std::printf("%llu %.6f\n", static_cast<unsigned long long>(n), cpu_s() - c0);
    return 0;
}

/// One run: a sink process (this binary again) and this process publishing `total` messages at `rate` per second
/// (0: as fast as it can, waiting only at the high-water mark).
std::pair<Side, Side> one_run(const std::string& self, bool curve, double rate, std::uint64_t total,
                              const std::vector<EncodedMessage>& msgs) {
    CurveKeyPair server, client;
    if (curve) {
        char pub[41], sec[41];
        zmq_curve_keypair(pub, sec), server = {pub, sec};
        zmq_curve_keypair(pub, sec), client = {pub, sec};
    }
    PublisherOptions o{"tcp://127.0.0.1:*", 1000000, 2000};
    if (curve) o.curve = CurveServer{server, {client.public_key}};
    Publisher pub(o);
    const std::string cmd = self + " --sink " + pub.bound_endpoint() + " --total " + std::to_string(total) +
                            (curve ? " --keys '" + client.public_key + " " + client.secret_key + " " +
                                         server.public_key + "'"
                                   : std::string());
    std::unique_ptr<FILE, int (*)(FILE*)> child(popen(cmd.c_str(), "r"), &pclose);
    char line[256] = {};
    if (!child || !std::fgets(line, sizeof line, child.get())) throw std::runtime_error("the sink did not start");
    pub.wait_for_subscribers(1, std::chrono::seconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const double c0 = cpu_s();
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < total; ++i) {
        if (rate > 0) std::this_thread::sleep_until(t0 + std::chrono::duration<double>(i / rate));
        while (!pub.publish(msgs[i % msgs.size()])) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    Side p{cpu_s() - c0, total};
    Side s;
    unsigned long long n = 0;
    if (std::fgets(line, sizeof line, child.get()) && std::sscanf(line, "%llu %lf", &n, &s.cpu_s) == 2) s.messages = n;
    return {p, s};
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app("What CURVE costs: CPU per message, plain ZeroMQ against CURVE");
    std::string recording;
    double rate = 360, seconds = 20;
    bool json = false;
    app.add_option("--recording", recording, "pred messages to send (a run's recording); default: a made-up one");
    app.add_option("--rate", rate, "messages per second at the line's rate (12 cameras x 30 fps = 360)")
        ->capture_default_str();
    app.add_option("--seconds", seconds, "seconds at that rate")->capture_default_str();
    app.add_flag("--json", json, "print one JSON line");
    std::string sink_endpoint, sink_keys;
    std::uint64_t sink_total = 0;
    app.add_option("--sink", sink_endpoint, "(internal) run as the subscribing process")->group("");
    app.add_option("--total", sink_total, "(internal)")->group("");
    app.add_option("--keys", sink_keys, "(internal)")->group("");
    CLI11_PARSE(app, argc, argv);
    if (!sink_endpoint.empty()) return sink(sink_endpoint, sink_total, sink_keys);
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    const auto msgs = messages(recording);
    std::size_t bytes = 0;
    for (const auto& m : msgs) bytes += m.body.size();
    const auto line_total = static_cast<std::uint64_t>(rate * seconds);
    const std::uint64_t burst_total = 200000;
    nlohmann::json j = {{"message_bytes", bytes / msgs.size()}, {"rate", rate}, {"seconds", seconds}};
    bool ok = true;
    std::printf("message %zu bytes; line rate %.0f msg/s for %.0f s; burst %llu messages\n", bytes / msgs.size(), rate,
                seconds, static_cast<unsigned long long>(burst_total));
    std::printf("%-6s %-7s %14s %14s %12s\n", "mode", "load", "line us/msg", "sink us/msg", "msg/s");
    for (const bool curve : {false, true})
        for (const bool burst : {false, true}) {
            const auto total = burst ? burst_total : line_total;
            const auto t0 = Clock::now();
            const auto [p, s] = one_run(self, curve, burst ? 0 : rate, total, msgs);
            const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
            const double pu = 1e6 * p.cpu_s / total, su = 1e6 * s.cpu_s / std::max<std::uint64_t>(1, s.messages);
            ok = ok && s.messages == total;
            const std::string key = std::string(curve ? "curve" : "plain") + (burst ? "_burst" : "_line");
            j[key] = {{"line_us_per_msg", pu}, {"sink_us_per_msg", su}, {"received", s.messages},
                      {"msg_per_s", total / wall}};
            std::printf("%-6s %-7s %14.2f %14.2f %12.0f%s\n", curve ? "curve" : "plain", burst ? "burst" : "line", pu,
                        su, total / wall, s.messages == total ? "" : "  LOST MESSAGES");
        }
    const double r_line = j["curve_line"]["line_us_per_msg"].get<double>() / j["plain_line"]["line_us_per_msg"].get<double>();
    const double r_sink = j["curve_line"]["sink_us_per_msg"].get<double>() / j["plain_line"]["sink_us_per_msg"].get<double>();
    j["curve_over_plain_line"] = r_line, j["curve_over_plain_sink"] = r_sink;
    std::printf("CURVE / plain at the line's rate: line %.2fx, sink %.2fx CPU per message\n", r_line, r_sink);
    if (json) std::printf("%s\n", j.dump().c_str());
    if (!ok) std::fprintf(stderr, "bench_curve: messages were lost: the figures do not count\n");
    return ok ? 0 : 1;
}
