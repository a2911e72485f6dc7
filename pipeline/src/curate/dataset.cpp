#include "sightline/pipeline/dataset.hpp"

#include <sqlite3.h>

#include <cstring>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "sightline/error.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS dataset_info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  camera TEXT NOT NULL, frame INTEGER NOT NULL, pts_ns INTEGER NOT NULL, selected_ns INTEGER NOT NULL,
  width INTEGER NOT NULL, height INTEGER NOT NULL, image TEXT NOT NULL,
  model TEXT NOT NULL, strategy TEXT NOT NULL, tags TEXT NOT NULL, reasons TEXT NOT NULL, flags TEXT NOT NULL,
  uncertainty REAL NOT NULL, threshold REAL NOT NULL, meta TEXT NOT NULL,
  predictions TEXT NOT NULL, candidates TEXT NOT NULL, classes TEXT NOT NULL, received_ns INTEGER NOT NULL,
  context_of TEXT NOT NULL DEFAULT '', context_offset INTEGER NOT NULL DEFAULT 0, line TEXT NOT NULL DEFAULT '');
)";
/// Labels and the snapshots written (issue 27): tables of their own, which a dataset of any schema may gain (a
/// reader of an older build ignores them).
constexpr const char* kLabelTables = R"(
CREATE TABLE IF NOT EXISTS labels(
  sample_id TEXT PRIMARY KEY, source TEXT NOT NULL, labeler TEXT NOT NULL, origin TEXT NOT NULL,
  labeled_ns INTEGER NOT NULL, imported_ns INTEGER NOT NULL, boxes TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL, path TEXT NOT NULL, created_ns INTEGER NOT NULL);
)";
/// Schema 2 (session 9) added the context columns; a writer adds them to a schema-1 dataset, a reader reads one as is.
constexpr const char* kAddContext = "ALTER TABLE samples ADD COLUMN context_of TEXT NOT NULL DEFAULT ''; "
                                    "ALTER TABLE samples ADD COLUMN context_offset INTEGER NOT NULL DEFAULT 0; "
                                    "UPDATE dataset_info SET value = '2' WHERE key = 'schema';";
/// Schema 3 (0.10) added the line; the same way.
constexpr const char* kAddLine = "ALTER TABLE samples ADD COLUMN line TEXT NOT NULL DEFAULT ''; "
                                 "UPDATE dataset_info SET value = '3' WHERE key = 'schema';";

