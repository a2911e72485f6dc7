#include "sightline/transport/checks.hpp"

#include <algorithm>
#include <cstdio>

#include "sightline/error.hpp"

namespace sightline::transport {

namespace {
/// 'text' (appends, not operator+ on a literal: GCC 12 warns falsely about the latter, -Wrestrict)
std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '\'';
    out.append(text);
    out += '\'';
    return out;
}
} // namespace

bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int n = 0;
        std::uint32_t cp = 0, min = 0;
        if ((c & 0xE0) == 0xC0)
            n = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            n = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return false; // a continuation byte first, or 0xF8..0xFF
        if (end - p <= n) return false;
        for (int k = 1; k <= n; ++k) {
            if ((p[k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += n + 1;
    }
    return true;
}

std::string printable(std::string_view s) {
    std::string out;
    const std::size_t n = std::min<std::size_t>(s.size(), 80);
    const bool utf8 = valid_utf8(s.substr(0, n));
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8) || c == '\\') {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02X", c);
            out += b;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > n) out += "...";
    return out;
}

void check_text(std::string_view s, std::size_t max_bytes, std::string_view what) {
    if (s.size() > max_bytes)
        throw Error(ErrorCode::kBadInput, std::string(what) + ": " + std::to_string(s.size()) +
                                              " bytes, more than the " + std::to_string(max_bytes) + " allowed");
    if (s.find('\0') != std::string_view::npos)
        throw Error(ErrorCode::kBadInput, std::string(what) + ": holds a NUL byte (" + quoted(printable(s)) + ")");
    if (!valid_utf8(s))
        throw Error(ErrorCode::kBadInput, std::string(what) + ": not valid UTF-8 (" + quoted(printable(s)) + ")");
}

std::string endpoint_problem(std::string_view e) {
    const auto scheme = e.find("://");
    if (scheme == std::string_view::npos)
        return quoted(printable(e)) + " is not an endpoint (tcp://HOST:PORT, ipc://PATH or inproc://NAME)";
    const std::string_view kind = e.substr(0, scheme), rest = e.substr(scheme + 3);
    if (!valid_utf8(e) || e.size() > 1024) return "not a valid endpoint";
    if (kind == "ipc" || kind == "inproc") return rest.empty() ? quoted(e) + " names no path" : "";
    if (kind != "tcp") return quoted(kind) + " is not a transport sightline uses (tcp, ipc, inproc)";
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        return quoted(e) + " needs a host and a port (tcp://HOST:PORT, e.g. tcp://127.0.0.1:5555)";
    const std::string_view port = rest.substr(colon + 1);
    if (port == "*") return {};
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
        return "port " + quoted(printable(port)) + " of " + quoted(e) + " is not in 1..65535 (or * for a free one)";
    return {};
}

namespace {
/// The rule camera ids and line names share; `what` names the kind in the reason.
std::string name_problem(std::string_view id, std::string_view what) {
    if (id.empty()) return "empty";
    if (id.size() > limits::kCameraBytes)
        return std::to_string(id.size()) + " bytes, more than the " + std::to_string(limits::kCameraBytes) + " allowed";
    if (!valid_utf8(id)) return "not valid UTF-8 (" + quoted(printable(id)) + ")";
    if (id == "." || id == "..") return quoted(id) + " is not a " + std::string(what) + " (it names a folder)";
    for (const char ch : id) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F || c == ' ' || c == '/' || c == '\\')
            return quoted(printable(id)) + " holds a '/', '\\', space or control character (a " + std::string(what) +
                   " is part of a topic and a folder name)";
    }
    return {};
}
} // namespace

std::string camera_id_problem(std::string_view id) {
    return name_problem(id, "camera id");
}

void check_camera_id(std::string_view id, std::string_view what) {
    if (auto problem = camera_id_problem(id); !problem.empty())
        throw Error(ErrorCode::kBadInput, std::string(what) + ": " + problem);
}

std::string line_name_problem(std::string_view name) {
    if (std::string problem = name_problem(name, "line name"); !problem.empty()) return problem;
    if (name.find_first_of(".*>") != std::string_view::npos)
        return quoted(printable(name)) + " holds a '.', '*' or '>' (a line name is one token of a subject: "
                                         "sightline.<line>.pred.<camera>)";
    return {};
}

void check_line_name(std::string_view name, std::string_view what) {
    if (auto problem = line_name_problem(name); !problem.empty())
        throw Error(ErrorCode::kBadInput, std::string(what) + ": " + problem);
}

std::string line_name_from(std::string_view text) {
    std::string name(text.substr(0, text.find('.')));
    if (name.size() > limits::kCameraBytes) name.resize(limits::kCameraBytes);
    for (char& ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7F || c == ' ' || c == '/' || c == '\\' || c == '*' || c == '>') ch = '-';
    }
    return name.empty() ? "line" : name;
}

} // namespace sightline::transport
