#include "sightline/pipeline/detector.hpp"

#include <algorithm>

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

bool Detector::preprocess(std::span<const kernels::ImageView> frames, std::vector<kernels::Letterbox>& lbs,
                          std::vector<kernels::LumaStats>& stats) {
    const ModelSpec& m = engine_->spec();
    std::vector<std::size_t> on_device;
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i].where == kernels::MemoryLocation::kDevice) on_device.push_back(i);
    if (on_device.empty()) {
        kernels::preprocess_cpu(frames, m.preprocess, input_.data(), lbs.data(), stats.data());
        return false;
    }
    const std::size_t per = 3ull * m.preprocess.input_width * m.preprocess.input_height;
    if (on_device.size() < frames.size()) // a mixed batch: the host frames one by one into their slots
        for (std::size_t i = 0; i < frames.size(); ++i)
            if (frames[i].where == kernels::MemoryLocation::kHost)
                kernels::preprocess_cpu(frames.subspan(i, 1), m.preprocess, input_.data() + i * per, &lbs[i],
                                        &stats[i]);
    std::vector<kernels::ImageView> views;
    for (const std::size_t i : on_device) views.push_back(frames[i]);
    const std::size_t frame_bytes = kernels::preprocess_frame_bytes(m.preprocess);
    d_input_.reserve(frame_bytes * views.size());
    d_workspace_.reserve(kernels::preprocess_cuda_workspace_bytes(views.size()));
    std::vector<kernels::Letterbox> dl(views.size());
    std::vector<kernels::LumaStats> ds(views.size());
    kernels::preprocess_cuda(views, m.preprocess, d_input_.data(), dl.data(), ds.data(), d_workspace_.data(), nullptr);
    for (std::size_t k = 0; k < on_device.size(); ++k) lbs[on_device[k]] = dl[k], stats[on_device[k]] = ds[k];
    const bool stays = on_device.size() == frames.size() && engine_->reads_device();
    if (!said_copy_) {
        if (stays)
            spdlog::info("detector: preprocess on the GPU ({}); the engine ({}) reads the tensor in device memory "
                         "(and, where it leaves its head there, decode + NMS run on the GPU)",
                         kernels::describe_device(), engine_->describe());
        else
            spdlog::info("detector: preprocess on the GPU ({}); the engine ({}) reads host memory: one "
                         "device-to-host copy of the input tensor per batch",
                         kernels::describe_device(), engine_->describe());
        said_copy_ = true;
    }
    if (stays) return true;
    if (on_device.size() == frames.size()) {
        kernels::copy_device_to_host(input_.data(), d_input_.data(), frame_bytes * views.size());
    } else {
        for (std::size_t k = 0; k < on_device.size(); ++k)
            kernels::copy_device_to_host(input_.data() + on_device[k] * per,
                                         static_cast<const std::uint8_t*>(d_input_.data()) + k * frame_bytes,
                                         frame_bytes);
    }
    return false;
}

void Detector::decode_nms_on_device(const float* d_head, int batch) {
    const std::size_t slots = static_cast<std::size_t>(batch) * decode_.top_k;
    const std::size_t keeps = static_cast<std::size_t>(batch) * nms_.max_det;
    d_candidates_.reserve(slots * sizeof(kernels::Candidate));
    d_counts_.reserve(batch * sizeof(int) * 2 + keeps * sizeof(int));
    const std::size_t ws = std::max(kernels::decode_cuda_workspace_bytes(batch, decode_),
                                    kernels::nms_cuda_workspace_bytes(batch, decode_.top_k));
    d_workspace_.reserve(ws);
    auto* counts = static_cast<int*>(d_counts_.data());
    int* keep_counts = counts + batch;
    int* keep = keep_counts + batch; // keep_counts and keep are read back with counts, below
    auto* cands = static_cast<kernels::Candidate*>(d_candidates_.data());
    // both on the legacy default stream, after the engine's work on it; the copies below wait for them
    kernels::decode_cuda(d_head, batch, decode_, cands, counts, d_workspace_.data(), d_workspace_.size(), nullptr);
    kernels::nms_cuda(cands, counts, batch, decode_.top_k, nms_, keep, keep_counts, d_workspace_.data(),
                      d_workspace_.size(), nullptr);
    // two copies back: the int block (counts, keep counts, kept positions, contiguous) and the candidates
    std::vector<int> ints(2 * static_cast<std::size_t>(batch) + keeps);
    kernels::copy_device_to_host(ints.data(), counts, ints.size() * sizeof(int));
    std::copy_n(ints.begin(), batch, counts_.begin());
    std::copy_n(ints.begin() + batch, batch, keep_counts_.begin());
    std::copy_n(ints.begin() + 2 * batch, keeps, keep_.begin());
    kernels::copy_device_to_host(candidates_.data(), cands, slots * sizeof(kernels::Candidate));
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
        return device_input ? engine_->infer_device(static_cast<const float*>(d_input_.data()) + first * per, n)
                            : engine_->infer(input_.data() + first * per, n);
    };
    const int fields = head_fields(m);
    std::size_t head_floats = 0;
    const float* d_head =
        device_input && (m.dynamic_batch || batch == 1)
            ? engine_->infer_device_head(static_cast<const float*>(d_input_.data()), batch, head_floats)
            : nullptr;
    candidates_.resize(static_cast<std::size_t>(batch) * decode_.top_k);
    counts_.resize(batch);
    keep_.resize(static_cast<std::size_t>(batch) * nms_.max_det);
    keep_counts_.resize(batch);
    if (d_head) {
        // the head stays on the GPU: decode + top-k and NMS there, only the compact results come back
        decode_.num_candidates = static_cast<int>(head_floats / (static_cast<std::size_t>(batch) * fields));
        decode_nms_on_device(d_head, batch);
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
