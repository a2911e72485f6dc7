#pragma once
// A monitor at work: the Monitor with what it feeds: the store (SQLite), /metrics, the alarm events it publishes,
// the log. `sightline monitor` drives one from its subscriber or a recording; `sightline demo` beside its line.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sightline/pipeline/monitor.hpp"
#include "sightline/transport/messages.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::pipeline {

struct MonitorSessionOptions {
    MonitorOptions monitor;
    std::string http;                                    ///< HOST:PORT for /metrics; empty: none
    std::string db;                                      ///< the SQLite store; empty: none
    std::string publish;                                 ///< endpoint for the alarm events; empty: none
    std::optional<transport::CurveServer> publish_curve; ///< CURVE on the alarm socket (--key, --authorized)
    std::string reference;                               ///< a saved reference file to load
    std::string save_reference;           ///< where to write the references when they are learned and at the end
    double retention_days = 7;            ///< windows and scores older than this (wall time) are pruned from the store
    bool json = false;                    ///< each alarm as a JSON line on stdout
    std::string mqtt;                     ///< mqtt://HOST[:PORT]: alarms on MQTT too (docs/monitor.md); empty: none
    std::string mqtt_topic = "sightline"; ///< the topics' prefix: <prefix>/<line>/<camera>/{alarm,standing}
    std::string mqtt_client_id = "sightline-monitor"; ///< this monitor's MQTT client id (one per monitor)
};

class MonitorSession {
  public:
    /// Opens everything; throws Error naming the file or address that fails (the store, the reference, /metrics,
    /// the publish endpoint).
    explicit MonitorSession(const MonitorSessionOptions& options);
    ~MonitorSession();

    /// A message received at wall time `wall_ns`. One the monitor refuses changes nothing: a class outside its model's
    /// list counts as malformed, one camera/model state too many as refused (Monitor::refused_states; logged at most
    /// once per 5 s, and on /metrics).
    void feed(const transport::Message& m, std::int64_t wall_ns);
    /// A message that could not be decoded: counted and logged (at most once per 5 s), the monitor goes on.
    void malformed(const std::string& why);
    /// About once a second: silence, the store's commit, the references' save.
    void tick(std::int64_t wall_ns);
    /// The last commit and save.
    void finish(std::int64_t wall_ns);
    /// Seconds since the last message from any line (live): the gauge sightline_monitor_quiet_seconds.
    void quiet(double seconds);

    const Monitor& monitor() const;
    const std::vector<MonitorAlarm>& alarms() const; ///< every alarm raised or cleared, in order
    std::string metrics_address() const;             ///< empty without --http
    /// With --publish: waits until `n` subscribers listen or `timeout` passes (a replay publishes its alarms in a
    /// burst; without waiting, a subscriber still connecting misses them). Returns whether they do.
    bool wait_for_subscribers(int n, std::chrono::milliseconds timeout);
    std::string publish_endpoint() const; ///< bound, empty without --publish
    std::uint64_t malformed_count() const;
    bool store_failed() const; ///< a store write failed (reported once; the live metrics went on)
    const MonitorSessionOptions& options() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// A recording (sightline run --record) fed as if received: wall time is each message's own (time_ns), so silence
/// reads as it happened; a refused record is counted as malformed and skipped.
void replay_recording(MonitorSession& session, const std::string& file);

struct WatchOptions {
    std::vector<std::string> endpoints;        ///< the lines' publish endpoints
    std::vector<transport::CurveClient> curve; ///< none, or one per endpoint (or one for all)
    double seconds = 0;                        ///< > 0: stop after this many seconds
    bool until_run_end = false;                ///< stop once every line seen starting has ended (at least one)
    double quiet_s = 5;                        ///< nothing heard this long: a warning (once per silence)
    /// With until_run_end: nothing heard this long ends the watch with Error(kTransport) (0: wait forever).
    double give_up_s = 60;
};
/// Live: one subscriber on every endpoint until `stop`, `seconds` or the run ends; a malformed message is counted
/// and skipped; a tick about once a second.
void watch_lines(MonitorSession& session, const WatchOptions& options, const std::atomic<bool>& stop);
/// The closing log line: messages, cameras, gaps, alarms, malformed and refused messages.
void log_monitor_summary(const MonitorSession& session);

} // namespace sightline::pipeline