struct DbClose {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

json boxes_json(const std::vector<DatasetBox>& boxes) {
    json a = json::array();
    for (const auto& b : boxes)
        a.push_back({{"box", {b.x1, b.y1, b.x2, b.y2}}, {"score", b.score}, {"label", b.label}});
    return a;
}
/// A sample id as a file name: its '/' become '_', anything outside [A-Za-z0-9._-] too.
std::string file_stem(const std::string& id) {
    std::string s = id;
    for (char& c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
    return s;
}

/// Where a sample's image lies, relative to the dataset folder.
std::string image_path(const std::string& camera, const std::string& id) {
    return (fs::path("images") / file_stem(camera) / (file_stem(id) + ".jpg")).generic_string();
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw Error(ErrorCode::kIo, p.string() + ": cannot open");
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

DatasetSample from_message(const transport::SampleMessage& m) {
    DatasetSample s;
    const auto& p = m.pred;
    s.id = m.id, s.line = p.line, s.camera = p.camera, s.frame = p.frame, s.pts_ns = p.pts_ns,
    s.selected_ns = m.selected_ns;
    s.width = p.width, s.height = p.height, s.model = p.model, s.strategy = m.strategy;
    s.tags = m.tags, s.reasons = m.reasons, s.flags = transport::flag_names(p.frame_flags);
    s.uncertainty = p.uncertainty, s.threshold = m.threshold;
    s.context_of = m.context_of, s.context_offset = m.context_offset;
    s.meta_json = json(p.meta).dump();
    s.classes = m.classes;
    const auto label = [&](std::int32_t c) { return m.classes.at(static_cast<std::size_t>(c)); };
    for (std::size_t i = 0; i < p.scores.size(); ++i)
        s.predictions.push_back({p.boxes[4 * i], p.boxes[4 * i + 1], p.boxes[4 * i + 2], p.boxes[4 * i + 3],
                                 p.scores[i], label(p.classes[i])});
    for (std::size_t i = 0; i < m.candidate_scores.size(); ++i)
        s.candidates.push_back({m.candidate_boxes[4 * i], m.candidate_boxes[4 * i + 1], m.candidate_boxes[4 * i + 2],
                                m.candidate_boxes[4 * i + 3], m.candidate_scores[i], label(m.candidate_classes[i])});
    return s;
}

} // namespace

struct Dataset::Impl {
    fs::path dir, db_path;
    std::unique_ptr<LockFile> lock; ///< DIR/dataset.lock while a writer has the dataset open (released after db closes)
    std::unique_ptr<sqlite3, DbClose> db;
    bool has_context = true; ///< the context columns exist (schema 2; a schema-1 dataset opened to read lacks them)
    bool has_line = true;    ///< the line column exists (schema 3)
    bool labeling = false;   ///< kWrite or kLabel: labels and snapshot records may be written
    bool has_labels = false; ///< the label tables exist
    void require_labeling(const char* what) const {
        if (!labeling)
            throw Error(ErrorCode::kBadInput, db_path.string() + ": opened to read: cannot " + std::string(what));
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorCode::kIo, db_path.string() + ": " + what + ": " + sqlite3_errmsg(db.get()));
    }
    void exec(const char* sql, const char* what) {
        char* message = nullptr;
        if (sqlite3_exec(db.get(), sql, nullptr, nullptr, &message) != SQLITE_OK) {
            const std::string m = message ? message : "";
            sqlite3_free(message);
            throw Error(ErrorCode::kIo, db_path.string() + ": cannot " + what + ": " + m);
        }
    }
    Stmt prepare(const char* sql) const {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db.get(), sql, -1, &s, nullptr) != SQLITE_OK) fail("cannot prepare a statement");
        return Stmt(s);
    }
};

Dataset::Dataset(const fs::path& dir, Mode mode) : impl_(std::make_unique<Impl>()) {
    auto& s = *impl_;
    s.dir = dir;
    s.db_path = dir / "dataset.db";
    std::error_code ec;
    const bool write = mode == Mode::kWrite;
    s.labeling = mode != Mode::kRead;
    if (write) {
        fs::create_directories(dir / "images", ec);
        if (ec) throw Error(ErrorCode::kIo, (dir / "images").string() + ": cannot create the folder: " + ec.message());
        const fs::path lock = dir / "dataset.lock";
        s.lock =
            std::make_unique<LockFile>(lock, dir.string() + ": in use by another collector or merge (" + lock.string() +
                                                 " is locked): one writer per dataset folder; give this one "
                                                 "its own and merge them");
    } else if (!fs::exists(s.db_path)) {
        throw Error(ErrorCode::kNotFound, s.db_path.string() + ": no such file (not a dataset)");
    }
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(s.db_path.c_str(), &db,
                                   write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE, nullptr);
    s.db.reset(db);
    if (rc != SQLITE_OK) s.fail("cannot open");
    sqlite3_busy_timeout(db, 5000);
    // FULL: a committed row survives power loss (WAL synced at each commit), so an acknowledgement is a promise
    s.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "set up (is it a SQLite file? a writable folder?)");
    if (write) {
        s.exec(kSchema, "create the schema");
        s.exec("INSERT OR IGNORE INTO dataset_info VALUES('schema', '3')", "write the schema version");
    }
    {
        Stmt q = s.prepare("SELECT value FROM dataset_info WHERE key = 'schema'");
        if (sqlite3_step(q.get()) == SQLITE_ROW) {
            const std::string v = reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0));
            if (v != "1" && v != "2" && v != "3")
                throw Error(ErrorCode::kIo, s.db_path.string() + ": dataset schema " + v + ", this build reads 1 to 3");
            s.has_context = v != "1";
            s.has_line = v == "3";
        }
    }
    if (write && !s.has_context) {
        s.exec(kAddContext, "add the context columns (schema 1 -> 2)");
        s.has_context = true;
    }
    if (write && !s.has_line) {
        s.exec(kAddLine, "add the line column (schema 2 -> 3)");
        s.has_line = true;
    }
    if (s.labeling) s.exec(kLabelTables, "create the label tables");
    {
        Stmt q = s.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'labels'");
        s.has_labels = sqlite3_step(q.get()) == SQLITE_ROW;
    }
    if (!write) return;
    // A crash's leftovers: temporary files, and images whose rows never committed (never acknowledged: resent)
    std::set<std::string> known;
    {
        Stmt q = s.prepare("SELECT image FROM samples");
        while (sqlite3_step(q.get()) == SQLITE_ROW)
            known.insert(reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0)));
    }
    for (auto it = fs::recursive_directory_iterator(dir / "images", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        const std::string rel = fs::relative(it->path(), dir).generic_string();
        if (!known.count(rel)) fs::remove(it->path(), ec);
    }
}

