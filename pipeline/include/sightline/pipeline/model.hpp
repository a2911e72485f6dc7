#pragma once
/// A detector as model.yaml describes it, and the Engine interface that runs it.
#include <filesystem>
#include <memory>
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

/// Runs a model on a batch of preprocessed inputs (NCHW float32, host memory) and returns the raw head tensor.
/// An engine's head tensor left in device memory: `floats` values at `data`, valid while `keep` is held.
struct DeviceHead {
    const float* data = nullptr;
    std::size_t floats = 0;
    std::shared_ptr<const void> keep;
};

class Engine {
  public:
    virtual ~Engine() = default;
    /// `input`: batch * 3 * H * W floats. Returns batch * fields * N floats in the layout of the spec.
    virtual const std::vector<float>& infer(const float* input, int batch) = 0;
    /// Whether infer_device() can read a tensor in device memory (the engine runs on the GPU the kernels use).
    virtual bool reads_device() const { return false; }
    /// As infer(), with `d_input` in device memory, written by work enqueued on `stream` (a CUDA stream; null: the
    /// legacy default stream): the engine runs its own work on that stream, after it. Throws Error(kUnsupported)
    /// unless reads_device().
    virtual const std::vector<float>& infer_device(const float* d_input, int batch, kernels::StreamRef stream);
    /// As infer_device(), leaving the head tensor in device memory, written by work enqueued on `stream`; empty
    /// (null data) when this engine cannot (the caller then uses infer_device()).
    virtual DeviceHead infer_device_head(const float*, int, kernels::StreamRef) { return {}; }
    virtual const ModelSpec& spec() const = 0;
    /// One line: the backend and the device it runs on.
    virtual std::string describe() const = 0;
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

/// The engine by name: "opencv" (ONNX through OpenCV DNN) or "libtorch" (TorchScript). Error(kBadInput) otherwise.
std::unique_ptr<Engine> make_engine(const std::string& name, const ModelSpec& spec, int threads = 0);

} // namespace sightline::pipeline
