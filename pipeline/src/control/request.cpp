// A control request, parsed strictly: what a line's control socket accepts (docs/versions.md, "Hot swap").
#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "sightline/error.hpp"
#include "sightline/pipeline/control.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {

namespace {
[[noreturn]] void refuse(const std::string& why) {
    throw Error(ErrorCode::kBadInput, "control request: " + why);
}
} // namespace

ControlRequest parse_control_request(std::string_view body) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(body, nullptr, true, false);
    } catch (const nlohmann::json::exception& e) {
        refuse(std::string("malformed JSON: ") + e.what());
    }
    if (!j.is_object()) refuse("expected a JSON object with a \"command\"");
    const auto text = [&](const char* key) {
        const auto it = j.find(key);
        if (it == j.end()) refuse(std::string("'") + key + "' missing");
        if (!it->is_string()) refuse(std::string("'") + key + "' is not a string");
        return it->get<std::string>();
    };
    ControlRequest r;
    r.command = text("command");
    static const std::map<std::string, std::set<std::string>> kKeys = {
        {"status", {}}, {"load", {"id", "file"}}, {"serve", {"camera", "id"}}, {"unload", {"id"}}};
    const auto command = kKeys.find(r.command);
    if (command == kKeys.end())
        refuse("unknown command '" + transport::printable(r.command) + "' (status, load, serve, unload)");
    for (const auto& [key, value] : j.items())
        if (key != "command" && !command->second.count(key))
            refuse("'" + transport::printable(key) + "': unknown key for " + r.command);
    for (const char* key : {"id", "camera"})
        if (command->second.count(key)) {
            std::string& field = key == std::string("id") ? r.id : r.camera;
            field = text(key);
            if (const auto problem = transport::camera_id_problem(field); !problem.empty())
                refuse(std::string("'") + key + "': " + problem);
        }
    if (command->second.count("file")) {
        r.file = text("file");
        if (r.file.empty() || r.file.size() > 4096) refuse("'file': empty or longer than 4096 bytes");
    }
    return r;
}

std::string control_request_json(const ControlRequest& r) {
    nlohmann::ordered_json j{{"command", r.command}};
    if (!r.id.empty()) j["id"] = r.id;
    if (!r.camera.empty()) j["camera"] = r.camera;
    if (!r.file.empty()) j["file"] = r.file;
    return j.dump();
}

} // namespace sightline::pipeline
