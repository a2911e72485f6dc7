#include "batch/batcher.hpp"

#include <algorithm>
#include <chrono>

namespace sightline::pipeline::detail {

Batcher::Batcher(std::vector<CameraSource*> sources, Arrivals& arrivals, const BatchingConfig& config)
    : sources_(std::move(sources)), arrivals_(arrivals), config_(config), open_(sources_.size(), true),
      late_(sources_.size(), 0) {}

bool Batcher::any_open() const {
    return std::find(open_.begin(), open_.end(), true) != open_.end();
}

std::optional<Batch> Batcher::next(const std::atomic<bool>& stop, const std::function<bool()>& idle) {
    const std::size_t n = sources_.size();
    const auto max_latency_ns = static_cast<std::int64_t>(config_.max_latency_ms * 1e6);
    for (;;) {
        Batch batch;
        std::optional<std::chrono::steady_clock::time_point> deadline;
        for (;;) {
            std::uint64_t seen;
            {
                std::lock_guard lk(arrivals_.mu);
                seen = arrivals_.count;
            }
            bool got = false;
            for (std::size_t t = 0; t < n && static_cast<int>(batch.frames.size()) < config_.max_batch; ++t) {
                const std::size_t i = (next_ + t) % n;
                if (!open_[i]) continue;
                FrameQueue& q = sources_[i]->queue();
                bool finished = false;
                auto f = q.try_pop(finished);
                if (finished) {
                    open_[i] = false;
                    if (auto e = q.error()) std::rethrow_exception(e);
                }
                if (!f) continue;
                got = true;
                // A live frame older than the deadline is of no use downstream: drop it, counted. Every packet was
                // still decoded, so the frames after it are intact.
                if (max_latency_ns > 0 && sources_[i]->camera().live() && now_ns() - f->arrival_ns > max_latency_ns) {
                    ++late_[i];
                    continue;
                }
                batch.frames.push_back(std::move(*f));
                batch.owners.push_back(i);
            }
            next_ = (next_ + 1) % n;
            if (!batch.frames.empty() && !deadline)
                deadline = std::chrono::steady_clock::now() +
                           std::chrono::microseconds(static_cast<long>(config_.max_wait_ms * 1000));
            if (static_cast<int>(batch.frames.size()) >= config_.max_batch || !any_open() || stop.load()) break;
            if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
            if (got) continue;
            if (idle && idle()) continue; // nothing new: rather than wait, let the caller publish what is due
            std::unique_lock lk(arrivals_.mu);
            const auto until = deadline ? *deadline : std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
            arrivals_.cv.wait_until(lk, until, [&] { return arrivals_.count != seen; });
        }
        if (!batch.frames.empty()) {
            batch.batched_ns = now_ns();
            return batch;
        }
        if (!any_open() || stop.load()) return std::nullopt;
    }
}

} // namespace sightline::pipeline::detail
