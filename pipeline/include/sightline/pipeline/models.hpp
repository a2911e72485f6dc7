#pragma once
/// The line's model versions as one stage (issue 26, docs/versions.md): every version a Detector of its own (its
/// engine, thresholds and class list), which versions run on each camera's frames (the one serving it, and those
/// beside it: shadows, a rollout's fallback), and one preprocess per distinct input spec per batch (two versions with
/// the same input read one tensor). The versions' passes of a batch run side by side, each on a thread of its own.
/// The runner submits and collects batches here as it did on one Detector.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/detector.hpp"

namespace sightline::pipeline {

/// The engines of a line with one version: `engine` alone.
std::vector<std::unique_ptr<Engine>> one_version(std::unique_ptr<Engine> engine);

/// One frame's results from every version that ran on it.
struct VersionResults {
    int serving = 0; ///< the version that served the frame (its index in the set)
    FrameResult result;
    /// The versions that ran beside it (shadows, a rollout's fallback), in version order, with their results.
    std::vector<std::pair<int, FrameResult>> beside;
};

class ModelSet {
  public:
    struct Version {
        std::string id;    ///< as models: names it (`default` for a config with model: alone)
        std::string model; ///< what its messages carry: name@version (name@version#id where two versions share it)
        std::unique_ptr<Detector> detector; ///< null once unloaded
    };
    /// `engines`: one per config.versions() entry, in that order. Each version's thresholds: its own (models[]),
    /// else the config's thresholds:, else its model's. Cameras start served by their cameras[].model (else the
    /// first), with every shadow: version beside them, and the rollout's fallback beside its candidate.
    /// Error(kBadInput) when the engines do not match the versions.
    ModelSet(const RunConfig& config, std::vector<std::unique_ptr<Engine>> engines);
    ~ModelSet();
    ModelSet(ModelSet&&) noexcept;

    std::size_t size() const { return versions_.size(); }
    Version& version(std::size_t v) { return versions_[v]; }
    const Version& version(std::size_t v) const { return versions_[v]; }
    /// The loaded version with this id; -1 when none.
    int find(const std::string& id) const;
    bool loaded(int version) const { return versions_[version].detector != nullptr; }

    /// Adds a version loaded and checked elsewhere (hot swap: docs/versions.md): it runs nowhere until it serves a
    /// camera or runs beside one. Returns its index (indices are never reused). Error(kBadInput): the id is taken.
    int add(std::string id, std::string model, std::unique_ptr<Detector> detector);
    /// Unloads a version that serves no camera and runs beside none (never the first: the line's default). False while
    /// a batch in flight still uses it (try again after the next collect()). Error(kBadInput) naming the cameras it
    /// serves or runs beside, or when it is not loaded.
    bool unload(int version);

    /// The version serving `camera` from the next submitted batch on.
    int serving(std::size_t camera) const { return serving_[camera]; }
    void serve(std::size_t camera, int version);
    /// Whether `version` runs beside the serving one on `camera` (a shadow; never the serving one itself).
    bool beside(std::size_t camera, int version) const;
    void set_beside(std::size_t camera, int version, bool on);

    using Ticket = int;
    /// Starts a batch: `owners[k]` is frame k's camera. Each version runs the frames of the cameras it serves or
    /// runs beside; versions with the same preprocess params and host frames share one preprocess (the tensor's
    /// rows gathered for a version that runs on some of the frames). Same rules as Detector::submit.
    Ticket submit(std::span<const kernels::ImageView> frames, std::span<const std::size_t> owners);
    bool running(Ticket ticket) const;
    /// A submitted batch's results, frame by frame (the assignment as it was at submit()).
    std::vector<VersionResults> collect(Ticket ticket);

    /// Whether the versions of a batch run side by side, each on a thread of its own (default: the engines' streams
    /// stay busy instead of each waiting for the others' passes; bench/README.md), or one after the other.
    void set_side_by_side(bool on) { side_by_side_ = on; }

    /// Preprocesses done by the last submit() (one per distinct input spec of the versions that ran, whether the
    /// batch's frames are in host memory or all in device memory (NVDEC: one CUDA preprocess, the tensor read where
    /// it lies by engines that read device memory, copied to host memory once for the others); a batch mixing the
    /// two is preprocessed by each version on its own): what the tests check sharing with.
    int last_preprocesses() const { return last_preprocesses_; }

  private:
    struct Pending; // a batch in flight: models.cpp
    std::vector<Version> versions_;
    std::vector<int> serving_;
    std::vector<std::vector<bool>> beside_; ///< [camera][version]
    std::vector<std::unique_ptr<Pending>> pending_;
    int last_preprocesses_ = 0;
    bool side_by_side_ = true;
    /// A host tensor with its frames' letterboxes and luma statistics (used within submit()).
    struct HostTensor {
        std::vector<float> tensor;
        std::vector<kernels::Letterbox> lbs;
        std::vector<kernels::LumaStats> luma;
        void resize(std::size_t per_frame, std::size_t frames) {
            tensor.resize(per_frame * frames), lbs.resize(frames), luma.resize(frames);
        }
    };
    /// One version's part of a batch: its frames, and the tensor made for it (or none: it preprocesses its own).
    struct Job {
        std::size_t version;
        std::vector<kernels::ImageView> views;
        bool prepared = false;
        PreparedInput input;
    };
    std::vector<HostTensor> shared_;   ///< per input spec of a batch: its shared preprocess
    std::vector<HostTensor> gathered_; ///< per version running on some of a shared tensor's frames: its rows

    static std::vector<kernels::ImageView> views_of(std::span<const kernels::ImageView> frames,
                                                    const std::vector<int>& idx);
    /// One preprocess of the frames `all` (those any version of `group`, one input spec, runs) into the batch's g-th
    /// shared tensor (shared_[g]; on the device the Pending's own g-th buffer): on the CPU for host frames, with the
    /// CUDA kernel for `device` frames; a job per version of the group. Every group's tensor outlives the jobs.
    void prepare_group(Pending& p, std::span<const kernels::ImageView> frames, const std::vector<std::size_t>& group,
                       const std::vector<int>& all, bool device, std::size_t g, std::vector<Job>& jobs);
    /// Version w's rows (p.runs[w]; `row`: frame -> its row in the g-th shared tensor) copied out of that tensor with
    /// their letterboxes and statistics: on the device for an engine that reads device memory, else on the host.
    PreparedInput gather(Pending& p, std::size_t w, std::size_t g, const std::vector<int>& row, bool reads_device,
                         std::size_t per, std::size_t bytes);
    /// Submits every job to its version's detector, side by side when there are several; their tickets in `p`.
    void run_jobs(Pending& p, std::vector<Job>& jobs);
};

} // namespace sightline::pipeline
