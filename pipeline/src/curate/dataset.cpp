#include "sightline/pipeline/dataset.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "sightline/error.hpp"
#include "sightline/pipeline/files.hpp"

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
  context_of TEXT NOT NULL DEFAULT '', context_offset INTEGER NOT NULL DEFAULT 0);
)";
/// Schema 2 (session 9) added the context columns; a writer adds them to a schema-1 dataset, a reader reads one as is.
constexpr const char* kAddContext = "ALTER TABLE samples ADD COLUMN context_of TEXT NOT NULL DEFAULT ''; "
                                    "ALTER TABLE samples ADD COLUMN context_offset INTEGER NOT NULL DEFAULT 0; "
                                    "UPDATE dataset_info SET value = '2' WHERE key = 'schema';";

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
std::vector<DatasetBox> boxes_from(const json& a) {
    std::vector<DatasetBox> out;
    for (const auto& b : a) {
        const auto& x = b.at("box");
        out.push_back({x[0].get<float>(), x[1].get<float>(), x[2].get<float>(), x[3].get<float>(),
                       b.at("score").get<float>(), b.at("label").get<std::string>()});
    }
    return out;
}

/// A sample id as a file name: its '/' become '_', anything outside [A-Za-z0-9._-] too.
std::string file_stem(const std::string& id) {
    std::string s = id;
    for (char& c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
    return s;
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw Error(ErrorCode::kIo, p.string() + ": cannot open");
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

DatasetSample from_message(const transport::SampleMessage& m) {
    DatasetSample s;
    const auto& p = m.pred;
    s.id = m.id, s.camera = p.camera, s.frame = p.frame, s.pts_ns = p.pts_ns, s.selected_ns = m.selected_ns;
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
    std::unique_ptr<sqlite3, DbClose> db;
    int lock_fd = -1;        ///< DIR/dataset.lock, flock()ed while a writer has the dataset open
    bool has_context = true; ///< the context columns exist (schema 2; a schema-1 dataset opened to read lacks them)
    ~Impl() {
        if (lock_fd >= 0) ::close(lock_fd); // releases the lock
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
    if (write) {
        fs::create_directories(dir / "images", ec);
        if (ec) throw Error(ErrorCode::kIo, (dir / "images").string() + ": cannot create the folder: " + ec.message());
        const fs::path lock = dir / "dataset.lock";
        s.lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (s.lock_fd < 0) throw Error(ErrorCode::kIo, lock.string() + ": cannot open: " + std::strerror(errno));
        if (::flock(s.lock_fd, LOCK_EX | LOCK_NB) != 0)
            throw Error(ErrorCode::kIo, dir.string() + ": in use by another collector or merge (" + lock.string() +
                                            " is locked): one writer per dataset folder; give this one its own and "
                                            "merge them");
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
        s.exec("INSERT OR IGNORE INTO dataset_info VALUES('schema', '2')", "write the schema version");
    }
    {
        Stmt q = s.prepare("SELECT value FROM dataset_info WHERE key = 'schema'");
        if (sqlite3_step(q.get()) == SQLITE_ROW) {
            const std::string v = reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0));
            if (v != "1" && v != "2")
                throw Error(ErrorCode::kIo,
                            s.db_path.string() + ": dataset schema " + v + ", this build reads 1 and 2");
            s.has_context = v == "2";
        }
    }
    if (write && !s.has_context) {
        s.exec(kAddContext, "add the context columns (schema 1 -> 2)");
        s.has_context = true;
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
    d.image = (fs::path("images") / file_stem(d.camera) / (file_stem(d.id) + ".jpg")).generic_string();
    const fs::path file = s.dir / d.image;
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) throw Error(ErrorCode::kIo, file.parent_path().string() + ": cannot create the folder: " + ec.message());
    write_durable(file, jpeg); // the image first: a row never points at a missing file
    Stmt q = s.prepare("INSERT INTO samples(id, camera, frame, pts_ns, selected_ns, width, height, image, model, "
                       "strategy, tags, reasons, flags, uncertainty, threshold, meta, predictions, candidates, "
                       "classes, received_ns, context_of, context_offset) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
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
    if (sqlite3_step(st) != SQLITE_DONE) {
        const std::string why = sqlite3_errmsg(s.db.get());
        fs::remove(file, ec); // no row, no image
        throw Error(ErrorCode::kIo, s.db_path.string() + ": cannot add sample " + d.id + ": " + why);
    }
    return true;
}

std::vector<DatasetSample> Dataset::samples() const {
    const std::string sql = std::string("SELECT id, camera, frame, pts_ns, selected_ns, width, height, image, model, "
                                        "strategy, tags, reasons, flags, uncertainty, threshold, meta, predictions, "
                                        "candidates, classes, ") +
                            (impl_->has_context ? "context_of, context_offset" : "'', 0") +
                            " FROM samples ORDER BY seq";
    Stmt q = impl_->prepare(sql.c_str());
    std::vector<DatasetSample> out;
    auto* st = q.get();
    const auto text = [&](int i) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i))); };
    while (sqlite3_step(st) == SQLITE_ROW) {
        DatasetSample d;
        d.id = text(0), d.camera = text(1);
        d.frame = sqlite3_column_int64(st, 2), d.pts_ns = sqlite3_column_int64(st, 3);
        d.selected_ns = sqlite3_column_int64(st, 4);
        d.width = sqlite3_column_int(st, 5), d.height = sqlite3_column_int(st, 6);
        d.image = text(7), d.model = text(8), d.strategy = text(9);
        d.tags = json::parse(text(10)).get<std::vector<std::string>>();
        d.reasons = json::parse(text(11)).get<std::vector<std::string>>();
        d.flags = json::parse(text(12)).get<std::vector<std::string>>();
        d.uncertainty = static_cast<float>(sqlite3_column_double(st, 13));
        d.threshold = static_cast<float>(sqlite3_column_double(st, 14));
        d.meta_json = text(15);
        d.predictions = boxes_from(json::parse(text(16)));
        d.candidates = boxes_from(json::parse(text(17)));
        d.classes = json::parse(text(18)).get<std::vector<std::string>>();
        d.context_of = text(19), d.context_offset = sqlite3_column_int(st, 20);
        out.push_back(std::move(d));
    }
    return out;
}

std::vector<std::string> Dataset::validate() const {
    std::vector<std::string> problems;
    for (const auto& d : samples()) {
        const fs::path p = impl_->dir / d.image;
        std::error_code ec;
        const auto size = fs::file_size(p, ec);
        if (ec) {
            problems.push_back(d.id + ": " + p.string() + ": missing");
            continue;
        }
        std::string head = read_file(p);
        if (size < 4 || static_cast<unsigned char>(head[0]) != 0xFF || static_cast<unsigned char>(head[1]) != 0xD8 ||
            static_cast<unsigned char>(head[size - 2]) != 0xFF || static_cast<unsigned char>(head[size - 1]) != 0xD9)
            problems.push_back(d.id + ": " + p.string() + ": not a whole JPEG");
    }
    return problems;
}

} // namespace sightline::pipeline
