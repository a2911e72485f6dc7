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

    /// Whether the device path replays decode + NMS as a CUDA graph (default on; off launches the kernels one by
    /// one: for comparison and diagnosis).
    void set_cuda_graphs(bool on) { use_graphs_ = on; }
    /// How many times the device path captured its decode + NMS graph (once per batch size in a steady line).
    int graph_captures() const { return graph_.captures(); }

  private:
    /// The device path's one block of compact results, copied back in one piece per batch: the frames' luma sums,
    /// then the int results (candidate counts, keep counts, kept positions), then the candidates.
    struct ResultsLayout {
        std::size_t ints = 0, candidates = 0, total = 0;
    };
    ResultsLayout layout(int batch) const;

    /// The batch's input tensor and letterboxes; luma statistics of host frames. Frames in device memory are
    /// preprocessed on stream_ (their statistics stay on the device as sums, pending). Returns true when the tensor
    /// is left in d_input_ for an engine that reads device memory, false when it is in input_ (host).
    bool preprocess(std::span<const kernels::ImageView> frames, std::vector<kernels::Letterbox>& lbs,
                    std::vector<kernels::LumaStats>& stats);
    /// Head decode + top-k and NMS on the GPU over a device head (the engine's output), enqueued on stream_ (as a
    /// CUDA graph where on).
    void decode_nms_on_device(const float* d_head, int batch);
    /// Copies the results block back (all of it, or only the luma sums), waits for stream_, and fills the pending
    /// statistics and, with `results`, candidates_, counts_, keep_, keep_counts_.
    void finish_on_device(int batch, bool results, const std::vector<kernels::Letterbox>& lbs,
                          std::vector<kernels::LumaStats>& stats);

    std::unique_ptr<Engine> engine_;
    kernels::DecodeParams decode_;
    kernels::NmsParams nms_;
    std::vector<float> input_;

    std::unique_ptr<kernels::Stream> stream_;     ///< the device path's stream, made at its first batch
    kernels::DeviceBuffer d_input_, d_workspace_; ///< the device path's tensor; decode and NMS workspace
    kernels::DeviceBuffer d_results_;             ///< ResultsLayout
    kernels::PinnedBuffer h_results_;             ///< its host copy
    kernels::GraphCache graph_;
    bool use_graphs_ = true;
    std::vector<std::size_t> pending_; ///< batch slots whose statistics are luma sums still on the device
    bool said_copy_ = false;
    std::vector<kernels::Candidate> candidates_;
    std::vector<int> counts_, keep_, keep_counts_;
};

} // namespace sightline::pipeline
