// The OpenVINO engine: the ONNX export compiled by OpenVINO's CPU plugin (its PyPI wheel ships the C++ runtime,
// headers and CMake package; scripts/setup.sh installs it into .cache/openvino-venv). Built as a module of its own
// (libsightline_openvino.so) where the OpenVINO CMake package is found, and loaded only by a process that runs it
// (openvino_loader.cpp).
//
// Tuning, for how the line calls an engine (one synchronous batch at a time, the detector's thread waiting): the
// latency hint (one request over all the cores; the throughput hint's parallel streams only pay with several requests
// in flight), the model's own precision (f32: the CPU plugin would pick bf16 on AMX or AVX-512 BF16 machines, which
// moves scores by 1e-2), the batch dimension left dynamic (one compiled model for every batch size the detector
// forms), and the thread count when the run config sets one.
#include <openvino/frontend/manager.hpp>
#include <openvino/openvino.hpp>

#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

namespace {

class OpenVinoEngine final : public Engine {
  public:
    OpenVinoEngine(const ModelSpec& spec, int threads) : spec_(spec) {
        if (spec.onnx_path.empty())
            throw Error(ErrorCode::kBadInput, spec.yaml_path.string() +
                                                  ": no file: key (the OpenVINO engine runs an ONNX export; this "
                                                  "model has only torchscript:, for engine: libtorch)");
        std::shared_ptr<ov::Model> model;
        try { // through the ONNX frontend only (read_model would try every frontend on a bad file, each logging)
            ov::frontend::FrontEndManager frontends;
            const auto onnx = frontends.load_by_framework("onnx");
            const auto input = onnx->load(spec.onnx_path.string());
            if (!input) throw std::runtime_error("not an ONNX model");
            model = onnx->convert(input);
        } catch (const std::exception& e) {
            throw Error(ErrorCode::kBadInput, spec.onnx_path.string() + ": OpenVINO cannot read this model: " +
                                                  std::string(e.what()).substr(0, 400));
        }
        if (model->inputs().size() != 1)
            throw Error(ErrorCode::kBadInput, spec.onnx_path.string() + ": " + std::to_string(model->inputs().size()) +
                                                  " inputs (sightline feeds one image tensor)");
        if (!spec.cut.empty()) model = cut(model, spec.cut);
        const auto& p = spec.preprocess;
        try {
            model->reshape(ov::PartialShape{spec.dynamic_batch ? ov::Dimension::dynamic() : ov::Dimension(1), 3,
                                            p.input_height, p.input_width});
            ov::AnyMap config{ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY),
                              ov::hint::inference_precision(ov::element::f32)};
            if (threads > 0) config.emplace(ov::inference_num_threads(threads));
            compiled_ = core_.compile_model(model, "CPU", config);
            request_ = compiled_.create_infer_request();
        } catch (const std::exception& e) {
            throw Error(ErrorCode::kBadInput, spec.onnx_path.string() + ": OpenVINO cannot compile this model for " +
                                                  std::to_string(p.input_width) + "x" + std::to_string(p.input_height) +
                                                  " input: " + std::string(e.what()).substr(0, 400));
        }
        const auto v = ov::get_openvino_version();
        where_ = "OpenVINO " + std::string(v.buildNumber) + " on CPU (latency hint, f32, " +
                 std::to_string(compiled_.get_property(ov::inference_num_threads)) + " threads)";
    }

    const ModelSpec& spec() const override { return spec_; }
    std::string describe() const override { return where_; }

  protected:
    Head run(const TensorView& input, int batch, kernels::StreamRef, kernels::MemoryLocation) override {
        const auto& p = spec_.preprocess;
        const ov::Shape shape{static_cast<std::size_t>(batch), 3, static_cast<std::size_t>(p.input_height),
                              static_cast<std::size_t>(p.input_width)};
        try {
            // the caller's tensor as it is (no copy): it stays valid until run() returns
            request_.set_input_tensor(ov::Tensor(ov::element::f32, shape, const_cast<float*>(input.data)));
            request_.infer();
            out_ = request_.get_output_tensor();
        } catch (const std::exception& e) {
            throw Error(ErrorCode::kBadInput, spec_.onnx_path.string() + ": OpenVINO inference failed: " +
                                                  std::string(e.what()).substr(0, 400));
        }
        const ov::Shape& s = out_.get_shape();
        check_head_shape(spec_, spec_.onnx_path, static_cast<int>(s.size()), s.empty() ? 0 : std::int64_t(s[0]),
                         s.size() > 1 ? std::int64_t(s[1]) : 0, s.size() > 2 ? std::int64_t(s[2]) : 0, batch);
        return {out_.data<const float>(), out_.get_size(), kernels::MemoryLocation::kHost, nullptr};
    }

  private:
    /// The model with tensor `name` as its only output (output.cut: an Ultralytics export's raw head).
    std::shared_ptr<ov::Model> cut(const std::shared_ptr<ov::Model>& model, const std::string& name) const {
        for (const auto& op : model->get_ops())
            for (const auto& out : op->outputs())
                if (out.get_names().count(name))
                    return std::make_shared<ov::Model>(ov::OutputVector{out}, model->get_parameters(), "cut");
        throw Error(ErrorCode::kBadInput,
                    spec_.yaml_path.string() + ": output.cut: no tensor '" + name + "' in " + spec_.onnx_path.string());
    }

    ModelSpec spec_;
    ov::Core core_;
    ov::CompiledModel compiled_;
    ov::InferRequest request_;
    ov::Tensor out_; ///< the last head, held until the next run
    std::string where_;
};

} // namespace

} // namespace sightline::pipeline

// The module's entry point, looked up by name (dlsym) by openvino_loader.cpp.
extern "C" {

/// A new OpenVINO engine for `spec` (the caller owns it); throws sightline::Error as make_openvino_engine documents.
__attribute__((visibility("default"))) sightline::pipeline::Engine*
sightline_openvino_make_engine(const sightline::pipeline::ModelSpec* spec, int threads) {
    return new sightline::pipeline::OpenVinoEngine(*spec, threads);
}

} // extern "C"
