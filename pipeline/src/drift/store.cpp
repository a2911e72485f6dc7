#include "sightline/pipeline/monitor_store.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "sightline/error.hpp"
#include "sightline/pipeline/files.hpp"

namespace sightline::pipeline {
namespace {

/// 2: windows carry the learning state (reference seconds, tests armed); 3: rows carry the camera's line, part of
/// the windows' and scores' keys (two lines' cameras may share an id).
constexpr int kSchemaVersion = 3;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS store_info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS windows(
  camera TEXT NOT NULL, model TEXT NOT NULL, slice TEXT NOT NULL, window_end_ns INTEGER NOT NULL,
  wall_ns INTEGER NOT NULL, frames REAL, fps REAL, detections_per_frame REAL, confidence_mean REAL, flag_rate REAL,
  luma_mean REAL, latency_p99_ms REAL, drift_rank REAL, class_counts TEXT, reference_learned_s REAL,
  reference_needed_s REAL, tests_armed INTEGER, line TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(line, camera, model, window_end_ns));
CREATE INDEX IF NOT EXISTS windows_wall ON windows(wall_ns);
CREATE TABLE IF NOT EXISTS scores(
  camera TEXT NOT NULL, model TEXT NOT NULL, window_end_ns INTEGER NOT NULL, wall_ns INTEGER NOT NULL,
  signal TEXT NOT NULL, test TEXT NOT NULL, value REAL, threshold REAL, alarm INTEGER NOT NULL,
  line TEXT NOT NULL DEFAULT '', PRIMARY KEY(line, camera, model, window_end_ns, signal, test));
CREATE INDEX IF NOT EXISTS scores_wall ON scores(wall_ns);
CREATE TABLE IF NOT EXISTS alarms(
  id INTEGER PRIMARY KEY, camera TEXT NOT NULL, model TEXT NOT NULL, slice TEXT NOT NULL, signal TEXT NOT NULL,
  test TEXT NOT NULL, raised INTEGER NOT NULL, value REAL, threshold REAL, window_start_ns INTEGER,
  window_end_ns INTEGER, wall_ns INTEGER NOT NULL, line TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS agreement(
  line TEXT NOT NULL, camera TEXT NOT NULL, model TEXT NOT NULL, shadow TEXT NOT NULL, wall_ns INTEGER NOT NULL,
  frames INTEGER, disagree_frames INTEGER, both INTEGER, class_changed INTEGER, only_serving INTEGER,
  only_shadow INTEGER, PRIMARY KEY(line, camera, shadow, wall_ns));
CREATE INDEX IF NOT EXISTS agreement_wall ON agreement(wall_ns);
CREATE TABLE IF NOT EXISTS monitor_references(id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL,
  saved_wall_ns INTEGER NOT NULL);
)sql";

struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;
struct DbDeleter {
    void operator()(sqlite3* d) const { sqlite3_close_v2(d); }
};

} // namespace

struct MonitorStore::Impl {
    std::filesystem::path path;
    std::unique_ptr<LockFile> lock; ///< a writer's PATH.lock (released after the database closes)
    std::unique_ptr<sqlite3, DbDeleter> db;
    bool in_transaction = false;
    Stmt window, score, alarm, reference, agreement;

    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorCode::kIo, "monitor store " + path.string() + ": " + what + ": " +
                                        (db ? sqlite3_errmsg(db.get()) : "cannot open"));
    }
    void exec(const char* sql, const char* what) {
        char* message = nullptr;
        if (sqlite3_exec(db.get(), sql, nullptr, nullptr, &message) != SQLITE_OK) {
            const std::string m = message ? message : "";
            sqlite3_free(message);
            throw Error(ErrorCode::kIo, "monitor store " + path.string() + ": " + what + ": " + m);
        }
    }
    Stmt prepare(const char* sql) const {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db.get(), sql, -1, &s, nullptr) != SQLITE_OK) fail("prepare");
        return Stmt(s);
    }
    void begin() {
        if (!in_transaction) exec("BEGIN", "begin"), in_transaction = true;
    }
    bool has_column(const char* table, const char* column) const {
        Stmt s = prepare(
            (std::string("SELECT count(*) FROM pragma_table_info('") + table + "') WHERE name = '" + column + "'")
                .c_str());
        return sqlite3_step(s.get()) == SQLITE_ROW && sqlite3_column_int(s.get(), 0) > 0;
    }
    /// Schema 3: windows and scores are rebuilt with the line in their keys (rows of before keep line ''), alarms
    /// get the column. In one transaction: a store is either migrated or left as it was.
    void migrate_to_3() {
        if (!has_column("windows", "camera") || has_column("windows", "line")) return; // new, or migrated
        const bool learning = has_column("windows", "tests_armed");
        const std::string windows_columns =
            std::string("camera, model, slice, window_end_ns, wall_ns, frames, fps, detections_per_frame, "
                        "confidence_mean, flag_rate, luma_mean, latency_p99_ms, drift_rank, class_counts") +
            (learning ? ", reference_learned_s, reference_needed_s, tests_armed" : "");
        const std::string scores_columns =
            "camera, model, window_end_ns, wall_ns, signal, test, value, threshold, alarm";
        const bool scores = has_column("scores", "camera"), alarms = has_column("alarms", "camera");
        exec("BEGIN", "migrate to schema 3");
        try {
            exec("ALTER TABLE windows RENAME TO windows_2; DROP INDEX IF EXISTS windows_wall", "migrate to schema 3");
            if (scores) exec("ALTER TABLE scores RENAME TO scores_2; DROP INDEX IF EXISTS scores_wall", "migrate");
            if (alarms) exec("ALTER TABLE alarms ADD COLUMN line TEXT NOT NULL DEFAULT ''", "migrate the alarms");
            exec(kSchema, "migrate to schema 3 (new tables)");
            exec(("INSERT INTO windows(" + windows_columns + ") SELECT " + windows_columns + " FROM windows_2; " +
                  "DROP TABLE windows_2")
                     .c_str(),
                 "migrate to schema 3 (copy the windows)");
            if (scores)
                exec(("INSERT INTO scores(" + scores_columns + ") SELECT " + scores_columns + " FROM scores_2; " +
                      "DROP TABLE scores_2")
                         .c_str(),
                     "migrate to schema 3 (copy the scores)");
            exec("COMMIT", "migrate to schema 3 (commit)");
        } catch (const Error&) {
            sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
    void step(sqlite3_stmt* s, const char* what) {
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        if (rc != SQLITE_DONE) fail(what);
    }
};

MonitorStore::MonitorStore(const std::filesystem::path& path, Role role) : impl_(std::make_unique<Impl>()) {
    impl_->path = path;
    if (role == Role::kWriter) {
        const std::filesystem::path lock = path.string() + ".lock";
        impl_->lock = std::make_unique<LockFile>(
            lock, "monitor store " + path.string() + ": in use by another monitor (" + lock.string() +
                      " is locked): one monitor per store; give this one its own --db");
    }
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    impl_->db.reset(db);
    if (rc != SQLITE_OK) impl_->fail("open");
    sqlite3_busy_timeout(db, 2000);
    impl_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "set up (is it a SQLite file?)");
    impl_->migrate_to_3();
    impl_->exec(kSchema, "create the schema");
    {
        Stmt s = impl_->prepare("SELECT value FROM store_info WHERE key = 'schema'");
        if (sqlite3_step(s.get()) == SQLITE_ROW) {
            const int v = sqlite3_column_int(s.get(), 0);
            if (v > kSchemaVersion)
                throw Error(ErrorCode::kIo, "monitor store " + path.string() + ": schema " + std::to_string(v) +
                                                " is newer than this build's " + std::to_string(kSchemaVersion));
        }
    }
    { // schema 1 -> 2: the learning state's columns (a store of schema 1 reads them as NULL: unknown)
        Stmt cols = impl_->prepare("SELECT count(*) FROM pragma_table_info('windows') WHERE name = 'tests_armed'");
        if (sqlite3_step(cols.get()) == SQLITE_ROW && sqlite3_column_int(cols.get(), 0) == 0)
            impl_->exec("ALTER TABLE windows ADD COLUMN reference_learned_s REAL; ALTER TABLE windows ADD COLUMN "
                        "reference_needed_s REAL; ALTER TABLE windows ADD COLUMN tests_armed INTEGER;",
                        "add the learning state's columns (schema 2)");
        impl_->exec("INSERT OR REPLACE INTO store_info VALUES('schema', '3')", "write the schema version");
    }
    impl_->window = impl_->prepare(
        "INSERT OR REPLACE INTO windows(camera, model, slice, window_end_ns, wall_ns, frames, fps, "
        "detections_per_frame, confidence_mean, flag_rate, luma_mean, latency_p99_ms, drift_rank, class_counts, "
        "reference_learned_s, reference_needed_s, tests_armed, line) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    impl_->score = impl_->prepare("INSERT OR REPLACE INTO scores(camera, model, window_end_ns, wall_ns, signal, test, "
                                  "value, threshold, alarm, line) VALUES(?,?,?,?,?,?,?,?,?,?)");
    impl_->alarm = impl_->prepare(
        "INSERT INTO alarms(camera, model, slice, signal, test, raised, value, threshold, window_start_ns, "
        "window_end_ns, wall_ns, line) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
    impl_->reference = impl_->prepare("INSERT OR REPLACE INTO monitor_references VALUES(1, ?, ?)");
    impl_->agreement = impl_->prepare("INSERT OR REPLACE INTO agreement(line, camera, model, shadow, wall_ns, frames, "
                                      "disagree_frames, both, class_changed, only_serving, only_shadow) "
                                      "VALUES(?,?,?,?,?,?,?,?,?,?,?)");
}

MonitorStore::~MonitorStore() {
    try {
        commit();
    } catch (const Error&) { // the last commit's failure was reported by the caller's own commit(), if any
    }
}

namespace {
void text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.c_str(), -1, SQLITE_TRANSIENT);
}
} // namespace

