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

/// Everything left to read from `f`.
inline std::string read_all(FILE* f) {
    std::string out;
    std::array<char, 4096> buf;
    while (auto n = std::fread(buf.data(), 1, buf.size(), f)) out.append(buf.data(), n);
    return out;
}

/// Exit code run_binary gives for a command that ran past its time limit.
inline constexpr int kTimedOut = 124;

/// Runs `sightline ARGS` (the binary this build made) and collects its exit code and output. A command still
/// running after `timeout_s` is killed (TERM, then KILL 5 s later) and gives kTimedOut, with a line saying so at
/// the end of the output: a hang fails the test that ran it, instead of stalling the suite.
inline CommandResult run_binary_env(const std::string& env, const std::string& args, int timeout_s = 300);

inline CommandResult run_binary(const std::string& args, int timeout_s = 300) {
    return run_binary_env("", args, timeout_s);
}

/// run_binary with `env` (NAME=VALUE ...) set for the command.
inline CommandResult run_binary_env(const std::string& env, const std::string& args, int timeout_s) {
    const std::string cmd = (env.empty() ? std::string() : "env " + env + " ") + "timeout -k 5 " +
                            std::to_string(timeout_s) + " " + std::string(SIGHTLINE_BINARY) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out = read_all(p);
    const int status = pclose(p);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == kTimedOut || code == 128 + 9)
        out += "\n[run_binary: `sightline " + args + "` ran past " + std::to_string(timeout_s) + " s and was killed]\n";
    return {code == 128 + 9 ? kTimedOut : code, out};
}

struct SplitResult {
    int code;        ///< exit code, kTimedOut past the time limit, -1 when the process did not exit normally
    std::string out; ///< stdout alone
    std::string err; ///< stderr alone
};

/// run_binary with stdout and stderr kept apart (what a pipe `sightline ... | jq` sees is `out`).
/// `signal`: what ends a command still running after `timeout_s` ("TERM"; "INT" plays a user's Ctrl-C, and the
/// command's own exit code is returned then, not kTimedOut).
inline SplitResult run_binary_split(const std::string& args, int timeout_s = 300, const std::string& signal = "TERM") {
    const auto err_file = temp_dir("stderr") / "stderr.txt";
    const std::string cmd = "timeout -k 5 " + std::string(signal == "INT" ? "--preserve-status -s INT " : "") +
                            std::to_string(timeout_s) + " " + std::string(SIGHTLINE_BINARY) + " " + args + " 2>" +
                            err_file.string();
    FILE* p = popen(cmd.c_str(), "r");
    std::string out = read_all(p);
    const int status = pclose(p);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 128 + 9) code = kTimedOut;
    std::string err;
    if (FILE* e = std::fopen(err_file.c_str(), "r")) {
        err = read_all(e);
        std::fclose(e);
    }
    return {code, out, err};
}

} // namespace sightline::testing
