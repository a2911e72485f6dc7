// The dataset's rows (Dataset::each_row, what export, merge and validate read): a row whose 21 columns come from
// the input, split at 0x1F (a field that looks like an integer or a number is stored as one), read back and
// validated. A tampered or damaged dataset.db is outside input too.
#include <sqlite3.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "fuzz_support.hpp"
#include "sightline/pipeline/dataset.hpp"

namespace {

const char* const kColumns[] = {"id",          "camera",   "frame",   "pts_ns",     "selected_ns", "width",
                                "height",      "image",    "model",   "strategy",   "tags",        "reasons",
                                "flags",       "uncertainty", "threshold", "meta",  "predictions", "candidates",
                                "classes",     "context_of", "context_offset"};

struct Fixture {
    std::filesystem::path dir = sightline::fuzz::work_dir() / "dataset";
    std::unique_ptr<sightline::pipeline::Dataset> dataset;
    sqlite3* db = nullptr;
    Fixture() {
        dataset = std::make_unique<sightline::pipeline::Dataset>(dir); // creates the schema
        sqlite3_open((dir / "dataset.db").c_str(), &db);
    }
    ~Fixture() { sqlite3_close(db); }
};

void bind_field(sqlite3_stmt* st, int i, const std::string& v) {
    char* end = nullptr;
    if (!v.empty()) {
        const long long n = std::strtoll(v.c_str(), &end, 10);
        if (*end == '\0') return (void)sqlite3_bind_int64(st, i, n);
        const double d = std::strtod(v.c_str(), &end);
        if (*end == '\0') return (void)sqlite3_bind_double(st, i, d);
    }
    if (v == "NULL") return (void)sqlite3_bind_null(st, i);
    sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture f;
    std::vector<std::string> fields(1);
    for (std::size_t i = 0; i < size; ++i)
        if (data[i] == 0x1F && fields.size() < 21)
            fields.emplace_back();
        else
            fields.back() += static_cast<char>(data[i]);
    fields.resize(21);
    std::string sql = "INSERT INTO samples(";
    for (int i = 0; i < 21; ++i) sql += std::string(i ? ", " : "") + kColumns[i];
    sql += ", received_ns) VALUES(";
    for (int i = 0; i < 21; ++i) sql += i ? ", ?" : "?";
    sql += ", 0)";
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(f.db, sql.c_str(), -1, &st, nullptr);
    for (int i = 0; i < 21; ++i) bind_field(st, i + 1, fields[i]);
    const int rc = sqlite3_step(st); // NOT NULL may refuse it: then there is nothing to read
    if (std::getenv("SIGHTLINE_FUZZ_VERBOSE")) std::fprintf(stderr, "insert: %s\n", sqlite3_errstr(rc));
    sqlite3_finalize(st);
    sightline::fuzz::refuse_or_accept([&] {
        f.dataset->each_row([](std::int64_t, const std::string&, const sightline::pipeline::DatasetSample*,
                               const std::string&) {});
        (void)f.dataset->validate();
        (void)f.dataset->samples();
    });
    sqlite3_exec(f.db, "DELETE FROM samples", nullptr, nullptr, nullptr);
    return 0;
}
