#pragma once
// How run, monitor and collect stop: SIGINT (Ctrl-C), SIGTERM (a service manager) and SIGHUP (a closed terminal, a
// dropped ssh session) all ask for a clean end: run_end sent, the recording closed, the store committed, exit 0. A
// second signal while it winds down ends the process at once (the default action).
#include <atomic>
#include <csignal>

namespace sightline::tools {

namespace detail {
inline std::atomic<bool> g_stop_requested{false};
extern "C" inline void on_stop_signal(int sig) {
    if (g_stop_requested.exchange(true)) { // asked twice: stop now
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
