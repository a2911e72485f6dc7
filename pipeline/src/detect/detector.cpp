#include "sightline/pipeline/detector.hpp"

#include <algorithm>
#include <cstdint>

#include <spdlog/spdlog.h>

#include "sightline/error.hpp"
#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/nms.hpp"

namespace sightline::pipeline {

namespace {
/// The device path's one block of compact results, copied back in one piece per batch: the frames' luma sums, then
/// the int results (candidate counts, keep counts, kept positions), then the candidates.
struct ResultsLayout {
    std::size_t ints = 0, candidates = 0, total = 0;
    ResultsLayout(int batch, int top_k, int max_det) {
        const auto align = [](std::size_t x) { return (x + 255) / 256 * 256; };
        const auto b = static_cast<std::size_t>(batch);
        ints = align(kernels::preprocess_cuda_workspace_bytes(b)); // the luma sums first
        candidates = align(ints + (2 * b + b * max_det) * sizeof(int));
        total = candidates + b * top_k * sizeof(kernels::Candidate);
    }
};
} // namespace

/// One batch in flight and what its device work needs: made at the first batch that uses it, reused after.
struct Detector::Slot {
    bool busy = false;
    int batch = 0;
    std::vector<int> widths, heights; ///< the frames' sizes, for the map back to frame pixels
    std::vector<kernels::Letterbox> lbs;
    std::vector<kernels::LumaStats> stats;
    std::vector<std::size_t> pending;           ///< frames whose statistics are luma sums still on the device
    bool device_results = false;                ///< decode + NMS ran on the device: results still to copy back
    std::unique_ptr<kernels::Stream> stream;    ///< made at the slot's first device batch
    kernels::DeviceBuffer d_input, d_workspace; ///< the tensor; decode and NMS workspace
    kernels::DeviceBuffer d_results;            ///< ResultsLayout
    kernels::PinnedBuffer h_results;            ///< its host copy
    kernels::GraphCache graph;
    Head head; ///< the engine's head, held until the slot's decode has read it
    std::vector<kernels::Candidate> candidates;
    std::vector<int> counts, keep, keep_counts;
};

Detector::Detector(std::unique_ptr<Engine> engine, float confidence, float iou, int max_det, float candidate_floor,
                   int max_candidates)
    : engine_(std::move(engine)) {
    const ModelSpec& m = engine_->spec();
    decode_.layout = m.layout;
    decode_.reg_max = m.reg_max;
    decode_.input_width = m.preprocess.input_width, decode_.input_height = m.preprocess.input_height;
    decode_.num_classes = static_cast<int>(m.classes.size());
    confidence_ = confidence >= 0 ? confidence : m.confidence;
    max_det_ = max_det > 0 ? max_det : m.max_det;
    const bool candidates = candidate_floor >= 0 && candidate_floor < confidence_ && max_candidates > 0;
    decode_.confidence_threshold = candidates ? candidate_floor : confidence_;
    decode_.top_k = 300;
    nms_.iou_threshold = iou >= 0 ? iou : m.iou;
    nms_.max_det = max_det_ + (candidates ? max_candidates : 0);
    for (int i = 0; i < kDepth; ++i) slots_.push_back(std::make_unique<Slot>());
}

Detector::~Detector() = default;
Detector::Detector(Detector&&) noexcept = default;

int Detector::graph_captures() const {
    int n = 0;
    for (const auto& s : slots_) n += s->graph.captures();
    return n;
}

void Detector::reserve_device(Slot& slot) {
    if (!slot.stream) slot.stream = std::make_unique<kernels::Stream>();
    const ResultsLayout l(slot.batch, decode_.top_k, nms_.max_det);
    slot.d_results.reserve(l.total);
    slot.h_results.reserve(l.total);
}

void Detector::preprocess(Slot& slot, std::span<const kernels::ImageView> frames, const Plan& plan) {
    const ModelSpec& m = engine_->spec();
    slot.pending.clear();
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i].where == kernels::MemoryLocation::kDevice) slot.pending.push_back(i);
    if (!plan.device_frames) {
        kernels::preprocess_cpu(frames, m.preprocess, input_.data(), slot.lbs.data(), slot.stats.data());
        return;
    }
    const std::size_t per = 3ull * m.preprocess.input_width * m.preprocess.input_height;
    if (slot.pending.size() < frames.size()) // a mixed batch: the host frames one by one into their slots
        for (std::size_t i = 0; i < frames.size(); ++i)
            if (frames[i].where == kernels::MemoryLocation::kHost)
                kernels::preprocess_cpu(frames.subspan(i, 1), m.preprocess, input_.data() + i * per, &slot.lbs[i],
                                        &slot.stats[i]);
    reserve_device(slot);
    const std::size_t frame_bytes = kernels::preprocess_frame_bytes(m.preprocess);
    slot.d_input.reserve(frame_bytes * frames.size());
    auto* d_in = static_cast<std::uint8_t*>(slot.d_input.data());
    const bool mixed = slot.pending.size() < frames.size();
    if (!mixed) { // the whole batch in one launch
        kernels::preprocess_cuda_async(frames, m.preprocess, d_in, slot.lbs.data(), slot.d_results.data(),
                                       slot.stream->get());
    } else { // each device frame into its batch slot; its luma sums at its place among the device frames'
        for (std::size_t k = 0; k < slot.pending.size(); ++k) {
            const std::size_t i = slot.pending[k];
            kernels::preprocess_cuda_async(frames.subspan(i, 1), m.preprocess, d_in + i * frame_bytes, &slot.lbs[i],
                                           static_cast<kernels::LumaSums*>(slot.d_results.data()) + k,
                                           slot.stream->get());
        }
    }
    const bool stays = plan.input == kernels::MemoryLocation::kDevice;
    if (!said_copy_) {
        if (stays)
            spdlog::info("detector: preprocess on the GPU ({}), each batch on a stream of its own ({} in flight); "
                         "the engine ({}) reads the tensor in device memory on that stream (and, where it leaves its "
                         "head there, decode + NMS run on the GPU as a {}; one copy of the compact results per "
                         "batch, into pinned memory)",
                         kernels::describe_device(), kDepth, engine_->describe(),
                         use_graphs_ ? "CUDA graph" : "series of kernel launches");
        else
            spdlog::info("detector: preprocess on the GPU ({}); the engine ({}) reads host memory: one "
                         "device-to-host copy of the input tensor per batch",
                         kernels::describe_device(), engine_->describe());
        said_copy_ = true;
    }
    if (stays) { // a mixed batch's host frames go up into their slots
        if (mixed)
            for (std::size_t i = 0; i < frames.size(); ++i)
                if (frames[i].where == kernels::MemoryLocation::kHost)
                    kernels::copy_host_to_device_async(d_in + i * frame_bytes, input_.data() + i * per, frame_bytes,
                                                       slot.stream->get());
        return;
    }
    if (!mixed) {
        kernels::copy_device_to_host_async(input_.data(), d_in, frame_bytes * frames.size(), slot.stream->get());
    } else {
        for (const std::size_t i : slot.pending)
            kernels::copy_device_to_host_async(input_.data() + i * per, d_in + i * frame_bytes, frame_bytes,
                                               slot.stream->get());
    }
    finish_on_device(slot, false);
}

