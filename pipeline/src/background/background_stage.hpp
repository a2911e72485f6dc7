#pragma once
// The background stage: each camera's usual picture (sightline/kernels/background.hpp), and the foreground cells of
// each frame of a batch, measured where the frame lives (the CUDA twin for frames in device memory, one wait per
// batch; the CPU twin for host frames). Its output feeds the flags stage's `unexplained`.
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "sightline/kernels/background.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/frame_output.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline::detail {

/// The kernels' parameters from the flags config, for a model input of this size.
kernels::BackgroundParams background_params(const FlagsConfig& config, int input_width, int input_height);

class BackgroundStage {
  public:
    /// Keeps a background per camera when config.unexplained_cells > 0 (else measure() leaves every output empty).
    BackgroundStage(const FlagsConfig& config, int input_width, int input_height, std::size_t cameras);
    ~BackgroundStage();
    BackgroundStage(const BackgroundStage&) = delete;
    BackgroundStage& operator=(const BackgroundStage&) = delete;
    /// Measures frames in order, frame k of camera owners[k], into out[k]. A camera whose frame size or memory
    /// (host, device) changes starts learning again. Throws what the kernels throw.
    void measure(std::span<const OwnedFrame> frames, std::span<const std::size_t> owners, std::vector<Foreground>& out);

  private:
    struct Camera;
    struct Device;
    bool on_ = false;
    kernels::BackgroundParams params_;
    std::vector<std::unique_ptr<Camera>> cameras_;
    std::unique_ptr<Device> device_; ///< the stream, made at the first frame in device memory
};

} // namespace sightline::pipeline::detail
