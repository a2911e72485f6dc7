// sightline run CONFIG.yaml: cameras -> detector -> ZeroMQ, until the sources end or SIGINT/SIGTERM.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "commands.hpp"
#include "pred_message.hpp"
#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/pipeline/runner.hpp"
#include "sightline/pipeline/stats.hpp"
#include "sightline/transport/pubsub.hpp"
#include "sightline/transport/recording.hpp"

namespace sightline::tools {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
    g_stop.store(true);
}
} // namespace

Run add_run(CLI::App& app) {
    auto config = std::make_shared<std::string>();
    auto json_stats = std::make_shared<bool>(false);
    auto record = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("run", "Run the line: decode every camera, detect, publish predictions over ZeroMQ "
                                          "(docs/config.md, docs/wire.md)");
    cmd->add_option("config", *config, "the run configuration (YAML)")->required();
    cmd->add_flag("--json-stats", *json_stats,
                  "print every stat message as one JSON line on stdout (the status line goes to a terminal only)");
    cmd->add_option("--record", *record,
                    "also write every published message (pred, stat, event) to this file, lossless whatever the "
                    "subscribers do; `sightline eval --dt FILE` scores it (format: docs/wire.md, Recordings)");
    return [config, json_stats, record] {
        auto cfg = pipeline::load_run_config(*config);
        spdlog::info("{}", kernels::describe_device());
        auto spec = pipeline::load_model_spec(cfg.model);
        pipeline::Runner runner(cfg, pipeline::make_engine(cfg.engine, spec));
        const std::string model = spec.name + "@" + spec.version;
        spdlog::info("run: {} camera(s), model {} via {}", cfg.cameras.size(), model,
                     runner.detector().engine().describe());

        transport::PublisherOptions po;
        po.endpoint = cfg.predictions_endpoint;
        po.send_hwm = cfg.send_hwm;
        po.linger_ms = 2000; // let the last messages leave on shutdown
        transport::Publisher pub(po);
        if (cfg.wait_for_subscribers > 0) {
            spdlog::info("run: waiting for {} subscriber(s) on {}", cfg.wait_for_subscribers, cfg.predictions_endpoint);
            if (!pub.wait_for_subscribers(cfg.wait_for_subscribers,
                                          std::chrono::milliseconds(static_cast<long>(cfg.wait_timeout_s * 1000))))
                throw Error(ErrorCode::kTransport,
                            cfg.predictions_endpoint + ": " + std::to_string(cfg.wait_for_subscribers) +
                                " subscriber(s) did not join within " + std::to_string(cfg.wait_timeout_s) + " s");
        }
        // the recording: every message, written by the line itself (a slow subscriber cannot make it lose any);
        // a failed write (full disk) stops the recording, loudly, and the run's exit status says so
        std::unique_ptr<transport::RecordingWriter> recorder;
        bool record_failed = false;
        if (!record->empty()) {
            transport::RecordingHeader h;
            h.model = model;
            h.classes = spec.classes;
            for (const auto& c : cfg.cameras) h.cameras.push_back(c.id);
            h.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
            recorder = std::make_unique<transport::RecordingWriter>(*record, h);
            spdlog::info("run: recording every message to {}", *record);
        }
        auto recorded = [&](auto&& step) {
            if (!recorder) return;
            try {
                step(*recorder);
            } catch (const Error& e) {
                spdlog::error("run: the recording stopped: {}", e.what());
                record_failed = true;
                recorder.reset();
                pub.publish(transport::EventMessage{"record_failed", "", e.what(), 0});
            }
        };
        auto send = [&](const transport::Message& m) {
            pub.publish(m);
            recorded([&](transport::RecordingWriter& w) { w.write(m); });
        };
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        send(transport::EventMessage{"run_start", "", model, 0});
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<pipeline::CameraStats> stats(cfg.cameras.size());
        // online evaluation of the cameras that have ground truth
        std::vector<std::unique_ptr<pipeline::CocoGroundTruth>> truths;
        std::vector<std::unique_ptr<pipeline::OnlineEvaluator>> evaluators(cfg.cameras.size());
        for (std::size_t i = 0; i < cfg.cameras.size(); ++i) {
            if (cfg.cameras[i].ground_truth.empty()) continue;
            truths.push_back(std::make_unique<pipeline::CocoGroundTruth>(
                pipeline::load_coco_ground_truth_file(cfg.cameras[i].ground_truth)));
            evaluators[i] = std::make_unique<pipeline::OnlineEvaluator>(*truths.back(), cfg.cameras[i].id, spec.classes,
                                                                        cfg.eval_window_s, cfg.eval_iou);
            spdlog::info("run: {}: evaluated online against {} (rolling {} s window, IoU {})", cfg.cameras[i].id,
                         cfg.cameras[i].ground_truth.string(), cfg.eval_window_s, cfg.eval_iou);
        }
        auto window_start = t0;
        const bool status_line = isatty(fileno(stderr));
        auto publish_stats = [&](std::chrono::steady_clock::time_point now) {
            const double window = std::chrono::duration<double>(now - window_start).count();
            const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
            std::string line;
            for (std::size_t i = 0; i < stats.size(); ++i) {
                auto values = stats[i].take(window);
                values["messages_sent_total"] = static_cast<double>(pub.sent());
                values["messages_dropped_total"] = static_cast<double>(pub.dropped());
                if (evaluators[i]) values.merge(evaluators[i]->figures());
                if (*json_stats) {
                    nlohmann::json j = {{"camera", cfg.cameras[i].id}, {"time_ns", wall}, {"values", values}};
                    std::printf("%s\n", j.dump().c_str());
                    std::fflush(stdout);
                }
                line += fmt::format("{}{} {:.1f} fps p50 {:.0f} p99 {:.0f} ms drop {}", i ? " | " : "",
                                    cfg.cameras[i].id, values["fps"], values["latency_ms_total_p50"],
                                    values["latency_ms_total_p99"], values["dropped_behind_total"]);
                if (evaluators[i] && values["eval_ap"] >= 0) line += fmt::format(" AP {:.3f}", values["eval_ap"]);
                send(transport::StatMessage{cfg.cameras[i].id, wall, std::move(values)});
            }
            recorded([](transport::RecordingWriter& w) { w.flush(); });
            if (status_line) std::fprintf(stderr, "\r%s\033[K", line.c_str());
            window_start = now;
        };
        auto summary = runner.run(
            [&](const pipeline::FrameOutput& f) {
                // built once as a Message: publishing and recording it copies no detections
                const transport::Message m = to_pred_message(f, model, cfg.cameras[f.camera_index].meta);
                send(m);
                stats[f.camera_index].add(f, std::get<transport::PredMessage>(m).stamps_ns.at("published"));
                if (evaluators[f.camera_index]) evaluators[f.camera_index]->add(f.frame, f.pts_ns, f.detections);
                const auto now = std::chrono::steady_clock::now();
                if (now - window_start >= std::chrono::seconds(1)) publish_stats(now);
            },
            g_stop,
            [&](const pipeline::RunEvent& e) {
                const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
                send(transport::EventMessage{e.kind, e.camera, e.message, wall});
            });
        publish_stats(std::chrono::steady_clock::now()); // the final figures
        if (status_line) std::fputc('\n', stderr);
        send(transport::EventMessage{"run_end", "", g_stop ? "stopped by signal" : "sources ended", 0});
        recorded([](transport::RecordingWriter& w) { w.close(); });
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::uint64_t frames = 0;
        for (std::size_t i = 0; i < cfg.cameras.size(); ++i) {
            frames += summary.frames[i];
            spdlog::info("run: {}: {} frames, {} dropped (line behind), {} dropped (past max_latency_ms), {} corrupt "
                         "packets skipped",
                         cfg.cameras[i].id, summary.frames[i], summary.dropped[i], summary.late[i],
                         summary.corrupt_packets[i]);
        }
        spdlog::info("run: {} frames in {:.1f} s ({:.1f} fps); {} messages sent, {} dropped at the high-water mark",
                     frames, secs, frames / std::max(secs, 1e-9), pub.sent(), pub.dropped());
        if (record_failed) {
            spdlog::error("run: the recording {} is incomplete (see the error above)", *record);
            return 1;
        }
        if (!record->empty()) spdlog::info("run: recording complete: {}", *record);
        return 0;
    };
}

} // namespace sightline::tools
