#pragma once
/// The monitor's embedded store: SQLite (one file, no server), schema in docs/monitor.md. Per-window aggregates per
/// camera, the drift scores, every alarm raised and cleared, and the learned references (a restarted monitor
/// resumes them). Writes are grouped in one transaction per commit() (the monitor commits about once a second).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sightline/pipeline/monitor.hpp"
#include "sightline/pipeline/versions.hpp"

namespace sightline::pipeline {

class MonitorStore {
  public:
    /// kWriter: a monitor's own store, one at a time: an exclusive lock on PATH.lock is held while it is open, and a
    /// second monitor on the same store is refused, naming it. kReader: a report beside a running monitor.
    enum class Role { kWriter, kReader };
    /// Opens or creates the store. Throws Error(kIo) naming the file when it cannot (a directory that does not
    /// exist, no permission, not a SQLite file, a newer schema, another monitor writing it).
    explicit MonitorStore(const std::filesystem::path& path, Role role = Role::kWriter);
    ~MonitorStore();
    MonitorStore(const MonitorStore&) = delete;
    MonitorStore& operator=(const MonitorStore&) = delete;

    /// Queued until commit(). Throws Error(kIo) naming the file on a failed write (a full disk, a read-only file).
    void add_window(const MonitorCameraView& view, std::int64_t wall_ns);
    void add_alarm(const MonitorAlarm& alarm);
    /// A version beside the one serving a camera, against it over one stat window of the line (docs/versions.md).
    struct AgreementRow {
        std::string line, camera, model, shadow; ///< model: the serving version; shadow: the id of the one beside
        std::int64_t wall_ns = 0;
        AgreementTally tally; ///< only_a: only the serving one; only_b: only the shadow
    };
    void add_agreement(const AgreementRow& row);
    void save_references(const std::string& json, std::int64_t wall_ns);
    void commit();
    /// Deletes windows, scores and agreement rows older than `before_wall_ns` (alarms and references stay).
    std::uint64_t prune(std::int64_t before_wall_ns);

    std::optional<std::string> references() const;
    const std::filesystem::path& path() const;

    // Reading, for the report
    struct WindowRow {
        std::string camera, model, slice;
        std::int64_t window_end_ns = 0, wall_ns = 0;
        double frames = 0, fps = 0, detections_per_frame = 0, confidence_mean = 0, flag_rate = 0, luma_mean = 0,
               latency_p99_ms = 0, drift_rank = 0;
        std::string class_counts; ///< JSON object: class -> count in the window
        /// The learning state: reference seconds learned of needed, tests armed (0 while learning); -1: unknown
        /// (a window of a schema-1 store)
        double reference_learned_s = -1, reference_needed_s = -1;
        int tests_armed = -1;
        std::string line; ///< "" in rows from before schema 3, and from lines that name none
    };
    struct ScoreRow {
        std::string camera, model, signal, test;
        std::int64_t window_end_ns = 0;
        double value = 0, threshold = 0;
        bool alarm = false;
        std::string line; ///< "" in rows from before schema 3, and from lines that name none
    };
    std::vector<WindowRow> windows() const;
    std::vector<ScoreRow> scores() const;
    std::vector<MonitorAlarm> alarms() const;
    std::vector<AgreementRow> agreements() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The report (`sightline monitor report`): a self-contained HTML page (inline SVG, opens offline) with the
/// cameras ranked by how far they drifted and per camera its time series (drift score, fps, latency, confidence,
/// flagged-frame rate, luma, class mix) with the alarms marked.
std::string render_monitor_html(const MonitorStore& store);

} // namespace sightline::pipeline
