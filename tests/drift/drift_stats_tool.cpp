/// The monitor's drift statistics on cases read as JSON from stdin, results as JSON on stdout: the C++ side of
/// tests/python/test_drift_oracles.py, which checks them against Evidently, NannyML and river.
/// Input: [{"test": "jensen_shannon"|"psi"|"chi_square"|"wasserstein", "reference": [counts], "current": [counts],
///          "centres": [bin centres, wasserstein only]},
///         {"test": "chunk_threshold", "values": [...]},
///         {"test": "page_hinkley", "values": [...], "delta": d, "threshold": t, "min_instances": n}]
/// Output: one entry per case: a number, or for page_hinkley the indices where a change was detected.
#include <cmath>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "sightline/pipeline/drift.hpp"

using namespace sightline::pipeline;

int main() {
    const std::string text{std::istreambuf_iterator<char>(std::cin), {}};
    const auto cases = nlohmann::json::parse(text);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : cases) {
        const std::string test = c.at("test");
        auto v = [&](const char* k) { // null: NaN
            std::vector<double> out;
            for (const auto& x : c.at(k)) out.push_back(x.is_null() ? std::nan("") : x.get<double>());
            return out;
        };
        if (test == "page_hinkley") {
            drift::PageHinkley ph({c.value("min_instances", 30), c.value("delta", 0.005), c.value("threshold", 50.0),
                                   c.value("alpha", 1 - 0.0001)});
            std::vector<int> at;
            const auto values = v("values");
            for (std::size_t k = 0; k < values.size(); ++k)
                if (ph.update(values[k])) at.push_back(static_cast<int>(k));
            out.push_back(at);
        } else if (test == "chunk_threshold") {
            out.push_back(drift::chunk_upper_threshold(v("values")));
        } else if (test == "jensen_shannon") {
            out.push_back(drift::jensen_shannon(v("reference"), v("current")));
        } else if (test == "psi") {
            out.push_back(drift::psi(v("reference"), v("current")));
        } else if (test == "chi_square") {
            out.push_back(drift::chi_square_p_value(v("reference"), v("current")));
        } else if (test == "wasserstein") {
            out.push_back(drift::wasserstein_normalised(v("centres"), v("reference"), v("current")));
        } else {
            std::cerr << "drift_stats_tool: unknown test '" << test << "'\n";
            return 2;
        }
    }
    std::cout << out.dump() << "\n";
}
