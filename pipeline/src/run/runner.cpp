#include "sightline/pipeline/runner.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <spdlog/spdlog.h>

#include <thread>

#include "sightline/error.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline {

namespace {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

OwnedFrame own(const DecodedFrame& f) {
    OwnedFrame o = hold_frame(f); // a reference to the decoder's buffers, no copy
    o.decoded_ns = now_ns();
    return o;
}

/// Bounded blocking queue: push waits while full (lossless mode), pop waits while empty and open.
/// Wakes the batcher when any camera's queue gets a frame or closes.
struct Arrivals {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t count = 0;
    void notify() {
        {
            std::lock_guard lk(mu);
            ++count;
        }
        cv.notify_one();
    }
};

class FrameQueue {
  public:
    FrameQueue(std::size_t capacity, bool drop_oldest, Arrivals& arrivals)
        : capacity_(capacity), drop_oldest_(drop_oldest), arrivals_(arrivals) {}
    bool push(OwnedFrame&& f, const std::atomic<bool>& stop) {
        std::unique_lock lk(mu_);
        if (drop_oldest_) {
            if (q_.size() >= capacity_) q_.pop_front(), ++dropped_;
        } else {
            not_full_.wait(lk, [&] { return q_.size() < capacity_ || stop.load() || aborted_; });
        }
        if (stop.load() || aborted_) return false;
        q_.push_back(std::move(f));
        lk.unlock();
        arrivals_.notify();
        return true;
    }
    std::uint64_t dropped() {
        std::lock_guard lk(mu_);
        return dropped_;
    }
    /// Frames waiting now, and how long the oldest of them has waited since it was decoded (0 when none).
    std::pair<std::size_t, std::int64_t> backlog(std::int64_t now) {
        std::lock_guard lk(mu_);
        return {q_.size(), q_.empty() ? 0 : now - q_.front().decoded_ns};
    }
    /// The oldest frame if there is one; `finished` says the queue is closed and drained.
    std::optional<OwnedFrame> try_pop(bool& finished) {
        std::lock_guard lk(mu_);
        finished = q_.empty() && closed_;
        if (q_.empty()) return std::nullopt;
        OwnedFrame f = std::move(q_.front());
        q_.pop_front();
        not_full_.notify_one();
        return f;
    }
    void close(std::exception_ptr error = nullptr) {
        {
            std::lock_guard lk(mu_);
            closed_ = true;
            if (error && !error_) error_ = error;
        }
        arrivals_.notify();
    }
    void abort() {
        std::lock_guard lk(mu_);
        aborted_ = true;
        not_full_.notify_all();
    }
    std::exception_ptr error() {
        std::lock_guard lk(mu_);
        return error_;
    }

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

} // namespace

std::uint32_t uncertainty_flags(const Detection& d, float confidence, const RunConfig& c) {
    std::uint32_t f = 0;
    if (d.score < confidence + c.near_threshold_band) f |= kNearThreshold;
    if (d.margin < c.ambiguity_margin) f |= kAmbiguousClass;
    return f;
}

Runner::Runner(RunConfig config, std::unique_ptr<Engine> engine)
    : config_(std::move(config)), detector_(std::move(engine), config_.confidence, config_.iou, config_.max_det) {}

Runner::~Runner() = default;

RunSummary Runner::run(const std::function<void(const FrameOutput&)>& sink, const std::atomic<bool>& stop,
                       const std::function<void(const RunEvent&)>& on_event) {
    std::mutex events_mu;
    std::vector<RunEvent> events;
    auto post = [&](RunEvent e) {
        spdlog::log(e.kind == "camera_down" ? spdlog::level::warn : spdlog::level::info, "camera {}: {}{}{}", e.camera,
                    e.kind, e.message.empty() ? "" : ": ", e.message);
        std::lock_guard lk(events_mu);
        events.push_back(std::move(e));
    };
    auto deliver = [&] {
        std::vector<RunEvent> now;
        {
            std::lock_guard lk(events_mu);
            now.swap(events);
        }
        if (on_event)
            for (const auto& e : now) on_event(e);
    };
    const std::size_t n = config_.cameras.size();
    std::vector<std::unique_ptr<FrameQueue>> queues;
    std::vector<std::int64_t> corrupt(n, 0);
    Arrivals arrivals;
    for (std::size_t i = 0; i < n; ++i)
        queues.push_back(std::make_unique<FrameQueue>(8, config_.cameras[i].live(), arrivals));
    // Where each nvdec camera decodes, said once per camera (after its first frame: NVDEC can still decline then).
    std::vector<std::once_flag> decoder_said(n);
    auto say_decoder = [&](std::size_t i, const VideoReader& reader) {
        const CameraConfig& cam = config_.cameras[i];
        if (cam.decoder != Decoder::kNvdec) return;
        std::call_once(decoder_said[i], [&] {
            if (reader.decoder() == Decoder::kNvdec)
                spdlog::info("camera {}: NVDEC decoding into device memory", cam.id);
            else
                spdlog::warn("camera {}: {}", cam.id, reader.decode_note());
        });
    };
    std::vector<std::thread> sources;
    for (std::size_t i = 0; i < n; ++i)
        sources.emplace_back([&, i] {
            const auto& cam = config_.cameras[i];
            if (cam.network()) {
                // A live camera: never fatal. Reconnect with capped exponential backoff, say when it goes down and
                // comes back, and keep the other cameras going.
                double backoff = 0.25;
                bool up = false;
                while (!stop.load()) {
                    std::string reason = "end of stream";
                    try {
                        VideoReader reader(cam.url, 0, nullptr, cam.options, cam.decoder);
                        up = true;
                        backoff = 0.25;
                        post({"camera_up", cam.id, cam.url});
                        DecodedFrame f;
                        while (!stop.load() && reader.next(f)) {
                            say_decoder(i, reader);
                            if (f.index % cam.every != 0) continue; // decoded (the stream needs it), not processed
                            if (!queues[i]->push(own(f), stop)) break;
                        }
                        corrupt[i] += reader.corrupt_packets();
                    } catch (const Error& e) {
                        reason = e.what();
                    }
                    if (stop.load()) break;
                    if (up)
                        post({"camera_down", cam.id, reason});
                    else
                        spdlog::debug("camera {}: still unreachable: {}", cam.id, reason);
                    up = false;
                    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(backoff);
                    while (!stop.load() && std::chrono::steady_clock::now() < until)
                        std::this_thread::sleep_for(std::chrono::milliseconds(20));
                    backoff = std::min(backoff * 2, config_.reconnect_max_s);
                }
                queues[i]->close();
                return;
            }
            try {
                // Realtime files release packets at their timestamps (ffmpeg -re); a looped file continues its
                // timeline: its pts are offset past the previous pass.
                Pacing pacing;
                std::int64_t last_pts = 0;
                bool running = true;
                while (running && !stop.load()) {
                    VideoReader reader(cam.url, 0, cam.realtime ? &pacing : nullptr, {}, cam.decoder);
                    const std::int64_t frame_ns =
                        reader.fps() > 0 ? static_cast<std::int64_t>(1e9 / reader.fps()) : 33'333'333;
                    DecodedFrame f;
                    bool any = false;
                    while (!stop.load() && reader.next(f)) {
                        if (!any) say_decoder(i, reader);
                        any = true;
                        f.pts_ns += cam.realtime ? 0 : pacing.offset_ns;
                        last_pts = f.pts_ns;
                        if (f.index % cam.every != 0) continue;
                        if (!queues[i]->push(own(f), stop)) {
                            running = false;
                            break;
                        }
                    }
                    corrupt[i] += reader.corrupt_packets();
                    pacing.offset_ns = last_pts + frame_ns;
                    running = running && cam.loop && any;
                }
                queues[i]->close();
            } catch (const Error& e) {
                queues[i]->close(std::make_exception_ptr(
                    Error(e.code(), "camera " + cam.id + " (" + cam.url + "): " + std::string(e.what()))));
            } catch (...) {
                queues[i]->close(std::current_exception());
            }
        });

    RunSummary summary;
    summary.frames.assign(n, 0);
    const float confidence = config_.confidence >= 0 ? config_.confidence : detector_.spec().confidence;
    std::vector<bool> open(n, true);
    std::vector<std::uint64_t> late(n, 0);
    std::size_t next = 0;
    std::exception_ptr failure;
    // Batches in flight on the detector (at most one while the next forms, below Detector::kDepth): while the GPU
    // works on one, this thread forms the next and publishes the last. Results leave in submission order, so each
    // camera's frames stay in order.
    struct InFlight {
        Detector::Ticket ticket;
        std::vector<OwnedFrame> batch; ///< held until collected: the GPU may still read device frames
        std::vector<std::size_t> owners;
        std::int64_t batched;
    };
    std::deque<InFlight> inflight;
    auto emit_oldest = [&] {
        InFlight f = std::move(inflight.front());
        inflight.pop_front();
        auto results = detector_.collect(f.ticket);
        const std::int64_t inferred = now_ns();
        for (std::size_t k = 0; k < f.batch.size(); ++k) {
            FrameOutput out;
            out.camera_index = f.owners[k];
            out.camera = config_.cameras[f.owners[k]].id;
            out.seq = summary.frames[f.owners[k]]++;
            out.pts_ns = f.batch[k].pts_ns;
            out.frame = f.batch[k].index;
            out.width = f.batch[k].view.width;
            out.height = f.batch[k].view.height;
            out.detections = std::move(results[k].detections);
            for (const auto& d : out.detections) out.flags.push_back(uncertainty_flags(d, confidence, config_));
            out.luma = results[k].luma;
            out.stamps_ns = {{"arrival", f.batch[k].arrival_ns},
                             {"decoded", f.batch[k].decoded_ns},
                             {"batched", f.batched},
                             {"inferred", inferred}};
            out.dropped_so_far = queues[f.owners[k]]->dropped();
            const auto [depth, age_ns] = queues[f.owners[k]]->backlog(f.batched);
            out.queue_depth = depth;
            out.queue_age_ms = static_cast<double>(age_ns) / 1e6;
            out.late_so_far = late[f.owners[k]];
            sink(out);
        }
    };
    try {
        for (;;) {
            // Round robin across the cameras, one frame each per turn, until the batch is full. A batch never
            // waits more than max_wait_ms after its first frame: a lone camera is not held back to fill it.
            deliver();
            std::vector<OwnedFrame> batch;
            std::vector<std::size_t> owners;
            std::optional<std::chrono::steady_clock::time_point> deadline;
            for (;;) {
                std::uint64_t seen;
                {
                    std::lock_guard lk(arrivals.mu);
                    seen = arrivals.count;
                }
                bool got = false;
                for (std::size_t t = 0; t < n && static_cast<int>(batch.size()) < config_.max_batch; ++t) {
                    const std::size_t i = (next + t) % n;
                    if (!open[i]) continue;
                    bool finished = false;
                    auto f = queues[i]->try_pop(finished);
                    if (finished) {
                        open[i] = false;
                        if (auto e = queues[i]->error()) std::rethrow_exception(e);
                    }
                    if (!f) continue;
                    // A live frame older than the deadline is of no use downstream: drop it, counted. Every packet
                    // was still decoded, so the frames after it are intact.
                    if (config_.max_latency_ms > 0 && config_.cameras[i].live() &&
                        now_ns() - f->arrival_ns > static_cast<std::int64_t>(config_.max_latency_ms * 1e6)) {
                        ++late[i];
                        got = true;
                        continue;
                    }
                    batch.push_back(std::move(*f));
                    owners.push_back(i);
                    got = true;
                }
                next = (next + 1) % n;
                if (!batch.empty() && !deadline)
                    deadline = std::chrono::steady_clock::now() +
                               std::chrono::microseconds(static_cast<long>(config_.max_wait_ms * 1000));
                const bool any_open = std::find(open.begin(), open.end(), true) != open.end();
                if (static_cast<int>(batch.size()) >= config_.max_batch || !any_open || stop.load()) break;
                if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
                if (got) continue;
                // Nothing new: rather than wait, publish the batch in flight (its results are due).
                if (!inflight.empty()) {
                    emit_oldest();
                    continue;
                }
                std::unique_lock lk(arrivals.mu);
                const auto until =
                    deadline ? *deadline : std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
                arrivals.cv.wait_until(lk, until, [&] { return arrivals.count != seen; });
            }
            if (batch.empty()) {
                if (std::find(open.begin(), open.end(), true) == open.end() || stop.load()) break;
                continue;
            }
            InFlight f{0, std::move(batch), std::move(owners), now_ns()};
            std::vector<kernels::ImageView> views;
            for (const auto& fr : f.batch) views.push_back(fr.view);
            f.ticket = detector_.submit(views);
            const bool running = detector_.running(f.ticket);
            inflight.push_back(std::move(f));
            // A batch still running on the GPU stays in flight while the next forms (one: more would only add
            // latency); one done in submit() (the host path) is published at once, with any before it.
            while (static_cast<int>(inflight.size()) > (running ? 1 : 0)) emit_oldest();
            if (stop.load()) break;
        }
        while (!inflight.empty()) emit_oldest(); // what was accepted is published
    } catch (...) {
        failure = std::current_exception();
    }
    for (auto& q : queues) q->abort();
    for (auto& t : sources) t.join();
    deliver();
    if (failure) std::rethrow_exception(failure);
    summary.corrupt_packets = corrupt;
    for (auto& q : queues) summary.dropped.push_back(q->dropped());
    summary.late = late;
    return summary;
}

} // namespace sightline::pipeline
