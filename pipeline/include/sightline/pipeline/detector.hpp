#pragma once
/// The compute path for a batch of frames: preprocess -> engine -> head decode -> NMS -> frame pixels.
#include <memory>
#include <span>
#include <vector>

#include "sightline/kernels/device.hpp"
#include "sightline/kernels/nms.hpp"
#include "sightline/kernels/preprocess.hpp"
#include "sightline/kernels/views.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

struct Detection {
    float x1, y1, x2, y2; ///< frame pixels, clipped to the frame
    float score;
    int cls;
    float margin;  ///< best minus second-best class score
    float entropy; ///< normalised entropy of the class scores
};

struct FrameResult {
    std::vector<Detection> detections; ///< best first
    kernels::Letterbox letterbox;
    kernels::LumaStats luma;
};

class Detector {
  public:
    /// `confidence`/`iou`/`max_det` default to the model's thresholds when negative.
    Detector(std::unique_ptr<Engine> engine, float confidence = -1, float iou = -1, int max_det = -1);
    /// Runs one batch through one forward pass. Frames in device memory (NVDEC) are preprocessed by the CUDA kernel
    /// where they lie; an engine on the same GPU (LibTorch with CUDA) reads the tensor there and leaves its head
    /// there for the CUDA decode + top-k and NMS (only the compact results come back); any other engine gets the
    /// tensor in host memory (one device-to-host copy per batch). Which of the two, said once in the log. Host
    /// frames go through the CPU twin and the CPU decode and NMS.
    std::vector<FrameResult> detect(std::span<const kernels::ImageView> frames);
    const ModelSpec& spec() const { return engine_->spec(); }
    const Engine& engine() const { return *engine_; }

  private:
    /// The batch's input tensor, letterboxes and luma statistics. Returns true when the tensor is left in
    /// d_input_ for an engine that reads device memory, false when it is in input_ (host).
    bool preprocess(std::span<const kernels::ImageView> frames, std::vector<kernels::Letterbox>& lbs,
                    std::vector<kernels::LumaStats>& stats);

    std::unique_ptr<Engine> engine_;
    kernels::DecodeParams decode_;
    kernels::NmsParams nms_;
    std::vector<float> input_;
    /// Head decode + top-k and NMS on the GPU over a device head (the engine's output), compact results copied
    /// into candidates_, counts_, keep_, keep_counts_.
    void decode_nms_on_device(const float* d_head, int batch);

    kernels::DeviceBuffer d_input_, d_workspace_;   ///< the device path's tensor and kernels' workspace
    kernels::DeviceBuffer d_candidates_, d_counts_; ///< decode output; counts, keep counts and kept positions
    bool said_copy_ = false;
    std::vector<kernels::Candidate> candidates_;
    std::vector<int> counts_, keep_, keep_counts_;
};

} // namespace sightline::pipeline
