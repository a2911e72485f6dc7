#pragma once
/// The line's control socket (docs/versions.md, "Hot swap"): a ZeroMQ REP socket the line binds (`publish.control`),
/// CURVE when the line has `security:`; one request, one reply, each a JSON text. `sightline ctl` is its client.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "sightline/transport/security.hpp"

namespace sightline::transport {

class ControlServer {
  public:
    /// Binds `endpoint` (Error(kTransport) naming it when it cannot). Requests above 64 KiB are refused by ZeroMQ.
    ControlServer(const std::string& endpoint, const std::optional<CurveServer>& curve = std::nullopt);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;
    /// The endpoint as bound (a wildcard port resolved).
    std::string bound_endpoint() const;
    /// The next request, or nothing after `timeout`. Every request received must be answered with reply() before
    /// the next receive().
    std::optional<std::string> receive(std::chrono::milliseconds timeout);
    void reply(const std::string& body);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// One request to a control socket and its reply. Error(kTransport) naming the endpoint when no reply comes within
/// `timeout` (no line there, a wrong key) or the endpoint is malformed.
std::string control_request(const std::string& endpoint, const std::string& request, std::chrono::milliseconds timeout,
                            const std::optional<CurveClient>& curve = std::nullopt);

} // namespace sightline::transport