void Detector::decode_nms_on_device(Slot& slot, const float* d_head) {
    const int batch = slot.batch;
    const ResultsLayout l(batch, decode_.top_k, nms_.max_det); // preprocess() reserved the results block for it
    slot.d_workspace.reserve(std::max(kernels::decode_cuda_workspace_bytes(batch, decode_),
                                      kernels::nms_cuda_workspace_bytes(batch, decode_.top_k)));
    auto* base = static_cast<std::uint8_t*>(slot.d_results.data());
    auto* counts = reinterpret_cast<int*>(base + l.ints);
    int* keep_counts = counts + batch;
    int* keep = keep_counts + batch;
    auto* cands = reinterpret_cast<kernels::Candidate*>(base + l.candidates);
    void* work = slot.d_workspace.data();
    const std::size_t work_bytes = slot.d_workspace.size();
    const kernels::DecodeParams decode = decode_;
    const kernels::NmsParams nms = nms_;
    auto record = [=](kernels::StreamRef s) {
        kernels::decode_cuda(d_head, batch, decode, cands, counts, work, work_bytes, s);
        kernels::nms_cuda(cands, counts, batch, decode.top_k, nms, keep, keep_counts, work, work_bytes, s);
    };
    if (use_graphs_) // everything the launches depend on is in the key: a steady line replays one graph
        slot.graph.run({reinterpret_cast<std::uintptr_t>(d_head), static_cast<std::uint64_t>(batch),
                        static_cast<std::uint64_t>(decode.num_candidates), reinterpret_cast<std::uintptr_t>(work),
                        work_bytes, reinterpret_cast<std::uintptr_t>(base)},
                       slot.stream->get(), record);
    else
        record(slot.stream->get());
    // the one copy back, enqueued now: it runs while the caller goes on
    kernels::copy_device_to_host_async(slot.h_results.data(), base, l.total, slot.stream->get());
    slot.device_results = true;
}

