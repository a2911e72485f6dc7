#include "sightline/pipeline/jetstream_sinks.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <thread>

#include "sightline/error.hpp"
#include "sightline/pipeline/line.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {

namespace {

std::string where(const transport::JetStreamReaderOptions& r) {
    return "stream " + r.stream + " (consumer " + r.durable + ")";
}

std::int64_t time_of(const transport::Message& m, std::int64_t stored_ns) {
    const std::int64_t t = std::visit([](const auto& x) { return x.time_ns; }, m);
    return t > 0 ? t : stored_ns;
}

} // namespace

void watch_jetstream(MonitorSession& session, const JetStreamWatchOptions& w, const std::atomic<bool>& stop) {
    transport::JetStreamReader reader(w.reader);
    spdlog::info("monitor: reading {}", where(w.reader));
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto last_tick = start, last_heard = start;
    std::size_t started = 0, ended = 0;
    bool said_quiet = false, done = false;
    std::int64_t stream_now = 0;    ///< the wall time of the newest message fed
    std::vector<std::uint64_t> fed; ///< fed since the last tick: acknowledged once it committed
    while (!stop.load() && !done) {
        const auto batch = reader.fetch(std::chrono::milliseconds(200));
        for (const auto& r : batch) {
            try {
                const transport::Message m = transport::decode(r.body);
                stream_now = time_of(m, r.stored_ns);
                session.feed(m, stream_now);
                fed.push_back(r.stream_seq);
                const auto* e = std::get_if<transport::EventMessage>(&m);
                started += e && e->kind == "run_start";
                if (e && e->kind == "run_end" && ++ended >= std::max<std::size_t>(1, started) && w.until_run_end)
                    done = true;
            } catch (const Error& e) {
                session.malformed(std::string(where(w.reader)) + ", subject '" + transport::printable(r.subject) +
                                  "', sequence " + std::to_string(r.stream_seq) + ": " + e.what());
                reader.term(r.stream_seq);
            }
        }
        const auto now = Clock::now();
        if (!batch.empty()) {
            if (said_quiet) spdlog::info("monitor: messages again from {}", where(w.reader));
            said_quiet = false, last_heard = now;
        }
        const bool caught_up = batch.empty() || batch.back().pending == 0;
        if (now - last_tick >= std::chrono::seconds(1) || done) {
            // a backlog ticks at its own time (as a replay); a consumer that caught up at the wall clock (silence)
            session.tick(caught_up ? std::max(stream_now, wall_clock_ns()) : stream_now);
            for (const auto seq : fed) reader.ack(seq);
            fed.clear();
            last_tick = now;
            const double quiet = std::chrono::duration<double>(now - last_heard).count();
            session.quiet(quiet);
            if (quiet >= w.quiet_s && !said_quiet) {
                spdlog::warn("monitor: nothing new in {} for {:.0f} s{}", where(w.reader), quiet,
                             reader.connected() ? "" : " (NATS disconnected)");
                said_quiet = true;
            }
            if (w.until_run_end && w.give_up_s > 0 && quiet >= w.give_up_s)
                throw Error(ErrorCode::kTransport, "monitor: nothing new in " + where(w.reader) + " for " +
                                                       std::to_string(static_cast<int>(quiet)) +
                                                       " s with --until-run-end (--give-up-s): giving up");
        }
        if (w.seconds > 0 && now - start >= std::chrono::duration<double>(w.seconds)) break;
    }
    session.tick(std::max(stream_now, wall_clock_ns()));
    for (const auto seq : fed) reader.ack(seq);
}

namespace {

class JetStreamSamples final : public SampleSource {
  public:
    explicit JetStreamSamples(const transport::JetStreamReaderOptions& o) : name_(where(o)), reader_(o) {
        spdlog::info("collect: taking samples from {}", name_);
    }
    std::optional<Sample> receive(std::chrono::milliseconds timeout) override {
        if (queue_.empty() && taking_) {
            for (auto& r : reader_.fetch(timeout)) queue_.push_back(std::move(r));
        } else if (queue_.empty()) {
            std::this_thread::sleep_for(timeout);
        }
        if (queue_.empty()) return std::nullopt;
        auto r = std::move(queue_.front());
        queue_.pop_front();
        const auto id = transport::sample_id_of(r.body);
        if (id)
            seq_of_[*id] = r.stream_seq;
        else
            reader_.term(r.stream_seq); // no id to answer by: malformed, and never delivered again
        return Sample{0, std::move(r.subject), std::move(r.body)};
    }
    void ack(std::size_t, const std::string& id) override {
        if (auto seq = take(id)) reader_.ack(*seq);
    }
    void nack(std::size_t, const std::string& id, const std::string&) override {
        if (auto seq = take(id)) reader_.nak(*seq, std::chrono::seconds(1));
    }
    void reject(std::size_t, const std::string& id, const std::string&) override {
        if (auto seq = take(id)) reader_.term(*seq);
    }
    void set_taking(bool taking) override { taking_ = taking; }
    std::string name(std::size_t) const override { return name_; }

  private:
    std::optional<std::uint64_t> take(const std::string& id) {
        auto it = seq_of_.find(id);
        if (it == seq_of_.end()) return std::nullopt;
        const auto seq = it->second;
        seq_of_.erase(it);
        return seq;
    }
    std::string name_;
    transport::JetStreamReader reader_;
    std::deque<transport::JetStreamReader::Received> queue_;
    std::map<std::string, std::uint64_t> seq_of_;
    bool taking_ = true;
};

} // namespace

std::unique_ptr<SampleSource> jetstream_samples(const transport::JetStreamReaderOptions& options) {
    return std::make_unique<JetStreamSamples>(options);
}

} // namespace sightline::pipeline
