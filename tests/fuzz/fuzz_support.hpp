#pragma once
// What the fuzz targets share (one libFuzzer target per parser of outside input, STYLE.md): the bytes as a file
// where the parser reads files, and the rule every target checks: a parser may refuse its input with
// sightline::Error (that is its job), nothing else may escape it (an exception of another type, a crash, a
// sanitizer report: each is a bug, and libFuzzer stops on it).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "sightline/error.hpp"

namespace sightline::fuzz {

/// A folder of this process's own under the temp dir (removed at exit).
inline const std::filesystem::path& work_dir() {
    static const struct Dir {
        std::filesystem::path path;
        Dir() : path(std::filesystem::temp_directory_path() / ("sightline-fuzz-" + std::to_string(::getpid()))) {
            std::filesystem::create_directories(path);
        }
        ~Dir() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    } dir;
    return dir.path;
}

/// Writes the input to `name` in the work dir and returns its path.
inline std::filesystem::path as_file(const std::uint8_t* data, std::size_t size, const char* name) {
    const auto p = work_dir() / name;
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
    return p;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Runs the parser: sightline::Error is a refusal (fine), anything else escapes.
template <class F> void refuse_or_accept(F&& parse) {
    try {
        parse();
    } catch (const sightline::Error&) {
    }
}

} // namespace sightline::fuzz
