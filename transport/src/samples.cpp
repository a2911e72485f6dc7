#include "sightline/transport/samples.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <zmq.hpp>

#include "curve.hpp"
#include "sightline/error.hpp"
#include "sightline/transport/checks.hpp"
#include "zmq_context.hpp"

namespace sightline::transport {

using Clock = std::chrono::steady_clock;

namespace {

std::chrono::steady_clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

} // namespace

struct SampleSender::Impl {
    SampleSenderOptions opt;
    zmq::socket_t socket{detail::context(), zmq::socket_type::router};
    std::string zap_domain;
    std::unique_ptr<detail::HandshakeWatch> handshakes; ///< after the socket: it goes first
    SampleSenderCounters counters;
    ~Impl() { detail::forget_domain(zap_domain); }

    struct Entry {
        EncodedMessage bytes;
        std::string peer;        ///< the collector it is in flight to; empty: waiting
        Clock::time_point due{}; ///< in flight: when it goes again unanswered; waiting: not before this
        int sends = 0;
    };
    std::map<std::string, Entry> entries;
    std::deque<std::string> waiting; ///< ids in the order they go (resends at the front)
    std::size_t bytes = 0;

    struct Peer {
        int window = 0;
        int in_flight = 0;
        Clock::time_point last_seen;
        Clock::time_point last_sent{}; ///< a sample or an `alive`
    };
    std::map<std::string, Peer> peers; ///< by routing id

    void erase(std::map<std::string, Entry>::iterator it) {
        bytes -= it->second.bytes.topic.size() + it->second.bytes.body.size();
        entries.erase(it);
    }

    /// A sample in flight goes back to the front of the queue (its collector is gone, or it was not answered).
    void requeue(Entry& e, const std::string& id, Clock::time_point not_before) {
        if (auto p = peers.find(e.peer); p != peers.end()) --p->second.in_flight;
        e.peer.clear();
        e.due = not_before;
        waiting.push_front(id);
    }

    void drop_peer(const std::string& peer) {
        bool had = false;
        for (auto& [id, e] : entries)
            if (e.peer == peer) requeue(e, id, {}), had = true;
        if (had) ++counters.collectors_lost;
        peers.erase(peer);
    }

    void read(const std::vector<zmq::message_t>& parts, Clock::time_point now) {
        if (parts.size() < 2) return;
        const std::string peer = parts[0].to_string();
        const std::string verb = parts[1].to_string();
        Peer& p = peers[peer];
        p.last_seen = now;
        if (verb == "ready" && parts.size() >= 3) {
            try {
                p.window = std::clamp(std::stoi(parts[2].to_string()), 0, 1 << 20);
            } catch (const std::exception&) { // a malformed window: this collector gets nothing until it says better
                p.window = 0;
            }
        } else if ((verb == "ack" || verb == "nack") && parts.size() >= 3) {
            const std::string id = parts[2].to_string();
            auto it = entries.find(id);
            if (it == entries.end()) { // answered before (or never ours)
                if (verb == "ack") ++counters.duplicate_acks;
                return;
            }
            Entry& e = it->second;
            if (verb == "ack") { // durable there, wherever it went since (a late answer also counts)
                if (!e.peer.empty())
                    if (auto q = peers.find(e.peer); q != peers.end()) --q->second.in_flight;
                ++counters.acked;
                erase(it);
                std::erase(waiting, id);
            } else if (e.peer == peer) { // refused by the collector it is in flight to: it goes again later
                ++counters.nacked;
                requeue(e, id, now + seconds(opt.nack_retry_s));
            }
        } else if (verb == "reject" && parts.size() >= 3) { // unreadable there, so anywhere: dropped, counted
            const auto it = entries.find(parts[2].to_string());
            if (it == entries.end() || it->second.peer != peer) return;
            if (auto q = peers.find(peer); q != peers.end()) --q->second.in_flight;
            ++counters.rejected;
            const std::string id = it->first;
            erase(it);
            std::erase(waiting, id);
        }
    }

