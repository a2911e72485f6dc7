// The OpenVINO engine: the ONNX export compiled by OpenVINO's CPU plugin (its PyPI wheel ships the C++ runtime,
// headers and CMake package; scripts/setup.sh installs it into .cache/openvino-venv). Built as a module of its own
// (libsightline_openvino.so) where the OpenVINO CMake package is found, and loaded only by a process that runs it
// (openvino_loader.cpp).
//
// Tuning, for how the line calls an engine (one synchronous batch at a time, the detector's thread waiting): the
// throughput hint (the CPU plugin's parallel streams, each a few threads of its own; on 2 cores 2 streams of one
// thread) with a batch split across as many requests in flight, so the cores never wait for each other inside one
// inference (the latency hint runs every layer over all the cores: 7.0 ms CPU per frame for the Ultralytics
// fixture on 2 cores against 5.7 this way, bench/README.md); a lone frame runs on one stream. The model's own
// precision (f32: the CPU plugin would pick bf16 on AMX or AVX-512 BF16 machines, which moves scores by 1e-2), the
// batch dimension left dynamic (one compiled model for every batch size the detector forms; a fixed-batch-1
// export takes a batch frame by frame, on the requests side by side), and the thread count when the run config
// sets one. Each frame's head is the same whichever request and sub-batch computed it (tested).
#include <openvino/frontend/manager.hpp>
#include <openvino/openvino.hpp>

#include <algorithm>
#include <vector>

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
            ov::AnyMap config{ov::hint::performance_mode(ov::hint::PerformanceMode::THROUGHPUT),
                              ov::hint::inference_precision(ov::element::f32)};
            if (threads > 0) config.emplace(ov::inference_num_threads(threads));
            compiled_ = core_.compile_model(model, "CPU", config);
            const auto n = std::max<std::uint32_t>(1, compiled_.get_property(ov::optimal_number_of_infer_requests));
            for (std::uint32_t i = 0; i < n; ++i) requests_.push_back(compiled_.create_infer_request());
        } catch (const std::exception& e) {
            throw Error(ErrorCode::kBadInput, spec.onnx_path.string() + ": OpenVINO cannot compile this model for " +
                                                  std::to_string(p.input_width) + "x" + std::to_string(p.input_height) +
                                                  " input: " + std::string(e.what()).substr(0, 400));
        }
        const auto v = ov::get_openvino_version();
        where_ = "OpenVINO " + std::string(v.buildNumber) + " on CPU (throughput hint, f32, " +
                 std::to_string(compiled_.get_property(ov::num_streams).num) + " streams, " +
                 std::to_string(compiled_.get_property(ov::inference_num_threads)) + " threads, " +
                 std::to_string(requests_.size()) + " requests)";
    }

    const ModelSpec& spec() const override { return spec_; }
    bool batches_fixed_export() const override { return true; }
    std::string describe() const override { return where_; }

  protected:
    Head run(const TensorView& input, int batch, kernels::StreamRef, kernels::MemoryLocation) override {
        const auto& p = spec_.preprocess;
        const std::size_t per = 3ull * p.input_height * p.input_width;
        // sub-batches: one per request (as even as they come), or single frames for a fixed-batch-1 export
        const int requests = static_cast<int>(requests_.size());
        const int chunk = spec_.dynamic_batch ? (batch + requests - 1) / requests : 1;
        const int chunks = (batch + chunk - 1) / chunk;
        std::size_t head_per_frame = 0;
        try {
            for (int round = 0; round < chunks; round += requests) {
                const int last = std::min(chunks, round + requests);
                for (int c = round; c < last; ++c) {
                    const int first = c * chunk, n = std::min(chunk, batch - first);
                    // the caller's tensor as it is (no copy): it stays valid until run() returns
                    requests_[c - round].set_input_tensor(
                        ov::Tensor(ov::element::f32,
                                   ov::Shape{static_cast<std::size_t>(n), 3, static_cast<std::size_t>(p.input_height),
                                             static_cast<std::size_t>(p.input_width)},
                                   const_cast<float*>(input.data) + first * per));
                    requests_[c - round].start_async();
                }
                for (int c = round; c < last; ++c) {
                    auto& r = requests_[c - round];
                    r.wait();
                    const int first = c * chunk, n = std::min(chunk, batch - first);
                    ov::Tensor out = r.get_output_tensor();
                    const ov::Shape& s = out.get_shape();
                    check_head_shape(spec_, spec_.onnx_path, static_cast<int>(s.size()),
                                     s.empty() ? 0 : std::int64_t(s[0]), s.size() > 1 ? std::int64_t(s[1]) : 0,
                                     s.size() > 2 ? std::int64_t(s[2]) : 0, n);
                    if (chunks == 1) { // the request's own tensor, held until the next run
                        out_ = out;
                        return {out_.data<const float>(), out_.get_size(), kernels::MemoryLocation::kHost, nullptr};
                    }
                    if (head_per_frame == 0) {
                        head_per_frame = out.get_size() / n;
                        joined_.resize(head_per_frame * batch);
                    }
                    std::copy_n(out.data<const float>(), out.get_size(), joined_.data() + first * head_per_frame);
                }
            }
        } catch (...) {
            for (auto& r : requests_) { // none may still read the caller's input once run() has returned
                try {
                    r.wait();
                } catch (...) { // the first error is the one to report
                }
            }
            try {
                throw;
            } catch (const Error&) {
                throw;
            } catch (const std::exception& e) {
                throw Error(ErrorCode::kBadInput, spec_.onnx_path.string() + ": OpenVINO inference failed: " +
                                                      std::string(e.what()).substr(0, 400));
            }
        }
        return {joined_.data(), joined_.size(), kernels::MemoryLocation::kHost, nullptr};
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
    std::vector<ov::InferRequest> requests_; ///< as many as the plugin's streams want in flight
    ov::Tensor out_;                         ///< the last head when one request computed it, held until the next run
    std::vector<float> joined_;              ///< the last head when several did, in frame order
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
