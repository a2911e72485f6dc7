#pragma once
/// The one validation layer for outside input (STYLE.md, "Outside input"): the limits a reader of the wire, of a
/// recording or of a dataset holds every value to, and the checks they share. Past these checks code may trust
/// what it holds: finite numbers in range, indices within their lists, bounded strings of valid UTF-8, camera ids
/// that are safe as a topic and a folder name. docs/wire.md ("What a reader accepts") lists the limits.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sightline::transport {

namespace limits {
inline constexpr std::size_t kCameraBytes = 128;        ///< a camera id
inline constexpr std::size_t kNameBytes = 256;          ///< model name@version, class names, map keys, strategy, kind
inline constexpr std::size_t kTextBytes = 4096;         ///< an event's message, a meta value, a reason, a tag, a slice
inline constexpr std::size_t kIdBytes = 512;            ///< a sample id
inline constexpr std::size_t kMapEntries = 64;          ///< meta, the stamps map, tags, reasons
inline constexpr std::size_t kStatValues = 1024;        ///< a stat message's values
inline constexpr std::size_t kBodyFields = 256;         ///< keys of one message map (unknown keys included)
inline constexpr std::size_t kClasses = 4096;           ///< class names of a model; class indices below this
inline constexpr std::size_t kDetections = 100000;      ///< detections (or candidates) in one message
inline constexpr std::size_t kMessageBytes = 64u << 20; ///< one frame of a ZeroMQ message (a larger one: disconnect)
inline constexpr int kFrameSide = 65536;                ///< frame width and height, pixels
inline constexpr std::uint64_t kSeq = 1ull << 53;       ///< sequence numbers and frame indices stay below this
/// |a time in ns| (pts, stamps, wall clock): 2^62 ns is 146 years, and sums and differences of two cannot overflow
inline constexpr std::int64_t kTimeNs = std::int64_t{1} << 62;
inline constexpr double kCoordinate = 1e7; ///< |box coordinate| in pixels
inline constexpr double kSharpness = 1e9;  ///< the variance of a Laplacian of 8-bit luma stays far below
inline constexpr double kStatValue = 1e18; ///< |a stat value|
/// Unit-range values (scores, margins, entropies, uncertainty) may stray this far outside [0, 1] by float rounding.
inline constexpr double kUnitSlack = 1e-3;
} // namespace limits

/// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s);

/// Checks a string from outside: at most `max_bytes`, valid UTF-8, no NUL. Throws Error(kBadInput)
/// "<what>: <reason>" otherwise.
void check_text(std::string_view s, std::size_t max_bytes, std::string_view what);

/// The rule for a camera id, wherever one enters (run config, wire, dataset rows): 1..128 bytes of valid UTF-8,
/// no '/', '\\', whitespace or control characters, and not "." or "..": it is part of a topic and a folder name.
/// Returns the reason it is refused, empty when it is fine.
std::string camera_id_problem(std::string_view id);
/// Throws Error(kBadInput) "<what>: <reason>" when camera_id_problem() finds one.
void check_camera_id(std::string_view id, std::string_view what);

/// What is wrong with a line name (RunConfig::line, the `line` field of every message; docs/wire.md), "" when
/// nothing: a camera id's rule, and no '.', '*' or '>' either (a line name is one token of a subject on a message
/// bus: sightline.<line>.pred.<camera>).
std::string line_name_problem(std::string_view name);
/// Throws Error(kBadInput) "<what>: <reason>" when line_name_problem() finds one.
void check_line_name(std::string_view name, std::string_view what);
/// A camera as people and sinks name it across lines: "line/camera" ('/' is in neither), the camera id alone from
/// a line that names none.
inline std::string line_camera(const std::string& line, const std::string& camera) {
    return line.empty() ? camera : line + "/" + camera;
}
/// A valid line name made of `text` (a host name): its first label, other characters a line name refuses as '-';
/// "line" when nothing is left.
std::string line_name_from(std::string_view text);

/// What is wrong with a ZeroMQ endpoint to bind or connect (empty: nothing): tcp://HOST:PORT with PORT 1..65535
/// or * (a free one), ipc://PATH, inproc://NAME. ZeroMQ itself reads a port of 99999 or -1 as some other port.
std::string endpoint_problem(std::string_view endpoint);

/// A printable rendering of bytes that failed a check (invalid UTF-8 and control characters as \xNN, cut at 80
/// bytes): for error messages, which must never carry the bytes themselves.
std::string printable(std::string_view s);

/// How many messages lie strictly between two sequence numbers of one camera, without wrapping: 0 when `next` does
/// not follow `last` (a repeat, or a step back: a restarted line or a reordering, counted apart by the caller).
inline std::uint64_t seq_gap(std::uint64_t last, std::uint64_t next) {
    return next > last ? next - last - 1 : 0;
}

/// When a refusal repeated many times is worth logging again: the first time, then at most once per period (a
/// stream of malformed messages must not flood the log).
class LogEvery {
  public:
    explicit LogEvery(std::chrono::steady_clock::duration period = std::chrono::seconds(5)) : period_(period) {}
    bool due() {
        const auto now = std::chrono::steady_clock::now();
        if (logged_ && now - last_ < period_) return false;
        logged_ = true, last_ = now;
        return true;
    }

  private:
    std::chrono::steady_clock::duration period_;
    std::chrono::steady_clock::time_point last_{};
    bool logged_ = false;
};

} // namespace sightline::transport
