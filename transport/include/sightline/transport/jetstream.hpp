#pragma once
/// NATS JetStream (libnats, Debian's libnats-dev): the durable, replicated log between many nodes and a few sinks
/// (docs/deploy.md). What goes where (subjects, message ids, streams), a writer that publishes asynchronously with a
/// bounded number in flight and sends again, in order, what a leader election or a lost server refused, and a
/// durable pull reader that resumes where it left.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sightline/transport/messages.hpp"
#include "sightline/transport/peek.hpp"

namespace sightline::transport {

/// Where the NATS servers are: URLs (nats://HOST:PORT), any of a cluster's; the client finds the others.
struct NatsOptions {
    std::vector<std::string> servers;
    std::string name = "sightline"; ///< the connection's name, as the servers' monitoring shows it
    double request_timeout_s = 5;   ///< JetStream API requests (stream and consumer management)
};

/// The servers from command-line values, each "URL[,URL...]"; Error(kBadInput) naming a value that is no
/// nats://HOST:PORT (or tls://, a bare HOST:PORT taken as nats://).
std::vector<std::string> nats_servers(const std::vector<std::string>& values);

/// A start time for a new consumer: "2026-12-07T03:00:00Z" (UTC; the Z and the seconds optional) or a time before
/// now ("-30s", "-30m", "-2h", "-1d"). Error(kBadInput) naming the text otherwise.
std::int64_t parse_start_time_ns(std::string_view text);

/// A name as one token of a subject: '.', '*', '>', '%' and bytes below '!' percent-encoded (%2E, %2A, %3E, %25,
/// %20...), so a camera id that holds them stays one token and maps back one to one.
std::string subject_token(std::string_view name);
/// The subject a wire message goes under (docs/deploy.md): sightline.<line>.<kind>.<camera> for pred, shadow,
/// stat and sample, sightline.<line>.event for events. A message without a line name takes `default_line`.
std::string jetstream_subject(const Message& m, std::string_view default_line);
/// The same for a pred known by its key (peek_pred): the same subject and id as the decoded message gives.
std::string jetstream_subject(const PredKey& k, std::string_view default_line);
std::string jetstream_msg_id(const PredKey& k, std::string_view default_line);
/// The subject of a sample (its pred's line and camera).
std::string jetstream_sample_subject(const SampleMessage& s, std::string_view default_line);
/// The de-duplication id (Nats-Msg-Id) of a wire message: the same bytes from the same line always give the same id,
/// two messages never do. pred/shadow: line, kind, camera, seq and wall time (seq starts again at 0 when a line
/// restarts; the time tells the runs apart); stat: line, camera, time; event: line, kind, camera, run, time.
std::string jetstream_msg_id(const Message& m, std::string_view default_line);

/// A stream the writer makes sure of (created when missing; an existing one is used as it is, its subjects checked).
struct StreamSettings {
    std::string name;                  ///< e.g. SIGHTLINE
    std::vector<std::string> subjects; ///< e.g. sightline.*.pred.>
    int replicas = 1;                  ///< 3 in a cluster: a quorum stores each message before it is acknowledged
    bool file_storage = true;          ///< false: memory
    double duplicate_window_s = 120;   ///< a message id seen within this window is stored once
    double max_age_s = 86400;          ///< messages older than this are dropped by the stream (0: no limit)
    std::int64_t max_bytes = -1;       ///< the stream's size limit, oldest dropped first (-1: none)
    std::int32_t max_msg_size = -1;    ///< -1: the server's max_payload
};

struct JetStreamWriterOptions {
    NatsOptions nats;
    int max_in_flight = 1024;        ///< published and not yet acknowledged (the rest wait in the writer)
    std::size_t max_waiting = 65536; ///< messages held (waiting and in flight) before publish() blocks
    double ack_wait_s = 5;           ///< an acknowledgement not heard this long: the message goes again
    double retry_wait_s = 0.25;      ///< the first pause before sending again what failed (doubling to 4 s)
};

struct JetStreamWriterCounters {
    std::uint64_t published = 0;  ///< publishes sent (first sends and sends again)
    std::uint64_t acked = 0;      ///< messages JetStream acknowledged (stored by a quorum), each once
    std::uint64_t duplicates = 0; ///< of them, acknowledged as a duplicate (already stored: a send again, a restart)
    std::uint64_t retried = 0;    ///< sends of a message sent before
    std::uint64_t failures = 0;   ///< publishes refused or not acknowledged in time (each sent again)
    std::uint64_t refused = 0;    ///< messages that can never be stored (too large): dropped, take_refused()
};

/// Publishes into JetStream in order. Not thread-safe: one thread publishes and pumps (libnats's own thread hands
/// acknowledgements over under a lock). On a failure, nothing new goes out until every message in flight has been
/// answered; then the failed ones go again in their order, then the rest: a message stored by a quorum is never
/// lost and never stored twice (message ids), and a camera's messages enter the stream in order but for the case
/// docs/deploy.md describes (a message lost in a dying server's socket while a later one reached the new leader).
class JetStreamWriter {
  public:
    /// Connects (retrying for `request_timeout_s`); Error(kTransport) naming the servers.
    explicit JetStreamWriter(const JetStreamWriterOptions& options);
    ~JetStreamWriter();
    JetStreamWriter(const JetStreamWriter&) = delete;
    JetStreamWriter& operator=(const JetStreamWriter&) = delete;

