// The LibTorch engine: a TorchScript export of the model, run by LibTorch (CPU, or CUDA when it has a GPU). Built as
// a module of its own (libsightline_libtorch.so) where the Torch CMake package is found, and loaded only by a process
// that runs a LibTorch model (libtorch_loader.cpp): every other command is spared LibTorch's start-up (about 0.5 s
// of CPU and 150 MB).
#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"

#include <optional>

#include <torch/script.h>
#include <torch/torch.h>
#ifdef SIGHTLINE_TORCH_CUDA // a LibTorch built with CUDA: its work can run on the detector's stream
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace sightline::pipeline {

namespace {

class LibTorchEngine final : public Engine {
  public:
    LibTorchEngine(const ModelSpec& spec, int threads) : spec_(spec) {
        if (spec.torchscript_path.empty())
            throw Error(ErrorCode::kBadInput, spec.yaml_path.string() +
                                                  ": no torchscript: key (the LibTorch engine runs a TorchScript "
                                                  "export; tools/train/export_torchscript.py makes one)");
        if (!std::filesystem::exists(spec.torchscript_path))
            throw Error(ErrorCode::kNotFound, spec.yaml_path.string() + ": torchscript: " +
                                                  spec.torchscript_path.string() + ": no such file");
        if (threads > 0) torch::set_num_threads(threads);
        device_ = torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
        try {
            module_ = torch::jit::load(spec.torchscript_path.string(), device_);
        } catch (const std::exception& e) {
            throw Error(ErrorCode::kBadInput, spec.torchscript_path.string() +
                                                  ": LibTorch cannot load it: " + std::string(e.what()).substr(0, 300));
        }
        module_.eval();
        where_ = std::string("LibTorch ") + TORCH_VERSION + " on " +
                 (device_.is_cuda() ? "CUDA device 0"
                                    : "the CPU (" + std::to_string(torch::get_num_threads()) + " threads)");
    }

    bool reads(kernels::MemoryLocation where) const override {
        return where == kernels::MemoryLocation::kHost || device_.is_cuda();
    }
    const ModelSpec& spec() const override { return spec_; }
    std::string describe() const override { return where_; }

  protected:
    Head run(const TensorView& input, int batch, kernels::StreamRef stream,
             kernels::MemoryLocation head_where) override {
        if (input.where == kernels::MemoryLocation::kHost) // the host input as a tensor without a copy (one copy up
            return host_head(                              // on a GPU: device input skips it)
                head(torch::from_blob(const_cast<float*>(input.data), shape(batch), torch::kFloat32).to(device_),
                     batch));
        [[maybe_unused]] const auto on = on_stream(stream); // LibTorch works on the caller's stream
        torch::Tensor y = head(on_device(input.data, batch), batch);
        if (head_where == kernels::MemoryLocation::kHost) return host_head(y);
        // held by the caller until its decode has read it; freed, the block goes back to the caching allocator's
        // pool for that stream, so a steady line gets the same block again (and the detector's decode + NMS graph,
        // keyed on the pointer, replays)
        auto t = std::make_shared<torch::Tensor>(y.to(torch::kFloat32).contiguous());
        return {t->data_ptr<float>(), static_cast<std::size_t>(t->numel()), kernels::MemoryLocation::kDevice, t};
    }

  private:
#ifdef SIGHTLINE_TORCH_CUDA
    /// LibTorch's current stream set to the caller's for the scope of the returned guard (null: the legacy default).
    std::optional<c10::cuda::CUDAStreamGuard> on_stream(kernels::StreamRef stream) const {
        if (!stream) return std::nullopt;
        return std::optional<c10::cuda::CUDAStreamGuard>(
            std::in_place, c10::cuda::getStreamFromExternal(static_cast<cudaStream_t>(stream), device_.index()));
    }
#else
    /// A LibTorch without CUDA headers never has a CUDA device (reads(kDevice) is false): nothing to order.
    int on_stream(kernels::StreamRef) const {
        return 0;
    }
#endif

    std::vector<std::int64_t> shape(int batch) const {
        return {batch, 3, spec_.preprocess.input_height, spec_.preprocess.input_width};
    }

    /// The preprocess kernel's output, read in place (same device, ordered after it on the caller's stream).
    torch::Tensor on_device(const float* d_input, int batch) const {
        return torch::from_blob(const_cast<float*>(d_input), shape(batch),
                                torch::TensorOptions().dtype(torch::kFloat32).device(device_));
    }

    /// The forward pass: the head tensor where the model ran, its shape checked against the spec.
    torch::Tensor head(const torch::Tensor& x, int batch) {
        torch::NoGradGuard no_grad;
        torch::Tensor y;
        try {
            y = module_.forward({x}).toTensor();
        } catch (const std::exception& e) {
            throw Error(ErrorCode::kBadInput, spec_.torchscript_path.string() +
                                                  ": forward pass failed: " + std::string(e.what()).substr(0, 300));
        }
        check_head_shape(spec_, spec_.torchscript_path, static_cast<int>(y.dim()), y.dim() > 0 ? y.size(0) : 0,
                         y.dim() > 1 ? y.size(1) : 0, y.dim() > 2 ? y.size(2) : 0, batch);
        return y;
    }

    /// The head copied into host memory (valid until the next run()).
    Head host_head(const torch::Tensor& y) {
        const torch::Tensor h = y.to(torch::kCPU, torch::kFloat32).contiguous();
        out_.assign(h.data_ptr<float>(), h.data_ptr<float>() + h.numel());
        return {out_.data(), out_.size(), kernels::MemoryLocation::kHost, nullptr};
    }

    ModelSpec spec_;
    torch::Device device_{torch::kCPU};
    torch::jit::script::Module module_;
    std::vector<float> out_;
    std::string where_;
};

} // namespace

} // namespace sightline::pipeline

// The module's entry points, looked up by name (dlsym) by libtorch_loader.cpp.
extern "C" {

/// A new LibTorch engine for `spec` (the caller owns it); throws sightline::Error as make_libtorch_engine documents.
__attribute__((visibility("default"))) sightline::pipeline::Engine*
sightline_libtorch_make_engine(const sightline::pipeline::ModelSpec* spec, int threads) {
    return new sightline::pipeline::LibTorchEngine(*spec, threads);
}

__attribute__((visibility("default"))) void sightline_libtorch_set_tf32(bool allow) {
    at::globalContext().setAllowTF32CuDNN(allow);
    at::globalContext().setAllowTF32CuBLAS(allow);
}

} // extern "C"