void Detector::finish_on_device(Slot& slot, bool results) {
    const ResultsLayout l(slot.batch, decode_.top_k, nms_.max_det);
    if (!results) // only the luma sums (the results block's copy, when there is one, is already enqueued)
        kernels::copy_device_to_host_async(slot.h_results.data(), slot.d_results.data(), l.ints, slot.stream->get());
    slot.stream->synchronize();
    const auto* base = static_cast<const std::uint8_t*>(slot.h_results.data());
    const auto* sums = reinterpret_cast<const kernels::LumaSums*>(base);
    // the sums are in the order of the device frames
    for (std::size_t k = 0; k < slot.pending.size(); ++k)
        slot.stats[slot.pending[k]] = kernels::luma_stats(sums[k], slot.lbs[slot.pending[k]]);
    slot.pending.clear();
    if (!results) return;
    const int batch = slot.batch;
    const auto* ints = reinterpret_cast<const int*>(base + l.ints);
    std::copy_n(ints, batch, slot.counts.begin());
    std::copy_n(ints + batch, batch, slot.keep_counts.begin());
    std::copy_n(ints + 2 * batch, slot.keep.size(), slot.keep.begin());
    std::copy_n(reinterpret_cast<const kernels::Candidate*>(base + l.candidates), slot.candidates.size(),
                slot.candidates.begin());
}

Detector::Plan Detector::plan_of(std::span<const kernels::ImageView> frames) const {
    Plan p;
    p.device_frames = std::any_of(frames.begin(), frames.end(), [](const kernels::ImageView& f) {
        return f.where == kernels::MemoryLocation::kDevice;
    });
    if (p.device_frames && engine_->reads(kernels::MemoryLocation::kDevice)) {
        p.input = kernels::MemoryLocation::kDevice;
        // the head left on the GPU for the CUDA decode + NMS, when the batch is one forward pass
        if (engine_->spec().dynamic_batch || frames.size() == 1) p.head = kernels::MemoryLocation::kDevice;
    }
    return p;
}

Detector::Ticket Detector::submit(std::span<const kernels::ImageView> frames) {
    return submit(frames, nullptr);
}

Detector::Ticket Detector::submit(std::span<const kernels::ImageView> frames, const PreparedInput& prepared) {
    return submit(frames, &prepared);
}