Dataset::~Dataset() = default;
Dataset::Dataset(Dataset&&) noexcept = default;

const fs::path& Dataset::dir() const {
    return impl_->dir;
}

bool Dataset::has(const std::string& id) const {
    Stmt q = impl_->prepare("SELECT 1 FROM samples WHERE id = ?");
    sqlite3_bind_text(q.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
    return sqlite3_step(q.get()) == SQLITE_ROW;
}

std::size_t Dataset::size() const {
    Stmt q = impl_->prepare("SELECT COUNT(*) FROM samples");
    sqlite3_step(q.get());
    return static_cast<std::size_t>(sqlite3_column_int64(q.get(), 0));
}

bool Dataset::add(const transport::SampleMessage& m) {
    return add(from_message(m), m.jpeg);
}

bool Dataset::add(const DatasetSample& in, std::string_view jpeg) {
    auto& s = *impl_;
    if (has(in.id)) return false;
    DatasetSample d = in;
    transport::check_camera_id(d.camera, "sample " + d.id + ": camera");
    d.image = image_path(d.camera, d.id);
    const fs::path file = s.dir / d.image;
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) throw Error(ErrorCode::kIo, file.parent_path().string() + ": cannot create the folder: " + ec.message());
    write_durable(file, jpeg); // the image first: a row never points at a missing file
    Stmt q = s.prepare("INSERT INTO samples(id, camera, frame, pts_ns, selected_ns, width, height, image, model, "
                       "strategy, tags, reasons, flags, uncertainty, threshold, meta, predictions, candidates, "
                       "classes, received_ns, context_of, context_offset, line) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    auto* st = q.get();
    const auto text = [&](int i, const std::string& v) { sqlite3_bind_text(st, i, v.c_str(), -1, SQLITE_TRANSIENT); };
    text(1, d.id), text(2, d.camera);
    sqlite3_bind_int64(st, 3, d.frame), sqlite3_bind_int64(st, 4, d.pts_ns), sqlite3_bind_int64(st, 5, d.selected_ns);
    sqlite3_bind_int(st, 6, d.width), sqlite3_bind_int(st, 7, d.height);
    text(8, d.image), text(9, d.model), text(10, d.strategy);
    text(11, json(d.tags).dump()), text(12, json(d.reasons).dump()), text(13, json(d.flags).dump());
    sqlite3_bind_double(st, 14, d.uncertainty), sqlite3_bind_double(st, 15, d.threshold);
    text(16, d.meta_json.empty() ? "{}" : d.meta_json);
    text(17, boxes_json(d.predictions).dump()), text(18, boxes_json(d.candidates).dump());
    text(19, json(d.classes).dump());
    sqlite3_bind_int64(
        st, 20,
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    text(21, d.context_of), sqlite3_bind_int(st, 22, d.context_offset);
    text(23, d.line);
    if (sqlite3_step(st) != SQLITE_DONE) {
        const std::string why = sqlite3_errmsg(s.db.get());
        fs::remove(file, ec); // no row, no image
        throw Error(ErrorCode::kIo, s.db_path.string() + ": cannot add sample " + d.id + ": " + why);
    }
    return true;
}

namespace {

/// A stored list of boxes, checked as the wire's are: Error(kBadInput) with the reason.
std::vector<DatasetBox> boxes_from_json(const json& j, const std::string& column) {
    const auto fail = [&](const std::string& why) { return Error(ErrorCode::kBadInput, column + ": " + why); };
    const std::string bad = "not a list of {box: [x1, y1, x2, y2], score, label}";
    if (!j.is_array() || j.size() > transport::limits::kDetections) throw fail(bad);
    std::vector<DatasetBox> out;
    for (const auto& b : j) {
        if (!b.is_object() || !b.contains("box") || !b.contains("score") || !b.contains("label")) throw fail(bad);
        const json& x = b["box"];
        if (!x.is_array() || x.size() != 4 || !b["label"].is_string()) throw fail(bad);
        float v[5];
        for (int k = 0; k < 5; ++k) {
            const json& n = k < 4 ? x[k] : b["score"];
            if (!n.is_number()) throw fail("a box value or score that is not a number");
            v[k] = n.get<float>();
            const double lim = k < 4 ? transport::limits::kCoordinate : 1 + transport::limits::kUnitSlack;
            if (!std::isfinite(v[k]) || std::fabs(v[k]) > lim || (k == 4 && v[k] < 0))
                throw fail("a box value or score out of range");
        }
        out.push_back({v[0], v[1], v[2], v[3], v[4], b["label"].get<std::string>()});
        transport::check_text(out.back().label, transport::limits::kNameBytes, column);
        if (out.back().label.empty()) throw fail("a box without a label");
    }
    return out;
}

/// One row made a sample, every field checked as the wire's are (transport/checks.hpp): a damaged or tampered row
/// (a NULL, broken JSON, a non-finite score, an image path outside the dataset) is Error(kBadInput) with the reason.
DatasetSample read_row(sqlite3_stmt* st) {
    const auto fail = [](const std::string& why) -> Error { return Error(ErrorCode::kBadInput, why); };
    const auto text = [&](int i, const char* column, std::size_t max_bytes) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        if (!p || sqlite3_column_type(st, i) != SQLITE_TEXT) throw fail(std::string(column) + " is not text");
        const std::string v(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i)));
        transport::check_text(v, max_bytes, column);
        return v;
    };
    const auto integer = [&](int i, const char* column, std::int64_t lo, std::int64_t hi) {
        if (sqlite3_column_type(st, i) != SQLITE_INTEGER) throw fail(std::string(column) + " is not an integer");
        const std::int64_t v = sqlite3_column_int64(st, i);
        if (v < lo || v > hi) throw fail(std::string(column) + " " + std::to_string(v) + " is out of range");
        return v;
    };
    const auto real = [&](int i, const char* column, double lo, double hi) {
        const int t = sqlite3_column_type(st, i);
        if (t != SQLITE_FLOAT && t != SQLITE_INTEGER) throw fail(std::string(column) + " is not a number");
        const double v = sqlite3_column_double(st, i);
        if (!std::isfinite(v) || v < lo || v > hi) throw fail(std::string(column) + " is out of range");
        return static_cast<float>(v);
    };
    const auto parse = [&](int i, const char* column) {
        try {
            return json::parse(text(i, column, std::size_t(64) << 20));
        } catch (const json::exception& e) {
            throw fail(std::string(column) + " is not JSON: " + e.what());
        }
    };
    const auto strings = [&](int i, const char* column, std::size_t max_items) {
        const json j = parse(i, column);
        if (!j.is_array() || j.size() > max_items) throw fail(std::string(column) + " is not a list of strings");
        std::vector<std::string> out;
        for (const auto& e : j) {
            if (!e.is_string()) throw fail(std::string(column) + " is not a list of strings");
            out.push_back(e.get<std::string>());
            transport::check_text(out.back(), transport::limits::kTextBytes, column);
        }
        return out;
    };
    const auto boxes = [&](int i, const char* column) { return boxes_from_json(parse(i, column), column); };
    DatasetSample d;
    d.id = text(0, "id", transport::limits::kIdBytes);
    if (d.id.empty()) throw fail("id is empty");
    d.camera = text(1, "camera", transport::limits::kCameraBytes);
    transport::check_camera_id(d.camera, "camera");
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    d.frame = integer(2, "frame", -1, kMax), d.pts_ns = integer(3, "pts_ns", -kMax, kMax);
    d.selected_ns = integer(4, "selected_ns", 0, kMax);
    d.width = static_cast<int>(integer(5, "width", 0, transport::limits::kFrameSide));
    d.height = static_cast<int>(integer(6, "height", 0, transport::limits::kFrameSide));
    d.image = text(7, "image", 4096);
    // the one place an image may lie: where add() puts it (never a path out of the folder, never an absolute one)
    if (d.image != image_path(d.camera, d.id))
        throw fail("image '" + transport::printable(d.image) + "' is not this sample's place in the dataset (" +
                   image_path(d.camera, d.id) + ")");
    d.model = text(8, "model", transport::limits::kNameBytes);
    d.strategy = text(9, "strategy", transport::limits::kNameBytes);
    d.tags = strings(10, "tags", transport::limits::kMapEntries);
    d.reasons = strings(11, "reasons", transport::limits::kMapEntries);
    d.flags = strings(12, "flags", 64);
    d.uncertainty = real(13, "uncertainty", -1, 1 + transport::limits::kUnitSlack);
    d.threshold = real(14, "threshold", 0, 1);
    const json meta = parse(15, "meta");
    if (!meta.is_object() || meta.size() > transport::limits::kMapEntries) throw fail("meta is not a JSON object");
    for (const auto& [k, v] : meta.items())
        if (!v.is_string()) throw fail("meta '" + transport::printable(k) + "' is not a string");
    d.meta_json = meta.dump();
    d.predictions = boxes(16, "predictions");
    d.candidates = boxes(17, "candidates");
    d.classes = strings(18, "classes", transport::limits::kClasses);
    d.context_of = text(19, "context_of", transport::limits::kIdBytes);
    d.context_offset = static_cast<int>(integer(20, "context_offset", -1000, 1000));
    d.line = text(21, "line", transport::limits::kCameraBytes);
    if (!d.line.empty()) transport::check_line_name(d.line, "line");
    return d;
}

} // namespace

