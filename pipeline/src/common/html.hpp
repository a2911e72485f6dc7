#pragma once
/// Small pieces the self-contained HTML pages (the eval report, the monitor report) share.
#include <cmath>
#include <cstdio>
#include <string>

namespace sightline::pipeline::html {

inline std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
        case '<':
            o += "&lt;";
            break;
        case '>':
            o += "&gt;";
            break;
        case '&':
            o += "&amp;";
            break;
        case '"':
            o += "&quot;";
            break;
        case '\'':
            o += "&#39;";
            break;
        default:
            o += c;
        }
    }
    return o;
}

/// A number with `digits` decimals; an undefined one as a dash.
inline std::string num(double v, int digits = 3) {
    if (!std::isfinite(v)) return "&ndash;";
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

inline constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

} // namespace sightline::pipeline::html
