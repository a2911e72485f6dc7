#include "sightline/pipeline/detector.hpp"

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
            spdlog::info("detector: preprocess on the GPU ({}); the engine ({}) reads the tensor in device memory",
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
    const int fields = head_fields(m);
    decode_.num_candidates = static_cast<int>(out->size() / (static_cast<std::size_t>(batch) * fields));
    candidates_.resize(static_cast<std::size_t>(batch) * decode_.top_k);
    counts_.resize(batch);
    kernels::decode_cpu(out->data(), batch, decode_, candidates_.data(), counts_.data());
    keep_.resize(static_cast<std::size_t>(batch) * nms_.max_det);
    keep_counts_.resize(batch);
    kernels::nms_cpu(candidates_.data(), counts_.data(), batch, decode_.top_k, nms_, keep_.data(), keep_counts_.data());
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
