#pragma once
// CURVE on a socket (security.hpp): a server admits clients through the process's ZAP handler (one per ZeroMQ
// context, RFC 27), each server socket under its own ZAP domain with its own list of admitted keys; refused
// handshakes (no key, a wrong server key, a key not admitted) are counted from the socket's monitor events.
#include <zmq.hpp>

#include <atomic>
#include <cstdint>
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

/// Counts a server socket's refused handshakes from its monitor events, read without blocking.
class HandshakeWatch {
  public:
    explicit HandshakeWatch(zmq::socket_t& server);
    ~HandshakeWatch();
    HandshakeWatch(const HandshakeWatch&) = delete;
    HandshakeWatch& operator=(const HandshakeWatch&) = delete;
    /// Reads the events waiting; returns the refusals so far.
    std::uint64_t refused();

  private:
    zmq::socket_t& server_;
    zmq::socket_t events_;
    std::uint64_t refused_ = 0;
};

} // namespace sightline::transport::detail
