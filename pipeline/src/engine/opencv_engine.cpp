// The OpenCV DNN engine: ONNX through cv::dnn, one forward pass per batch.
#include <spdlog/spdlog.h>

#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include "engine/onnx_cut.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

namespace {

bool opencv_has_cuda_backend() {
    for (const auto& [backend, target] : cv::dnn::getAvailableBackends())
        if (backend == cv::dnn::DNN_BACKEND_CUDA) return true;
    return false;
}

class OpenCvEngine final : public Engine {
  public:
    OpenCvEngine(const ModelSpec& spec, int threads) : spec_(spec) {
        if (spec.onnx_path.empty())
            throw Error(ErrorCode::kBadInput, spec.yaml_path.string() +
                                                  ": no file: key (the OpenCV engine runs an ONNX export; this model "
                                                  "has only torchscript:, for engine: libtorch)");
        if (threads > 0) cv::setNumThreads(threads);
        try {
            if (spec.cut.empty()) {
                net_ = cv::dnn::readNetFromONNX(spec.onnx_path.string());
            } else {
                const std::string cut = cut_onnx(spec.onnx_path, spec.cut);
                net_ = cv::dnn::readNetFromONNX(cut.data(), cut.size());
            }
        } catch (const cv::Exception& e) {
            std::string hint;
            if (spec.cut.empty())
                if (const std::string head = find_ultralytics_raw_head(spec.onnx_path); !head.empty())
                    hint = "; this looks like an unmodified Ultralytics export, whose decoding tail OpenCV " CV_VERSION
                           " cannot run: in " +
                           spec.yaml_path.string() +
                           " set output.layout: yolov8_dfl, output.reg_max: 16 and "
                           "output.cut: '" +
                           head + "' (the raw head; sightline decodes it; docs/model.md)";
            throw Error(ErrorCode::kBadInput,
                        spec.onnx_path.string() + ": OpenCV DNN cannot read this model: " + e.msg + hint);
        }
        if (net_.empty())
            throw Error(ErrorCode::kBadInput, spec.onnx_path.string() + ": OpenCV DNN read an empty network");
        if (opencv_has_cuda_backend() && kernels::cuda_available()) {
            net_.setPreferableBackend(cv::dnn::DNN_BACKEND_CUDA);
            net_.setPreferableTarget(cv::dnn::DNN_TARGET_CUDA);
            where_ = "OpenCV DNN " CV_VERSION " on CUDA";
        } else {
            net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
            net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
            where_ = std::string("OpenCV DNN " CV_VERSION " on CPU (") + std::to_string(cv::getNumThreads()) +
                     " threads" + (opencv_has_cuda_backend() ? ", no GPU)" : ", this OpenCV has no CUDA backend)");
        }
    }

    const ModelSpec& spec() const override { return spec_; }
    std::string describe() const override { return where_; }

  protected:
    Head run(const TensorView& input, int batch, kernels::StreamRef, kernels::MemoryLocation) override {
        const auto& p = spec_.preprocess;
        const int shape[4] = {batch, 3, p.input_height, p.input_width};
        cv::Mat blob(4, shape, CV_32F, const_cast<float*>(input.data));
        cv::Mat out;
        try {
            net_.setInput(blob);
            out = net_.forward();
        } catch (const cv::Exception& e) {
            throw Error(ErrorCode::kBadInput, spec_.onnx_path.string() + ": forward pass failed: " + e.msg);
        }
        if (!out.isContinuous()) out = out.clone();
        check_head_shape(spec_, spec_.onnx_path, out.dims, out.size[0], out.dims > 1 ? out.size[1] : 0,
                         out.dims > 2 ? out.size[2] : 0, batch);
        result_.assign(out.ptr<float>(), out.ptr<float>() + out.total());
        return {result_.data(), result_.size(), kernels::MemoryLocation::kHost, nullptr};
    }

  private:
    ModelSpec spec_;
    cv::dnn::Net net_;
    std::string where_;
    std::vector<float> result_;
};

} // namespace

std::unique_ptr<Engine> make_opencv_engine(const ModelSpec& spec, int threads) {
    return std::make_unique<OpenCvEngine>(spec, threads);
}

} // namespace sightline::pipeline