    void expire(Clock::time_point now) {
        std::vector<std::string> gone;
        for (const auto& [peer, p] : peers)
            if (now - p.last_seen > seconds(opt.peer_timeout_s)) gone.push_back(peer);
        for (const auto& peer : gone) drop_peer(peer);
        for (auto& [id, e] : entries)
            if (!e.peer.empty() && now >= e.due) requeue(e, id, {});
    }

    /// The collector with room and the fewest in flight, or none.
    Peer* pick(std::string& which) {
        Peer* best = nullptr;
        for (auto& [peer, p] : peers)
            if (p.in_flight < p.window && (!best || p.in_flight < best->in_flight)) best = &p, which = peer;
        return best;
    }

    /// `["alive"]` to each collector that got nothing for a second: a line whose sampling windows are long is quiet
    /// for their length, and its collectors must tell that from a line gone (one frame: a collector that does not
    /// know it skips it, as it skips anything not a sample).
    void say_alive(Clock::time_point now) {
        std::vector<std::string> gone;
        for (auto& [peer, p] : peers) {
            if (now - p.last_sent < seconds(opt.alive_s)) continue;
            p.last_sent = now; // tried: a full queue is not worth a retry before the next second
            try {
                if (socket.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
                    socket.send(zmq::str_buffer("alive"), zmq::send_flags::none);
            } catch (const zmq::error_t& err) {
                if (err.num() != EHOSTUNREACH)
                    throw Error(ErrorCode::kTransport, "samples on " + opt.endpoint + ": " + err.what());
                gone.push_back(peer);
            }
        }
        for (const auto& peer : gone) drop_peer(peer);
    }

    void send_waiting(Clock::time_point now) {
        for (std::size_t tries = waiting.size(); tries > 0 && !waiting.empty(); --tries) {
            const std::string id = waiting.front();
            auto it = entries.find(id);
            if (it == entries.end() || !it->second.peer.empty()) { // acknowledged meanwhile, or a stale position
                waiting.pop_front();
                continue;
            }
            Entry& e = it->second;
            if (e.due > now) { // refused a moment ago: let the others go first
                waiting.pop_front();
                waiting.push_back(id);
                continue;
            }
            std::string peer;
            Peer* p = pick(peer);
            if (!p) return;
            try {
                if (!socket.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
                    p->window = p->in_flight; // its queue is full: no more to it until it says ready again
                    continue;
                }
                socket.send(zmq::buffer(e.bytes.topic), zmq::send_flags::sndmore);
                socket.send(zmq::buffer(e.bytes.body), zmq::send_flags::none);
            } catch (const zmq::error_t& err) {
                if (err.num() == EHOSTUNREACH) { // it disconnected
                    drop_peer(peer);
                    continue;
                }
                throw Error(ErrorCode::kTransport, "samples on " + opt.endpoint + ": " + err.what());
            }
            waiting.pop_front();
            p->last_sent = now;
            ++counters.sent;
            if (e.sends++ > 0) ++counters.resent;
            e.peer = peer;
            e.due = now + seconds(opt.ack_timeout_s);
            ++p->in_flight;
        }
    }
};

SampleSender::SampleSender(const SampleSenderOptions& o) : impl_(std::make_unique<Impl>()) {
    impl_->opt = o;
    auto& s = impl_->socket;
    try {
        s.set(zmq::sockopt::linger, o.linger_ms);
        s.set(zmq::sockopt::router_mandatory, 1); // a send to a collector that left fails instead of vanishing
        s.set(zmq::sockopt::sndhwm, 1000);
        s.set(zmq::sockopt::maxmsgsize, std::int64_t(64 << 10)); // collectors say little: ready, ack, nack
        if (o.curve) {
            impl_->zap_domain = detail::make_server(s, *o.curve);
            impl_->handshakes = std::make_unique<detail::HandshakeWatch>(s);
        }
        s.bind(o.endpoint);
    } catch (const zmq::error_t& e) {
        throw Error(ErrorCode::kTransport, "samples endpoint " + o.endpoint + ": " + e.what());
    }
}

SampleSender::~SampleSender() = default;

void SampleSender::offer(const std::string& id, EncodedMessage bytes) {
    auto& s = *impl_;
    if (s.entries.count(id)) return; // the same sample twice: one is enough
    const std::size_t size = bytes.topic.size() + bytes.body.size();
    ++s.counters.offered;
    while (!s.entries.empty() &&
           (s.entries.size() >= s.opt.max_buffered || s.bytes + size > s.opt.max_buffered_bytes)) {
        // the oldest waiting sample makes room; with all in flight, the new one is the one dropped
        auto victim = s.waiting.begin();
        while (victim != s.waiting.end()) {
            auto it = s.entries.find(*victim);
            if (it != s.entries.end() && it->second.peer.empty()) break;
            ++victim;
        }
        ++s.counters.dropped;
        if (victim == s.waiting.end()) return;
        s.erase(s.entries.find(*victim));
        s.waiting.erase(victim);
    }
    s.bytes += size;
    s.entries.emplace(id, Impl::Entry{std::move(bytes), {}, {}, 0});
    s.waiting.push_back(id);
}

void SampleSender::pump(std::chrono::milliseconds wait) {
    auto& s = *impl_;
    zmq::pollitem_t item{s.socket.handle(), 0, ZMQ_POLLIN, 0};
    for (bool first = true;; first = false) {
        if (detail::poll(&item, 1, first ? wait : std::chrono::milliseconds(0)) == 0) break;
        std::vector<zmq::message_t> parts;
        for (;;) {
            zmq::message_t m;
            if (!s.socket.recv(m, zmq::recv_flags::dontwait)) break;
            const bool more = m.more();
            parts.push_back(std::move(m));
            if (!more) break;
        }
        if (parts.empty()) break;
        s.read(parts, Clock::now());
    }
    const auto now = Clock::now();
    s.expire(now);
    s.send_waiting(now);
    s.say_alive(now);
}

std::size_t SampleSender::buffered() const {
    return impl_->entries.size();
}
std::size_t SampleSender::in_flight() const {
    std::size_t n = 0;
    for (const auto& [id, e] : impl_->entries) n += e.peer.empty() ? 0 : 1;
    return n;
}
std::size_t SampleSender::collectors() const {
    return impl_->peers.size();
}
const SampleSenderCounters& SampleSender::counters() const {
    if (impl_->handshakes) impl_->counters.refused_handshakes = impl_->handshakes->refused();
    return impl_->counters;
}
std::string SampleSender::bound_endpoint() const {
    return impl_->socket.get(zmq::sockopt::last_endpoint);
}

struct SampleReceiver::Impl {
    SampleReceiverOptions opt;
    std::vector<zmq::socket_t> sockets;
    std::vector<std::unique_ptr<detail::HandshakeWatch>> handshakes; ///< one per socket, dropped before them
    Clock::time_point next_heartbeat{};
    std::optional<Clock::time_point> heard; ///< a line's last `alive`

