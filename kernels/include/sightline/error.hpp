#pragma once
/// The one exception type of sightline: a code saying what kind of failure, and a message naming the input.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sightline {

enum class ErrorCode {
    kBadInput,    ///< malformed or inconsistent input: a file, a flag, a config key, a tensor shape
    kNotFound,    ///< a file or resource that does not exist
    kUnsupported, ///< valid input this build cannot handle (codec, layout, pixel format)
    kCuda,        ///< a CUDA runtime failure
    kFFmpeg,      ///< a libav* failure (message from av_strerror)
    kTransport,   ///< ZeroMQ failure
    kIo,          ///< file system failure (full disk, permissions)
};

std::string_view to_string(ErrorCode code) noexcept;

class Error : public std::runtime_error {
  public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ErrorCode code() const noexcept { return code_; }

  private:
    ErrorCode code_;
};

inline std::string_view to_string(ErrorCode code) noexcept {
    switch (code) {
    case ErrorCode::kBadInput:
        return "bad input";
    case ErrorCode::kNotFound:
        return "not found";
    case ErrorCode::kUnsupported:
        return "unsupported";
    case ErrorCode::kCuda:
        return "cuda";
    case ErrorCode::kFFmpeg:
        return "ffmpeg";
    case ErrorCode::kTransport:
        return "transport";
    case ErrorCode::kIo:
        return "io";
    }
    return "unknown";
}

} // namespace sightline

/// Programmer errors only (never input): aborts with the condition and location.
#define SL_ASSERT(cond)                                                                                                \
    do {                                                                                                               \
        if (!(cond)) ::sightline::detail::assert_fail(#cond, __FILE__, __LINE__);                                      \
    } while (0)

namespace sightline::detail {
[[noreturn]] inline void assert_fail(const char* cond, const char* file, int line) noexcept {
    std::fprintf(stderr, "sightline: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    std::abort();
}
} // namespace sightline::detail