Detector::Ticket Detector::submit(std::span<const kernels::ImageView> frames, const PreparedInput* prepared) {
    int t = -1;
    for (int k = 0; k < kDepth && t < 0; ++k)
        if (!slots_[(next_slot_ + k) % kDepth]->busy) t = (next_slot_ + k) % kDepth;
    if (t < 0)
        throw Error(ErrorCode::kBadInput,
                    "detector: " + std::to_string(kDepth) + " batches already in flight (collect one first)");
    next_slot_ = (t + 1) % kDepth;
    Slot& slot = *slots_[t];
    const ModelSpec& m = engine_->spec();
    const int batch = static_cast<int>(frames.size());
    slot.batch = batch;
    slot.widths.clear(), slot.heights.clear();
    for (const auto& f : frames) slot.widths.push_back(f.width), slot.heights.push_back(f.height);
    slot.lbs.assign(batch, {});
    slot.stats.assign(batch, {});
    slot.candidates.resize(static_cast<std::size_t>(batch) * decode_.top_k);
    slot.counts.resize(batch);
    slot.keep.resize(static_cast<std::size_t>(batch) * nms_.max_det);
    slot.keep_counts.resize(batch);
    slot.device_results = false;
    slot.busy = true;
    if (batch == 0) return t;
    try {
        const Plan plan = plan_of(frames);
        const std::size_t per = 3ull * m.preprocess.input_width * m.preprocess.input_height;
        const float* in = nullptr;
        const bool on_device = prepared && prepared->where == kernels::MemoryLocation::kDevice;
        if (on_device && plan.input != kernels::MemoryLocation::kDevice)
            throw Error(ErrorCode::kBadInput,
                        "detector: a device tensor for an engine that reads host memory (" + engine_->describe() + ")");
        // made once for every version of this input spec: used where this engine reads it
        if (prepared && (on_device || plan.input == kernels::MemoryLocation::kHost)) {
            SL_ASSERT(prepared->tensor.size() == per * batch && prepared->letterboxes.size() == frames.size() &&
                      prepared->luma.size() == frames.size());
            std::copy(prepared->letterboxes.begin(), prepared->letterboxes.end(), slot.lbs.begin());
            std::copy(prepared->luma.begin(), prepared->luma.end(), slot.stats.begin());
            slot.pending.clear();
            in = prepared->tensor.data();
            if (on_device) reserve_device(slot);
        } else {
            input_.resize(per * batch);
            preprocess(slot, frames, plan);
            in = plan.input == kernels::MemoryLocation::kDevice ? static_cast<const float*>(slot.d_input.data())
                                                                : input_.data();
        }
        const kernels::StreamRef stream = slot.stream ? slot.stream->get() : nullptr;
        const int fields = head_fields(m);
        Head head = engine_->infer({in, per * batch, plan.input}, batch, stream, plan.head);
        if (head.where == kernels::MemoryLocation::kDevice) { // plan.head asks for it only when there is one pass
            // the head stays on the GPU: decode + top-k and NMS there, only the compact results come back, in
            // collect()
            slot.head = std::move(head);
            decode_.num_candidates = static_cast<int>(slot.head.floats / (static_cast<std::size_t>(batch) * fields));
            decode_nms_on_device(slot, slot.head.data);
            return t;
        }
        const std::span<const float> out = head.host();
        if (!slot.pending.empty()) finish_on_device(slot, false); // the luma sums (the engine already waited)
        decode_.num_candidates = static_cast<int>(out.size() / (static_cast<std::size_t>(batch) * fields));
        kernels::decode_cpu(out.data(), batch, decode_, slot.candidates.data(), slot.counts.data());
        kernels::nms_cpu(slot.candidates.data(), slot.counts.data(), batch, decode_.top_k, nms_, slot.keep.data(),
                         slot.keep_counts.data());
    } catch (...) {
        try { // nothing of this batch may still run when the slot is reused
            if (slot.stream) slot.stream->synchronize();
        } catch (...) { // the first error is the one to report
        }
        slot.head = {};
        slot.busy = false;
        throw;
    }
    return t;
}

std::vector<FrameResult> Detector::results_of(Slot& slot) const {
    std::vector<FrameResult> results(slot.batch);
    for (int b = 0; b < slot.batch; ++b) {
        auto& r = results[b];
        r.letterbox = slot.lbs[b];
        r.luma = slot.stats[b];
        for (int k = 0; k < slot.keep_counts[b]; ++k) {
            kernels::Candidate c =
                slot.candidates[static_cast<std::size_t>(b) * decode_.top_k + slot.keep[b * nms_.max_det + k]];
            const bool detection = c.score >= confidence_;
            if (detection && static_cast<int>(r.detections.size()) >= max_det_) continue;
            kernels::to_frame(c, slot.lbs[b], slot.widths[b], slot.heights[b]);
            (detection ? r.detections : r.candidates)
                .push_back({c.x1, c.y1, c.x2, c.y2, c.score, c.cls, c.margin, c.entropy});
        }
    }
    return results;
}

bool Detector::running(Ticket ticket) const {
    return ticket >= 0 && ticket < kDepth && slots_[ticket]->busy && slots_[ticket]->device_results;
}

std::vector<FrameResult> Detector::collect(Ticket ticket) {
    if (ticket < 0 || ticket >= kDepth || !slots_[ticket]->busy)
        throw Error(ErrorCode::kBadInput, "detector: collect() of a ticket not in flight");
    Slot& slot = *slots_[ticket];
    struct Release { // the slot is free again whatever happens below
        Slot& s;
        ~Release() { s.head = {}, s.busy = false; }
    } release{slot};
    if (slot.device_results) finish_on_device(slot, true);
    return results_of(slot);
}

std::vector<FrameResult> Detector::detect(std::span<const kernels::ImageView> frames) {
    return collect(submit(frames));
}

} // namespace sightline::pipeline
