#pragma once
// How run, monitor and collect stop: SIGINT (Ctrl-C), SIGTERM (a service manager) and SIGHUP (a closed terminal, a
// dropped ssh session) all ask for a clean end: run_end sent, the recording closed, the store committed, exit 0. A
// second signal while it winds down ends the process at once (the default action), unless it comes within
// kSameRequest of the first: coreutils' timeout signals the process and then its whole process group, and systemd
// signals every process of the unit, so one request can arrive twice a few microseconds apart.
#include <atomic>
#include <csignal>
#include <ctime>

namespace sightline::tools {

namespace detail {
constexpr long long kSameRequestNs = 250'000'000; // a person pressing Ctrl-C twice takes longer
inline std::atomic<bool> g_stop_requested{false};
inline std::atomic<long long> g_first_signal_ns{0};
inline long long monotonic_ns() { // clock_gettime is async-signal-safe
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1'000'000'000LL + t.tv_nsec;
}
extern "C" inline void on_stop_signal(int sig) {
    const long long now = monotonic_ns();
    if (!g_stop_requested.exchange(true)) {
        g_first_signal_ns = now;
    } else if (now - g_first_signal_ns >= kSameRequestNs) { // asked again: stop now
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
}
} // namespace detail

/// Installs the handlers (idempotent) and returns the flag they set.
inline const std::atomic<bool>& stop_on_signals() {
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
        struct sigaction a = {};
        a.sa_handler = detail::on_stop_signal;
        sigemptyset(&a.sa_mask);
        a.sa_flags = 0; // no SA_RESTART: a blocking wait returns (EINTR) and its loop looks at the flag
        sigaction(sig, &a, nullptr);
    }
    return detail::g_stop_requested;
}

} // namespace sightline::tools