void MonitorStore::add_agreement(const AgreementRow& r) {
    impl_->begin();
    sqlite3_stmt* s = impl_->agreement.get();
    text(s, 1, r.line), text(s, 2, r.camera), text(s, 3, r.model), text(s, 4, r.shadow);
    sqlite3_bind_int64(s, 5, r.wall_ns);
    const std::uint64_t n[] = {r.tally.frames, r.tally.frames_disagreeing,
                               r.tally.both,   r.tally.class_changed,
                               r.tally.only_a, r.tally.only_b};
    for (int k = 0; k < 6; ++k) sqlite3_bind_int64(s, 6 + k, static_cast<std::int64_t>(n[k]));
    impl_->step(s, "write an agreement row");
}

std::vector<MonitorStore::AgreementRow> MonitorStore::agreements() const {
    Stmt s = impl_->prepare("SELECT line, camera, model, shadow, wall_ns, frames, disagree_frames, both, "
                            "class_changed, only_serving, only_shadow FROM agreement ORDER BY line, camera, shadow, "
                            "wall_ns");
    std::vector<AgreementRow> out;
    const auto str = [&](int i) {
        const auto* t = sqlite3_column_text(s.get(), i);
        return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
    };
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
        AgreementRow r{str(0), str(1), str(2), str(3), sqlite3_column_int64(s.get(), 4), {}};
        std::uint64_t* n[] = {&r.tally.frames, &r.tally.frames_disagreeing,
                              &r.tally.both,   &r.tally.class_changed,
                              &r.tally.only_a, &r.tally.only_b};
        for (int k = 0; k < 6; ++k) *n[k] = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 5 + k));
        out.push_back(std::move(r));
    }
    return out;
}

