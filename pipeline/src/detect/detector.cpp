#include "sightline/pipeline/detector.hpp"

#include <algorithm>
#include <cstdint>

#include <spdlog/spdlog.h>

#include "sightline/error.hpp"
#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/nms.hpp"

namespace sightline::pipeline {

Detector::Detector(std::unique_ptr<Engine> engine, float confidence, float iou, int max_det)
    : engine_(std::move(engine)) {
    const ModelSpec& m = engine_->spec();
    decode_.layout = m.layout;
    decode_.reg_max = m.reg_max;
    decode_.input_width = m.preprocess.input_width, decode_.input_height = m.preprocess.input_height;
    decode_.num_classes = static_cast<int>(m.classes.size());
    decode_.confidence_threshold = confidence >= 0 ? confidence : m.confidence;
    decode_.top_k = 300;
    nms_.iou_threshold = iou >= 0 ? iou : m.iou;
    nms_.max_det = max_det > 0 ? max_det : m.max_det;
}

Detector::ResultsLayout Detector::layout(int batch) const {
    const auto align = [](std::size_t x) { return (x + 255) / 256 * 256; };
    ResultsLayout l;
    l.ints = align(kernels::preprocess_cuda_workspace_bytes(batch)); // the luma sums first
    const std::size_t ints = 2 * static_cast<std::size_t>(batch) + static_cast<std::size_t>(batch) * nms_.max_det;
    l.candidates = align(l.ints + ints * sizeof(int));
    l.total = l.candidates + static_cast<std::size_t>(batch) * decode_.top_k * sizeof(kernels::Candidate);
    return l;
}

bool Detector::preprocess(std::span<const kernels::ImageView> frames, std::vector<kernels::Letterbox>& lbs,
                          std::vector<kernels::LumaStats>& stats) {
    const ModelSpec& m = engine_->spec();
    pending_.clear();
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i].where == kernels::MemoryLocation::kDevice) pending_.push_back(i);
    if (pending_.empty()) {
        kernels::preprocess_cpu(frames, m.preprocess, input_.data(), lbs.data(), stats.data());
        return false;
    }
    const std::size_t per = 3ull * m.preprocess.input_width * m.preprocess.input_height;
    if (pending_.size() < frames.size()) // a mixed batch: the host frames one by one into their slots
        for (std::size_t i = 0; i < frames.size(); ++i)
            if (frames[i].where == kernels::MemoryLocation::kHost)
                kernels::preprocess_cpu(frames.subspan(i, 1), m.preprocess, input_.data() + i * per, &lbs[i],
                                        &stats[i]);
    if (!stream_) stream_ = std::make_unique<kernels::Stream>();
    std::vector<kernels::ImageView> views;
    for (const std::size_t i : pending_) views.push_back(frames[i]);
    const std::size_t frame_bytes = kernels::preprocess_frame_bytes(m.preprocess);
    const ResultsLayout l = layout(static_cast<int>(frames.size()));
    d_input_.reserve(frame_bytes * views.size());
    d_results_.reserve(l.total);
    h_results_.reserve(l.total);
    std::vector<kernels::Letterbox> dl(views.size());
    kernels::preprocess_cuda_async(views, m.preprocess, d_input_.data(), dl.data(), d_results_.data(), stream_->get());
    for (std::size_t k = 0; k < pending_.size(); ++k) lbs[pending_[k]] = dl[k];
    const bool stays = pending_.size() == frames.size() && engine_->reads_device();
    if (!said_copy_) {
        if (stays)
            spdlog::info("detector: preprocess on the GPU ({}) on a stream of its own; the engine ({}) reads the "
                         "tensor in device memory on that stream (and, where it leaves its head there, decode + NMS "
                         "run on the GPU as a {}; one copy of the compact results per batch, into pinned memory)",
                         kernels::describe_device(), engine_->describe(),
                         use_graphs_ ? "CUDA graph" : "series of kernel launches");
        else
            spdlog::info("detector: preprocess on the GPU ({}); the engine ({}) reads host memory: one "
                         "device-to-host copy of the input tensor per batch",
                         kernels::describe_device(), engine_->describe());
        said_copy_ = true;
    }
    if (stays) return true;
    const auto* d_in = static_cast<const std::uint8_t*>(d_input_.data());
    if (pending_.size() == frames.size()) {
        kernels::copy_device_to_host_async(input_.data(), d_in, frame_bytes * views.size(), stream_->get());
    } else {
        for (std::size_t k = 0; k < pending_.size(); ++k)
            kernels::copy_device_to_host_async(input_.data() + pending_[k] * per, d_in + k * frame_bytes, frame_bytes,
                                               stream_->get());
    }
    finish_on_device(static_cast<int>(frames.size()), false, lbs, stats);
    return false;
}

