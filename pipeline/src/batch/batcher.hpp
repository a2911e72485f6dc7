#pragma once
// The batch stage: frames taken round robin across the cameras' queues, one per camera per turn, until the batch
// is full or max_wait_ms has passed since its first frame (a lone camera is not held back to fill it); live
// frames past max_latency_ms are dropped, counted.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "sightline/pipeline/config.hpp"
#include "source/source.hpp"

namespace sightline::pipeline::detail {

struct Batch {
    std::vector<OwnedFrame> frames;
    std::vector<std::size_t> owners; ///< camera index of each frame
    std::int64_t batched_ns = 0;     ///< when the batch left the batcher
};

class Batcher {
  public:
    Batcher(std::vector<CameraSource*> sources, Arrivals& arrivals, const BatchingConfig& config);
    /// The next batch, or nothing once every source has ended or `stop` is set. While it waits for frames it calls
    /// `idle()` first: true means idle did useful work (publishing a batch in flight) and the batcher looks again
    /// instead of sleeping. Rethrows a source's failure.
    std::optional<Batch> next(const std::atomic<bool>& stop, const std::function<bool()>& idle);
    /// Live frames of camera `i` dropped so far for missing max_latency_ms.
    std::uint64_t late(std::size_t i) const { return late_[i]; }
    const std::vector<std::uint64_t>& late() const { return late_; }

  private:
    bool any_open() const;

    std::vector<CameraSource*> sources_;
    Arrivals& arrivals_;
    BatchingConfig config_;
    std::vector<bool> open_;
    std::vector<std::uint64_t> late_;
    std::size_t next_ = 0; ///< the camera that goes first in the next turn
};

} // namespace sightline::pipeline::detail
