#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "sightline/error.hpp"
#include "sightline/pipeline/dataset.hpp"
#include "sightline/transport/checks.hpp"
#include "sightline/transport/samples.hpp"

namespace sightline::pipeline {

namespace {
/// The lines' samples channel.
class ChannelSource final : public SampleSource {
  public:
    explicit ChannelSource(const CollectorOptions& o) : window_(o.window), r_({o.endpoints, o.window, 0.5, o.curve}) {
        for (const auto& e : o.endpoints) spdlog::info("collect: taking samples from {}", e);
    }
    std::optional<Sample> receive(std::chrono::milliseconds timeout) override {
        auto got = r_.receive(timeout);
        if (!got) return std::nullopt;
        return Sample{got->source, std::move(got->topic), std::move(got->body)};
    }
    void ack(std::size_t source, const std::string& id) override { r_.ack(source, id); }
    void nack(std::size_t source, const std::string& id, const std::string& why) override { r_.nack(source, id, why); }
    void reject(std::size_t source, const std::string& id, const std::string& why) override {
        r_.reject(source, id, why);
    }
    void set_taking(bool taking) override { r_.set_window(taking ? window_ : 0); }
    std::string name(std::size_t source) const override { return r_.endpoint(source); }
    std::optional<std::string> problem() override { return r_.problem(); }
    std::optional<std::chrono::steady_clock::time_point> line_heard() const override { return r_.line_heard(); }

  private:
    int window_;
    transport::SampleReceiver r_;
};
/// How long the collector has heard nothing from its lines: no sample, and no line saying it is alive (a line whose
/// sampling window is still open says so every second). Warned once per silence.
class Silence {
  public:
    using Clock = std::chrono::steady_clock;
    void sample() {
        if (said_) spdlog::info("collect: samples again"), said_ = false;
        last_ = Clock::now();
    }
    /// Seconds of silence now, given when a line last said it is alive.
    double check(std::optional<Clock::time_point> heard, bool received) {
        const double quiet =
            std::chrono::duration<double>(Clock::now() - std::max(last_, heard.value_or(last_))).count();
        if (quiet >= kQuietS && !said_) {
            spdlog::warn("collect: no line heard for {:.0f} s{} (no sample, and no line saying it is alive: is a "
                         "line running with its publish.samples at this endpoint?)",
                         quiet, received || heard ? "" : " since start");
            said_ = true;
        }
        if (quiet < kQuietS && said_) spdlog::info("collect: a line heard again"), said_ = false;
        return quiet;
    }

  private:
    static constexpr double kQuietS = 5;    ///< a collector that hears nothing for this long says so
    Clock::time_point last_ = Clock::now(); ///< the last sample
    bool said_ = false;
};
} // namespace

CollectorSummary run_collector(const CollectorOptions& o, const std::atomic<bool>& stop) {
    ChannelSource source(o); // ZeroMQ connects lazily: a refused dataset below still comes first
    return run_collector(o, source, stop);
}

CollectorSummary run_collector(const CollectorOptions& o, SampleSource& receiver, const std::atomic<bool>& stop) {
    using Clock = std::chrono::steady_clock;
    Dataset dataset(o.out);
    spdlog::info("collect: {} samples already in {}", dataset.size(), o.out.string());
    CollectorSummary s;
    transport::LogEvery malformed_log;
    Silence silence;
    Clock::time_point paused_until{};
    while (!stop.load()) {
        if (paused_until != Clock::time_point{} && Clock::now() >= paused_until) {
            receiver.set_taking(true); // try writing again
            paused_until = {};
        }
        auto r = receiver.receive(std::chrono::milliseconds(100));
        if (!r) {
            // a wrong endpoint is not a quiet line: say what answered there and stop
            if (auto problem = receiver.problem()) throw Error(ErrorCode::kTransport, "collect: " + *problem);
            const double quiet = silence.check(receiver.line_heard(), s.received > 0);
            if (o.idle_exit_s > 0 && quiet >= o.idle_exit_s) {
                spdlog::info("collect: nothing for {} s: stopping", o.idle_exit_s);
                break;
            }
            continue;
        }
        silence.sample();
        ++s.received;
        transport::SampleMessage m;
        try {
            m = transport::decode_sample(r->body);
        } catch (const Error& e) { // rejected by id where one can be read: the line drops it instead of resending
            ++s.malformed;
            const auto id = transport::sample_id_of(r->body);
            if (id) receiver.reject(r->source, *id, e.what());
            if (malformed_log.due())
                spdlog::error("collect: a malformed sample from {} (topic '{}'{}), rejected ({} so far): {}",
                              receiver.name(r->source), transport::printable(r->topic),
                              id ? ", id " + transport::printable(*id) : std::string(), s.malformed, e.what());
            if (o.on_counts) o.on_counts(s);
            continue;
        }
        bool added = false;
        try {
            added = dataset.add(m);
        } catch (const Error& e) { // not durable: refused, so the line keeps it and sends it again
            ++s.write_failures;
            receiver.nack(r->source, m.id, e.what());
            spdlog::error("collect: sample {} not written, refused (the line keeps it): {}", m.id, e.what());
            receiver.set_taking(false); // take nothing for a second, then try again
            paused_until = Clock::now() + std::chrono::seconds(1);
            if (o.on_counts) o.on_counts(s);
            continue;
        }
        receiver.ack(r->source, m.id); // only now: the image and its row are durable
        (added ? s.added : s.duplicates)++;
        if (o.on_sample) {
            DatasetSample d;
            d.id = m.id, d.line = m.pred.line, d.camera = m.pred.camera, d.frame = m.pred.frame;
            d.pts_ns = m.pred.pts_ns;
            d.strategy = m.strategy, d.tags = m.tags, d.reasons = m.reasons, d.uncertainty = m.pred.uncertainty;
            d.flags = transport::flag_names(m.pred.frame_flags);
            o.on_sample(d, added);
        }
        if (o.on_counts) o.on_counts(s);
        if (o.max_samples > 0 && s.added >= o.max_samples) break;
    }
    // answers still queued go out before the sockets close (linger)
    spdlog::info("collect: {} received, {} added, {} duplicates, {} malformed, {} write failures; {} samples in {}",
                 s.received, s.added, s.duplicates, s.malformed, s.write_failures, dataset.size(), o.out.string());
    return s;
}

} // namespace sightline::pipeline
