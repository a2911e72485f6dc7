#include "control/line_control.hpp"

#include <spdlog/spdlog.h>

#include <future>

#include "sightline/error.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline::detail {

namespace {
constexpr auto kLineWait = std::chrono::seconds(10); ///< how long a request waits for the line's thread

nlohmann::json refused(const std::string& why) {
    return {{"ok", false}, {"error", why}};
}
} // namespace

struct LineControl::Op {
    enum class Kind { kFrame, kRequest } kind = Kind::kRequest;
    ControlRequest request;
    std::unique_ptr<Detector> detector; ///< load: prepared
    std::promise<nlohmann::json> done;
    std::promise<std::optional<OwnedFrame>> frame;
};

LineControl::LineControl(const std::string& endpoint, const std::optional<transport::CurveServer>& curve, Ops ops,
                         Prepare prepare)
    : server_(endpoint, curve), ops_(std::move(ops)), prepare_(std::move(prepare)) {}

LineControl::~LineControl() {
    stop();
}

void LineControl::start() {
    thread_ = std::thread([this] {
        while (!stop_.load()) {
            const auto body = server_.receive(std::chrono::milliseconds(100));
            if (!body) continue;
            ++requests_;
            nlohmann::json reply;
            try {
                reply = answer(*body);
            } catch (const std::exception& e) { // whatever a request does, it gets an answer
                reply = refused(e.what());
            }
            try {
                server_.reply(reply.dump());
            } catch (const Error& e) {
                spdlog::warn("control: {}", e.what());
            }
        }
    });
}

void LineControl::stop() {
    {
        std::lock_guard lock(mutex_); // first: a request waiting for the line is answered now, not after its timeout
        stop_ = true;
        for (auto& op : waiting_) { // nobody will apply them now
            if (op->kind == Op::Kind::kFrame)
                op->frame.set_value(std::nullopt);
            else
                op->done.set_value(refused("the line is ending"));
        }
        waiting_.clear();
    }
    if (thread_.joinable()) thread_.join();
}

nlohmann::json LineControl::on_line(std::shared_ptr<Op> op) {
    auto result = op->done.get_future();
    {
        std::lock_guard lock(mutex_);
        if (stop_.load()) return refused("the line is ending");
        waiting_.push_back(op);
    }
    if (result.wait_for(kLineWait) != std::future_status::ready)
        return refused("the line did not take the request within 10 s");
    return result.get();
}

nlohmann::json LineControl::answer(const std::string& body) {
    ControlRequest request;
    try {
        request = parse_control_request(body);
    } catch (const Error& e) {
        spdlog::warn("control: {}", e.what());
        return refused(e.what());
    }
    spdlog::info("control: {}", control_request_json(request));
    if (request.command != "load") {
        auto op = std::make_shared<Op>();
        op->request = request;
        return on_line(op);
    }
    // a load: a real frame from the line first (none while no camera delivers), then the detector made and checked
    // here, off the line's thread, then added there
    auto ask = std::make_shared<Op>();
    ask->kind = Op::Kind::kFrame;
    auto got = ask->frame.get_future();
    {
        std::lock_guard lock(mutex_);
        if (stop_.load()) return refused("the line is ending");
        waiting_.push_back(ask);
    }
    std::optional<OwnedFrame> frame;
    if (got.wait_for(std::chrono::seconds(5)) == std::future_status::ready) frame = got.get();
    std::vector<std::string> checks;
    auto op = std::make_shared<Op>();
    op->request = request;
    try {
        op->detector = prepare_(request, frame ? &*frame : nullptr, checks);
    } catch (const Error& e) {
        return refused(e.what());
    }
    nlohmann::json reply = on_line(op);
    reply["checks"] = checks;
    return reply;
}

void LineControl::apply(const FrameOutput* frame) {
    std::vector<std::shared_ptr<Op>> ops;
    {
        std::lock_guard lock(mutex_);
        if (waiting_.empty()) return;
        // a frame request waits for a frame
        for (auto it = waiting_.begin(); it != waiting_.end();)
            if ((*it)->kind == Op::Kind::kRequest || (frame && frame->image))
                ops.push_back(*it), it = waiting_.erase(it);
            else
                ++it;
    }
    for (auto& op : ops) {
        if (op->kind == Op::Kind::kFrame) {
            try {
                op->frame.set_value(keep_on_host(*frame->image));
            } catch (const Error&) {
                op->frame.set_value(std::nullopt);
            }
            continue;
        }
        nlohmann::json reply;
        try {
            const ControlRequest& r = op->request;
            reply = r.command == "status"  ? ops_.status()
                    : r.command == "load"  ? ops_.add(r, std::move(op->detector))
                    : r.command == "serve" ? ops_.serve(r)
                                           : ops_.unload(r);
            reply["ok"] = true;
        } catch (const Error& e) {
            reply = refused(e.what());
        }
        op->done.set_value(std::move(reply));
    }
}

} // namespace sightline::pipeline::detail
