#pragma once
/// Curation on the line: the sampling rules that pick the frames worth relabeling (docs/collector.md), and what a
/// sample is made of (a perceptual hash for near-duplicates, the JPEG of the frame).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sightline/kernels/views.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/frame_output.hpp"

namespace sightline::pipeline {

/// A 64-bit difference hash of a frame in host memory: its luma averaged onto 9 x 8 cells, one bit per pair of
/// horizontal neighbours (left brighter). Near-duplicate frames differ in few bits.
std::uint64_t dhash(const kernels::ImageView& frame);

/// The frame (host memory, any PixelFormat) as a baseline JPEG at `quality` (1..100), 4:2:0, full range (limited-
/// range YUV is expanded, as JFIF expects). Error(kIo) with libturbojpeg's message on failure.
std::string encode_jpeg(const kernels::ImageView& frame, int quality);
/// A BGR image in host memory as a PNG (libpng, lossless). Error(kUnsupported) for another format or device memory.
std::string encode_png(const kernels::ImageView& bgr);

/// A frame the rules selected.
struct Selected {
    FrameOutput frame; ///< as the line produced it (frame.image is null: the copy is `image`)
    OwnedFrame image;  ///< the frame, in host memory, kept for the JPEG
    std::string strategy;
    std::vector<std::string> tags, reasons;
    double video_s = 0; ///< the camera's video time (s since its first frame) when it was seen
    /// A context frame (sampling.context_frames): the seq of the sample it surrounds and its offset from it (-k..-1
    /// before, 1..k after); 0 for a sample.
    std::uint64_t context_of = 0;
    int context_offset = 0;
};

struct SamplerCounters {
    std::uint64_t frames = 0;     ///< frames offered
    std::uint64_t matched = 0;    ///< frames a strategy matched with headroom
    std::uint64_t selected = 0;   ///< frames that left as samples
    std::uint64_t duplicates = 0; ///< matches dropped as near-duplicates of a recent sample of their camera
    std::uint64_t outranked = 0;  ///< ranked matches a more uncertain frame of their window beat
    std::uint64_t over_quota = 0; ///< matches past a camera's quota or a strategy's limit when their window closed
    std::uint64_t context = 0;    ///< context frames that left with their samples (sampling.context_frames)
    std::map<std::string, std::uint64_t> by_strategy; ///< samples per strategy
};

/// The sampling rules of a line, applied to its frames in order (one thread). Strategies are tried in order; the
/// first that matches, passes its probability draw and has headroom in its limits takes the frame. Unranked
/// matches leave at once; ranked ones wait for the end of their window (window_s of video time), where the most
/// uncertain leave, up to max_per_window over the line and camera_max_per_window per camera, within each camera's
/// hourly quota, each unless it is a near-duplicate (dhash within dedupe_distance) of a recent sample of its camera.
/// Limits count in video time: a replay at any speed selects the same frames. With context_frames, a sample leaves
/// once its camera's next k frames have been seen (or at flush), followed by its context frames in order.
class Sampler {
  public:
    /// `classes`: the model's class names (strategies name classes: an unknown one is Error(kBadInput) naming
    /// `config_file` and the key); `confidence`: the operating threshold. A line of several model versions gives
    /// the others' class names in `other_versions` (FrameOutput::version 1, 2, ...): a frame's classes are read by
    /// the names of the version that served it, and a strategy's class must be one of some version's.
    Sampler(const SamplingConfig& config, const std::vector<std::string>& classes, float confidence,
            std::size_t cameras, const std::string& config_file = "sampling",
            const std::vector<std::vector<std::string>>& other_versions = {});
    /// A version loaded while the line runs (hot swap): the next FrameOutput::version, its class names (a strategy's
    /// class it lacks never matches its frames).
    void add_version(const std::vector<std::string>& classes);
    ~Sampler();
    Sampler(Sampler&&) noexcept;
    /// Takes one processed frame (its image valid during the call); returns the samples that leave now.
    std::vector<Selected> offer(const FrameOutput& frame);
    /// The end of the run: the open window closes.
    std::vector<Selected> flush();
    const SamplerCounters& counters() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::pipeline
