#pragma once
/// ZeroMQ publisher and subscriber for wire format v1 (multipart: topic frame, msgpack body).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sightline/transport/messages.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::transport {

struct PublisherOptions {
    std::string endpoint; ///< e.g. tcp://127.0.0.1:5555, ipc:///tmp/sightline
    int send_hwm = 1000;  ///< messages queued per subscriber before sends to it are dropped
    int linger_ms = 0;    ///< how long close() may wait for queued messages
    /// CURVE: a subscriber must hold the server's public key (and, with an authorized list, one of those keys);
    /// nullopt: plain ZeroMQ (loopback).
    std::optional<CurveServer> curve;
};

/// An XPUB socket: sends never block (a slow or absent consumer never slows the line); every message a
/// subscriber's full queue refuses is counted, and subscriptions are seen, so a lossless replay can wait for them.
class Publisher {
  public:
    /// Binds; throws Error(kTransport) naming the endpoint (address in use, bad endpoint).
    explicit Publisher(const PublisherOptions& options);
    ~Publisher();
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    /// Sends a message without blocking; false (and counted) when a subscriber's queue is full.
    bool publish(const Message& m);
    /// The same for a message already encoded (its bytes sent as they are).
    bool publish(const EncodedMessage& m);
    /// Waits until at least `n` subscriptions are active or the timeout passes; returns whether they are.
    bool wait_for_subscribers(int n, std::chrono::milliseconds timeout);
    int subscriptions(); ///< active subscriptions (each subscriber counts once per topic prefix it subscribes)
    std::uint64_t sent() const;
    std::uint64_t dropped() const;
    /// CURVE handshakes refused so far (no key, a wrong server key, a key not authorized); 0 without CURVE.
    std::uint64_t refused_handshakes();
    const std::string& endpoint() const;
    /// The endpoint actually bound (resolves a wildcard port such as tcp://127.0.0.1:*).
    std::string bound_endpoint() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// A SUB socket for sinks: connects, subscribes to topic prefixes ("" = everything), receives decoded messages.
class Subscriber {
  public:
    Subscriber(const std::string& endpoint, const std::vector<std::string>& prefixes, int receive_hwm = 100000);
    /// One socket connected to several publishers (one per node): their messages are fair-queued. `curve`: none
    /// (plain ZeroMQ), one for every endpoint, or one per endpoint (each line's server key).
    Subscriber(const std::vector<std::string>& endpoints, const std::vector<std::string>& prefixes,
               int receive_hwm = 100000, const std::vector<CurveClient>& curve = {});
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    struct Received {
        std::string topic;
        Message message;
    };
    /// The next message, or nothing after `timeout`. Throws Error(kBadInput) for a malformed body.
    std::optional<Received> receive(std::chrono::milliseconds timeout);
    /// The next message as it came (topic and msgpack body, not decoded: a bridge passes the bytes on unchanged), or
    /// nothing after `timeout`. Throws Error(kBadInput) for a message without a body or a topic that is no text.
    std::optional<EncodedMessage> receive_raw(std::chrono::milliseconds timeout);
    /// Why a connection failed its handshake, once one did: the endpoint and what it found there (a ZeroMQ socket
    /// of another kind: the line's samples channel, say; a CURVE refusal). Nothing while every handshake went well.
    std::optional<std::string> problem();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::transport
