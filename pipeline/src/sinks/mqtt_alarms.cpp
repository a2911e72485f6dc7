#include "mqtt_alarms.hpp"

#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "sightline/error.hpp"

namespace sightline::pipeline {

std::string mqtt_level(const std::string& name) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '+' || c == '#' || c == '%' || c == '/' || c < ' ' || c == 0x7f) {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += ch;
        }
    }
    return out.empty() ? "_" : out;
}

nlohmann::json alarm_json(const MonitorAlarm& a) {
    return {{"kind", a.raised ? "alarm_raised" : "alarm_cleared"},
            {"line", a.line},
            {"camera", a.camera},
            {"model", a.model},
            {"slice", a.slice},
            {"signal", a.signal},
            {"test", a.test},
            {"value", a.value},
            {"threshold", a.threshold},
            {"window_start_ns", a.window_start_ns},
            {"window_end_ns", a.window_end_ns},
            {"wall_ns", a.wall_ns}};
}

namespace {
struct Outgoing {
    std::string topic, payload;
    bool retain = false;
};
} // namespace

struct MqttAlarms::Impl {
    std::string url, host, prefix;
    int port = 1883;
    struct mosquitto* mosq = nullptr;
    mutable std::mutex mu;
    std::condition_variable cv;
    bool connected = false, stopping = false;
    std::thread connecting;                    ///< until the first connect succeeds
    std::uint64_t next = 0;                    ///< order of the messages taken
    std::map<std::uint64_t, Outgoing> unacked; ///< taken, not yet acknowledged (sent or not), in order
    std::map<int, std::uint64_t> by_mid;       ///< libmosquitto's message id -> ours
    std::map<std::string, std::map<std::string, nlohmann::json>> standing; ///< topic -> alarm key -> alarm

    static void on_connect(struct mosquitto*, void* obj, int rc);
    static void on_disconnect(struct mosquitto*, void* obj, int rc);
    static void on_publish(struct mosquitto*, void* obj, int mid);

    /// Sends what waits (under the lock): every message not acknowledged, in order, once connected.
    void send_waiting() {
        if (!connected) return;
        for (auto& [n, m] : unacked) {
            bool in_flight = false;
            for (const auto& [mid, ours] : by_mid) in_flight = in_flight || ours == n;
            if (in_flight) continue;
            int mid = 0;
            const int rc =
                mosquitto_publish(mosq, &mid, m.topic.c_str(), int(m.payload.size()), m.payload.data(), 1, m.retain);
            if (rc != MOSQ_ERR_SUCCESS) return; // the connection went: the next connect sends it
            by_mid[mid] = n;
        }
    }
};

void MqttAlarms::Impl::on_connect(struct mosquitto*, void* obj, int rc) {
    auto* d = static_cast<MqttAlarms::Impl*>(obj);
    std::lock_guard lock(d->mu);
    if (rc != 0) {
        spdlog::warn("monitor: MQTT broker {} refused the connection: {}", d->url, mosquitto_connack_string(rc));
        return;
    }
    if (!d->connected) spdlog::info("monitor: alarms on MQTT {} under {}/", d->url, d->prefix);
    d->connected = true;
    d->by_mid.clear(); // a new connection: what was in flight goes again (QoS 1: at least once)
    d->send_waiting();
}
void MqttAlarms::Impl::on_disconnect(struct mosquitto*, void* obj, int rc) {
    auto* d = static_cast<MqttAlarms::Impl*>(obj);
    std::lock_guard lock(d->mu);
    if (rc != 0 && d->connected) spdlog::warn("monitor: MQTT broker {} lost; reconnecting", d->url);
    d->connected = false;
}
void MqttAlarms::Impl::on_publish(struct mosquitto*, void* obj, int mid) {
    auto* d = static_cast<MqttAlarms::Impl*>(obj);
    {
        std::lock_guard lock(d->mu);
        auto it = d->by_mid.find(mid);
        if (it == d->by_mid.end()) return;
        d->unacked.erase(it->second);
        d->by_mid.erase(it);
    }
    d->cv.notify_all();
}

