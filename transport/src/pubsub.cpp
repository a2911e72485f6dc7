#include "sightline/transport/pubsub.hpp"

#include <zmq.hpp>

#include "curve.hpp"
#include "sightline/error.hpp"
#include "sightline/transport/checks.hpp"
#include "zmq_context.hpp"

namespace sightline::transport {

using detail::context;

namespace {
constexpr std::int64_t kMaxMessageBytes = std::int64_t(limits::kMessageBytes);
}

struct Publisher::Impl {
    PublisherOptions opt;
    zmq::socket_t socket{context(), zmq::socket_type::xpub};
    std::string zap_domain;
    std::unique_ptr<detail::HandshakeWatch> handshakes; ///< after the socket: it goes first
    std::uint64_t sent = 0, dropped = 0;
    int subscriptions = 0;
    ~Impl() { detail::forget_domain(zap_domain); }

    void drain_subscriptions(std::chrono::milliseconds wait) {
        zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
        for (bool first = true;; first = false) {
            if (detail::poll(&item, 1, first ? wait : std::chrono::milliseconds(0)) == 0) return;
            zmq::message_t msg;
            if (!socket.recv(msg, zmq::recv_flags::dontwait)) return;
            if (msg.size() > 0) subscriptions += msg.data<std::uint8_t>()[0] == 1 ? 1 : -1;
        }
    }
};

Publisher::Publisher(const PublisherOptions& o) : impl_(std::make_unique<Impl>()) {
    impl_->opt = o;
    auto& s = impl_->socket;
    try {
        s.set(zmq::sockopt::sndhwm, o.send_hwm);
        s.set(zmq::sockopt::linger, o.linger_ms);
        s.set(zmq::sockopt::xpub_nodrop, 1);   // a full queue refuses the send (EAGAIN) instead of dropping silently
        s.set(zmq::sockopt::xpub_verboser, 1); // every subscribe and unsubscribe is seen, to count subscribers
        s.set(zmq::sockopt::maxmsgsize, std::int64_t(64 << 10)); // subscribers send only their topic prefixes
        if (o.curve) {
            impl_->zap_domain = detail::make_server(s, *o.curve);
            impl_->handshakes = std::make_unique<detail::HandshakeWatch>(s);
        }
        s.bind(o.endpoint);
    } catch (const zmq::error_t& e) {
        throw Error(ErrorCode::kTransport, "publish endpoint " + o.endpoint + ": " + e.what());
    }
}

Publisher::~Publisher() = default;

bool Publisher::publish(const Message& m) {
    return publish(encode_message(m));
}

bool Publisher::publish(const EncodedMessage& m) {
    auto& s = *impl_;
    s.drain_subscriptions(std::chrono::milliseconds(0));
    const std::string &topic = m.topic, &body = m.body;
    try {
        // Both frames or none: the topic frame is only sent when the body can follow (ZMQ sends multipart atomically
        // once the first frame is accepted).
        if (!s.socket.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
            ++s.dropped;
            return false;
        }
        s.socket.send(zmq::buffer(body), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
        throw Error(ErrorCode::kTransport, "publish on " + s.opt.endpoint + ": " + e.what());
    }
    ++s.sent;
    return true;
}

bool Publisher::wait_for_subscribers(int n, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (impl_->subscriptions < n) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        impl_->drain_subscriptions(std::min(left, std::chrono::milliseconds(50)));
    }
    return true;
}

int Publisher::subscriptions() {
    impl_->drain_subscriptions(std::chrono::milliseconds(0));
    return impl_->subscriptions;
}
std::uint64_t Publisher::sent() const {
    return impl_->sent;
}
std::uint64_t Publisher::dropped() const {
    return impl_->dropped;
}
std::uint64_t Publisher::refused_handshakes() {
    return impl_->handshakes ? impl_->handshakes->refused() : 0;
}
const std::string& Publisher::endpoint() const {
    return impl_->opt.endpoint;
}
std::string Publisher::bound_endpoint() const {
    return impl_->socket.get(zmq::sockopt::last_endpoint);
}

struct Subscriber::Impl {
    std::string endpoint;
    zmq::socket_t socket{context(), zmq::socket_type::sub};
    std::unique_ptr<detail::HandshakeWatch> handshakes; ///< after the socket: it goes first
    bool curve = false;
};

Subscriber::Subscriber(const std::string& endpoint, const std::vector<std::string>& prefixes, int receive_hwm)
    : Subscriber(std::vector<std::string>{endpoint}, prefixes, receive_hwm) {}

Subscriber::Subscriber(const std::vector<std::string>& endpoints, const std::vector<std::string>& prefixes,
                       int receive_hwm, const std::vector<CurveClient>& curve)
    : impl_(std::make_unique<Impl>()) {
    if (curve.size() > 1 && curve.size() != endpoints.size())
        throw Error(ErrorCode::kBadInput, "subscribe: " + std::to_string(curve.size()) + " server keys for " +
                                              std::to_string(endpoints.size()) + " endpoints (give one, or one each)");
    for (const auto& e : endpoints) impl_->endpoint += (impl_->endpoint.empty() ? "" : ", ") + e;
    impl_->curve = !curve.empty();
    std::string current;
    try {
        impl_->socket.set(zmq::sockopt::rcvhwm, receive_hwm);
        impl_->socket.set(zmq::sockopt::linger, 0);
        impl_->socket.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes); // a larger frame drops its connection
        impl_->handshakes = std::make_unique<detail::HandshakeWatch>(impl_->socket); // before the first handshake
        for (std::size_t i = 0; i < endpoints.size(); ++i) {
            current = endpoints[i];
            if (!curve.empty()) detail::make_client(impl_->socket, curve[curve.size() == 1 ? 0 : i]);
            impl_->socket.connect(endpoints[i]); // a connection takes the CURVE options set before it
        }
        for (const auto& p : prefixes) impl_->socket.set(zmq::sockopt::subscribe, p);
    } catch (const zmq::error_t& e) {
        throw Error(ErrorCode::kTransport, "subscribe to " + current + ": " + e.what());
    }
}

