#pragma once
// Reading a validated YAML file: every error names the file, the key path and the reason.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "sightline/error.hpp"

namespace sightline::pipeline::detail {

struct YamlFile {
    std::string file;

    /// Loads `path`: Error(kNotFound) when it is missing, Error(kBadInput) with line and reason when it is not a
    /// regular file, is malformed, or repeats a key in a mapping (YAML says keys are unique; yaml-cpp would keep
    /// the first and hide the second).
    static std::pair<YamlFile, YAML::Node> load(const std::filesystem::path& path) {
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::kNotFound, path.string() + ": no such file");
        if (!std::filesystem::is_regular_file(path, ec))
            throw Error(ErrorCode::kBadInput, path.string() + ": not a regular file (expected a YAML file)");
        YamlFile f{path.string()};
        try {
            YAML::Node root = YAML::LoadFile(path.string());
            f.unique_keys(root, "");
            return {f, root};
        } catch (const YAML::Exception& e) {
            throw Error(ErrorCode::kBadInput,
                        path.string() + ": malformed YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
        } catch (const std::ios_base::failure& e) {
            throw Error(ErrorCode::kIo, path.string() + ": cannot read: " + e.what());
        }
    }
    /// Runs a reader of this file's nodes: whatever yaml-cpp throws on the way (a conversion it cannot make) becomes
    /// Error(kBadInput) naming the file and the line, never an unexpected failure.
    template <class F> static auto guarded(const std::filesystem::path& path, F&& read) {
        try {
            return read();
        } catch (const YAML::Exception& e) {
            throw Error(ErrorCode::kBadInput,
                        path.string() + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
        }
    }
    /// Every mapping under `n` has each key once.
    void unique_keys(const YAML::Node& n, const std::string& path, int depth = 0) const {
        if (depth > 64) fail(path, "nested more than 64 levels deep");
        if (n.IsMap()) {
            std::set<std::string> seen;
            for (const auto& kv : n) {
                const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string("(a collection)");
                const std::string at = path.empty() ? k : path + "." + k;
                if (!seen.insert(k).second)
                    fail(at, "appears twice (line " + std::to_string(kv.first.Mark().line + 1) +
                                 "): a key may be given once");
                unique_keys(kv.second, at, depth + 1);
            }
        } else if (n.IsSequence()) {
            for (std::size_t i = 0; i < n.size(); ++i)
                unique_keys(n[i], path + "[" + std::to_string(i) + "]", depth + 1);
        }
    }
    [[noreturn]] void fail(const std::string& path, const std::string& why) const {
        throw Error(ErrorCode::kBadInput, file + ": " + path + ": " + why);
    }
    /// `n` must be a mapping whose keys are all in `allowed`; an unknown key's error suggests the nearest allowed
    /// one (a typo: `confidense` -> `confidence`) and lists them all.
    void keys(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) const {
        if (!n.IsMap()) fail(path, "expected a mapping");
        for (const auto& kv : n) {
            if (!kv.first.IsScalar()) fail(path, "a key that is not a plain name (a list or a mapping used as a key)");
            const auto k = kv.first.Scalar();
            if (allowed.count(k)) continue;
            std::string list, nearest;
            std::size_t best = 3; // at most two edits away to be suggested
            for (const auto& a : allowed) {
                list += (list.empty() ? "" : ", ") + a;
                if (const std::size_t d = edit_distance(k, a); d < best) best = d, nearest = a;
            }
            fail(path.empty() ? k : path + "." + k,
                 "unknown key" + (nearest.empty() ? std::string() : "; did you mean '" + nearest + "'?") +
                     " (expected one of: " + list + ")");
        }
    }
    /// Levenshtein distance (insertions, deletions, substitutions), for the suggestion above.
    static std::size_t edit_distance(const std::string& a, const std::string& b) {
        std::vector<std::size_t> row(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t diag = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t up = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
                diag = up;
            }
        }
        return row[b.size()];
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
