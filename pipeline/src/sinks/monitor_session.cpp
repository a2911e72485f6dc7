#include "sightline/pipeline/monitor_session.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "mqtt_alarms.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/pipeline/metrics.hpp"
#include "sightline/pipeline/monitor_store.hpp"
#include "sightline/transport/checks.hpp"
#include "sightline/transport/pubsub.hpp"

namespace sightline::pipeline {

struct MonitorSession::Impl {
    MonitorSessionOptions o;
    Monitor monitor;
    std::unique_ptr<MonitorStore> store;
    std::unique_ptr<Metrics> metrics;
    std::unique_ptr<transport::Publisher> publisher;
    std::unique_ptr<MqttAlarms> mqtt;
    std::vector<MonitorAlarm> alarms;
    std::uint64_t malformed = 0;
    transport::LogEvery malformed_log, refused_log;
    std::int64_t last_prune = 0;
    std::size_t references_saved = 0;
    bool store_failed = false;

    explicit Impl(const MonitorSessionOptions& options) : o(options), monitor(options.monitor) {}

    void store_error(const Error& e) {
        if (!store_failed) spdlog::error("monitor: {}; the store is left as it is, the live metrics go on", e.what());
        store_failed = true;
    }
    template <class F> void with_store(F f) {
        if (!store || store_failed) return;
        try {
            f(*store);
        } catch (const Error& e) {
            store_error(e);
        }
    }
    void save_references(std::int64_t wall_ns, bool force) {
        std::size_t ready = 0;
        for (const auto& c : monitor.cameras()) ready += c.reference_ready ? 1 : 0;
        if (ready == 0 || (!force && ready == references_saved)) return;
        references_saved = ready;
        const std::string json = monitor.references_json();
        with_store([&](MonitorStore& s) { s.save_references(json, wall_ns); });
        if (!o.save_reference.empty()) try {
                write_output(o.save_reference, json); // written aside and renamed into place
            } catch (const Error& e) {
                spdlog::error("monitor: the reference file: {}", e.what());
            }
    }
};

MonitorSession::MonitorSession(const MonitorSessionOptions& options) : impl_(std::make_unique<Impl>(options)) {
    Impl& d = *impl_;
    if (!options.publish.empty() && !options.publish_curve && !transport::is_local_endpoint(options.publish))
        throw Error(ErrorCode::kBadInput, "monitor: --publish " + options.publish +
                                              " binds beyond loopback without --key: anyone who reaches the port "
                                              "reads the alarms (docs/security.md)");
    if (!options.db.empty()) {
        d.store = std::make_unique<MonitorStore>(options.db);
        if (auto refs = d.store->references(); refs && options.reference.empty()) {
            d.monitor.load_references(*refs, options.db + " (its saved references)");
            spdlog::info("monitor: resumed the references saved in {}", options.db);
        }
    }
    if (!options.reference.empty()) {
        std::ifstream f(options.reference, std::ios::binary);
        if (!f) throw Error(ErrorCode::kNotFound, "monitor: cannot read the reference file " + options.reference);
        std::stringstream text;
        text << f.rdbuf();
        d.monitor.load_references(text.str(), options.reference);
    }
    if (!options.http.empty()) {
        d.metrics = std::make_unique<Metrics>(options.http);
        spdlog::info("monitor: metrics on http://{}/metrics", d.metrics->address());
    }
    if (!options.publish.empty()) {
        d.publisher = std::make_unique<transport::Publisher>(
            transport::PublisherOptions{options.publish, 1000, 500, options.publish_curve});
        spdlog::info("monitor: alarms published on {}", d.publisher->bound_endpoint());
    }
    if (!options.mqtt.empty())
        d.mqtt = std::make_unique<MqttAlarms>(options.mqtt, options.mqtt_topic, options.mqtt_client_id);
    d.monitor.on_window([&d](const MonitorCameraView& v) {
        if (d.metrics) d.metrics->window(v);
        d.with_store([&](MonitorStore& s) { s.add_window(v, v.last_wall_ns); });
    });
    d.monitor.on_alarm([&d](const MonitorAlarm& a) {
        d.alarms.push_back(a);
        if (a.raised)
            spdlog::warn("monitor: {}", a.message());
        else
            spdlog::info("monitor: {}", a.message());
        if (d.metrics) d.metrics->alarm(a);
        d.with_store([&](MonitorStore& s) { s.add_alarm(a); });
        transport::EventMessage e;
        e.kind = a.raised ? "alarm_raised" : "alarm_cleared";
        e.camera = a.camera;
        e.line = a.line;
        e.message = a.message();
        e.time_ns = a.wall_ns;
        e.alarm = transport::AlarmDetail{a.model, a.slice,     a.signal,          a.test,
                                         a.value, a.threshold, a.window_start_ns, a.window_end_ns};
        if (d.publisher) d.publisher->publish(e);
        if (d.mqtt) d.mqtt->alarm(a);
        if (d.o.json) {
            const nlohmann::json j = alarm_json(a);
            std::printf("%s\n", j.dump().c_str());
            std::fflush(stdout);
        }
    });
}

MonitorSession::~MonitorSession() = default;

void MonitorSession::feed(const transport::Message& m, std::int64_t wall_ns) {
    Impl& d = *impl_;
    const std::uint64_t refused = d.monitor.refused_states();
    try {
        d.monitor.add(m, wall_ns); // first: what it refuses reaches no metric either
    } catch (const Error& e) {
        if (d.monitor.refused_states() == refused) return malformed(e.what());
        if (d.metrics) d.metrics->refused();
        if (d.refused_log.due())
            spdlog::warn("monitor: {} ({} message(s) refused so far)", e.what(), d.monitor.refused_states());
        return;
    }
    if (d.metrics) d.metrics->observe(m);
    if (const auto* st = std::get_if<transport::StatMessage>(&m)) // versions beside the serving one (docs/versions.md)
        for (const auto& shadow : agreement_in_stats(st->values)) // (a structured binding: no lambda captures it)
            d.with_store([&](MonitorStore& s) {
                s.add_agreement({st->line, st->camera, st->model, shadow.first, st->time_ns > 0 ? st->time_ns : wall_ns,
                                 shadow.second});
            });
}

void MonitorSession::malformed(const std::string& why) {
    Impl& d = *impl_;
    ++d.malformed;
    if (d.metrics) d.metrics->malformed();
    if (d.malformed_log.due()) spdlog::warn("monitor: skipped a malformed message ({} so far): {}", d.malformed, why);
}

void MonitorSession::tick(std::int64_t wall_ns) {
    Impl& d = *impl_;
    d.monitor.tick(wall_ns);
    if (d.metrics) d.metrics->line_publishers(d.monitor.publishers_by_line(wall_ns));
    d.save_references(wall_ns, false);
    if (wall_ns - d.last_prune > 3600'000'000'000) { // hourly
        d.last_prune = wall_ns;
        const auto before = wall_ns - static_cast<std::int64_t>(d.o.retention_days * 86400e9);
        d.with_store([&](MonitorStore& s) { s.prune(before); });
    }
    d.with_store([](MonitorStore& s) { s.commit(); });
}

void MonitorSession::finish(std::int64_t wall_ns) {
    impl_->save_references(wall_ns, true);
    impl_->with_store([](MonitorStore& s) { s.commit(); });
}

void MonitorSession::quiet(double seconds) {
    if (impl_->metrics) impl_->metrics->quiet(seconds);
}

const Monitor& MonitorSession::monitor() const {
    return impl_->monitor;
}
const std::vector<MonitorAlarm>& MonitorSession::alarms() const {
    return impl_->alarms;
}
std::string MonitorSession::metrics_address() const {
    return impl_->metrics ? impl_->metrics->address() : "";
}
bool MonitorSession::wait_for_subscribers(int n, std::chrono::milliseconds timeout) {
    return !impl_->publisher || n <= 0 || impl_->publisher->wait_for_subscribers(n, timeout);
}
std::string MonitorSession::publish_endpoint() const {
    return impl_->publisher ? impl_->publisher->bound_endpoint() : "";
}
std::uint64_t MonitorSession::malformed_count() const {
    return impl_->malformed;
}
const MonitorSessionOptions& MonitorSession::options() const {
    return impl_->o;
}
bool MonitorSession::store_failed() const {
    return impl_->store_failed;
}

} // namespace sightline::pipeline
