#pragma once
// The source stage: one thread per camera decoding into a bounded queue under the camera's policy (a file read
// losslessly, paced to its timestamps, or looped; a network camera reconnecting with backoff), and the events it
// posts for the runner thread (camera_up, camera_down).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/frame_output.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline::detail {

/// Counts frames arriving in any camera's queue (or a queue closing) and wakes the batcher.
struct Arrivals {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t count = 0;
    void notify();
};

/// One camera's decoded frames. Lossless (files read as fast as the line takes them): push waits while the queue
/// is full. Drop-oldest (live sources): push never waits; when full, the oldest frame goes, counted.
class FrameQueue {
  public:
    FrameQueue(std::size_t capacity, bool drop_oldest, Arrivals& arrivals)
        : capacity_(capacity), drop_oldest_(drop_oldest), arrivals_(arrivals) {}
    /// False when the run is stopping (the frame is not queued).
    bool push(OwnedFrame&& f, const std::atomic<bool>& stop);
    std::uint64_t dropped();
    /// Frames waiting now, and how long the oldest of them has waited since it was decoded (0 when none).
    std::pair<std::size_t, std::int64_t> backlog(std::int64_t now_ns);
    /// The oldest frame if there is one; `finished` says the queue is closed and drained.
    std::optional<OwnedFrame> try_pop(bool& finished);
    /// No more frames will come; `error` (a source's failure) is rethrown by whoever drains the queue.
    void close(std::exception_ptr error = nullptr);
    /// Wakes a source waiting in push() for good (the run is ending).
    void abort();
    std::exception_ptr error();

  private:
    std::size_t capacity_;
    bool drop_oldest_;
    std::uint64_t dropped_ = 0;
    std::mutex mu_;
    std::condition_variable not_full_;
    Arrivals& arrivals_;
    std::deque<OwnedFrame> q_;
    bool closed_ = false, aborted_ = false;
    std::exception_ptr error_;
};

/// Camera events posted from source threads, delivered (and logged) on the runner's thread.
class EventBox {
  public:
    void post(RunEvent e); ///< logs it at once (warn for camera_down), queues it for drain()
    std::vector<RunEvent> drain();

  private:
    std::mutex mu_;
    std::vector<RunEvent> events_;
};

/// One camera's source: its thread decodes under the camera's policy into queue(), until the source ends, the run
/// stops, or (files) it fails: a file's failure closes the queue with an Error naming the camera and its URL; a
/// network camera never fails (it goes down, posts the reason and reconnects with capped exponential backoff).
class CameraSource {
  public:
    CameraSource(const CameraConfig& camera, const ReconnectConfig& reconnect, Arrivals& arrivals, EventBox& events);
    ~CameraSource(); ///< aborts and joins
    CameraSource(const CameraSource&) = delete;
    CameraSource& operator=(const CameraSource&) = delete;
    void start(const std::atomic<bool>& stop);
    void stop_and_join(); ///< wakes the thread if it waits on a full queue and joins it
    FrameQueue& queue() { return queue_; }
    const CameraConfig& camera() const { return camera_; }
    /// Corrupt packets skipped so far (read after stop_and_join()).
    std::int64_t corrupt_packets() const { return corrupt_; }
    /// Where its frames were decoded (read after stop_and_join(); kCpu before any frame).
    Decoder decoder() const { return decoder_.load(); }

  private:
    void run_file(const std::atomic<bool>& stop);
    void run_network(const std::atomic<bool>& stop);
    void say_decoder(const VideoReader& reader); ///< where an nvdec camera decodes, once

    const CameraConfig& camera_;
    double max_backoff_s_;
    double stall_timeout_s_;
    EventBox& events_;
    FrameQueue queue_;
    std::once_flag decoder_said_;
    std::int64_t corrupt_ = 0;
    std::atomic<Decoder> decoder_{Decoder::kCpu};
    std::thread thread_;
};

/// Steady-clock nanoseconds: the clock of every stage stamp.
std::int64_t now_ns();

} // namespace sightline::pipeline::detail
