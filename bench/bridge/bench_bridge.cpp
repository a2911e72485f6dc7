// bench_bridge: how many pred messages per second `sightline bridge` (a whole process, as users run it) puts into a
// replicas-3, file-backed JetStream stream on loopback, against the anchor measured in the same run: libnats alone
// (no sightline code: js_PublishAsync in a loop, the same message sizes, a message id each, the same number in flight,
// every publish acknowledged by a quorum): the client library's and the cluster's own ceiling here. `nats bench`
// (natscli) would be the natural anchor, but Debian 12 does not package it and no Go registry is reachable here.
//
// The messages are a run's own pred messages (--recording), each made distinct (seq), fed to the bridge over ZeroMQ
// by this process as fast as the bridge takes them. The bridge's rate runs from the first message sent to the last
// one stored (the stream's message count, polled); its CPU per message from /proc (startup excluded). Each round
// checks that every message was stored once.
//
// Usage: bench_bridge --nats URLS [--recording RUN.slrec] [--messages N] [--rounds R] [--max-in-flight M] [--json]
// (bench/bridge/run_bench_bridge.py starts the 3-server cluster and runs this.)
#include <CLI/CLI.hpp>
#include <nats/nats.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "../linespeed/process_cpu.hpp"
#include "sightline/transport/jetstream.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"

using namespace sightline;
using namespace sightline::transport;
using Clock = std::chrono::steady_clock;

namespace {

double self_cpu_s() {
    return bench::process_cpu_ms() / 1e3;
}

/// A child's CPU so far (user + system, every thread) from /proc/PID/stat.
double child_cpu_s(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(f)), {});
    std::istringstream rest(all.substr(all.rfind(')') + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stod(field);
        if (i == 15) stime = std::stod(field);
    }
    return (utime + stime) / double(sysconf(_SC_CLK_TCK));
}

/// N distinct pred messages of the recording's sizes: its preds in turn, seq and time made unique.
std::vector<EncodedMessage> messages(const std::string& recording, std::size_t n) {
    std::vector<PredMessage> base;
    RecordingReader r(recording);
    std::string topic;
    Message m;
    while (r.next(topic, m))
        if (auto* p = std::get_if<PredMessage>(&m)) base.push_back(*p);
    if (base.empty()) throw std::runtime_error(recording + ": no pred message in it");
    std::vector<EncodedMessage> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        PredMessage p = base[i % base.size()];
        p.line = "bench", p.seq = i, p.time_ns = 1'800'000'000'000'000'000 + std::int64_t(i);
        out.push_back(encode_message(p));
    }
    return out;
}

struct Js {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    std::atomic<std::uint64_t> acked{0}, failed{0};
    Js(const std::string& urls, int max_pending) {
        natsOptions* o = nullptr;
        natsOptions_Create(&o);
        const auto servers = nats_servers({urls});
        std::vector<const char*> list;
        for (const auto& u : servers) list.push_back(u.c_str());
        natsOptions_SetServers(o, list.data(), int(list.size()));
        if (natsConnection_Connect(&nc, o) != NATS_OK) throw std::runtime_error("cannot connect to " + urls);
        natsOptions_Destroy(o);
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.MaxPending = max_pending;
        jo.PublishAsync.AckHandler = [](jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr*, void* c) {
            auto* self = static_cast<Js*>(c);
            (pa ? self->acked : self->failed)++;
            natsMsg_Destroy(msg);
        };
        jo.PublishAsync.AckHandlerClosure = this;
        natsConnection_JetStream(&js, nc, &jo);
    }
    ~Js() {
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
    }
    void make_stream(const std::string& name, const std::string& subject) {
        js_DeleteStream(js, name.c_str(), nullptr, nullptr);
        jsStreamConfig c;
        jsStreamConfig_Init(&c);
        const char* subjects[] = {subject.c_str()};
        c.Name = name.c_str(), c.Subjects = subjects, c.SubjectsLen = 1, c.Storage = js_FileStorage, c.Replicas = 3;
        c.Duplicates = std::int64_t(120) * 1'000'000'000;
        if (js_AddStream(nullptr, js, &c, nullptr, nullptr) != NATS_OK)
            throw std::runtime_error("cannot create stream " + name);
    }
    std::uint64_t stored(const std::string& name) {
        jsStreamInfo* si = nullptr;
        if (js_GetStreamInfo(&si, js, name.c_str(), nullptr, nullptr) != NATS_OK) return 0;
        const std::uint64_t n = si->State.Msgs;
        jsStreamInfo_Destroy(si);
        return n;
    }
};

struct Result {
    double rate = 0, cpu_us = 0;
    std::uint64_t stored = 0;
};

Result anchor(const std::string& urls, const std::vector<EncodedMessage>& msgs, int in_flight, int round) {
    Js j(urls, in_flight);
    const std::string stream = "ANCHOR" + std::to_string(round), prefix = "anchor" + std::to_string(round);
    j.make_stream(stream, prefix + ".>");
    const double cpu0 = self_cpu_s();
    const auto t0 = Clock::now();
    jsPubOptions po;
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        jsPubOptions_Init(&po);
        const std::string id = "a" + std::to_string(i);
        po.MsgId = id.c_str();
        const std::string subject = prefix + ".cam" + std::to_string(i % 16);
        while (js_PublishAsync(j.js, subject.c_str(), msgs[i].body.data(), int(msgs[i].body.size()), &po) != NATS_OK)
            std::this_thread::sleep_for(std::chrono::milliseconds(1)); // stalled at MaxPending: wait and go again
    }
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    js_PublishAsyncComplete(j.js, &po);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    Result r;
    r.cpu_us = (self_cpu_s() - cpu0) / double(msgs.size()) * 1e6;
    r.rate = double(msgs.size()) / wall;
    r.stored = j.stored(stream);
    js_DeleteStream(j.js, stream.c_str(), nullptr, nullptr);
    return r;
}

