#pragma once
/// The samples channel (docs/wire.md, "Samples"): selected frames from a line to collectors, delivered at least
/// once. The line binds a ROUTER socket; each collector connects a DEALER, says how many samples it may hold in
/// flight (`ready`, also its heartbeat) and acknowledges each sample once it is durable (`ack`), or refuses it
/// (`nack`: it could not write it). The line keeps every sample until one collector acknowledges it: a sample in
/// flight to a collector that goes silent, or that is not acknowledged in time, goes again to whichever collector
/// has room; collectors drop duplicates by sample id. Several collectors share the load (the one with the fewest in
/// flight gets the next sample).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sightline/transport/messages.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::transport {

struct SampleSenderOptions {
    std::string endpoint;                        ///< bound, e.g. tcp://127.0.0.1:5557
    std::size_t max_buffered = 256;              ///< samples kept until acknowledged (waiting + in flight)
    std::size_t max_buffered_bytes = 256u << 20; ///< and their bytes
    double ack_timeout_s = 30;                   ///< a sample in flight this long without an answer goes again
    double peer_timeout_s = 3; ///< a collector silent this long is gone: its samples in flight go again
    double nack_retry_s = 1;   ///< a refused sample waits this long before it goes again
    int linger_ms = 0;
    std::optional<CurveServer> curve; ///< CURVE, as PublisherOptions::curve; nullopt: plain ZeroMQ
    double alive_s = 1; ///< `["alive"]` to a collector that got nothing this long (long sampling windows are quiet)
};

struct SampleSenderCounters {
    std::uint64_t offered = 0;            ///< samples taken into the buffer
    std::uint64_t sent = 0;               ///< sends (first sends and resends)
    std::uint64_t resent = 0;             ///< of them, sends of a sample sent before
    std::uint64_t acked = 0;              ///< samples acknowledged (each once)
    std::uint64_t duplicate_acks = 0;     ///< acknowledgements of a sample already acknowledged, or unknown
    std::uint64_t nacked = 0;             ///< refusals (the sample stays and goes again)
    std::uint64_t rejected = 0;           ///< samples a collector could not read (malformed): dropped, never resent
    std::uint64_t dropped = 0;            ///< samples the full buffer could not keep (never sent or never acknowledged)
    std::uint64_t collectors_lost = 0;    ///< collectors that went silent with samples in flight
    std::uint64_t refused_handshakes = 0; ///< CURVE handshakes refused (no key, a wrong one, one not authorized)
};

/// The line's end. Not thread-safe: one thread offers and pumps. Never blocks on a collector.
class SampleSender {
  public:
    /// Binds; Error(kTransport) naming the endpoint.
    explicit SampleSender(const SampleSenderOptions& options);
    ~SampleSender();
    SampleSender(const SampleSender&) = delete;
    SampleSender& operator=(const SampleSender&) = delete;

    /// Takes a sample (its id and encoded bytes). When the buffer is full the oldest sample not in flight is
    /// dropped (else this one), and counted.
    void offer(const std::string& id, EncodedMessage bytes);
    /// Reads what collectors said (waiting at most `wait` for the first of it), expires silent collectors and
    /// late samples, and sends waiting samples to collectors with room.
    void pump(std::chrono::milliseconds wait);
    std::size_t buffered() const;  ///< samples not yet acknowledged
    std::size_t in_flight() const; ///< of them, sent and awaiting an answer
    std::size_t collectors() const;
    const SampleSenderCounters& counters() const;
    std::string bound_endpoint() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct SampleReceiverOptions {
    std::vector<std::string> endpoints; ///< one connection per line
    int window = 16;                    ///< samples this collector may have in flight
    double heartbeat_s = 0.5;           ///< `ready` this often, also when idle
    std::vector<CurveClient> curve;     ///< none (plain ZeroMQ), one for every endpoint, or one per endpoint
};

/// The collector's end: one DEALER per line, so each answer goes back to the line that sent the sample.
class SampleReceiver {
  public:
    explicit SampleReceiver(const SampleReceiverOptions& options);
    ~SampleReceiver();
    SampleReceiver(const SampleReceiver&) = delete;
    SampleReceiver& operator=(const SampleReceiver&) = delete;

    struct Received {
        std::size_t source = 0; ///< index into the endpoints: where the answer goes
        std::string topic;
        std::string body; ///< decode_sample() it (a malformed one throws; the receiver does not judge)
    };
    /// The next sample, or nothing after `timeout`; heartbeats go out while it waits.
    std::optional<Received> receive(std::chrono::milliseconds timeout);
    void ack(std::size_t source, const std::string& id);
    void nack(std::size_t source, const std::string& id, const std::string& reason);
    /// A sample this collector cannot read (it fails decode_sample): the line drops it and counts it, instead of
    /// sending it again forever.
    void reject(std::size_t source, const std::string& id, const std::string& reason);
    /// How many samples it may hold in flight from now on (0: send nothing, e.g. while the disk is full).
    void set_window(int window);
    /// When a line last said `alive` (it does every second while it runs, with or without samples): nothing when
    /// none did (an older line says nothing between samples).
    std::optional<std::chrono::steady_clock::time_point> line_heard() const;
    const std::string& endpoint(std::size_t source) const;
    /// Why a connection failed its handshake, once one did (a ZeroMQ socket of another kind answered: the line's
    /// predictions port, say; a CURVE refusal). Nothing while every handshake went well.
    std::optional<std::string> problem();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::transport
