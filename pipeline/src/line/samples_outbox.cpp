#include "line/samples_outbox.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sightline/error.hpp"
#include "sightline/pipeline/line.hpp"

namespace sightline::pipeline::detail {

SamplesOutbox::SamplesOutbox(const PublishConfig& publish, const SamplingConfig& sampling, std::string model,
                             std::string line, std::vector<std::string> classes, float threshold,
                             std::vector<std::map<std::string, std::string>> meta)
    : publish_(publish), quality_(sampling.jpeg_quality),
      max_queued_(std::max<std::size_t>(64, 4 * (1 + 2 * static_cast<std::size_t>(sampling.context_frames)))),
      model_(std::move(model)), line_(std::move(line)), classes_(std::move(classes)), threshold_(threshold),
      meta_(std::move(meta)), line_start_ns_(wall_clock_ns()),
      sender_({publish.samples, static_cast<std::size_t>(publish.samples_buffer), 256u << 20,
               publish.samples_ack_timeout_s, 3, 1, 0, publish.curve}) {
    versions_.push_back({model_, classes_, threshold_});
    thread_ = std::thread([this] { loop(); });
}

SamplesOutbox::~SamplesOutbox() {
    {
        std::lock_guard lock(mutex_);
        finishing_ = true;
        publish_.samples_drain_s = 0; // not finish()ed (an error unwinds the line): leave at once
    }
    if (thread_.joinable()) thread_.join();
}

std::string SamplesOutbox::endpoint() const {
    return sender_.bound_endpoint();
}

void SamplesOutbox::push(Selected sample) {
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= max_queued_) {
            ++figures_.queue_dropped;
            return;
        }
        queue_.push_back(std::move(sample));
    }
}

void SamplesOutbox::set_version(std::size_t index, std::string model, std::vector<std::string> classes,
                                float threshold) {
    std::lock_guard lock(versions_mutex_);
    if (versions_.size() <= index) versions_.resize(index + 1, versions_.front());
    versions_[index] = {std::move(model), std::move(classes), threshold};
}

transport::SampleMessage SamplesOutbox::message(const Selected& s) const {
    transport::SampleMessage m;
    const FrameOutput& f = s.frame;
    Version served; // the version that served the frame
    {
        std::lock_guard lock(versions_mutex_);
        const auto v = static_cast<std::size_t>(f.version);
        served = v < versions_.size() ? versions_[v] : versions_.front();
    }
    m.id = fmt::format("{}/{}/{}", f.camera, line_start_ns_, f.seq);
    if (s.context_offset != 0) { // a context frame: its own id under its sample's
        m.context_of = fmt::format("{}/{}/{}", f.camera, line_start_ns_, s.context_of);
        m.context_offset = s.context_offset;
        m.id = fmt::format("{}/{:+d}", m.context_of, s.context_offset);
    }
    m.pred = to_pred_message(f, served.model, meta_.at(f.camera_index), f.stamps.inferred_ns);
    m.pred.line = line_;
    m.classes = served.classes;
    for (const Detection& c : f.candidates) {
        m.candidate_boxes.insert(m.candidate_boxes.end(), {c.x1, c.y1, c.x2, c.y2});
        m.candidate_scores.push_back(c.score);
        m.candidate_classes.push_back(c.cls);
    }
    m.strategy = s.strategy;
    m.tags = s.tags;
    m.reasons = s.reasons;
    m.threshold = served.threshold;
    m.selected_ns = wall_clock_ns();
    m.pred.time_ns = m.selected_ns;
    m.jpeg = encode_jpeg(s.image.view, quality_);
    return m;
}

void SamplesOutbox::loop() {
    using namespace std::chrono;
    steady_clock::time_point drain_until{};
    for (;;) {
        std::deque<Selected> work;
        bool finishing = false;
        {
            std::unique_lock lock(mutex_);
            work.swap(queue_);
            finishing = finishing_;
            if (finishing && drain_until == steady_clock::time_point{})
                drain_until = steady_clock::now() +
                              duration_cast<steady_clock::duration>(duration<double>(publish_.samples_drain_s));
        }
        for (const Selected& s : work) {
            try {
                const transport::SampleMessage m = message(s);
                sender_.offer(m.id, transport::encode_sample(m));
            } catch (const Error& e) { // one frame that cannot be encoded is reported, the others go on
                spdlog::error("run: a sample of {} (frame {}) could not be made: {}", s.frame.camera, s.frame.frame,
                              e.what());
            }
        }
        try {
            sender_.pump(milliseconds(work.empty() ? 20 : 0));
        } catch (const Error& e) {
            spdlog::error("run: {}", e.what());
        }
        {
            std::lock_guard lock(mutex_);
            figures_.sender = sender_.counters();
            figures_.buffered = sender_.buffered();
            figures_.collectors = sender_.collectors();
            if (finishing && queue_.empty() && (sender_.buffered() == 0 || steady_clock::now() >= drain_until)) return;
        }
    }
}

OutboxFigures SamplesOutbox::finish() {
    {
        std::lock_guard lock(mutex_);
        finishing_ = true;
    }
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    return figures_;
}

OutboxFigures SamplesOutbox::figures() const {
    std::lock_guard lock(mutex_);
    return figures_;
}

} // namespace sightline::pipeline::detail
