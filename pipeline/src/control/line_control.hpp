#pragma once
// The line's side of its control socket (docs/versions.md, "Hot swap"): a thread answers the requests; what they
// change is done on the line's own thread (apply(), called between frames), so the line's stages never lock. A load
// is prepared on the control thread (the engine made, its self-test, one real frame the line hands over), then
// added on the line's thread; serve and unload happen there at once. Every reply is a JSON object with `ok`.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "sightline/pipeline/control.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/frame_output.hpp"
#include "sightline/transport/control.hpp"

namespace sightline::pipeline::detail {

class LineControl {
  public:
    /// On the line's thread: what a request does there (status, serve, unload; load's second half gets the prepared
    /// detector). Throwing Error answers `ok: false` with its message.
    struct Ops {
        std::function<nlohmann::json()> status;
        std::function<nlohmann::json(const ControlRequest&, std::unique_ptr<Detector>)> add;
        std::function<nlohmann::json(const ControlRequest&)> serve, unload;
    };
    /// On the control thread: a load's detector, made and checked (its self-test, and `frame` when the line had
    /// one); `checks` says what was checked. Throwing Error answers `ok: false`.
    using Prepare = std::function<std::unique_ptr<Detector>(const ControlRequest&, const OwnedFrame* frame,
                                                            std::vector<std::string>& checks)>;

    /// Binds the endpoint (Error(kTransport) naming it).
    LineControl(const std::string& endpoint, const std::optional<transport::CurveServer>& curve, Ops ops,
                Prepare prepare);
    ~LineControl();
    std::string endpoint() const { return server_.bound_endpoint(); }
    /// Starts answering.
    void start();
    /// On the line's thread, between frames: does what the requests waiting ask. `frame`: the frame just
    /// processed (a load's real frame is copied from it), or null.
    void apply(const FrameOutput* frame);
    /// Stops answering (requests waiting are answered `ok: false`) and joins the thread.
    void stop();
    std::uint64_t requests() const { return requests_.load(); }

  private:
    struct Op; // a request handed to the line's thread
    nlohmann::json answer(const std::string& body);
    nlohmann::json on_line(std::shared_ptr<Op> op);
    transport::ControlServer server_;
    Ops ops_;
    Prepare prepare_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<Op>> waiting_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> requests_{0};
    std::thread thread_;
};

} // namespace sightline::pipeline::detail
