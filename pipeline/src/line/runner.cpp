#include "sightline/pipeline/runner.hpp"

#include <deque>
#include <exception>

#include "background/background_stage.hpp"
#include "batch/batcher.hpp"
#include "sightline/pipeline/versions.hpp"
#include "sightline/transport/messages.hpp"
#include "source/source.hpp"

namespace sightline::pipeline {

Runner::Runner(RunConfig config, std::unique_ptr<Engine> engine)
    : Runner(std::move(config), one_version(std::move(engine))) {}

Runner::Runner(RunConfig config, std::vector<std::unique_ptr<Engine>> engines)
    : config_(std::move(config)), models_(config_, std::move(engines)) {}

Runner::~Runner() = default;

float Runner::confidence() const {
    return detector().confidence();
}

namespace {

/// A batch on the detector: its frames are held until collected (the GPU may still read device frames).
struct InFlight {
    ModelSet::Ticket ticket;
    detail::Batch batch;
};

/// Frame k of a collected batch as the record the stages pass on (before the flags stage).
FrameOutput frame_output(const detail::Batch& batch, std::size_t k, FrameResult& result, std::int64_t inferred_ns,
                         detail::FrameQueue& queue) {
    const OwnedFrame& in = batch.frames[k];
    FrameOutput out;
    out.camera_index = batch.owners[k];
    out.pts_ns = in.pts_ns;
    out.frame = in.index;
    out.width = in.view.width;
    out.height = in.view.height;
    out.detections = std::move(result.detections);
    out.candidates = std::move(result.candidates);
    out.image = &in;
    out.luma = result.luma;
    out.stamps = {in.arrival_ns, in.decoded_ns, batch.batched_ns, inferred_ns};
    out.dropped_so_far = queue.dropped();
    const auto [depth, age_ns] = queue.backlog(batch.batched_ns);
    out.queue_depth = depth;
    out.queue_age_ms = static_cast<double>(age_ns) / 1e6;
    return out;
}

/// The flags stage of every version (each keeps its own per-camera state), and the agreement of the versions beside
/// the serving one with it.
class VersionsStage {
  public:
    VersionsStage(const FlagsConfig& config, const ModelSet& models, std::size_t cameras)
        : config_(config), models_(models), cameras_(cameras) {}
    /// Completes `out` (made from the serving version's result) with the versions beside it.
    void apply(FrameOutput& out, VersionResults& results) {
        // versions loaded while the line runs (hot swap) get theirs at their first frame
        while (flags_.size() < models_.size()) {
            const Detector* d = models_.version(flags_.size()).detector.get(); // null: unloaded already
            flags_.emplace_back(config_, d ? d->confidence() : 0.f, cameras_);
            classes_.push_back(d ? d->spec().classes : std::vector<std::string>{});
        }
        out.version = results.serving;
        for (auto& [v, r] : results.beside) {
            FrameOutput beside = out;
            beside.detections = std::move(r.detections), beside.candidates = std::move(r.candidates);
            beside.luma = r.luma;
            beside.version = v;
            flags_[v].apply(beside);
            out.shadows.push_back(std::move(beside));
        }
        flags_[out.version].apply(out);
        if (out.shadows.empty()) return;
        const auto serving = version_boxes(out.detections, classes_[out.version]);
        for (FrameOutput& sh : out.shadows) {
            for (const AgreementPair& pair :
                 match_versions(serving, version_boxes(sh.detections, classes_[sh.version])))
                switch (pair.kind) {
                case Agreement::kBoth:
                    ++sh.agreement.both;
                    break;
                case Agreement::kClassChanged:
                    ++sh.agreement.class_changed;
                    break;
                case Agreement::kOnlyA:
                    ++sh.agreement.only_serving;
                    break;
                case Agreement::kOnlyB:
                    ++sh.agreement.only_shadow;
                    break;
                }
            if (sh.agreement.disagree())
                sh.frame_flags |= transport::kFrameDisagree, out.frame_flags |= transport::kFrameDisagree;
        }
    }