    void say(std::size_t source, std::initializer_list<std::string_view> parts) {
        auto& s = sockets.at(source);
        std::size_t i = 0;
        for (auto part : parts) {
            const bool last = ++i == parts.size();
            // a heartbeat or answer that cannot be queued now is not worth blocking for: the line repeats itself
            (void)s.send(zmq::buffer(part),
                         (last ? zmq::send_flags::none : zmq::send_flags::sndmore) | zmq::send_flags::dontwait);
        }
    }
    void heartbeat(Clock::time_point now) {
        if (now < next_heartbeat) return;
        const std::string w = std::to_string(opt.window);
        for (std::size_t i = 0; i < sockets.size(); ++i) say(i, {"ready", w});
        next_heartbeat = now + seconds(opt.heartbeat_s);
    }
};

SampleReceiver::SampleReceiver(const SampleReceiverOptions& o) : impl_(std::make_unique<Impl>()) {
    impl_->opt = o;
    if (o.curve.size() > 1 && o.curve.size() != o.endpoints.size())
        throw Error(ErrorCode::kBadInput, "collect: " + std::to_string(o.curve.size()) + " server keys for " +
                                              std::to_string(o.endpoints.size()) +
                                              " endpoints (give one, or one each)");
    impl_->sockets.reserve(o.endpoints.size()); // the handshake watches hold references: no reallocation
    for (std::size_t i = 0; i < o.endpoints.size(); ++i) {
        const std::string& e = o.endpoints[i];
        try {
            zmq::socket_t s(detail::context(), zmq::socket_type::dealer);
            if (!o.curve.empty()) detail::make_client(s, o.curve[o.curve.size() == 1 ? 0 : i]);
            s.set(zmq::sockopt::linger, 500);
            s.set(zmq::sockopt::rcvhwm, std::max(1, o.window * 2));
            s.set(zmq::sockopt::maxmsgsize, std::int64_t(limits::kMessageBytes)); // larger: the connection drops
            impl_->sockets.push_back(std::move(s));
            impl_->handshakes.push_back(std::make_unique<detail::HandshakeWatch>(impl_->sockets.back()));
            impl_->sockets.back().connect(e); // watched from the first handshake
        } catch (const zmq::error_t& err) {
            throw Error(ErrorCode::kTransport, "samples endpoint " + e + ": " + err.what());
        }
    }
    if (impl_->sockets.empty()) throw Error(ErrorCode::kBadInput, "collect: no samples endpoint to connect to");
}

SampleReceiver::~SampleReceiver() {
    impl_->handshakes.clear(); // their monitors stop before the sockets close
}

std::optional<std::string> SampleReceiver::problem() {
    for (auto& h : impl_->handshakes)
        if (h->refused() > 0)
            return detail::handshake_problem(*h->last(), "a line's samples channel (ROUTER)",
                                             !impl_->opt.curve.empty());
    return std::nullopt;
}

std::optional<SampleReceiver::Received> SampleReceiver::receive(std::chrono::milliseconds timeout) {
    auto& s = *impl_;
    const auto deadline = Clock::now() + timeout;
    std::vector<zmq::pollitem_t> items;
    for (auto& sock : s.sockets) items.push_back({sock.handle(), 0, ZMQ_POLLIN, 0});
    for (;;) {
        const auto now = Clock::now();
        s.heartbeat(now);
        const auto left = std::min(deadline - now, s.next_heartbeat - now);
        const auto ms = std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
        if (detail::poll(items.data(), items.size(), std::chrono::milliseconds(ms)) > 0) {
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (!(items[i].revents & ZMQ_POLLIN)) continue;
                std::vector<zmq::message_t> parts;
                for (;;) {
                    zmq::message_t m;
                    if (!s.sockets[i].recv(m, zmq::recv_flags::dontwait)) break;
                    const bool more = m.more();
                    parts.push_back(std::move(m));
                    if (!more) break;
                }
                if (parts.size() == 1 && parts[0].to_string_view() == "alive") s.heard = Clock::now();
                if (parts.size() < 2) continue; // not a sample: nothing to answer
                return Received{i, parts[0].to_string(), parts[1].to_string()};
            }
        }
        if (Clock::now() >= deadline) return std::nullopt;
    }
}

void SampleReceiver::ack(std::size_t source, const std::string& id) {
    impl_->say(source, {"ack", id});
}
void SampleReceiver::nack(std::size_t source, const std::string& id, const std::string& reason) {
    impl_->say(source, {"nack", id, reason});
}
void SampleReceiver::reject(std::size_t source, const std::string& id, const std::string& reason) {
    impl_->say(source, {"reject", id, reason});
}
void SampleReceiver::set_window(int window) {
    if (window == impl_->opt.window) return;
    impl_->opt.window = window;
    impl_->next_heartbeat = {}; // say it now
}
std::optional<std::chrono::steady_clock::time_point> SampleReceiver::line_heard() const {
    return impl_->heard;
}
const std::string& SampleReceiver::endpoint(std::size_t source) const {
    return impl_->opt.endpoints.at(source);
}

} // namespace sightline::transport
