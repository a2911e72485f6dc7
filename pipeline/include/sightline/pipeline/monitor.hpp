#pragma once
/// The monitor's state: per camera x model, bounded histograms of what the line reports, in stream time (the
/// frames' pts), a reference learned from the first seconds (or loaded), drift tests of a sliding window against
/// it with hysteresis, and health alarms (silence, sequence gaps, latency). Knows only the wire messages.
/// docs/monitor.md describes the signals, the tests, their defaults and where each comes from.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sightline/transport/messages.hpp"

namespace sightline::pipeline {

struct MonitorOptions {
    double bucket_s = 1;        ///< stream-time resolution: statistics are kept per bucket
    double window_s = 30;       ///< the current window, sliding by one bucket
    double reference_s = 300;   ///< the reference: each camera's first seconds of stream time (ten windows)
    int min_window_frames = 60; ///< fewer frames in the window: no drift test
    /// A histogram with fewer values (in the reference or the window) is not tested (Evidently uses these
    /// distances from 1000 values up; below, K-S and chi-square p-values, far too eager at one test a second).
    int min_values = 500;
    double silence_s = 5;      ///< wall seconds without a frame from a camera: a `silence` alarm
    double latency_p99_ms = 0; ///< > 0: alarm when the window's p99 arrival-to-publish latency exceeds it
    /// An alarm stands after this many tests in a row over the threshold (about one a second)...
    int raise_after = 30;
    /// ...or after raise_fast tests in a row over fast_factor x the threshold. A window of correlated frames
    /// crosses a fixed threshold now and then by chance, for seconds; a real drift stays, and a large one is seen
    /// at once (the lighting drift of the synthetic line: within seconds).
    int raise_fast = 2;
    double fast_factor = 2;
    int clear_after = 5; ///< consecutive tests under clear_ratio x threshold before it clears
    double clear_ratio = 0.8;
    /// Thresholds: the larger of the default and the upper tail of a block bootstrap of the reference's own stream
    /// at the window's size (docs/monitor.md, "Calibrated thresholds"): each replicate a window-sized stretch of the
    /// reference against a pseudo-reference resampled in blocks from the rest. Frames of a line are correlated, so a
    /// window holds fewer independent values than frames: the replicates measure that, the fixed defaults do not.
    bool calibrate = true;
    /// The false-alarm rate per camera and window the calibrated thresholds aim at, spread over the camera's tests
    /// (0.0005: z = 4.2 for 41 tests; 0.005 raised twice the false alarms at the same delays, bench/README.md).
    double false_alarm_rate = 0.0005;
    /// > 0: a reference per time-of-day bucket of this many hours (wall clock of the frames, UTC: `pred.time_ns`),
    /// each learned in its own bucket's first reference_s: a camera whose nights differ from its days is tested
    /// against its own nights. 0: one reference.
    double time_of_day_hours = 0;
    double js_threshold = 0.1;          ///< class mix, Jensen-Shannon distance (Evidently's default)
    double wasserstein_threshold = 0.1; ///< normalised Wasserstein (Evidently's default)
    double psi_threshold = 0.25;        ///< PSI, "major shift" (0.1 counts as moderate)
    /// Luma's Wasserstein is normalised by at least this many grey levels: a steady scene's frame luma varies by
    /// tenths of a level, and a shift of one level is sensor noise and encoding, not drift.
    double luma_min_std = 2;
    /// Sharpness (pred.sharpness, binned as log2(1 + variance of the Laplacian)) likewise, by at least this many
    /// log2 units: a steady camera's sharpness swings with its content (parts in view) by 10-20%, so at the default
    /// threshold (0.1) an alarm needs a shift of at least 0.1 log2 units (7%, a calibrated threshold more); a
    /// defocus halves it (1 unit).
    double sharpness_min_std = 1;
    /// Flagged-frame rate per bucket, as z-scores against the reference's buckets, into river's Page-Hinkley.
    double ph_delta = 0.5, ph_threshold = 15;
    int ph_min_instances = 5;
    /// While a camera's reference is learned it is not blind: each bucket's mean luma and sharpness (what the picture
    /// itself says, not what the model finds in it: detections per frame, confidences and box positions follow the
    /// parts in view by far more than a minute's baseline can tell apart from a change), as z-scores against the
    /// camera's own first `early_baseline_s` (their spread, at least the floors below), go into river's Page-Hinkley
    /// (ph_delta, ph_threshold); a change stands when it is detected and the last `early_confirm_s` buckets sit more
    /// than `early_z` from the start on average. Off: early_baseline_s 0.
    double early_baseline_s = 20;
    double early_confirm_s = 5;
    double early_z = 3;
    double early_luma_floor = 2;         ///< grey levels (as luma_min_std)
    double early_sharpness_floor = 0.25; ///< log2 units of sharpness (a defocus halves it: 1 unit)
    /// The most camera x model (x time-of-day) states kept, each about bytes_per_camera(): messages that would
    /// open one more are refused (Error(kBadInput) from add(), counted by the caller), so a stream of made-up
    /// camera names cannot grow the monitor's memory without bound.
    std::size_t max_states = 256;
};

/// One standing alarm's rise or fall, and the figures behind it.
struct MonitorAlarm {
    bool raised = true;               ///< false: it cleared
    std::string line;                 ///< the camera's line ("" from a line that names none)
    std::string camera, model, slice; ///< slice: the camera's meta as k=v,k=v
    std::string signal;               ///< class_mix, confidence/<class>, detections_per_frame, box_size, luma, ...
    std::string test;                 ///< jensen_shannon, wasserstein, psi, page_hinkley, p99, silence, seq_gap
    double value = 0, threshold = 0;
    std::int64_t window_start_ns = 0, window_end_ns = 0; ///< stream time (pts) of the window tested
    std::int64_t wall_ns = 0;
    std::string message() const; ///< one line for logs and the event's message
};

/// A drift score as last computed.
struct MonitorScore {
    std::string signal, test;
    double value = 0, threshold = 0;
    bool alarm = false;
};

/// What the monitor knows about one camera x model, for metrics, the store and the report.
struct MonitorCameraView {
    std::string line; ///< the camera's line ("" from a line that names none): line and camera identify a camera
    std::string camera, model, slice;
    std::string time_of_day; ///< "06-12" with time_of_day_hours, else empty
    std::map<std::string, std::string> meta;
    std::uint64_t frames = 0, detections = 0, seq_gaps = 0, flagged_frames = 0;
    std::map<std::string, std::uint64_t> class_counts; ///< by class name (index when names are unknown)
    std::map<std::string, double> last_stat;           ///< the camera's last `stat` values
    bool reference_ready = false;
    double reference_progress = 0; ///< 0..1 of reference_s
    /// Learning state: seconds of stream time learned of those the reference needs (equal once ready), and the
    /// drift tests armed against it (a test the reference saw too little of stays unarmed) of all it has. While
    /// learning, only the change-point tests against the camera's own recent past run (`learning_tests`).
    double reference_learned_s = 0, reference_needed_s = 0;
    int tests_armed = 0, tests_total = 0;
    int learning_tests = 0; ///< change-point tests running while the reference is learned (0 once it is ready)
    std::int64_t last_pts_ns = 0, last_wall_ns = 0;
    /// The last window's figures (stream time): fps, detections per frame, mean confidence, flagged-frame rate,
    /// mean luma, p99 latency (ms).
    std::int64_t window_end_ns = 0;
    double fps = 0, detections_per_frame = 0, confidence_mean = 0, flag_rate = 0, luma_mean = 0, latency_p99_ms = 0;
    double window_frames = 0;
    std::map<std::string, double> window_classes; ///< detections per class in the window
    std::vector<MonitorScore> scores;
    std::vector<std::string> active_alarms; ///< "signal/test"
    double drift_rank = 0;                  ///< the largest score / threshold over the camera's tests
};

/// Two or more publishers heard under one line name at once: their runs (line_info's `run`) overlap in time.
struct MonitorLineConflict {
    std::string line;
    std::vector<std::string> runs, endpoints; ///< the runs heard at once, and the endpoints they publish on
    std::int64_t since_wall_ns = 0;           ///< when the overlap was first heard
};

class Monitor {
  public:
    explicit Monitor(const MonitorOptions& options);
    ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    /// Feeds one received message. `wall_ns`: when it arrived (for silence only). Messages of another schema are
    /// the transport's business; what decode() refuses (inconsistent arrays, non-finite values, bad strings) never
    /// reaches here. Throws Error(kBadInput), changing nothing, for a pred whose class index is outside its model's
    /// class list (when run_start gave it) and for a message that would open a state past max_states.
    void add(const transport::Message& m, std::int64_t wall_ns);
    /// Checks silence at wall time `wall_ns`; call about once a second.
    void tick(std::int64_t wall_ns);
    /// Called for every alarm raised or cleared, in order.
    void on_alarm(std::function<void(const MonitorAlarm&)> callback);
    /// Called each time a camera's window closes with a test (about once per bucket), with its view.
    void on_window(std::function<void(const MonitorCameraView&)> callback);

    std::vector<MonitorCameraView> cameras() const;
    std::uint64_t messages() const;
    std::uint64_t alarms_raised() const;
    /// Messages refused because they would have opened a state past max_states.
    std::uint64_t refused_states() const;
    /// Line names two publishers used at once (each line once, as first heard; logged then too).
    std::vector<MonitorLineConflict> line_conflicts() const;
    /// Runs heard under `line` in the last 10 s of wall time: more than one while two publishers share the name.
    std::map<std::string, int> publishers_by_line(std::int64_t wall_ns) const;

    /// The learned references (all cameras whose reference is complete), as a self-describing JSON document:
    /// save it from a known-good period and load it later (`--reference FILE`), or keep it in the store.
    std::string references_json() const;
    /// Loads references saved by references_json(); a camera with a loaded reference skips learning.
    /// Throws Error(kBadInput) naming `what` and the key on a malformed document.
    void load_references(const std::string& json, const std::string& what);

    /// Bytes of state held per camera (fixed: the histograms are sized at construction).
    static std::size_t bytes_per_camera(const MonitorOptions& options);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::pipeline