    /// Creates the stream when missing; an existing one must take the same subjects. Error(kTransport) naming it.
    void ensure_stream(const StreamSettings& stream);
    /// Takes one message: sent now when fewer than max_in_flight are in flight, else held. `token` comes back from
    /// take_acknowledged() once JetStream stored it. Blocks, pumping, while max_waiting are held.
    void publish(std::string subject, std::string body, std::string msg_id, std::uint64_t token = 0);
    /// Takes the acknowledgements and failures that came (waiting at most `wait` for one), sends held and failed
    /// messages as the rules above allow.
    void pump(std::chrono::milliseconds wait);
    /// Tokens of the messages acknowledged since the last call, in publish order.
    std::vector<std::uint64_t> take_acknowledged();
    /// Tokens of the messages JetStream can never store (over the servers' max_payload, over the stream's message
    /// size), dropped since the last call; last_error() says why.
    std::vector<std::uint64_t> take_refused();
    /// Pumps until nothing is held or `timeout` passes; whether nothing is.
    bool drain(std::chrono::milliseconds timeout);
    std::size_t held() const;      ///< taken and not yet acknowledged
    std::size_t in_flight() const; ///< of them, sent and awaiting an answer
    const JetStreamWriterCounters& counters() const;
    bool connected() const;
    /// The last failure, in words ("" before any).
    const std::string& last_error() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct JetStreamReaderOptions {
    NatsOptions nats;
    std::string stream = "SIGHTLINE";
    std::string filter = "sightline.>"; ///< the subjects this reader takes
    std::string durable;                ///< the durable consumer's name: it resumes where it left
    std::uint64_t start_seq = 0;        ///< a new consumer starts at this stream sequence (0: see start_time_ns)
    std::int64_t start_time_ns = 0;     ///< or at this wall time, ns since the epoch (0: from the first message)
    double ack_wait_s = 30;             ///< a message not acknowledged this long is delivered again
    int batch = 256;                    ///< messages asked for per fetch
    /// A stream that does not exist yet (no bridge has made it): wait for it, saying so once, until this is set
    /// (nullptr: do not wait; an Error at once).
    const std::atomic<bool>* wait_for_stream = nullptr;
};

/// A durable pull consumer (explicit acknowledgements). Not thread-safe.
class JetStreamReader {
  public:
    /// Connects and binds the consumer (creating it when missing, as the options say; an existing durable resumes
    /// where it left and the start options do not apply: logged). Error(kTransport) naming the stream and servers.
    explicit JetStreamReader(const JetStreamReaderOptions& options);
    ~JetStreamReader();
    JetStreamReader(const JetStreamReader&) = delete;
    JetStreamReader& operator=(const JetStreamReader&) = delete;

    struct Received {
        std::string subject;
        std::string body;             ///< the wire's msgpack bytes
        std::uint64_t stream_seq = 0; ///< its sequence in the stream (ack() takes it)
        std::int64_t stored_ns = 0;   ///< when the stream stored it, ns since the epoch
        std::uint64_t pending = 0;    ///< messages after it not yet delivered to this consumer
        std::uint64_t delivered = 0;  ///< how many times it has been delivered (1 the first time)
    };
    /// Up to `batch` messages, waiting at most `timeout` for the first; none when the stream has nothing new.
    std::vector<Received> fetch(std::chrono::milliseconds timeout);
    /// Done with it: it will not come again.
    void ack(std::uint64_t stream_seq);
    /// Not done (the sink could not keep it): delivered again after `delay`.
    void nak(std::uint64_t stream_seq, std::chrono::milliseconds delay);
    /// Never usable (malformed): not delivered again.
    void term(std::uint64_t stream_seq);
    /// Messages fetched and not yet acknowledged, refused or ended.
    std::size_t unanswered() const;
    bool connected() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::transport