void Detector::decode_nms_on_device(const float* d_head, int batch) {
    const ResultsLayout l = layout(batch);
    d_results_.reserve(l.total);
    h_results_.reserve(l.total);
    const std::size_t ws = std::max(kernels::decode_cuda_workspace_bytes(batch, decode_),
                                    kernels::nms_cuda_workspace_bytes(batch, decode_.top_k));
    d_workspace_.reserve(ws);
    auto* base = static_cast<std::uint8_t*>(d_results_.data());
    auto* counts = reinterpret_cast<int*>(base + l.ints);
    int* keep_counts = counts + batch;
    int* keep = keep_counts + batch;
    auto* cands = reinterpret_cast<kernels::Candidate*>(base + l.candidates);
    void* work = d_workspace_.data();
    const std::size_t work_bytes = d_workspace_.size();
    const kernels::DecodeParams decode = decode_;
    auto record = [=, this](kernels::StreamRef s) {
        kernels::decode_cuda(d_head, batch, decode, cands, counts, work, work_bytes, s);
        kernels::nms_cuda(cands, counts, batch, decode.top_k, nms_, keep, keep_counts, work, work_bytes, s);
    };
    if (use_graphs_) // everything the launches depend on is in the key: a steady line replays one graph
        graph_.run({reinterpret_cast<std::uintptr_t>(d_head), static_cast<std::uint64_t>(batch),
                    static_cast<std::uint64_t>(decode.num_candidates), reinterpret_cast<std::uintptr_t>(work),
                    work_bytes, reinterpret_cast<std::uintptr_t>(base)},
                   stream_->get(), record);
    else
        record(stream_->get());
}

void Detector::finish_on_device(int batch, bool results, const std::vector<kernels::Letterbox>& lbs,
                                std::vector<kernels::LumaStats>& stats) {
    const ResultsLayout l = layout(batch);
    kernels::copy_device_to_host_async(h_results_.data(), d_results_.data(), results ? l.total : l.ints,
                                       stream_->get());
    stream_->synchronize();
    const auto* base = static_cast<const std::uint8_t*>(h_results_.data());
    const auto* sums = reinterpret_cast<const kernels::LumaSums*>(base);
    // the letterboxes were filled by the preprocess; the sums are in the order of the device frames
    for (std::size_t k = 0; k < pending_.size(); ++k)
        stats[pending_[k]] = kernels::luma_stats(sums[k], lbs[pending_[k]]);
    pending_.clear();
    if (!results) return;
    const auto* ints = reinterpret_cast<const int*>(base + l.ints);
    std::copy_n(ints, batch, counts_.begin());
    std::copy_n(ints + batch, batch, keep_counts_.begin());
    std::copy_n(ints + 2 * batch, keep_.size(), keep_.begin());
    std::copy_n(reinterpret_cast<const kernels::Candidate*>(base + l.candidates), candidates_.size(),
                candidates_.begin());
}

std::vector<FrameResult> Detector::detect(std::span<const kernels::ImageView> frames) {
    const ModelSpec& m = engine_->spec();
    const int batch = static_cast<int>(frames.size());
    std::vector<FrameResult> results(batch);
    if (batch == 0) return results;
    const std::size_t per = 3ull * m.preprocess.input_width * m.preprocess.input_height;
    input_.resize(per * batch);
    std::vector<kernels::Letterbox> lbs(batch);
    std::vector<kernels::LumaStats> stats(batch);
    const bool device_input = preprocess(frames, lbs, stats);
    auto infer = [&](std::size_t first, int n) -> const std::vector<float>& {
        return device_input
                   ? engine_->infer_device(static_cast<const float*>(d_input_.data()) + first * per, n, stream_->get())
                   : engine_->infer(input_.data() + first * per, n);
    };
    const int fields = head_fields(m);
    std::size_t head_floats = 0;
    const float* d_head =
        device_input && (m.dynamic_batch || batch == 1)
            ? engine_->infer_device_head(static_cast<const float*>(d_input_.data()), batch, head_floats, stream_->get())
            : nullptr;
    candidates_.resize(static_cast<std::size_t>(batch) * decode_.top_k);
    counts_.resize(batch);
    keep_.resize(static_cast<std::size_t>(batch) * nms_.max_det);
    keep_counts_.resize(batch);
    if (d_head) {
        // the head stays on the GPU: decode + top-k and NMS there, only the compact results come back
        decode_.num_candidates = static_cast<int>(head_floats / (static_cast<std::size_t>(batch) * fields));
        decode_nms_on_device(d_head, batch);
        finish_on_device(batch, true, lbs, stats);
    } else {
        std::vector<float> head;
        const std::vector<float>* out = nullptr;
        if (m.dynamic_batch || batch == 1) {
            out = &infer(0, batch);
        } else { // a fixed-batch-1 export: one forward pass per frame
            for (int b = 0; b < batch; ++b) {
                const auto& o = infer(b, 1);
                head.insert(head.end(), o.begin(), o.end());
            }
            out = &head;
        }
        if (device_input) finish_on_device(batch, false, lbs, stats); // the luma sums (the engine already waited)
        decode_.num_candidates = static_cast<int>(out->size() / (static_cast<std::size_t>(batch) * fields));
        kernels::decode_cpu(out->data(), batch, decode_, candidates_.data(), counts_.data());
        kernels::nms_cpu(candidates_.data(), counts_.data(), batch, decode_.top_k, nms_, keep_.data(),
                         keep_counts_.data());
    }
    for (int b = 0; b < batch; ++b) {
        auto& r = results[b];
        r.letterbox = lbs[b];
        r.luma = stats[b];
        for (int k = 0; k < keep_counts_[b]; ++k) {
            kernels::Candidate c =
                candidates_[static_cast<std::size_t>(b) * decode_.top_k + keep_[b * nms_.max_det + k]];
            kernels::to_frame(c, lbs[b], frames[b].width, frames[b].height);
            r.detections.push_back({c.x1, c.y1, c.x2, c.y2, c.score, c.cls, c.margin, c.entropy});
        }
    }
    return results;
}

} // namespace sightline::pipeline