Subscriber::~Subscriber() = default;

std::optional<std::string> Subscriber::problem() {
    if (!impl_->handshakes || impl_->handshakes->refused() == 0) return std::nullopt;
    return detail::handshake_problem(*impl_->handshakes->last(), "a line's publish endpoint (PUB)", impl_->curve);
}

namespace {
/// The next multipart message on a SUB socket (its topic checked as text), or nothing after `timeout`.
bool receive_parts(zmq::socket_t& socket, const std::string& endpoint, std::chrono::milliseconds timeout,
                   zmq::message_t& topic, zmq::message_t& body) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    try {
        if (detail::poll(&item, 1, timeout) == 0) return false;
        if (!socket.recv(topic, zmq::recv_flags::dontwait)) return false;
        if (!topic.more()) throw Error(ErrorCode::kBadInput, endpoint + ": a message without a body");
        (void)socket.recv(body, zmq::recv_flags::none);
        while (body.more()) { // extra frames belong to a newer schema; skip them
            zmq::message_t extra;
            (void)socket.recv(extra, zmq::recv_flags::none);
            if (!extra.more()) break;
        }
    } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return false; // a signal: the caller looks at its stop flag
        throw Error(ErrorCode::kTransport, "receive from " + endpoint + ": " + e.what());
    }
    try {
        check_text(topic.to_string_view(), limits::kNameBytes, "its topic");
    } catch (const Error& e) {
        throw Error(ErrorCode::kBadInput,
                    endpoint + ": topic '" + printable(topic.to_string_view()) + "': " + e.what());
    }
    return true;
}
} // namespace

std::optional<EncodedMessage> Subscriber::receive_raw(std::chrono::milliseconds timeout) {
    zmq::message_t topic, body;
    if (!receive_parts(impl_->socket, impl_->endpoint, timeout, topic, body)) return std::nullopt;
    return EncodedMessage{topic.to_string(), body.to_string()};
}

std::optional<Subscriber::Received> Subscriber::receive(std::chrono::milliseconds timeout) {
    zmq::message_t topic, body;
    if (!receive_parts(impl_->socket, impl_->endpoint, timeout, topic, body)) return std::nullopt;
    const std::string_view t = topic.to_string_view();
    try {
        return Received{std::string(t), decode(body.to_string_view())}; // decoded in place: no copy of the body
    } catch (const Error& e) {
        throw Error(ErrorCode::kBadInput, impl_->endpoint + ": topic '" + printable(t) + "': " + e.what());
    }
}

} // namespace sightline::transport