Result bridge(const std::string& binary, const std::string& urls, const std::vector<EncodedMessage>& msgs,
              int in_flight, int round) {
    const std::string stream = "BRIDGE" + std::to_string(round);
    Publisher pub({"tcp://127.0.0.1:*", int(msgs.size()) + 10, 1000, std::nullopt});
    const std::string endpoint = pub.bound_endpoint(), inflight = std::to_string(in_flight);
    const pid_t pid = fork();
    if (pid == 0) {
        execl(binary.c_str(), binary.c_str(), "--log-level", "warn", "bridge", "--connect", endpoint.c_str(), "--nats",
              urls.c_str(), "--stream", stream.c_str(), "--replicas", "3", "--max-in-flight", inflight.c_str(),
              "--report-s", "0", nullptr);
        _exit(127);
    }
    Js j(urls, 16);
    if (!pub.wait_for_subscribers(1, std::chrono::seconds(30))) throw std::runtime_error("the bridge did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // its stream made
    const double cpu0 = child_cpu_s(pid);
    const auto t0 = Clock::now();
    for (const auto& m : msgs)
        if (!pub.publish(m)) throw std::runtime_error("the feed dropped a message");
    Result r;
    const auto give_up = t0 + std::chrono::seconds(300);
    while ((r.stored = j.stored(stream)) < msgs.size() && Clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    r.cpu_us = (child_cpu_s(pid) - cpu0) / double(msgs.size()) * 1e6;
    r.rate = double(msgs.size()) / wall;
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    js_DeleteStream(j.js, stream.c_str(), nullptr, nullptr);
    return r;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_bridge: sightline bridge into a replicas-3 JetStream stream, against libnats alone"};
    std::string urls, recording = SIGHTLINE_SOURCE_DIR "/tests/fuzz/corpus/recording/today_40_records.slrec";
    std::string binary = SIGHTLINE_BINARY;
    std::size_t n = 50000;
    int rounds = 3, in_flight = 1024;
    bool json = false;
    app.add_option("--nats", urls, "the cluster's URLs, comma-separated")->required();
    app.add_option("--recording", recording, "pred messages to send (a run's recording)")->capture_default_str();
    app.add_option("--messages", n, "messages per round")->capture_default_str();
    app.add_option("--rounds", rounds, "rounds, anchor and bridge alternating")->capture_default_str();
    app.add_option("--max-in-flight", in_flight, "publishes awaiting their ack, both sides")->capture_default_str();
    app.add_option("--binary", binary, "the sightline launcher")->capture_default_str();
    app.add_flag("--json", json, "print the figures as JSON");
    CLI11_PARSE(app, argc, argv);
    nats_Open(-1);
    const auto msgs = messages(recording, n);
    std::size_t bytes = 0;
    for (const auto& m : msgs) bytes += m.body.size();
    std::vector<double> a_rate, b_rate, ratio, a_cpu, b_cpu;
    nlohmann::json out = {
        {"messages", n}, {"mean_bytes", double(bytes) / double(n)}, {"rounds", nlohmann::json::array()}};
    bool ok = true;
    for (int r = 0; r < rounds; ++r) {
        const Result a = anchor(urls, msgs, in_flight, r);
        const Result b = bridge(binary, urls, msgs, in_flight, r);
        ok = ok && a.stored == n && b.stored == n;
        a_rate.push_back(a.rate), b_rate.push_back(b.rate), ratio.push_back(b.rate / a.rate);
        a_cpu.push_back(a.cpu_us), b_cpu.push_back(b.cpu_us);
        std::fprintf(stderr,
                     "round %d: libnats alone %.0f msg/s (%.1f us CPU/msg, %lu stored), bridge %.0f msg/s (%.1f us "
                     "CPU/msg, %lu stored): %.2fx\n",
                     r + 1, a.rate, a.cpu_us, (unsigned long)a.stored, b.rate, b.cpu_us, (unsigned long)b.stored,
                     b.rate / a.rate);
        out["rounds"].push_back({{"anchor_rate", a.rate},
                                 {"anchor_cpu_us", a.cpu_us},
                                 {"anchor_stored", a.stored},
                                 {"bridge_rate", b.rate},
                                 {"bridge_cpu_us", b.cpu_us},
                                 {"bridge_stored", b.stored}});
    }
    out["median_ratio"] = median(ratio);
    out["median_anchor_rate"] = median(a_rate), out["median_bridge_rate"] = median(b_rate);
    out["median_bridge_cpu_us"] = median(b_cpu), out["median_anchor_cpu_us"] = median(a_cpu);
    out["every_message_stored_once"] = ok;
    std::printf("%s\n", json ? out.dump(1).c_str()
                             : ("bridge/anchor " + std::to_string(median(ratio)) + "x (median of " +
                                std::to_string(rounds) + ")")
                                   .c_str());
    nats_Close();
    return ok ? 0 : 1;
}