void MonitorStore::add_window(const MonitorCameraView& v, std::int64_t wall_ns) {
    impl_->begin();
    sqlite3_stmt* s = impl_->window.get();
    text(s, 1, v.camera), text(s, 2, v.model), text(s, 3, v.slice);
    sqlite3_bind_int64(s, 4, v.window_end_ns);
    sqlite3_bind_int64(s, 5, wall_ns);
    const double figures[] = {v.window_frames, v.fps,       v.detections_per_frame, v.confidence_mean,
                              v.flag_rate,     v.luma_mean, v.latency_p99_ms,       v.drift_rank};
    for (int k = 0; k < 8; ++k) sqlite3_bind_double(s, 6 + k, figures[k]);
    text(s, 14, nlohmann::json(v.window_classes).dump());
    sqlite3_bind_double(s, 15, v.reference_learned_s);
    sqlite3_bind_double(s, 16, v.reference_needed_s);
    sqlite3_bind_int(s, 17, v.reference_ready ? v.tests_armed : 0);
    text(s, 18, v.line);
    impl_->step(s, "write a window");
    sqlite3_stmt* sc = impl_->score.get();
    for (const MonitorScore& score : v.scores) {
        text(sc, 1, v.camera), text(sc, 2, v.model);
        sqlite3_bind_int64(sc, 3, v.window_end_ns);
        sqlite3_bind_int64(sc, 4, wall_ns);
        text(sc, 5, score.signal), text(sc, 6, score.test);
        sqlite3_bind_double(sc, 7, score.value);
        sqlite3_bind_double(sc, 8, score.threshold);
        sqlite3_bind_int(sc, 9, score.alarm ? 1 : 0);
        text(sc, 10, v.line);
        impl_->step(sc, "write a score");
    }
}

