// The one engine entry point (its checks in one place) and the engines by name.
#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

std::span<const float> Head::host() const {
    SL_ASSERT(where == kernels::MemoryLocation::kHost);
    return {data, floats};
}

Head Engine::infer(const TensorView& input, int batch, kernels::StreamRef stream, kernels::MemoryLocation head_where) {
    if (!reads(input.where))
        throw Error(ErrorCode::kUnsupported, describe() + " reads host memory only (given a tensor in device memory)");
    const auto& p = spec().preprocess;
    const std::size_t want = static_cast<std::size_t>(batch) * 3 * p.input_width * p.input_height;
    if (batch < 1 || input.floats != want)
        throw Error(ErrorCode::kBadInput, describe() + ": an input of " + std::to_string(input.floats) +
                                              " floats for a batch of " + std::to_string(batch) + " (expected " +
                                              std::to_string(want) + ": batch x 3 x " + std::to_string(p.input_height) +
                                              " x " + std::to_string(p.input_width) + ")");
    if (spec().dynamic_batch || batch == 1 || batches_fixed_export()) return run(input, batch, stream, head_where);
    // a fixed-batch-1 export: one pass per frame, the heads joined in host memory
    const std::size_t per = want / static_cast<std::size_t>(batch);
    joined_.clear();
    for (int k = 0; k < batch; ++k) {
        const Head h = run({input.data + static_cast<std::size_t>(k) * per, per, input.where}, 1, stream,
                           kernels::MemoryLocation::kHost);
        const auto v = h.host(); // asked for in host memory
        joined_.insert(joined_.end(), v.begin(), v.end());
    }
    return {joined_.data(), joined_.size(), kernels::MemoryLocation::kHost, {}};
}

std::unique_ptr<Engine> make_engine(const std::string& name, const ModelSpec& spec, int threads) {
    // auto: the fastest CPU engine this build has for an ONNX file (bench/README.md: OpenVINO's line 1.6x OpenCV
    // DNN's on parts-v1), else OpenCV DNN
    if (name == "auto")
        return make_engine(openvino_available() && !spec.onnx_path.empty() ? "openvino" : "opencv", spec, threads);
    if (name == "opencv") return make_opencv_engine(spec, threads);
    if (name == "libtorch") return make_libtorch_engine(spec, threads);
    if (name == "openvino") return make_openvino_engine(spec, threads);
    throw Error(ErrorCode::kBadInput, "engine '" + name + "': expected auto, opencv, openvino or libtorch");
}

} // namespace sightline::pipeline
