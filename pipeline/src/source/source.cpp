#include "source/source.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "media/ffmpeg_log.hpp"
#include "sightline/error.hpp"

namespace sightline::pipeline::detail {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void Arrivals::notify() {
    {
        std::lock_guard lk(mu);
        ++count;
    }
    cv.notify_one();
}

bool FrameQueue::push(OwnedFrame&& f, const std::atomic<bool>& stop) {
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

std::uint64_t FrameQueue::dropped() {
    std::lock_guard lk(mu_);
    return dropped_;
}

std::pair<std::size_t, std::int64_t> FrameQueue::backlog(std::int64_t now) {
    std::lock_guard lk(mu_);
    return {q_.size(), q_.empty() ? 0 : now - q_.front().decoded_ns};
}

std::optional<OwnedFrame> FrameQueue::try_pop(bool& finished) {
    std::lock_guard lk(mu_);
    finished = q_.empty() && closed_;
    if (q_.empty()) return std::nullopt;
    OwnedFrame f = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return f;
}

void FrameQueue::close(std::exception_ptr error) {
    {
        std::lock_guard lk(mu_);
        closed_ = true;
        if (error && !error_) error_ = error;
    }
    arrivals_.notify();
}

void FrameQueue::abort() {
    std::lock_guard lk(mu_);
    aborted_ = true;
    not_full_.notify_all();
}

std::exception_ptr FrameQueue::error() {
    std::lock_guard lk(mu_);
    return error_;
}

void EventBox::post(RunEvent e) {
    if (e.time_ns == 0)
        e.time_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
    spdlog::log(e.kind == "camera_down" ? spdlog::level::warn : spdlog::level::info, "camera {}: {}{}{}", e.camera,
                e.kind, e.message.empty() ? "" : ": ", e.message);
    std::lock_guard lk(mu_);
    events_.push_back(std::move(e));
}

std::vector<RunEvent> EventBox::drain() {
    std::vector<RunEvent> now;
    std::lock_guard lk(mu_);
    now.swap(events_);
    return now;
}

namespace {
constexpr std::size_t kQueueFrames = 8;
constexpr double kFirstBackoffS = 0.25;

OwnedFrame own(const DecodedFrame& f) {
    OwnedFrame o = hold_frame(f); // a reference to the decoder's buffers, no copy
    o.decoded_ns = now_ns();
    return o;
}
} // namespace

CameraSource::CameraSource(const CameraConfig& camera, const ReconnectConfig& reconnect, Arrivals& arrivals,
                           EventBox& events)
    : camera_(camera), max_backoff_s_(reconnect.max_backoff_s), stall_timeout_s_(reconnect.stall_timeout_s),
      events_(events), queue_(kQueueFrames, camera.live(), arrivals) {}

CameraSource::~CameraSource() {
    stop_and_join();
}

void CameraSource::start(const std::atomic<bool>& stop) {
    thread_ = std::thread([this, &stop] {
        const FfmpegLogCamera tag(camera_.id); // FFmpeg's lines from this thread name the camera
        if (camera_.network()) {
            run_network(stop);
            queue_.close();
            return;
        }
        try {
            run_file(stop);
            queue_.close();
        } catch (const Error& e) {
            queue_.close(std::make_exception_ptr(
                Error(e.code(), "camera " + camera_.id + " (" + camera_.url + "): " + std::string(e.what()))));
        } catch (...) {
            queue_.close(std::current_exception());
        }
    });
}

void CameraSource::stop_and_join() {
    queue_.abort();
    if (thread_.joinable()) thread_.join();
}

void CameraSource::say_decoder(const VideoReader& reader) {
    decoder_.store(reader.decoder());
    if (camera_.decode != Decoder::kNvdec) return;
    std::call_once(decoder_said_, [&] {
        if (reader.decoder() == Decoder::kNvdec)
            spdlog::info("camera {}: NVDEC decoding into device memory", camera_.id);
        else
            spdlog::warn("camera {}: {}", camera_.id, reader.decode_note());
    });
}

void CameraSource::run_file(const std::atomic<bool>& stop) {
    // Realtime files release packets at their timestamps (ffmpeg -re); a looped file continues its timeline: its
    // pts are offset past the previous pass.
    Pacing pacing;
    std::int64_t last_pts = 0;
    bool running = true;
    while (running && !stop.load()) {
        VideoReader reader(camera_.url, 0, camera_.realtime ? &pacing : nullptr, {}, camera_.decode);
        const std::int64_t frame_ns = reader.fps() > 0 ? static_cast<std::int64_t>(1e9 / reader.fps()) : 33'333'333;
        DecodedFrame f;
        bool any = false;
        while (!stop.load() && reader.next(f)) {
            if (!any) say_decoder(reader); // after the first frame: NVDEC can still decline then
            any = true;
            f.pts_ns += camera_.realtime ? 0 : pacing.offset_ns;
            last_pts = f.pts_ns;
            if (f.index % camera_.every != 0) continue; // decoded (the stream needs it), not processed
            if (!queue_.push(own(f), stop)) {
                running = false;
                break;
            }
        }
        corrupt_ += reader.corrupt_packets();
        pacing.offset_ns = last_pts + frame_ns;
        running = running && camera_.loop && any;
    }
}

void CameraSource::run_network(const std::atomic<bool>& stop) {
    // A live camera: never fatal. Reconnect with capped exponential backoff, say when it goes down and comes back
    // (and, while it has not come up, why, on its retries: at most one event per kReportEvery), and keep the other
    // cameras going. The backoff starts again only once a connection has delivered frames for kSteady: a URL that
    // opens and then fails at once keeps backing off instead of storming.
    using Clock = std::chrono::steady_clock;
    constexpr auto kSteady = std::chrono::seconds(5);
    constexpr auto kReportEvery = std::chrono::seconds(5);
    double backoff = kFirstBackoffS;
    bool up = false, ever_up = false;
    std::optional<Clock::time_point> last_report;
    spdlog::info("camera {}: connecting to {}", camera_.id, camera_.url);
    while (!stop.load()) {
        std::string reason = "end of stream";
        std::optional<Clock::time_point> first_frame;
        try {
            VideoReader reader(camera_.url, 0, nullptr, camera_.options, camera_.decode, stall_timeout_s_, &stop);
            up = ever_up = true;
            events_.post({"camera_up", camera_.id, camera_.url});
            DecodedFrame f;
            while (!stop.load() && reader.next(f)) {
                if (!first_frame) first_frame = Clock::now();
                say_decoder(reader);
                if (f.index % camera_.every != 0) continue;
                if (!queue_.push(own(f), stop)) break;
            }
            corrupt_ += reader.corrupt_packets();
        } catch (const Error& e) {
            reason = e.what();
        }
        if (stop.load()) break;
        if (first_frame && Clock::now() - *first_frame >= kSteady) backoff = kFirstBackoffS;
        const std::string retry = fmt::format("{} (retrying in {:.2g} s)", reason, backoff);
        if (up) {
            events_.post({"camera_down", camera_.id, retry});
            last_report = Clock::now();
        } else if (!last_report || Clock::now() - *last_report >= kReportEvery) {
            // not up (yet, or again): reported too, rate-limited
            events_.post({"camera_down", camera_.id,
                          camera_.url + (ever_up ? ": still down: " : ": has not come up: ") + retry});
            last_report = Clock::now();
        }
        up = false;
        const auto until = Clock::now() + std::chrono::duration<double>(backoff);
        while (!stop.load() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        backoff = std::min(backoff * 2, max_backoff_s_);
    }
}

} // namespace sightline::pipeline::detail
