#include "sightline/pipeline/bridge.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include "sightline/error.hpp"
#include "sightline/pipeline/metrics.hpp"
#include "sightline/transport/checks.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/samples.hpp"

namespace sightline::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

std::string kind_of(const transport::Message& m) {
    if (const auto* p = std::get_if<transport::PredMessage>(&m)) return p->shadow ? "shadow" : "pred";
    return std::holds_alternative<transport::StatMessage>(m) ? "stat" : "event";
}

const std::string& line_of(const transport::Message& m) {
    return std::visit([](const auto& x) -> const std::string& { return x.line; }, m);
}

struct Bridge {
    const BridgeOptions& o;
    transport::JetStreamWriter writer;
    BridgeMetrics metrics;
    std::optional<transport::Subscriber> sub;
    std::optional<transport::SampleReceiver> samples;
    BridgeSummary s;
    std::uint64_t next_token = 1;
    std::deque<std::pair<std::uint64_t, Clock::time_point>> taken;                    ///< token, when: for the lag
    std::unordered_map<std::uint64_t, std::pair<std::size_t, std::string>> sample_of; ///< token -> source, id
    std::map<std::string, std::uint64_t> last_seq;                                    ///< line/kind/camera -> seq
    transport::LogEvery malformed_log, fail_log;

    explicit Bridge(const BridgeOptions& opt) : o(opt), writer(opt.writer), metrics(opt.http) {
        writer.ensure_stream(o.stream);
        if (!o.samples.empty()) writer.ensure_stream(o.samples_stream);
        if (!o.endpoints.empty()) sub.emplace(o.endpoints, std::vector<std::string>{""}, 100000, o.curve);
        if (!o.samples.empty())
            samples.emplace(transport::SampleReceiverOptions{o.samples, o.sample_window, 0.5, o.samples_curve});
    }

    void count_gap(const std::string& who, std::uint64_t seq) {
        auto [it, first] = last_seq.try_emplace(who, seq);
        if (!first) s.gaps += transport::seq_gap(it->second, seq), it->second = seq;
    }

    void take(transport::EncodedMessage raw) {
        if (auto k = transport::peek_pred(raw.body)) { // the bulk: a pred's key without decoding it
            const std::string& line = k->line.empty() ? o.default_line : k->line;
            count_gap(line + (k->shadow ? "/shadow/" : "/pred/") + k->camera, k->seq);
            publish(line, k->shadow ? "shadow" : "pred", transport::jetstream_subject(*k, o.default_line),
                    std::move(raw.body), transport::jetstream_msg_id(*k, o.default_line));
            return;
        }
        transport::Message m;
        try {
            m = transport::decode(raw.body);
        } catch (const Error& e) {
            ++s.malformed;
            if (malformed_log.due())
                spdlog::error("bridge: a malformed message (topic '{}') skipped ({} so far): {}",
                              transport::printable(raw.topic), s.malformed, e.what());
            return;
        }
        if (const auto* p = std::get_if<transport::PredMessage>(&m))
            count_gap(line_of(m) + "/" + kind_of(m) + "/" + p->camera, p->seq);
        publish(line_of(m).empty() ? o.default_line : line_of(m), kind_of(m),
                transport::jetstream_subject(m, o.default_line), std::move(raw.body),
                transport::jetstream_msg_id(m, o.default_line));
    }

    void publish(const std::string& line, const std::string& kind, std::string subject, std::string body,
                 std::string msg_id) {
        ++s.received;
        metrics.received(line, kind);
        const std::uint64_t token = next_token++;
        taken.emplace_back(token, Clock::now());
        writer.publish(std::move(subject), std::move(body), std::move(msg_id), token);
    }

    void take_sample(transport::SampleReceiver::Received r) {
        transport::SampleMessage m;
        try {
            m = transport::decode_sample(r.body);
        } catch (const Error& e) {
            ++s.malformed;
            const auto id = transport::sample_id_of(r.body);
            if (id) samples->reject(r.source, *id, e.what());
            if (malformed_log.due())
                spdlog::error("bridge: a malformed sample from {} rejected ({} so far): {}",
                              samples->endpoint(r.source), s.malformed, e.what());
            return;
        }
        ++s.samples;
        metrics.received(m.pred.line.empty() ? o.default_line : m.pred.line, "sample");
        const std::uint64_t token = next_token++;
        taken.emplace_back(token, Clock::now());
        sample_of[token] = {r.source, m.id};
        writer.publish(transport::jetstream_sample_subject(m, o.default_line), std::move(r.body), m.id, token);
    }

