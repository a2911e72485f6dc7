#pragma once
/// Requests to a line's control socket (docs/versions.md, "Hot swap"): each one JSON object with a `command`, parsed
/// strictly (an unknown command or key, a wrong type, a bad id is refused with the key named).
#include <string>
#include <string_view>

namespace sightline::pipeline {

struct ControlRequest {
    /// status; load (id, file: a version loaded beside the running ones, checked, then switched in by serve);
    /// serve (camera, id: the version serving the camera from the next batch); unload (id)
    std::string command;
    std::string id, file, camera;
};

/// Error(kBadInput) naming the key: malformed JSON, not an object, an unknown command or key, a missing or non-string
/// field, an id or camera that breaks the camera-id rule, a file path that is empty or over 4096 bytes.
ControlRequest parse_control_request(std::string_view body);

/// The request as the JSON text the socket carries.
std::string control_request_json(const ControlRequest& request);

} // namespace sightline::pipeline
