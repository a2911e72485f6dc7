#pragma once
// The process's CPU time so far (user + system, every thread), in milliseconds: what the benchmarks read a line's
// cost per frame with, since other load on the machine moves it much less than wall time.
#include <sys/resource.h>

namespace sightline::bench {

inline double process_cpu_ms() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const auto ms = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
    };
    return ms(u.ru_utime) + ms(u.ru_stime);
}

} // namespace sightline::bench