void MonitorStore::add_alarm(const MonitorAlarm& a) {
    impl_->begin();
    sqlite3_stmt* s = impl_->alarm.get();
    text(s, 1, a.camera), text(s, 2, a.model), text(s, 3, a.slice), text(s, 4, a.signal), text(s, 5, a.test);
    sqlite3_bind_int(s, 6, a.raised ? 1 : 0);
    sqlite3_bind_double(s, 7, a.value);
    sqlite3_bind_double(s, 8, a.threshold);
    sqlite3_bind_int64(s, 9, a.window_start_ns);
    sqlite3_bind_int64(s, 10, a.window_end_ns);
    sqlite3_bind_int64(s, 11, a.wall_ns);
    text(s, 12, a.line);
    impl_->step(s, "write an alarm");
}

void MonitorStore::save_references(const std::string& json, std::int64_t wall_ns) {
    impl_->begin();
    sqlite3_stmt* s = impl_->reference.get();
    text(s, 1, json);
    sqlite3_bind_int64(s, 2, wall_ns);
    impl_->step(s, "write the references");
}

void MonitorStore::commit() {
    if (!impl_->in_transaction) return;
    impl_->in_transaction = false; // a failed COMMIT rolls back: the next write begins anew
    if (sqlite3_exec(impl_->db.get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        const std::string m = sqlite3_errmsg(impl_->db.get());
        sqlite3_exec(impl_->db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw Error(ErrorCode::kIo, "monitor store " + impl_->path.string() + ": commit: " + m);
    }
}

std::uint64_t MonitorStore::prune(std::int64_t before_wall_ns) {
    impl_->begin();
    std::uint64_t removed = 0;
    for (const char* sql : {"DELETE FROM windows WHERE wall_ns < ?", "DELETE FROM scores WHERE wall_ns < ?",
                            "DELETE FROM agreement WHERE wall_ns < ?"}) {
        Stmt s = impl_->prepare(sql);
        sqlite3_bind_int64(s.get(), 1, before_wall_ns);
        impl_->step(s.get(), "prune");
        removed += static_cast<std::uint64_t>(sqlite3_changes(impl_->db.get()));
    }
    return removed;
}

std::optional<std::string> MonitorStore::references() const {
    Stmt s = impl_->prepare("SELECT json FROM monitor_references WHERE id = 1");
    if (sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0)));
}

