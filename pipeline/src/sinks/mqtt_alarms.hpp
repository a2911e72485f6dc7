#pragma once
// The monitor's alarms on MQTT (libmosquitto, Debian's libmosquitto-dev), where plant systems and Frigate's users
// listen (docs/monitor.md, "MQTT"): each alarm raised or cleared as an event, QoS 1, and per camera the alarms
// standing now as a retained message, so a client that connects later reads the state at once.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "sightline/pipeline/monitor.hpp"

namespace sightline::pipeline {

class MqttAlarms {
  public:
    /// `url`: mqtt://HOST[:PORT] (1883 by default). Connects in the background and again after a loss; what could
    /// not be sent waits and goes on the next connection. Error(kBadInput) naming a malformed URL.
    MqttAlarms(const std::string& url, const std::string& topic_prefix, const std::string& client_id);
    /// Waits up to 5 s for the broker to acknowledge what was sent (logged when it did not), then disconnects.
    ~MqttAlarms();
    MqttAlarms(const MqttAlarms&) = delete;
    MqttAlarms& operator=(const MqttAlarms&) = delete;

    /// <prefix>/<line>/<camera>/alarm: the event (JSON); <prefix>/<line>/<camera>/standing: the camera's standing
    /// alarms (a JSON list, retained; [] once none stands). A line that names none is "_".
    void alarm(const MonitorAlarm& a);
    std::size_t unacknowledged() const; ///< published, not yet acknowledged by the broker (or not yet sent)

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// An alarm as the monitor writes it on --json and MQTT: kind (alarm_raised / alarm_cleared), line, camera, model,
/// slice, signal, test, value, threshold, window_start_ns, window_end_ns, wall_ns.
nlohmann::json alarm_json(const MonitorAlarm& a);

/// A name as one MQTT topic level: '+', '#', '%' and control bytes percent-encoded ('/' is in no camera id).
std::string mqtt_level(const std::string& name);

} // namespace sightline::pipeline
