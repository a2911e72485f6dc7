#pragma once
// The bad-config tables of the run config's tests: each YAML written as `run.yaml` in a folder is refused with an
// error naming the file and carrying the expected words.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sightline/error.hpp"
#include "sightline/pipeline/config.hpp"

namespace sightline::testing {

struct ConfigCase {
    std::string yaml, message;
};

inline void expect_configs_refused(const std::filesystem::path& dir, const std::vector<ConfigCase>& cases) {
    for (const auto& c : cases) {
        std::ofstream(dir / "run.yaml") << c.yaml;
        try {
            pipeline::load_run_config(dir / "run.yaml");
            ADD_FAILURE() << "accepted:\n" << c.yaml;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("run.yaml"), std::string::npos) << e.what();
        }
    }
}

} // namespace sightline::testing
