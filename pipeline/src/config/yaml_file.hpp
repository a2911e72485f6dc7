#pragma once
// Reading a validated YAML file: every error names the file, the key path and the reason.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>
#include <string>

#include "sightline/error.hpp"

namespace sightline::pipeline::detail {

struct YamlFile {
    std::string file;

    /// Loads `path`: Error(kNotFound) when it is missing, Error(kBadInput) with line and reason when malformed.
    static std::pair<YamlFile, YAML::Node> load(const std::filesystem::path& path) {
        if (!std::filesystem::exists(path)) throw Error(ErrorCode::kNotFound, path.string() + ": no such file");
        try {
            return {YamlFile{path.string()}, YAML::LoadFile(path.string())};
        } catch (const YAML::Exception& e) {
            throw Error(ErrorCode::kBadInput,
                        path.string() + ": malformed YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
        }
    }
    [[noreturn]] void fail(const std::string& path, const std::string& why) const {
        throw Error(ErrorCode::kBadInput, file + ": " + path + ": " + why);
    }
    /// `n` must be a mapping whose keys are all in `allowed`.
    void keys(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) const {
        if (!n.IsMap()) fail(path, "expected a mapping");
        for (const auto& kv : n) {
            const auto k = kv.first.as<std::string>();
            if (!allowed.count(k)) fail(path.empty() ? k : path + "." + k, "unknown key");
        }
    }
    /// Reads the optional `key` of the mapping `n` (at `path`) into `out` when it is there (else `out` keeps its
    /// default); the value read must satisfy `ok`, else the error says `rule` (e.g. "must be in 1..256").
    template <class T, class Ok>
    void read(const YAML::Node& n, const std::string& path, const char* key, T& out, Ok ok, const char* rule) const {
        const YAML::Node v = n[key];
        if (!v) return;
        const std::string at = path.empty() ? std::string(key) : path + "." + key;
        out = get<T>(v, at);
        if (!ok(out)) fail(at, rule);
    }
    template <class T> void read(const YAML::Node& n, const std::string& path, const char* key, T& out) const {
        read(
            n, path, key, out, [](const T&) { return true; }, "");
    }
    template <class T> T get(const YAML::Node& n, const std::string& path) const {
        if (!n) fail(path, "missing");
        try {
            return n.as<T>();
        } catch (const YAML::Exception&) {
            fail(path, "wrong type ('" + (n.IsScalar() ? n.Scalar() : std::string("a collection")) + "')");
        }
    }
};

} // namespace sightline::pipeline::detail