  private:
    const FlagsConfig& config_;
    const ModelSet& models_;
    std::size_t cameras_;
    std::vector<FlagsStage> flags_;
    std::vector<std::vector<std::string>> classes_;
};

} // namespace

RunSummary Runner::run(const std::function<void(const FrameOutput&)>& sink, const std::atomic<bool>& stop,
                       const std::function<void(const RunEvent&)>& on_event, const std::function<void()>& on_idle) {
    const std::size_t n = config_.cameras.size();
    detail::Arrivals arrivals;
    detail::EventBox events;
    std::vector<std::unique_ptr<detail::CameraSource>> sources;
    std::vector<detail::CameraSource*> feeding;
    for (const auto& cam : config_.cameras) {
        sources.push_back(std::make_unique<detail::CameraSource>(cam, config_.reconnect, arrivals, events));
        feeding.push_back(sources.back().get());
    }
    for (auto& s : sources) s->start(stop);
    detail::Batcher batcher(feeding, arrivals, config_.batching);
    VersionsStage versions(config_.flags, models_, n);
    const kernels::PreprocessParams& input = detector().spec().preprocess;
    detail::BackgroundStage background(config_.flags, input.input_width, input.input_height, n);
    std::vector<Foreground> foreground;
    RunSummary summary;
    summary.frames.assign(n, 0);
    const auto deliver = [&] {
        for (const auto& e : events.drain())
            if (on_event) on_event(e);
    };
    // Batches in flight on the detector (at most one while the next forms, below Detector::kDepth): while the GPU
    // works on one, this thread forms the next and publishes the last. Results leave in submission order, so each
    // camera's frames stay in order.
    std::deque<InFlight> inflight;
    const auto emit_oldest = [&] {
        InFlight f = std::move(inflight.front());
        inflight.pop_front();
        auto results = models_.collect(f.ticket);
        const std::int64_t inferred = detail::now_ns();
        background.measure(f.batch.frames, f.batch.owners, foreground);
        for (std::size_t k = 0; k < f.batch.frames.size(); ++k) {
            const std::size_t cam = f.batch.owners[k];
            FrameOutput out = frame_output(f.batch, k, results[k].result, inferred, sources[cam]->queue());
            out.camera = config_.cameras[cam].id;
            out.seq = summary.frames[cam]++;
            out.late_so_far = batcher.late(cam);
            out.foreground = std::move(foreground[k]);
            versions.apply(out, results[k]);
            sink(out);
        }
    };
    const auto idle = [&] { // nothing new to batch: publish the batch in flight (its results are due)
        deliver();
        if (on_idle) on_idle();
        if (inflight.empty()) return false;
        emit_oldest();
        return true;
    };
    std::exception_ptr failure;
    try {
        while (auto batch = (deliver(), batcher.next(stop, idle))) {
            std::vector<kernels::ImageView> views;
            for (const auto& fr : batch->frames) views.push_back(fr.view);
            const ModelSet::Ticket ticket = models_.submit(views, batch->owners);
            const bool running = models_.running(ticket);
            inflight.push_back({ticket, std::move(*batch)});
            // A batch still running on the GPU stays in flight while the next forms (one: more would only add
            // latency); one done in submit() (the host path) is published at once, with any before it.
            while (static_cast<int>(inflight.size()) > (running ? 1 : 0)) emit_oldest();
            if (stop.load()) break;
        }
        while (!inflight.empty()) emit_oldest(); // what was accepted is published
    } catch (...) {
        failure = std::current_exception();
    }
    for (auto& s : sources) s->stop_and_join();
    deliver();
    if (failure) std::rethrow_exception(failure);
    for (auto& s : sources) {
        summary.corrupt_packets.push_back(s->corrupt_packets());
        summary.dropped.push_back(s->queue().dropped());
        summary.decoders.push_back(s->decoder());
    }
    summary.late = batcher.late();
    return summary;
}

} // namespace sightline::pipeline
