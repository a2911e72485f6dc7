#pragma once
/// The compute path for a batch of frames: preprocess -> engine -> head decode -> NMS -> frame pixels.
#include <cstdint>
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
    float margin;               ///< best minus second-best class score
    float entropy;              ///< normalised entropy of the class scores
    std::uint32_t flags = 0;    ///< transport::Flag bits, set by the flags stage (pipeline/flags.hpp)
    std::int32_t track_id = -1; ///< the camera's track it belongs to (the flags stage's tracker; -1: none)
};

struct FrameResult {
    std::vector<Detection> detections; ///< best first
    std::vector<Detection> candidates; ///< below the threshold, at or above the candidate floor, best first
    kernels::Letterbox letterbox;
    kernels::LumaStats luma;
};

/// A batch's input tensor made once for several detectors with the same input spec (ModelSet, models.hpp): the
/// tensor (laid out as the spec says), the frames' letterboxes and luma statistics, in frame order. In device memory
/// (`where` kDevice: frames NVDEC decoded, for an engine that reads device memory) the tensor is complete when it is
/// handed over (the stage that made it waited for its stream) and stays valid until the batch is collected.
struct PreparedInput {
    std::span<const float> tensor;
    std::span<const kernels::Letterbox> letterboxes;
    std::span<const kernels::LumaStats> luma;
    kernels::MemoryLocation where = kernels::MemoryLocation::kHost;
};

class Detector {
  public:
    /// `confidence`/`iou`/`max_det` default to the model's thresholds when negative. With a `candidate_floor` below
    /// the threshold (>= 0), up to `max_candidates` of what scores in [floor, threshold) after NMS is kept as
    /// candidates: the decode and NMS run at the floor and the results are split, so the detections are the same
    /// (greedy NMS never lets a lower score suppress a higher one).
    Detector(std::unique_ptr<Engine> engine, float confidence = -1, float iou = -1, int max_det = -1,
             float candidate_floor = -1, int max_candidates = 0);
    float confidence() const { return confidence_; } ///< the operating threshold
    ~Detector();
    Detector(Detector&&) noexcept;

    /// Runs one batch through one forward pass: collect(submit(frames)). Frames in device memory (NVDEC) are
    /// preprocessed by the CUDA kernel where they lie; an engine on the same GPU (LibTorch with CUDA) reads the
    /// tensor there and leaves its head there for the CUDA decode + top-k and NMS (only the compact results come
    /// back, in one copy); any other engine gets the tensor in host memory (one device-to-host copy per batch).
    /// Which of the two, said once in the log. A batch of host frames goes through the CPU twin and the CPU decode
    /// and NMS; in a mixed batch the host frames' CPU-preprocessed tensors join the device ones on the GPU.
    std::vector<FrameResult> detect(std::span<const kernels::ImageView> frames);

    /// A batch in flight: submit() gives it, collect() takes it back.
    using Ticket = int;
    /// Batches that may be in flight at once (each on a slot of its own: a CUDA stream, device and pinned buffers,
    /// a decode + NMS graph), so the GPU works on one while the caller forms the next and publishes the last.
    static constexpr int kDepth = 2;
    /// Starts a batch. On the device path its work is enqueued on its slot's stream and left running; on the host
    /// path it is done here. The frames' memory must stay valid until collect(). Throws Error(kBadInput) when
    /// kDepth batches are already in flight.
    Ticket submit(std::span<const kernels::ImageView> frames);
    /// submit() of frames another stage already preprocessed for this detector's input spec: a host tensor for an
    /// engine that reads host memory, wherever the frames are (with device frames and an engine that reads device
    /// memory, a host tensor is left aside and the batch preprocessed here as by submit(frames)), or a device tensor
    /// of frames all in device memory for an engine that reads device memory (read where it lies; Error(kBadInput)
    /// for an engine that does not).
    Ticket submit(std::span<const kernels::ImageView> frames, const PreparedInput& prepared);
    /// Whether a submitted batch still has work running on the GPU (false: submit() did it all, collect() will not
    /// wait).
    bool running(Ticket ticket) const;
    /// Waits for a submitted batch and returns its results (in frame order). Tickets may be collected in any order.
    std::vector<FrameResult> collect(Ticket ticket);

    const ModelSpec& spec() const { return engine_->spec(); }
    const Engine& engine() const { return *engine_; }

    /// Whether the device path replays decode + NMS as a CUDA graph (default on; off launches the kernels one by
    /// one: for comparison and diagnosis).
    void set_cuda_graphs(bool on) { use_graphs_ = on; }
    /// How many times the device path captured its decode + NMS graphs (once per slot and batch size in a steady
    /// line).
    int graph_captures() const;

  private:
    struct Slot; // one batch in flight: detector.cpp

    /// Where a batch's work runs, decided once per batch from where its frames are and what the engine reads.
    struct Plan {
        bool device_frames = false; ///< some frames are in device memory: the CUDA preprocess runs for them
        kernels::MemoryLocation input = kernels::MemoryLocation::kHost; ///< where the engine reads the tensor
        kernels::MemoryLocation head = kernels::MemoryLocation::kHost;  ///< where the engine is asked to leave its head
    };
    Plan plan_of(std::span<const kernels::ImageView> frames) const;

    /// The batch's input tensor and letterboxes; luma statistics of host frames. Frames in device memory are
    /// preprocessed on the slot's stream (their statistics stay on the device as sums, pending). The tensor is left
    /// in the slot's device buffer when plan.input is kDevice, else in input_ (host).
    void preprocess(Slot& slot, std::span<const kernels::ImageView> frames, const Plan& plan);
    /// The slot's stream and results block (its luma sums, decode and NMS results, and their pinned host copy), made
    /// or grown for its batch: what device work on the slot needs.
    void reserve_device(Slot& slot);
    Ticket submit(std::span<const kernels::ImageView> frames, const PreparedInput* prepared);
    /// Head decode + top-k and NMS on the GPU over a device head (the engine's output), enqueued on the slot's
    /// stream (as a CUDA graph where on), followed by the one copy of the results block to pinned memory.
    void decode_nms_on_device(Slot& slot, const float* d_head);
    /// Copies the results block back (all of it, or only the luma sums), waits for the slot's stream, and fills the
    /// pending statistics and, with `results`, the slot's candidates, counts and kept positions.
    void finish_on_device(Slot& slot, bool results);
    /// The slot's kept candidates in frame pixels, with letterboxes and statistics.
    std::vector<FrameResult> results_of(Slot& slot) const;

    std::unique_ptr<Engine> engine_;
    kernels::DecodeParams decode_;
    kernels::NmsParams nms_;
    float confidence_ = 0;     ///< the operating threshold (decode_ runs at the candidate floor when there is one)
    int max_det_ = 0;          ///< detections kept (nms_.max_det adds room for the candidates)
    std::vector<float> input_; ///< the host path's input tensor (used within submit())
    std::vector<std::unique_ptr<Slot>> slots_;
    int next_slot_ = 0;
    bool use_graphs_ = true;
    bool said_copy_ = false;
};

} // namespace sightline::pipeline
