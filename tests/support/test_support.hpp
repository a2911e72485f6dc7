#pragma once
// Helpers shared by the tests: a fresh scratch directory, and the sightline binary run as a user runs it.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace sightline::testing {

/// An empty directory under the system temp dir, unique to this process.
inline std::filesystem::path temp_dir(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() / ("sightline_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

struct CommandResult {
    int code;           ///< exit code, -1 when the process did not exit normally
    std::string output; ///< stdout and stderr together
};

/// Runs `sightline ARGS` (the binary this build made) and collects its exit code and output.
inline CommandResult run_binary(const std::string& args) {
    FILE* p = popen((std::string(SIGHTLINE_BINARY) + " " + args + " 2>&1").c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    while (auto n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

} // namespace sightline::testing
