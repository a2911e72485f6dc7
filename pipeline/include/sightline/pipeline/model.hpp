#pragma once
/// A detector as model.yaml describes it, and the Engine interface that runs it.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sightline/kernels/decode.hpp"
#include "sightline/kernels/preprocess.hpp"

namespace sightline::pipeline {

struct ModelSpec {
    std::filesystem::path yaml_path;
    std::filesystem::path onnx_path; ///< `file:` resolved against the YAML's directory
    std::string name;
    std::string version;
    kernels::PreprocessParams preprocess; ///< input size, colour order, scale/mean/std, pad value
    bool dynamic_batch = true;
    kernels::HeadLayout layout = kernels::HeadLayout::kYoloV8;
    int candidates = 0; ///< N, 0 when not given (then taken from the first forward pass)
    std::vector<std::string> classes;
    float confidence = 0.25f;
    float iou = 0.6f;
    int max_det = 100;
};

/// Reads and validates model.yaml. Throws Error(kBadInput) naming the file and key path for an unknown key, a
/// wrong type or a bad value; Error(kNotFound) when the YAML or the model file it names is missing.
ModelSpec load_model_spec(const std::filesystem::path& yaml_path);

/// Runs a model on a batch of preprocessed inputs (NCHW float32, host memory) and returns the raw head tensor.
class Engine {
  public:
    virtual ~Engine() = default;
    /// `input`: batch * 3 * H * W floats. Returns batch * fields * N floats in the layout of the spec.
    virtual const std::vector<float>& infer(const float* input, int batch) = 0;
    virtual const ModelSpec& spec() const = 0;
    /// One line: the backend and the device it runs on.
    virtual std::string describe() const = 0;
};

/// OpenCV DNN (ONNX): the CUDA backend when this OpenCV has one and a GPU exists, else the CPU.
/// Throws Error(kBadInput) naming the file when OpenCV cannot read the model.
std::unique_ptr<Engine> make_opencv_engine(const ModelSpec& spec, int threads = 0);

} // namespace sightline::pipeline
