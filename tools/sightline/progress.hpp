#pragma once
// Progress on long work: a rewritten line on a terminal, a log line every ~10% otherwise.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace sightline::tools {

class ProgressLine {
  public:
    explicit ProgressLine(std::string what) : what_(std::move(what)), tty_(isatty(fileno(stderr))) {}
    void update(long done, long total, const char* unit) {
        if (total <= 0) return;
        const int pct = static_cast<int>(100 * done / total);
        if (tty_) {
            std::fprintf(stderr, "\r%s: %ld/%ld %s (%d%%)   ", what_.c_str(), done, total, unit, pct);
            std::fflush(stderr);
            dirty_ = true;
        } else if (pct / 10 > last_decile_) {
            last_decile_ = pct / 10;
            spdlog::info("{}: {}/{} {} ({}%)", what_, done, total, unit, pct);
        }
    }
    void done() {
        if (dirty_) std::fputc('\n', stderr);
        dirty_ = false;
    }
    ~ProgressLine() { done(); }

  private:
    std::string what_;
    bool tty_;
    bool dirty_ = false;
    int last_decile_ = -1;
};

} // namespace sightline::tools
