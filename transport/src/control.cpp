#include "sightline/transport/control.hpp"

#include <zmq.hpp>

#include "curve.hpp"
#include "sightline/error.hpp"
#include "zmq_context.hpp"

namespace sightline::transport {

using detail::context;

struct ControlServer::Impl {
    std::string endpoint, zap_domain;
    zmq::socket_t socket{context(), zmq::socket_type::rep};
    ~Impl() { detail::forget_domain(zap_domain); }
};

ControlServer::ControlServer(const std::string& endpoint, const std::optional<CurveServer>& curve)
    : impl_(std::make_unique<Impl>()) {
    impl_->endpoint = endpoint;
    auto& s = impl_->socket;
    try {
        s.set(zmq::sockopt::linger, 0);
        s.set(zmq::sockopt::maxmsgsize, std::int64_t(64 << 10));
        if (curve) impl_->zap_domain = detail::make_server(s, *curve);
        s.bind(endpoint);
    } catch (const zmq::error_t& e) {
        throw Error(ErrorCode::kTransport, "control endpoint " + endpoint + ": " + e.what());
    }
}

ControlServer::~ControlServer() = default;

std::string ControlServer::bound_endpoint() const {
    return impl_->socket.get(zmq::sockopt::last_endpoint);
}

std::optional<std::string> ControlServer::receive(std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{impl_->socket.handle(), 0, ZMQ_POLLIN, 0};
    if (detail::poll(&item, 1, timeout) == 0) return std::nullopt;
    zmq::message_t msg;
    if (!impl_->socket.recv(msg, zmq::recv_flags::dontwait)) return std::nullopt;
    while (msg.more()) { // a multipart request: its first part is the request, the rest dropped
        zmq::message_t rest;
        if (!impl_->socket.recv(rest, zmq::recv_flags::dontwait)) break;
        if (!rest.more()) break;
    }
    return msg.to_string();
}

void ControlServer::reply(const std::string& body) {
    try {
        impl_->socket.send(zmq::buffer(body), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
        throw Error(ErrorCode::kTransport, "control endpoint " + impl_->endpoint + ": reply: " + e.what());
    }
}

std::string control_request(const std::string& endpoint, const std::string& request, std::chrono::milliseconds timeout,
                            const std::optional<CurveClient>& curve) {
    zmq::socket_t s(context(), zmq::socket_type::req);
    try {
        s.set(zmq::sockopt::linger, 0);
        if (curve) detail::make_client(s, *curve);
        s.connect(endpoint);
        s.send(zmq::buffer(request), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
        throw Error(ErrorCode::kTransport, "control endpoint " + endpoint + ": " + e.what());
    }
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (detail::poll(&item, 1, timeout) == 0)
        throw Error(ErrorCode::kTransport,
                    "control endpoint " + endpoint + ": no reply within " + std::to_string(timeout.count()) +
                        " ms (is the line running with publish.control there, and with the keys given?)");
    zmq::message_t reply;
    if (!s.recv(reply, zmq::recv_flags::dontwait))
        throw Error(ErrorCode::kTransport, "control endpoint " + endpoint + ": no reply");
    return reply.to_string();
}

} // namespace sightline::transport