    void settle() {
        for (const std::uint64_t token : writer.take_refused()) { // too large for JetStream: said, never resent
            if (auto it = sample_of.find(token); it != sample_of.end()) {
                samples->reject(it->second.first, it->second.second, "JetStream refused it: " + writer.last_error());
                sample_of.erase(it);
            }
            spdlog::error("bridge: a message JetStream can never store was dropped ({} so far): {}",
                          writer.counters().refused, writer.last_error());
        }
        for (const std::uint64_t token : writer.take_acknowledged()) {
            if (auto it = sample_of.find(token); it != sample_of.end()) {
                samples->ack(it->second.first, it->second.second); // only now: JetStream stored it
                sample_of.erase(it);
            }
            while (!taken.empty() && taken.front().first <= token) taken.pop_front();
        }
        if (writer.counters().failures > 0 && fail_log.due() && !writer.last_error().empty())
            spdlog::warn("bridge: {} publishes failed so far (sent again in order): last {}",
                         writer.counters().failures, writer.last_error());
    }

    void update_metrics() {
        const auto& c = writer.counters();
        metrics.update({c.published, c.acked, c.duplicates, c.retried, c.failures, s.malformed, s.gaps,
                        double(writer.in_flight()), double(writer.held()), lag_s(), writer.connected()});
    }

    double lag_s() const {
        return taken.empty() ? 0.0 : std::chrono::duration<double>(Clock::now() - taken.front().second).count();
    }

    /// One turn: what the lines sent (up to a batch), then JetStream's answers. It waits (at most 1 ms, for a
    /// message) only when the turn before found nothing to do.
    void turn() {
        const auto wait = std::chrono::milliseconds(idle ? 1 : 0);
        std::size_t took = 0;
        for (int i = 0; sub && i < 512; ++i, ++took) {
            std::optional<transport::EncodedMessage> raw;
            try {
                raw = sub->receive_raw(i == 0 ? wait : std::chrono::milliseconds(0));
            } catch (const Error& e) {
                ++s.malformed;
                if (malformed_log.due()) spdlog::error("bridge: {}", e.what());
                continue;
            }
            if (!raw) break;
            take(std::move(*raw));
        }
        for (int i = 0; samples && i < 64; ++i, ++took) {
            auto r = samples->receive(std::chrono::milliseconds(0));
            if (!r) break;
            take_sample(std::move(*r));
        }
        const std::uint64_t acked = writer.counters().acked;
        writer.pump(std::chrono::milliseconds(0));
        settle();
        idle = took == 0 && writer.counters().acked == acked;
    }
    bool idle = false;
};

} // namespace

BridgeSummary run_bridge(const BridgeOptions& o, const std::atomic<bool>& stop) {
    if (o.endpoints.empty() && o.samples.empty())
        throw Error(ErrorCode::kBadInput, "bridge: give --connect ENDPOINT (a line's publish endpoint) or --samples");
    Bridge b(o);
    for (const auto& e : o.endpoints) spdlog::info("bridge: taking messages from {}", e);
    for (const auto& e : o.samples) spdlog::info("bridge: taking samples from {}", e);
    spdlog::info("bridge: into JetStream stream {} (replicas {}){}", o.stream.name, o.stream.replicas,
                 o.samples.empty() ? "" : ", samples into " + o.samples_stream.name);
    const auto start = Clock::now();
    auto next_report = start + std::chrono::milliseconds(static_cast<long>(o.report_s * 1000));
    auto next_metrics = start;
    while (!stop.load()) {
        b.turn();
        const auto now = Clock::now();
        if (now >= next_metrics) b.update_metrics(), next_metrics = now + std::chrono::seconds(1);
        if (o.report_s > 0 && now >= next_report) {
            const auto& c = b.writer.counters();
            spdlog::info("bridge: {} messages and {} samples taken, {} acknowledged ({} duplicates), {} sent again, "
                         "{} in flight, lag {:.2f} s{}",
                         b.s.received, b.s.samples, c.acked, c.duplicates, c.retried, b.writer.in_flight(), b.lag_s(),
                         b.writer.connected() ? "" : ", NATS disconnected");
            next_report = now + std::chrono::milliseconds(static_cast<long>(o.report_s * 1000));
        }
        if (o.seconds > 0 && now - start >= std::chrono::milliseconds(static_cast<long>(o.seconds * 1000))) break;
    }
    if (!b.writer.drain(std::chrono::seconds(10)))
        spdlog::warn("bridge: {} messages not acknowledged at the end (samples among them stay at their line)",
                     b.writer.held());
    b.settle();
    b.s.writer = b.writer.counters();
    b.s.unacknowledged = b.writer.held();
    spdlog::info("bridge: {} messages and {} samples taken, {} acknowledged ({} duplicates), {} sent again, {} "
                 "malformed, {} missing before the bridge (seq gaps)",
                 b.s.received, b.s.samples, b.s.writer.acked, b.s.writer.duplicates, b.s.writer.retried, b.s.malformed,
                 b.s.gaps);
    return b.s;
}

} // namespace sightline::pipeline