MqttAlarms::MqttAlarms(const std::string& url, const std::string& prefix, const std::string& client_id)
    : impl_(std::make_unique<Impl>()) {
    Impl& d = *impl_;
    d.url = url, d.prefix = prefix;
    const std::string scheme = "mqtt://";
    if (url.rfind(scheme, 0) != 0 || url.size() == scheme.size())
        throw Error(ErrorCode::kBadInput, "--mqtt '" + url + "': give mqtt://HOST[:PORT]");
    d.host = url.substr(scheme.size());
    if (const auto colon = d.host.rfind(':'); colon != std::string::npos) {
        const std::string port = d.host.substr(colon + 1);
        d.host.resize(colon);
        try {
            std::size_t used = 0;
            d.port = std::stoi(port, &used);
            if (used != port.size() || d.port < 1 || d.port > 65535) throw std::out_of_range("port");
        } catch (const std::exception&) {
            throw Error(ErrorCode::kBadInput, "--mqtt '" + url + "': the port must be 1..65535");
        }
    }
    if (d.host.empty() || prefix.empty() || prefix.find_first_of("+#") != std::string::npos)
        throw Error(ErrorCode::kBadInput,
                    "--mqtt '" + url + "' / --mqtt-topic '" + prefix + "': a host, and a topic prefix without + or #");
    mosquitto_lib_init();
    d.mosq = mosquitto_new(client_id.c_str(), true, &d);
    if (!d.mosq) throw Error(ErrorCode::kTransport, "--mqtt " + url + ": cannot make a client");
    mosquitto_connect_callback_set(d.mosq, Impl::on_connect);
    mosquitto_disconnect_callback_set(d.mosq, Impl::on_disconnect);
    mosquitto_publish_callback_set(d.mosq, Impl::on_publish);
    mosquitto_reconnect_delay_set(d.mosq, 1, 10, true);
    // libmosquitto's loop reconnects after a connection is lost, but not after a first connect that failed (its
    // thread ends): until one succeeds, a thread of ours tries again every second.
    d.connecting = std::thread([&d] {
        for (bool said = false;;) {
            const int rc = mosquitto_connect_async(d.mosq, d.host.c_str(), d.port, 30);
            if (rc == MOSQ_ERR_SUCCESS) {
                mosquitto_loop_start(d.mosq);
                return;
            }
            if (!said)
                spdlog::warn("monitor: MQTT broker {} not reached yet ({}); alarms wait and go once it is", d.url,
                             mosquitto_strerror(rc));
            said = true;
            std::unique_lock lock(d.mu);
            if (d.cv.wait_for(lock, std::chrono::seconds(1), [&] { return d.stopping; })) return;
        }
    });
}

MqttAlarms::~MqttAlarms() {
    Impl& d = *impl_;
    {
        std::unique_lock lock(d.mu);
        if (!d.cv.wait_for(lock, std::chrono::seconds(5), [&] { return d.unacked.empty(); }))
            spdlog::error("monitor: {} alarm message(s) not acknowledged by the MQTT broker {} at the end",
                          d.unacked.size(), d.url);
        d.stopping = true;
    }
    d.cv.notify_all();
    d.connecting.join();
    mosquitto_disconnect(d.mosq);
    mosquitto_loop_stop(d.mosq, false);
    mosquitto_destroy(d.mosq);
}

void MqttAlarms::alarm(const MonitorAlarm& a) {
    Impl& d = *impl_;
    const std::string base = d.prefix + "/" + mqtt_level(a.line) + "/" + mqtt_level(a.camera);
    nlohmann::json event = alarm_json(a);
    event["message"] = a.message();
    std::lock_guard lock(d.mu);
    auto& standing = d.standing[base];
    const std::string key = a.model + "|" + a.signal + "|" + a.test;
    if (a.raised)
        standing[key] = event;
    else
        standing.erase(key);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [k, e] : standing) list.push_back(e);
    d.unacked[d.next++] = Outgoing{base + "/alarm", event.dump(), false};
    d.unacked[d.next++] = Outgoing{base + "/standing", list.dump(), true};
    d.send_waiting();
}

std::size_t MqttAlarms::unacknowledged() const {
    std::lock_guard lock(impl_->mu);
    return impl_->unacked.size();
}

} // namespace sightline::pipeline
