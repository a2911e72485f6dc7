#pragma once
/// The collector's dataset (docs/collector.md): a folder of JPEGs indexed by an embedded SQLite database
/// (`dataset.db`), each sample made durable (image written and synced, then its row committed) before anyone is
/// told it is there; exports to COCO, YOLO and Label Studio; merging of shards.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sightline/transport/messages.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::pipeline {

/// One box of a sample: a prediction or a candidate below the threshold.
struct DatasetBox {
    float x1, y1, x2, y2, score;
    std::string label;
};

/// One sample as the dataset holds it.
struct DatasetSample {
    std::string id, camera, image; ///< image: path relative to the dataset folder
    std::int64_t frame = -1, pts_ns = 0, selected_ns = 0;
    int width = 0, height = 0;
    std::string model, strategy;
    std::vector<std::string> tags, reasons, flags;
    float uncertainty = 0, threshold = 0;
    std::string meta_json;            ///< the camera's metadata, a JSON object
    std::vector<std::string> classes; ///< the model's class names (an export's categories: their union, in order)
    std::vector<DatasetBox> predictions, candidates;
    std::string context_of; ///< a context frame: the id of the sample it surrounds (empty for a sample)
    int context_offset = 0; ///< ...and its offset in frames (-k..-1 before, 1..k after)
    std::string line;       ///< the line that sent it (RunConfig::line; "" from a line that names none, schema < 3)
};

/// A labeler's boxes for one sample (issue 27): what came back from labeling, in the sample's pixels. An empty
/// list is a label too: the labeler saw nothing to mark.
struct DatasetLabel {
    std::string sample_id;
    std::string source;  ///< where it came from: "labelstudio" or "coco"
    std::string labeler; ///< who labeled it (Label Studio's annotator; --labeler for a COCO file)
    std::string origin;  ///< the file and the task or image it came from (for messages and the manifest)
    std::int64_t labeled_ns = 0, imported_ns = 0; ///< when it was labeled (as its source says), and imported
    std::vector<DatasetBox> boxes;                ///< score 1
};

/// A dataset version written by `collect snapshot`, as the dataset remembers it (the newest is the next one's
/// parent).
struct SnapshotRecord {
    std::string hash; ///< the manifest's content hash ("sha256:...")
    std::string path; ///< where it was written (absolute)
    std::int64_t created_ns = 0;
};

class Dataset {
  public:
    /// kWrite: one writer per folder (an exclusive lock on DIR/dataset.lock, held while open; a second writer is
    /// Error(kIo) saying the folder is in use); it may create the dataset and clears a crash's leftovers.
    /// kRead: alongside a writer (exports, validation, merge inputs); nothing is created or cleared.
    /// kLabel: alongside a writer too (labels come back while the collector runs): writes labels and snapshot
    /// records only, each change one SQLite transaction.
    enum class Mode { kWrite, kRead, kLabel };
    /// Opens (resuming) or creates the dataset in `dir` (created when missing). Leftovers of a crash are cleared:
    /// temporary files, and images whose row never committed (their sample was never acknowledged: it comes again).
    /// Error(kIo) naming the path when the folder cannot be made or written, or dataset.db is not a dataset.
    explicit Dataset(const std::filesystem::path& dir, Mode mode = Mode::kWrite);
    ~Dataset();
    Dataset(Dataset&&) noexcept;
    Dataset(const Dataset&) = delete;

    /// Makes a sample durable: the JPEG (written atomically, synced), then its row (committed, synced). Returns
    /// false when the dataset already holds that id (nothing written: at-least-once delivery's duplicates).
    /// Error(kIo) naming the path on a failed write (full or read-only disk): nothing of it is then in the dataset.
    bool add(const transport::SampleMessage& sample);
    bool add(const DatasetSample& sample, std::string_view jpeg); ///< the same from another dataset (merge)
    bool has(const std::string& id) const;
    std::size_t size() const;
    /// Every sample, in the order they were added. A row that fails the checks (a damaged or tampered file: a
    /// NULL, broken JSON, a non-finite score, an image path that is not the sample's own place) is
    /// Error(kBadInput) naming the file, the row and the reason.
    std::vector<DatasetSample> samples() const;
    /// Every row in order: `sample` when it passes the checks, else null and `problem` says why.
    void each_row(const std::function<void(std::int64_t seq, const std::string& id, const DatasetSample* sample,
                                           const std::string& problem)>& f) const;
    /// SQLite's integrity check of the file, every row's checks, and every image there and a whole JPEG; returns
    /// one line per problem (empty: sound).
    std::vector<std::string> validate() const;
    const std::filesystem::path& dir() const;

