#include "background/background_stage.hpp"

#include <algorithm>
#include <cstdint>

#include "sightline/kernels/device.hpp"

namespace sightline::pipeline::detail {

kernels::BackgroundParams background_params(const FlagsConfig& config, int input_width, int input_height) {
    kernels::BackgroundParams p;
    p.input_width = input_width, p.input_height = input_height;
    p.cell = config.background_cell;
    p.floor = config.background_floor;
    p.warmup = config.background_warmup;
    return p;
}

struct BackgroundStage::Camera {
    kernels::BackgroundGrid grid;
    int width = 0, height = 0;
    kernels::MemoryLocation where = kernels::MemoryLocation::kHost;
    std::int64_t seen = 0;
    std::vector<float> state;      ///< host frames
    kernels::DeviceBuffer d_state; ///< device frames
};

struct BackgroundStage::Device {
    kernels::Stream stream;
    kernels::DeviceBuffer d_foreground; ///< the batch's cells, frame after frame
    kernels::PinnedBuffer h_foreground;
};

BackgroundStage::BackgroundStage(const FlagsConfig& config, int input_width, int input_height, std::size_t cameras)
    : on_(config.unexplained_cells > 0), params_(background_params(config, input_width, input_height)) {
    for (std::size_t c = 0; c < cameras; ++c) cameras_.push_back(std::make_unique<Camera>());
}

BackgroundStage::~BackgroundStage() = default;

void BackgroundStage::measure(std::span<const OwnedFrame> frames, std::span<const std::size_t> owners,
                              std::vector<Foreground>& out) {
    out.assign(frames.size(), Foreground{});
    if (!on_) return;
    std::vector<std::size_t> offsets(frames.size(), 0); // of each device frame's cells in the batch's buffer
    std::size_t device_cells = 0;
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const kernels::ImageView& v = frames[k].view;
        Camera& cam = *cameras_[owners[k]];
        if (cam.seen == 0 || v.width != cam.width || v.height != cam.height || v.where != cam.where) {
            cam.grid = kernels::background_grid(v.width, v.height, params_);
            cam.width = v.width, cam.height = v.height, cam.where = v.where, cam.seen = 0;
        }
        out[k].grid = cam.grid, out[k].cell = params_.cell;
        out[k].cells.resize(cam.grid.cells());
        if (v.where == kernels::MemoryLocation::kDevice) offsets[k] = device_cells, device_cells += cam.grid.cells();
    }
    if (device_cells > 0) {
        if (!device_) device_ = std::make_unique<Device>();
        device_->d_foreground.reserve(device_cells);
        device_->h_foreground.reserve(device_cells);
    }
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const kernels::ImageView& v = frames[k].view;
        Camera& cam = *cameras_[owners[k]];
        const std::size_t floats = kernels::background_state_floats(cam.grid);
        if (v.where == kernels::MemoryLocation::kHost) {
            cam.state.resize(floats);
            kernels::background_cpu(v, params_, cam.seen++, cam.state.data(), out[k].cells.data());
            continue;
        }
        cam.d_state.reserve(floats * sizeof(float));
        auto* d_fg = static_cast<std::uint8_t*>(device_->d_foreground.data()) + offsets[k];
        kernels::background_cuda_async(v, params_, cam.seen++, static_cast<float*>(cam.d_state.data()), d_fg, nullptr,
                                       device_->stream.get());
    }
    if (device_cells == 0) return;
    kernels::copy_device_to_host_async(device_->h_foreground.data(), device_->d_foreground.data(), device_cells,
                                       device_->stream.get());
    device_->stream.synchronize();
    const auto* h = static_cast<const std::uint8_t*>(device_->h_foreground.data());
    for (std::size_t k = 0; k < frames.size(); ++k)
        if (frames[k].view.where == kernels::MemoryLocation::kDevice)
            std::copy_n(h + offsets[k], out[k].cells.size(), out[k].cells.begin());
}

} // namespace sightline::pipeline::detail