const std::filesystem::path& MonitorStore::path() const {
    return impl_->path;
}

namespace {
std::string col(sqlite3_stmt* s, int i) {
    const auto* t = sqlite3_column_text(s, i);
    return t ? reinterpret_cast<const char*>(t) : "";
}
} // namespace

std::vector<MonitorStore::WindowRow> MonitorStore::windows() const {
    Stmt s = impl_->prepare("SELECT camera, model, slice, window_end_ns, wall_ns, frames, fps, detections_per_frame, "
                            "confidence_mean, flag_rate, luma_mean, latency_p99_ms, drift_rank, class_counts, "
                            "reference_learned_s, reference_needed_s, tests_armed, line FROM windows ORDER BY line, "
                            "camera, model, window_end_ns");
    std::vector<WindowRow> rows;
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
        WindowRow r{col(s.get(), 0), col(s.get(), 1), col(s.get(), 2), sqlite3_column_int64(s.get(), 3),
                    sqlite3_column_int64(s.get(), 4)};
        double* f[] = {&r.frames,    &r.fps,       &r.detections_per_frame, &r.confidence_mean,
                       &r.flag_rate, &r.luma_mean, &r.latency_p99_ms,       &r.drift_rank};
        for (int k = 0; k < 8; ++k) *f[k] = sqlite3_column_double(s.get(), 5 + k);
        r.class_counts = col(s.get(), 13);
        if (sqlite3_column_type(s.get(), 16) != SQLITE_NULL) {
            r.reference_learned_s = sqlite3_column_double(s.get(), 14);
            r.reference_needed_s = sqlite3_column_double(s.get(), 15);
            r.tests_armed = sqlite3_column_int(s.get(), 16);
        }
        r.line = col(s.get(), 17);
        rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<MonitorStore::ScoreRow> MonitorStore::scores() const {
    Stmt s = impl_->prepare("SELECT camera, model, signal, test, window_end_ns, value, threshold, alarm, line FROM "
                            "scores ORDER BY line, camera, model, window_end_ns");
    std::vector<ScoreRow> rows;
    while (sqlite3_step(s.get()) == SQLITE_ROW)
        rows.push_back({col(s.get(), 0), col(s.get(), 1), col(s.get(), 2), col(s.get(), 3),
                        sqlite3_column_int64(s.get(), 4), sqlite3_column_double(s.get(), 5),
                        sqlite3_column_double(s.get(), 6), sqlite3_column_int(s.get(), 7) != 0, col(s.get(), 8)});
    return rows;
}

std::vector<MonitorAlarm> MonitorStore::alarms() const {
    Stmt s = impl_->prepare("SELECT camera, model, slice, signal, test, raised, value, threshold, window_start_ns, "
                            "window_end_ns, wall_ns, line FROM alarms ORDER BY id");
    std::vector<MonitorAlarm> rows;
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
        MonitorAlarm a;
        a.camera = col(s.get(), 0), a.model = col(s.get(), 1), a.slice = col(s.get(), 2);
        a.signal = col(s.get(), 3), a.test = col(s.get(), 4);
        a.raised = sqlite3_column_int(s.get(), 5) != 0;
        a.value = sqlite3_column_double(s.get(), 6), a.threshold = sqlite3_column_double(s.get(), 7);
        a.window_start_ns = sqlite3_column_int64(s.get(), 8), a.window_end_ns = sqlite3_column_int64(s.get(), 9);
        a.wall_ns = sqlite3_column_int64(s.get(), 10);
        a.line = col(s.get(), 11);
        rows.push_back(std::move(a));
    }
    return rows;
}

} // namespace sightline::pipeline
