#pragma once
/// A detector as model.yaml describes it, and the Engine interface that runs it.
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/preprocess.hpp"
#include "sightline/kernels/views.hpp"

namespace sightline::pipeline {

struct ModelSpec {
    std::filesystem::path yaml_path;
    std::filesystem::path onnx_path; ///< `file:` resolved against the YAML's directory
    /// `torchscript:` (the same network for LibTorch), empty when absent; only the LibTorch engine needs the file
    std::filesystem::path torchscript_path;
    std::string name;
    std::string version;
    kernels::PreprocessParams preprocess; ///< input size, colour order, scale/mean/std, pad value
    bool dynamic_batch = true;
    kernels::HeadLayout layout = kernels::HeadLayout::kYoloV8;
    /// `output.cut`: read the ONNX graph only up to this tensor (an Ultralytics export's raw head concat, for the
    /// yolov8_dfl layout); empty: the whole graph
    std::string cut;
    int reg_max = 16;   ///< `output.reg_max`: DFL bins per box side (yolov8_dfl)
    int candidates = 0; ///< N, 0 when not given (then taken from the first forward pass)
    std::vector<std::string> classes;
    float confidence = 0.25f;
    float iou = 0.6f;
    int max_det = 100;
    /// `lineage:` (tools/train/finetune.py writes it): where this version came from; its `parent` ("name@version",
    /// empty when absent). The rest of the block (data, recipe, held-out figures) is the file's to show, not read.
    std::string parent;
};

/// Reads and validates model.yaml. Throws Error(kBadInput) naming the file and key path for an unknown key, a
/// wrong type or a bad value; Error(kNotFound) when the YAML or the model file it names is missing.
ModelSpec load_model_spec(const std::filesystem::path& yaml_path);

/// Values per candidate in the head tensor: 4 box values (+ objectness for yolov5) + one per class.
int head_fields(const ModelSpec& spec);

/// Checks an engine's output shape [d0, d1, d2] against the spec (batch, layout, classes); Error(kBadInput) naming
/// `file` and the shape otherwise.
void check_head_shape(const ModelSpec& spec, const std::filesystem::path& file, int dims, std::int64_t d0,
                      std::int64_t d1, std::int64_t d2, int batch);

/// A tensor: `floats` values at `data`, and where that memory is.
struct TensorView {
    const float* data = nullptr;
    std::size_t floats = 0;
    kernels::MemoryLocation where = kernels::MemoryLocation::kHost;
};

/// An engine's raw head tensor: `floats` values at `data`, where that memory is. Host memory stays valid until the
/// engine's next infer(); device memory while `keep` is held.
struct Head {
    const float* data = nullptr;
    std::size_t floats = 0;
    kernels::MemoryLocation where = kernels::MemoryLocation::kHost;
    std::shared_ptr<const void> keep;
    /// The values, for a head in host memory (SL_ASSERT otherwise).
    std::span<const float> host() const;
};

/// Runs a model on a batch of preprocessed inputs and gives its raw head tensor. One entry point, infer(); an
/// engine implements run() and says which input memory it reads.
class Engine {
  public:
    virtual ~Engine() = default;
    /// `input`: batch * 3 * H * W floats (NCHW float32), in host memory, or in device memory when
    /// reads(kDevice), written by work enqueued on `stream` (a CUDA stream; null: the legacy default stream): the
    /// engine's own work is enqueued after it on that stream. `head_where`: where the caller takes the head; kDevice
    /// asks for it left in device memory (written on `stream`, held by Head::keep), which an engine that cannot
    /// answers with a head in host memory. Returns batch * fields * N floats in the layout of the spec. A fixed-batch-1
    /// export (spec().dynamic_batch false) given several frames runs them one pass each, their heads joined in host
    /// memory, unless the engine batches such an export itself (batches_fixed_export()). Throws Error(kUnsupported)
    /// for input in memory the engine does not read, Error(kBadInput) for a wrong size.
    Head infer(const TensorView& input, int batch, kernels::StreamRef stream = nullptr,
               kernels::MemoryLocation head_where = kernels::MemoryLocation::kHost);
    /// Whether infer() takes input in `where`: host memory always; device memory when the engine runs on the GPU
    /// the kernels use.
    virtual bool reads(kernels::MemoryLocation where) const { return where == kernels::MemoryLocation::kHost; }
    virtual const ModelSpec& spec() const = 0;
    /// Whether run() takes a batch of several frames also for a fixed-batch-1 export (spec().dynamic_batch false),
    /// running its frames itself (side by side); otherwise infer() passes such an export one frame a run().
    virtual bool batches_fixed_export() const { return false; }
    /// One line: the backend and the device it runs on.
    virtual std::string describe() const = 0;

  protected:
    /// infer() once the input is checked: in memory reads() accepts, of the size the spec and batch give.
    virtual Head run(const TensorView& input, int batch, kernels::StreamRef stream,
                     kernels::MemoryLocation head_where) = 0;

  private:
    std::vector<float> joined_; ///< a fixed-batch-1 export's heads, frame by frame (valid until the next infer())
};

/// OpenCV DNN (ONNX): the CUDA backend when this OpenCV has one and a GPU exists, else the CPU.
/// Throws Error(kBadInput) naming the file when OpenCV cannot read the model.
std::unique_ptr<Engine> make_opencv_engine(const ModelSpec& spec, int threads = 0);

/// Whether this build has the LibTorch engine (the Torch CMake package was found: Debian's libtorch-dev, or
/// PyTorch's own on a GPU machine).
bool libtorch_available();

/// LibTorch (TorchScript, `torchscript:` in model.yaml): on the GPU when this LibTorch has CUDA and a GPU exists,
/// else the CPU. Takes the same input and gives the same head tensor as the ONNX model. Throws Error(kUnsupported)
/// in a build without LibTorch, Error(kBadInput) naming the file when it cannot be loaded or the model has none.
std::unique_ptr<Engine> make_libtorch_engine(const ModelSpec& spec, int threads = 0);

/// Whether this build has the OpenVINO engine (the OpenVINO CMake package was found: the `openvino` wheel's) and its
/// module loads.
bool openvino_available();

/// OpenVINO's CPU plugin (ONNX, `file:`): the latency hint, f32, a dynamic batch. Takes the same input and gives the
/// same head tensor as OpenCV DNN. Throws Error(kUnsupported) in a build without it, Error(kBadInput) naming the file
/// when OpenVINO cannot read or compile the model.
std::unique_ptr<Engine> make_openvino_engine(const ModelSpec& spec, int threads = 0);

/// Whether LibTorch on CUDA may use TF32 (tensor-float-32) for cuDNN convolutions and cuBLAS matmuls: on by default
/// (LibTorch's own default for convolutions; faster on Ampere and later, about 1e-3 relative from fp32). The parity
/// tests turn it off to hold the GPU engine to PyTorch's fp32 output at 1e-4. No effect without LibTorch or CUDA.
void set_libtorch_tf32(bool allow);

/// The engine by name: "opencv" (ONNX through OpenCV DNN), "openvino" (ONNX through OpenVINO), "libtorch"
/// (TorchScript), or "auto" (OpenVINO where this build has it, else OpenCV DNN). Error(kBadInput) otherwise.
std::unique_ptr<Engine> make_engine(const std::string& name, const ModelSpec& spec, int threads = 0);

} // namespace sightline::pipeline
