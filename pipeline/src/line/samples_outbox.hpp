#pragma once
// The line's samples channel: selected frames are encoded (JPEG, msgpack) and delivered on a thread of their own,
// so neither the JPEG nor a slow collector ever holds the line up (the thread polls its socket every 20 ms and
// picks up what was pushed). Internal to the line.
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sightline/pipeline/curate.hpp"
#include "sightline/transport/samples.hpp"

namespace sightline::pipeline::detail {

struct OutboxFigures {
    transport::SampleSenderCounters sender;
    std::uint64_t queue_dropped = 0; ///< selected while the encoder was this far behind: dropped, counted
    std::size_t buffered = 0;        ///< not yet acknowledged
    std::size_t collectors = 0;
};

class SamplesOutbox {
  public:
    /// Binds the samples endpoint (Error(kTransport) naming it) and starts the thread.
    SamplesOutbox(const PublishConfig& publish, const SamplingConfig& sampling, std::string model, std::string line,
                  std::vector<std::string> classes, float threshold,
                  std::vector<std::map<std::string, std::string>> meta);
    ~SamplesOutbox();
    /// Hands a selected frame over (never blocks: past max(64, 4 samples with their context frames) waiting to be
    /// encoded, it is dropped and counted).
    void push(Selected sample);
    /// Encodes what is left and waits up to publish.samples_drain_s for every acknowledgement; returns the figures.
    OutboxFigures finish();
    OutboxFigures figures() const;
    std::string endpoint() const;
    /// A model version of the line (its index in the ModelSet): a sample of a frame it served carries its
    /// name@version, class names and threshold. Versions not set (and index 0) are the constructor's.
    void set_version(std::size_t index, std::string model, std::vector<std::string> classes, float threshold);

  private:
    void loop();
    transport::SampleMessage message(const Selected& s) const;

    PublishConfig publish_;
    int quality_;
    std::size_t max_queued_;
    std::string model_, line_;
    std::vector<std::string> classes_;
    float threshold_;
    std::vector<std::map<std::string, std::string>> meta_;
    std::int64_t line_start_ns_;
    transport::SampleSender sender_; // used by the thread only, after construction
    struct Version {
        std::string model;
        std::vector<std::string> classes;
        float threshold = 0;
    };
    mutable std::mutex versions_mutex_;
    std::vector<Version> versions_; ///< under versions_mutex_: set from the line's thread, read by the outbox's
    mutable std::mutex mutex_;
    std::deque<Selected> queue_;
    bool finishing_ = false;
    OutboxFigures figures_; // under mutex_
    std::thread thread_;
};

} // namespace sightline::pipeline::detail
