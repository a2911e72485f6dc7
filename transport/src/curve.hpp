#pragma once
// CURVE on a socket (security.hpp): a server admits clients through the process's ZAP handler (one per ZeroMQ
// context, RFC 27), each server socket under its own ZAP domain with its own list of admitted keys; refused
// handshakes (no key, a wrong server key, a key not admitted) are counted from the socket's monitor events.
#include <zmq.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "sightline/transport/security.hpp"

namespace sightline::transport::detail {

/// Makes `socket` a CURVE server with `curve` (before it binds). Returns the ZAP domain it was given (release it
/// with forget_domain when the socket closes).
std::string make_server(zmq::socket_t& socket, const CurveServer& curve);
/// Forgets a server's admitted keys.
void forget_domain(const std::string& domain);
/// Makes `socket` a CURVE client of the server whose public key is `curve.server_key` (before it connects).
void make_client(zmq::socket_t& socket, const CurveClient& curve);

/// Counts a socket's failed handshakes (a server's refused clients; a client's refusals, or a peer of another
/// socket kind) from its monitor events, read without blocking.
class HandshakeWatch {
  public:
    explicit HandshakeWatch(zmq::socket_t& socket);
    ~HandshakeWatch();
    HandshakeWatch(const HandshakeWatch&) = delete;
    HandshakeWatch& operator=(const HandshakeWatch&) = delete;
    /// Reads the events waiting; returns the failures so far.
    std::uint64_t refused();
    struct Failure {
        std::string endpoint;
        int event = 0; ///< ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL (another socket kind, not ZMTP) or ..._AUTH (CURVE)
        int value = 0; ///< the protocol error (zmq.h's ZMQ_PROTOCOL_ERROR_*)
    };
    /// The last failure read by refused(), if any.
    const std::optional<Failure>& last() const { return last_; }

  private:
    zmq::socket_t& server_;
    zmq::socket_t events_;
    std::uint64_t refused_ = 0;
    std::optional<Failure> last_;
    std::map<std::string, bool> dialled_; ///< endpoint -> connected, handshake not yet done
};

/// A failed handshake in words: `expected` is what the endpoint should have been ("a line's publish endpoint").
/// `curve`: whether this side used CURVE (without it, a failure with no detail is a peer of another socket kind).
std::string handshake_problem(const HandshakeWatch::Failure& f, const std::string& expected, bool curve);

} // namespace sightline::transport::detail