void Dataset::each_row(const std::function<void(std::int64_t seq, const std::string& id, const DatasetSample* sample,
                                                const std::string& problem)>& f) const {
    const std::string sql = std::string("SELECT id, camera, frame, pts_ns, selected_ns, width, height, image, model, "
                                        "strategy, tags, reasons, flags, uncertainty, threshold, meta, predictions, "
                                        "candidates, classes, ") +
                            (impl_->has_context ? "context_of, context_offset" : "'', 0") +
                            (impl_->has_line ? ", line" : ", ''") + ", seq FROM samples ORDER BY seq";
    Stmt q = impl_->prepare(sql.c_str());
    auto* st = q.get();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const std::int64_t seq = sqlite3_column_int64(st, 22);
        const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        const std::string name = id ? transport::printable(id) : "(no id)";
        try {
            const DatasetSample d = read_row(st);
            f(seq, name, &d, {});
        } catch (const Error& e) {
            if (e.code() != ErrorCode::kBadInput) throw;
            f(seq, name, nullptr, e.what());
        }
    }
    if (rc != SQLITE_DONE) impl_->fail("cannot read the samples (run sightline collect validate)");
}

std::vector<DatasetSample> Dataset::samples() const {
    std::vector<DatasetSample> out;
    each_row([&](std::int64_t seq, const std::string& id, const DatasetSample* d, const std::string& problem) {
        if (!d)
            throw Error(ErrorCode::kBadInput, impl_->db_path.string() + ": row " + std::to_string(seq) + " (sample " +
                                                  id + "): " + problem +
                                                  " (a damaged dataset: sightline collect validate lists every "
                                                  "problem)");
        out.push_back(*d);
    });
    return out;
}

