// The demo's run: the line as `sightline run` runs it (Line -> ZeroMQ -> a C++ consumer, losslessly), a monitor
// on the consumer's subscriber and a collector on the samples channel, then the tables of what each saw.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <unistd.h>

#include "sightline/pipeline/demo.hpp"
#include "sightline/pipeline/files.hpp"
#include "sightline/pipeline/monitor_session.hpp"
#include "sightline/pipeline/monitor_store.hpp"
#include "sightline/transport/pubsub.hpp"

namespace sightline::pipeline {

namespace fs = std::filesystem;

namespace {

/// The line as `sightline run` would run the scene: every camera at every k-th frame, published losslessly on a
/// socket of this process's own.
RunConfig demo_config(const DemoRunOptions& a, const fs::path& sock) {
    RunConfig cfg;
    for (int c = 1; c <= a.cameras; ++c) {
        CameraConfig cam;
        cam.id = "cam" + std::to_string(c), cam.url = (a.scene / (cam.id + ".mp4")).string(), cam.every = a.every;
        cfg.cameras.push_back(cam);
    }
    cfg.model = a.model_yaml;
    cfg.batching.max_batch = a.batch;
    cfg.publish = {"ipc://" + sock.string(), 100000, 1, 10};
    return cfg;
}

/// The consumer: one subscriber feeding the table and the monitor, until the line is done and every published
/// frame was received.
class DemoConsumer {
  public:
    DemoConsumer(const std::string& endpoint, DemoTable& table, MonitorSession& monitor)
        : thread_([this, endpoint, &table, &monitor] {
              try {
                  transport::Subscriber sub(endpoint, {""});
                  auto last_tick = std::chrono::steady_clock::now();
                  while (!done_.load() || consumed_.load() < published_.load())
                      if (auto r = sub.receive(std::chrono::milliseconds(100))) {
                          monitor.feed(r->message, wall_clock_ns());
                          if (const auto* p = std::get_if<transport::PredMessage>(&r->message); p && !p->shadow)
                              table.add(*p), ++consumed_;
                          if (std::chrono::steady_clock::now() - last_tick > std::chrono::seconds(1))
                              monitor.tick(wall_clock_ns()), last_tick = std::chrono::steady_clock::now();
                      }
              } catch (...) {
                  failed_ = std::current_exception();
              }
          }) {}
    ~DemoConsumer() { finish(false); }
    std::uint64_t published() { return ++published_; } ///< one more frame published; the count so far
    /// Waits for the consumer: for every published frame, or (`all` false) for nothing more. Rethrows its failure.
    void finish(bool all) {
        if (!all) published_ = consumed_.load();
        done_ = true;
        if (thread_.joinable()) thread_.join();
        if (all && failed_) std::rethrow_exception(failed_);
    }

  private:
    std::atomic<bool> done_{false};
    std::atomic<std::uint64_t> published_{0}, consumed_{0};
    std::exception_ptr failed_;
    std::thread thread_;
};

} // namespace

bool ensure_demo_reference(const DemoRunOptions& a, const std::function<std::unique_ptr<Engine>()>& make_engine,
                           const fs::path& out, double seconds) {
    const ModelSpec spec = load_model_spec(a.model_yaml);
    const std::string key = "sightline demo reference v1 model=" + spec.name + "@" + spec.version +
                            " every=" + std::to_string(a.every) + " scene=" + a.scene.string() + "\n";
    {
        std::ifstream stamp(out.string() + ".stamp");
        if (stamp && fs::exists(out) && std::string(std::istreambuf_iterator<char>(stamp), {}) == key) return false;
    }
    fs::create_directories(out.parent_path());
    std::unique_ptr<Engine> engine = make_engine();
    const fs::path sock = fs::temp_directory_path() / ("sightline_demo_ref_" + std::to_string(::getpid()) + ".sock");
    RunConfig cfg = demo_config(a, sock);
    cfg.publish.wait_for_subscribers = 0; // the monitor is fed in process
    MonitorOptions mo = demo_monitor_options(a.every);
    mo.reference_s = seconds - 2 * mo.window_s; // all of it, less a margin for the last frames
    Monitor monitor(mo);
    transport::EventMessage start{"run_start", "", engine->spec().name + "@" + engine->spec().version, 0};
    start.classes = engine->spec().classes;
    monitor.add(start, 0);
    LineOptions options;
    options.on_frame = [&](const FrameOutput&, const transport::PredMessage& p) { monitor.add(p, p.time_ns); };
    std::atomic<bool> stop{false};
    Line line(cfg, std::move(engine), options);
    line.run(stop);
    fs::remove(sock);
    write_output(out, monitor.references_json());
    write_output(out.string() + ".stamp", key);
    return true;
}

void run_demo_line(const DemoRunOptions& a, std::unique_ptr<Engine> engine) {
    const ModelSpec spec = engine->spec();
    const fs::path sock = fs::temp_directory_path() / ("sightline_demo_" + std::to_string(::getpid()) + ".sock");
    RunConfig cfg = demo_config(a, sock); // the collector adds its channel
    DemoTable table(a.scene, spec.classes, cfg.cameras);
    // the monitor beside the line, on the same subscriber (a 15 s reference: the scene's drifts start at 20 s)
    const fs::path monitor_dir = a.scene.parent_path() / "demo-monitor";
    fs::create_directories(monitor_dir);
    fs::remove(monitor_dir / "monitor.db");
    MonitorSessionOptions mo;
    mo.db = (monitor_dir / "monitor.db").string();
    mo.monitor = demo_monitor_options(a.every);
    mo.reference = a.reference.string();
    MonitorSession monitor(mo);
    // the collector beside the line, as `sightline collect` runs (a fresh dataset each demo)
    DemoCollector collector(a.scene.parent_path() / "demo-collect", cfg);
    DemoConsumer consumer(cfg.publish.predictions, table, monitor);
    const std::uint64_t expected = table.expected_frames(a.every);
    LineOptions options;
    options.on_frame = [&](const FrameOutput&, const transport::PredMessage&) {
        if (a.on_progress) a.on_progress(consumer.published(), expected);
    };
    std::atomic<bool> stop{false};
    Line line(cfg, std::move(engine), options);
    const LineSummary summary = line.run(stop);
    if (a.on_done) a.on_done();
    consumer.finish(true);
    const std::vector<DemoSample> kept = collector.finish(); // the line waited for the last acknowledgements
    fs::remove(sock);
    table.print(spec, a.every, a.batch, summary);
    monitor.finish(wall_clock_ns());
    print_monitor_alarms(monitor.alarms(), table.drifts(), mo.monitor, !a.reference.empty());
    print_collector(kept, table, collector.dir().string());
    write_output(monitor_dir / "report.html", render_monitor_html(MonitorStore(mo.db, MonitorStore::Role::kReader)));
    std::printf("monitor: store %s, report %s\n", mo.db.c_str(), (monitor_dir / "report.html").string().c_str());
}

} // namespace sightline::pipeline
