#include "sightline/transport/peek.hpp"

#include <cstring>

#include "sightline/transport/checks.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::transport {

namespace {

/// A forward-only msgpack reader over a body; every read checks the bytes left, any surprise ends the peek.
class Walk {
  public:
    explicit Walk(std::string_view b) : p_(reinterpret_cast<const unsigned char*>(b.data())), end_(p_ + b.size()) {}

    bool byte(unsigned& out) {
        if (p_ >= end_) return false;
        out = *p_++;
        return true;
    }
    bool big_endian(int bytes, std::uint64_t& out) {
        if (end_ - p_ < bytes) return false;
        out = 0;
        for (int i = 0; i < bytes; ++i) out = (out << 8) | *p_++;
        return true;
    }
    /// A string header of any width, then its bytes.
    bool str(std::string_view& out) {
        unsigned t = 0;
        std::uint64_t n = 0;
        if (!byte(t)) return false;
        if ((t & 0xe0) == 0xa0)
            n = t & 0x1f;
        else if (t == 0xd9 || t == 0xda || t == 0xdb) {
            if (!big_endian(1 << (t - 0xd9), n)) return false;
        } else
            return false;
        if (std::uint64_t(end_ - p_) < n) return false;
        out = std::string_view(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return true;
    }
    /// An integer of any msgpack width.
    bool integer(std::int64_t& out) {
        unsigned t = 0;
        std::uint64_t u = 0;
        if (!byte(t)) return false;
        if (t <= 0x7f) return out = t, true;
        if (t >= 0xe0) return out = std::int64_t(t) - 256, true;
        if (t >= 0xcc && t <= 0xcf) {
            if (!big_endian(1 << (t - 0xcc), u) || u > std::uint64_t(INT64_MAX)) return false;
            return out = std::int64_t(u), true;
        }
        if (t >= 0xd0 && t <= 0xd3) {
            const int bytes = 1 << (t - 0xd0);
            if (!big_endian(bytes, u)) return false;
            const int shift = 64 - 8 * bytes;
            out = std::int64_t(u << shift) >> shift; // sign-extend
            return true;
        }
        return false;
    }
    bool boolean(bool& out) {
        unsigned t = 0;
        if (!byte(t) || (t != 0xc2 && t != 0xc3)) return false;
        return out = t == 0xc3, true;
    }
    /// A map's or an array's length.
    bool container(bool map, std::uint64_t& n) {
        unsigned t = 0;
        if (!byte(t)) return false;
        if (map && (t & 0xf0) == 0x80) return n = t & 0x0f, true;
        if (!map && (t & 0xf0) == 0x90) return n = t & 0x0f, true;
        const unsigned w16 = map ? 0xde : 0xdc;
        if (t == w16 || t == w16 + 1) return big_endian(t == w16 ? 2 : 4, n);
        return false;
    }
    /// Skips one value of any kind (nested at most `depth` deep).
    bool skip(int depth = 32) {
        if (depth == 0 || p_ >= end_) return false;
        const unsigned t = *p_;
        std::uint64_t n = 0;
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return ++p_, true;
        if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) {
            std::string_view s;
            return str(s);
        }
        if ((t & 0xf0) == 0x80 || (t & 0xf0) == 0x90 || (t >= 0xdc && t <= 0xdf)) {
            const bool map = (t & 0xf0) == 0x80 || t >= 0xde;
            if (!container(map, n) || n > std::uint64_t(end_ - p_)) return false; // each item takes a byte at least
            for (std::uint64_t i = 0; i < n * (map ? 2 : 1); ++i)
                if (!skip(depth - 1)) return false;
            return true;
        }
        ++p_;
        std::uint64_t len = 0;
        switch (t) {
        case 0xc4:
        case 0xc5:
        case 0xc6: // bin 8/16/32
            if (!big_endian(1 << (t - 0xc4), len)) return false;
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9: // ext 8/16/32: length, type byte, data
            if (!big_endian(1 << (t - 0xc7), len)) return false;
            ++len;
            break;
        case 0xca:
            len = 4;
            break;
        case 0xcb:
            len = 8;
            break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            len = std::uint64_t(1) << (t - 0xcc);
            break;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
            len = std::uint64_t(1) << (t - 0xd0);
            break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            len = 1 + (std::uint64_t(1) << (t - 0xd4));
            break;
        default:
            return false; // 0xc1: never used
        }
        if (std::uint64_t(end_ - p_) < len) return false;
        p_ += len;
        return true;
    }

  private:
    const unsigned char* p_;
    const unsigned char* end_;
};

} // namespace

std::optional<PredKey> peek_pred(std::string_view body) {
    Walk w(body);
    std::uint64_t n = 0;
    if (!w.container(true, n) || n > limits::kBodyFields) return std::nullopt;
    PredKey k;
    unsigned seen = 0; // one bit per key read: a repeated key ends the peek
    enum : unsigned { kV = 1, kType = 2, kLine = 4, kCamera = 8, kSeq = 16, kTime = 32, kShadow = 64, kModel = 128 };
    const auto once = [&](unsigned bit) { return (seen & bit) ? false : (seen |= bit, true); };
    for (std::uint64_t i = 0; i < n; ++i) {
        std::string_view key, s;
        std::int64_t v = 0;
        if (!w.str(key)) return std::nullopt;
        bool ok = true;
        if (key == "v") {
            ok = once(kV) && w.integer(v) && v == kSchemaVersion;
        } else if (key == "type") {
            ok = once(kType) && w.str(s) && s == "pred";
        } else if (key == "line") {
            ok = once(kLine) && w.str(s) && line_name_problem(s).empty();
            k.line = s;
        } else if (key == "camera") {
            ok = once(kCamera) && w.str(s) && camera_id_problem(s).empty();
            k.camera = s;
        } else if (key == "model") {
            ok = once(kModel) && w.str(s) && s.size() <= limits::kNameBytes && valid_utf8(s);
            k.model = s;
        } else if (key == "seq") {
            ok = once(kSeq) && w.integer(v) && v >= 0 && std::uint64_t(v) < limits::kSeq;
            k.seq = std::uint64_t(v);
        } else if (key == "time_ns") {
            ok = once(kTime) && w.integer(v) && v >= 0 && v <= limits::kTimeNs;
            k.time_ns = v;
        } else if (key == "shadow") {
            ok = once(kShadow) && w.boolean(k.shadow);
        } else {
            ok = w.skip();
        }
        if (!ok) return std::nullopt;
    }
    constexpr unsigned kNeeded = kV | kType | kCamera | kSeq | kModel;
    if ((seen & kNeeded) != kNeeded) return std::nullopt;
    return k;
}

} // namespace sightline::transport