std::vector<std::string> Dataset::validate() const {
    std::vector<std::string> problems;
    // the file itself: SQLite's own check of every page, index and the freelist
    {
        Stmt q = impl_->prepare("PRAGMA integrity_check");
        int rc;
        while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
            const auto* line = reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0));
            const std::string l = line ? line : "";
            if (l != "ok") problems.push_back(impl_->db_path.string() + ": integrity_check: " + l);
        }
        if (rc != SQLITE_DONE)
            problems.push_back(impl_->db_path.string() +
                               ": integrity_check failed: " + sqlite3_errmsg(impl_->db.get()));
    }
    try {
        each_row([&](std::int64_t seq, const std::string& id, const DatasetSample* d, const std::string& problem) {
            if (!d) {
                problems.push_back(id + ": row " + std::to_string(seq) + ": " + problem);
                return;
            }
            const fs::path p = impl_->dir / d->image;
            std::error_code ec;
            const auto size = fs::file_size(p, ec);
            if (ec || !fs::is_regular_file(p, ec)) {
                problems.push_back(d->id + ": " + p.string() + ": missing");
                return;
            }
            std::string head = read_file(p);
            if (size < 4 || static_cast<unsigned char>(head[0]) != 0xFF ||
                static_cast<unsigned char>(head[1]) != 0xD8 || static_cast<unsigned char>(head[size - 2]) != 0xFF ||
                static_cast<unsigned char>(head[size - 1]) != 0xD9)
                problems.push_back(d->id + ": " + p.string() + ": not a whole JPEG");
        });
    } catch (const Error& e) { // the table itself cannot be read (damaged pages)
        problems.push_back(e.what());
    }
    return problems;
}

