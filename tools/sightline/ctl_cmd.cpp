// sightline ctl ENDPOINT COMMAND [ARGS]: a running line's control socket (publish.control; docs/versions.md, "Hot
// swap"): status, load ID FILE, serve CAMERA ID, unload ID. Prints the line's JSON reply; exit 0 when it says ok, 1
// when it refuses, 2 when no line answers.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/control.hpp"
#include "sightline/transport/control.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::tools {

namespace {
/// Sends one request, prints the reply: 0 when the line says ok, 1 when it refuses, 2 when nothing sensible answers.
int ask_line(const std::string& endpoint, const std::string& body, double timeout_s,
             const std::optional<transport::CurveClient>& curve) {
    std::string reply;
    try {
        reply = transport::control_request(endpoint, body,
                                           std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)), curve);
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    const auto j = nlohmann::json::parse(reply, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        std::fprintf(stderr, "error: %s answered something that is not a JSON object\n", endpoint.c_str());
        return 2;
    }
    std::printf("%s\n", j.dump(2).c_str());
    if (!j.value("ok", false)) {
        std::fprintf(stderr, "error: the line refused: %s\n", j.value("error", std::string("(no reason)")).c_str());
        return 1;
    }
    return 0;
}
} // namespace

Run add_ctl(CLI::App& app) {
    struct Options {
        std::string endpoint, command, key, server_key;
        std::vector<std::string> args;
        double timeout_s = 60;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("ctl", command_help("ctl"));
    cmd->add_option("endpoint", o->endpoint, "the line's publish.control endpoint (tcp://127.0.0.1:PORT, ipc://...)")
        ->required();
    cmd->add_option("command", o->command, "status | load ID FILE | serve CAMERA ID | unload ID")
        ->required()
        ->check(CLI::IsMember({"status", "load", "serve", "unload"}));
    cmd->add_option("args", o->args, "the command's arguments");
    cmd->add_option("--timeout-s", o->timeout_s, "how long to wait for the line's reply (a load compiles a model)")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 3600.0));
    cmd->add_option("--key", o->key, "this client's secret key file (sightline keys generate): CURVE to the line");
    cmd->add_option("--server-key", o->server_key, "the line's public key file (its .pub), with --key");
    cmd->footer("load ID FILE: the model.yaml FILE (a relative path found from here is sent absolute; one not found "
                "here is read from the line's config folder) is loaded "
                "beside the running versions as ID, self-tested and run on one real frame; it serves no camera "
                "until `serve CAMERA ID` switches a camera to it at the next batch (the old version stays loaded for "
                "an instant switch back until `unload`). Every switch is an event (model_loaded, model_switched, "
                "model_unloaded). Exit status: 0 ok, 1 the line refused (its reason printed), 2 no reply.");
    return [o] {
        const std::map<std::string, std::size_t> arity = {{"status", 0}, {"load", 2}, {"serve", 2}, {"unload", 1}};
        if (o->args.size() != arity.at(o->command))
            throw Error(ErrorCode::kBadInput, "ctl " + o->command + ": expected " +
                                                  std::to_string(arity.at(o->command)) + " argument(s), got " +
                                                  std::to_string(o->args.size()) +
                                                  " (status | load ID FILE | serve CAMERA ID | unload ID)");
        pipeline::ControlRequest r;
        r.command = o->command;
        if (r.command == "load") { // a file found from here is sent as an absolute path: the line's folder may differ
            r.id = o->args[0], r.file = o->args[1];
            if (std::error_code ec; std::filesystem::exists(r.file, ec)) r.file = std::filesystem::absolute(r.file);
        }
        if (r.command == "serve") r.camera = o->args[0], r.id = o->args[1];
        if (r.command == "unload") r.id = o->args[0];
        const std::string body = pipeline::control_request_json(r);
        pipeline::parse_control_request(body); // what the line would refuse is refused here, naming the argument
        const auto clients = transport::load_client_keys(
            o->key, o->server_key.empty() ? std::vector<std::string>{} : std::vector<std::string>{o->server_key});
        std::optional<transport::CurveClient> curve;
        if (!clients.empty()) curve = clients[0];
        return ask_line(o->endpoint, body, o->timeout_s, curve);
    };
}

} // namespace sightline::tools
