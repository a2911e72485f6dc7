// sightline keys generate NAME: a CURVE key pair for a line or a sink (docs/security.md).
#include <cstdio>

#include "commands.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::tools {

Run add_keys(CLI::App& app) {
    auto* cmd = app.add_subcommand("keys", command_help("keys"));
    cmd->require_subcommand(1);
    auto name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto* gen =
        cmd->add_subcommand("generate", "Write NAME.key (the secret key, mode 0600) and NAME.pub (the public "
                                        "key, to hand to the other side), each one Z85 key as ZeroMQ writes it");
    gen->add_option("name", *name, "the path without suffix, e.g. keys/line1")->required();
    gen->add_flag("--force", *force, "replace existing files (the old key stops working everywhere it was given)");
    return [name, force] {
        transport::generate_key_files(*name, *force);
        std::printf("%s.key  secret: keep it on this machine (mode 0600)\n%s.pub  public: give it to the other side\n",
                    name->c_str(), name->c_str());
        return 0;
    };
}

} // namespace sightline::tools
