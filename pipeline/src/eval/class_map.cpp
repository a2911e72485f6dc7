// --class-map: results' class names or ids -> the ground truth's (EvalOptions::class_map).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sightline/error.hpp"
#include "sightline/pipeline/eval_report.hpp"

namespace sightline::pipeline {

namespace {

std::string trim(const std::string& s) {
    const auto a = s.find_first_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

void add_pair(std::map<std::string, std::string>& out, const std::string& pair, const std::string& where) {
    const auto eq = pair.find('=');
    const std::string key = trim(pair.substr(0, eq)), value = eq == std::string::npos ? "" : trim(pair.substr(eq + 1));
    if (eq == std::string::npos || key.empty() || value.empty())
        throw Error(ErrorCode::kBadInput, "--class-map " + where + ": '" + pair + "' is not NAME=NAME");
    if (!out.emplace(key, value).second)
        throw Error(ErrorCode::kBadInput, "--class-map " + where + ": '" + key + "' is mapped twice");
}

void read_file(std::map<std::string, std::string>& out, const std::string& path) {
    std::ifstream f(path);
    if (!f) throw Error(ErrorCode::kNotFound, "--class-map: cannot read " + path + " (a file, or give NAME=NAME)");
    std::stringstream text;
    text << f.rdbuf();
    const std::string body = text.str();
    if (trim(body).rfind('{', 0) == 0) { // a JSON object
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            throw Error(ErrorCode::kBadInput, "--class-map " + path + ": not a JSON object of names");
        for (const auto& [k, v] : j.items()) {
            if (!v.is_string() && !v.is_number_integer())
                throw Error(ErrorCode::kBadInput,
                            "--class-map " + path + ": '" + k + "' maps to neither a name nor an id");
            add_pair(out, k + "=" + (v.is_string() ? v.get<std::string>() : std::to_string(v.get<long long>())), path);
        }
        return;
    }
    std::string line;
    std::istringstream lines(body);
    for (int n = 1; std::getline(lines, line); ++n) {
        const std::string t = trim(line.substr(0, line.find('#')));
        if (!t.empty()) add_pair(out, t, path + ":" + std::to_string(n));
    }
}

} // namespace

std::map<std::string, std::string> parse_class_map(const std::vector<std::string>& values) {
    std::map<std::string, std::string> out;
    for (const auto& v : values) {
        if (v.find('=') == std::string::npos) {
            read_file(out, v);
            continue;
        }
        std::istringstream parts(v);
        for (std::string pair; std::getline(parts, pair, ',');) add_pair(out, pair, "'" + v + "'");
    }
    return out;
}

} // namespace sightline::pipeline