    /// Attaches labels to their samples in one transaction (kWrite or kLabel): a sample's earlier label is
    /// replaced. Error(kBadInput) naming the first few ids when any names no sample (nothing is then changed).
    /// Returns how many replaced an earlier label.
    std::size_t put_labels(const std::vector<DatasetLabel>& labels);
    /// Every sample's label, in the samples' order. A damaged row is Error(kBadInput) naming it.
    std::vector<DatasetLabel> labels() const;
    void add_snapshot(const SnapshotRecord& snapshot); ///< kWrite or kLabel
    std::vector<SnapshotRecord> snapshots() const;     ///< oldest first

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

enum class ExportFormat { kCoco, kYolo, kLabelStudio };

struct ExportOptions {
    ExportFormat format = ExportFormat::kCoco;
    /// Classes the labelers may use beyond the model's (a part the model has never seen): in the Label Studio
    /// labeling config and every format's category list, after the model's.
    std::vector<std::string> extra_classes;
    /// Label Studio: the image URL of a sample is this prefix + its path relative to the export folder (the default
    /// serves them through Label Studio's local-files storage with LOCAL_FILES_DOCUMENT_ROOT at the export folder).
    std::string image_url_prefix = "/data/local-files/?d=";
};

/// What an export wrote.
struct ExportSummary {
    std::size_t images = 0, annotations = 0;
    std::vector<std::filesystem::path> files; ///< the main files (annotations.json, data.yaml, tasks.json, ...)
};

/// Writes the dataset in `format` under `out` (images hard-linked where the file system allows, else copied;
/// every file written atomically) with manifest.jsonl (per image: camera, frame, pts, time, strategy, tags,
/// reasons, flags, uncertainty). The model's predictions are pre-annotations with their scores kept.
ExportSummary export_dataset(const Dataset& dataset, const std::filesystem::path& out, const ExportOptions& options);

/// Adds every sample of each `inputs` dataset to `out` (created or resumed); a sample id already there is skipped.
/// Labels come along for samples `out` has no label for.
/// Returns how many were added.
std::size_t merge_datasets(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out);

struct CollectorSummary {
    std::uint64_t received = 0, added = 0, duplicates = 0, malformed = 0, write_failures = 0;
};

struct CollectorOptions {
    std::vector<std::string> endpoints;        ///< the lines' publish.samples endpoints
    std::vector<transport::CurveClient> curve; ///< CURVE to the lines (none, one for all, or one per endpoint)
    std::filesystem::path out;
    int window = 16;             ///< samples in flight from each line
    double idle_exit_s = 0;      ///< stop after this long without a sample (0: run until stopped)
    std::size_t max_samples = 0; ///< stop after this many new samples (0: no limit)
    std::function<void(const DatasetSample&, bool added)> on_sample; ///< after each durable sample (or duplicate)
    std::function<void(const CollectorSummary&)> on_counts;          ///< after each sample taken (for /metrics)
};

/// Where a collector's samples come from: the lines' samples channel (ZeroMQ, transport/samples.hpp), or a
/// JetStream stream a bridge filled (docs/deploy.md). Each sample is answered once: ack (durable), nack (could not
/// write it: it comes again) or reject (malformed: it never comes again).
class SampleSource {
  public:
    virtual ~SampleSource() = default;
    struct Sample {
        std::size_t source = 0; ///< where the answer goes
        std::string topic, body;
    };
    virtual std::optional<Sample> receive(std::chrono::milliseconds timeout) = 0;
    virtual void ack(std::size_t source, const std::string& id) = 0;
    virtual void nack(std::size_t source, const std::string& id, const std::string& reason) = 0;
    virtual void reject(std::size_t source, const std::string& id, const std::string& reason) = 0;
    /// Take nothing for now (false: the disk is full) or again (true).
    virtual void set_taking(bool taking) = 0;
    virtual std::string name(std::size_t source) const = 0;
    /// A connection that failed in a way waiting will not mend (a wrong endpoint): why. Nothing otherwise.
    virtual std::optional<std::string> problem() { return std::nullopt; }
    /// When a line last said it is alive between samples (nothing: never, or a source that does not say).
    virtual std::optional<std::chrono::steady_clock::time_point> line_heard() const { return std::nullopt; }
};

/// `sightline collect`: receives samples, makes each durable, then acknowledges it; a duplicate is acknowledged
/// without being written again; a malformed one is logged (naming the line) and skipped; a failed write is
/// refused (nack) and the collector stops taking samples for a second before it tries again.
CollectorSummary run_collector(const CollectorOptions& options, const std::atomic<bool>& stop);
/// The same from another source (a JetStream stream: collect --nats).
CollectorSummary run_collector(const CollectorOptions& options, SampleSource& source, const std::atomic<bool>& stop);

} // namespace sightline::pipeline