std::size_t Dataset::put_labels(const std::vector<DatasetLabel>& labels) {
    auto& s = *impl_;
    s.require_labeling("attach labels");
    std::vector<std::string> unknown;
    for (const auto& l : labels)
        if (!has(l.sample_id) && unknown.size() < 5) unknown.push_back(transport::printable(l.sample_id));
    if (!unknown.empty()) {
        std::string list;
        for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
        throw Error(ErrorCode::kBadInput, s.db_path.string() + ": no sample " + list +
                                              (unknown.size() == 5 ? ", ..." : "") + ": nothing imported");
    }
    s.exec("BEGIN IMMEDIATE", "begin a transaction");
    std::size_t replaced = 0;
    try {
        for (const auto& l : labels) {
            Stmt old = s.prepare("SELECT 1 FROM labels WHERE sample_id = ?");
            sqlite3_bind_text(old.get(), 1, l.sample_id.c_str(), -1, SQLITE_TRANSIENT);
            replaced += sqlite3_step(old.get()) == SQLITE_ROW ? 1 : 0;
            Stmt q = s.prepare("INSERT OR REPLACE INTO labels(sample_id, source, labeler, origin, labeled_ns, "
                               "imported_ns, boxes) VALUES(?,?,?,?,?,?,?)");
            auto* st = q.get();
            const auto text = [&](int i, const std::string& v) {
                sqlite3_bind_text(st, i, v.c_str(), -1, SQLITE_TRANSIENT);
            };
            text(1, l.sample_id), text(2, l.source), text(3, l.labeler), text(4, l.origin);
            sqlite3_bind_int64(st, 5, l.labeled_ns), sqlite3_bind_int64(st, 6, l.imported_ns);
            text(7, boxes_json(l.boxes).dump());
            if (sqlite3_step(st) != SQLITE_DONE) s.fail("cannot store the label of " + l.sample_id);
        }
        s.exec("COMMIT", "commit the labels");
    } catch (...) {
        sqlite3_exec(s.db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return replaced;
}

std::vector<DatasetLabel> Dataset::labels() const {
    std::vector<DatasetLabel> out;
    if (!impl_->has_labels) return out;
    Stmt q = impl_->prepare("SELECT l.sample_id, l.source, l.labeler, l.origin, l.labeled_ns, l.imported_ns, l.boxes "
                            "FROM labels l JOIN samples s ON s.id = l.sample_id ORDER BY s.seq");
    auto* st = q.get();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        DatasetLabel l;
        const auto text = [&](int i, const char* column, std::size_t max_bytes) {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
            if (!p || sqlite3_column_type(st, i) != SQLITE_TEXT)
                throw Error(ErrorCode::kBadInput, impl_->db_path.string() + ": labels: " + column + " is not text");
            std::string v(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i)));
            transport::check_text(v, max_bytes, column);
            return v;
        };
        l.sample_id = text(0, "sample_id", transport::limits::kIdBytes);
        const std::string where = impl_->db_path.string() + ": the label of " + transport::printable(l.sample_id);
        try {
            l.source = text(1, "source", transport::limits::kNameBytes);
            l.labeler = text(2, "labeler", transport::limits::kTextBytes);
            l.origin = text(3, "origin", transport::limits::kTextBytes);
            l.labeled_ns = sqlite3_column_int64(st, 4), l.imported_ns = sqlite3_column_int64(st, 5);
            json boxes;
            try {
                boxes = json::parse(text(6, "boxes", std::size_t(64) << 20));
            } catch (const json::exception& e) {
                throw Error(ErrorCode::kBadInput, std::string("boxes is not JSON: ") + e.what());
            }
            l.boxes = boxes_from_json(boxes, "boxes");
        } catch (const Error& e) {
            if (e.code() != ErrorCode::kBadInput) throw;
            throw Error(ErrorCode::kBadInput, where + ": " + e.what());
        }
        out.push_back(std::move(l));
    }
    if (rc != SQLITE_DONE) impl_->fail("cannot read the labels");
    return out;
}

void Dataset::add_snapshot(const SnapshotRecord& r) {
    auto& s = *impl_;
    s.require_labeling("record a snapshot");
    Stmt q = s.prepare("INSERT INTO snapshots(hash, path, created_ns) VALUES(?,?,?)");
    sqlite3_bind_text(q.get(), 1, r.hash.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q.get(), 2, r.path.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q.get(), 3, r.created_ns);
    if (sqlite3_step(q.get()) != SQLITE_DONE) s.fail("cannot record the snapshot " + r.path);
}

std::vector<SnapshotRecord> Dataset::snapshots() const {
    std::vector<SnapshotRecord> out;
    if (!impl_->has_labels) return out;
    Stmt q = impl_->prepare("SELECT hash, path, created_ns FROM snapshots ORDER BY seq");
    while (sqlite3_step(q.get()) == SQLITE_ROW) {
        const auto* h = reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0));
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 1));
        if (!h || !p) throw Error(ErrorCode::kBadInput, impl_->db_path.string() + ": snapshots: a row without text");
        out.push_back({h, p, sqlite3_column_int64(q.get(), 2)});
    }
    return out;
}

} // namespace sightline::pipeline
