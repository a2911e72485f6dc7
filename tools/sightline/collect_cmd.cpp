// sightline collect --connect ENDPOINT... --out DIR: the active-learning collector (docs/collector.md);
// sightline collect export DIR --format coco|yolo|labelstudio; collect merge OUT DIR...; collect validate DIR;
// collect import DIR --from labelstudio|coco FILE; collect snapshot DIR --out SNAP.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/dataset.hpp"
#include "sightline/pipeline/jetstream_sinks.hpp"
#include "sightline/pipeline/metrics.hpp"
#include "sightline/transport/checks.hpp"
#include "sink_options.hpp"
#include "stop_signals.hpp"

namespace sightline::tools {

namespace {
/// An existing dataset, read beside a collector that may be writing it (a folder without dataset.db is not one:
/// Error(kNotFound), nothing created).
pipeline::Dataset existing(const std::string& dir) {
    return pipeline::Dataset(dir, pipeline::Dataset::Mode::kRead);
}
struct CollectArgs {
    pipeline::CollectorOptions collect;
    std::string dir, format = "coco", out, url_prefix = "/data/local-files/?d=";
    std::vector<std::string> inputs, server_keys, extra_classes;
    std::string key;
    NatsArgs nats{"SIGHTLINE_SAMPLES", "collector"};
    std::string http;
};

void add_collector_options(CLI::App* cmd, CollectArgs& a) {
    cmd->add_option("--connect", a.collect.endpoints, "a line's publish.samples endpoint (repeat for several lines)");
    cmd->add_option("--out", a.collect.out, "the dataset folder (created, or resumed after a stop or crash)");
    cmd->add_option("--window", a.collect.window, "samples each line may have in flight to this collector")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000));
    cmd->add_option("--idle-exit", a.collect.idle_exit_s,
                    "stop after this many seconds without hearing a line: no sample, and no line saying it is "
                    "alive, as each does every second while it runs (with --nats: no sample) (0: never)")
        ->capture_default_str();
    cmd->add_option("--max-samples", a.collect.max_samples, "stop after this many new samples (0: no limit)")
        ->capture_default_str();
    cmd->add_option("--key", a.key, "this collector's secret key file (sightline keys generate): CURVE to the lines");
    cmd->add_option("--server-key", a.server_keys,
                    "a line's public key file (its .pub): one for every --connect, or one each in the same order");
    add_nats_options(cmd, a.nats, "samples");
    cmd->add_option("--http", a.http,
                    "serve the collector's Prometheus metrics on HOST:PORT/metrics (sightline_collector_*)");
}

int run_export(const CollectArgs& a) {
    const pipeline::Dataset d = existing(a.dir);
    pipeline::ExportOptions eo;
    eo.format = a.format == "yolo"          ? pipeline::ExportFormat::kYolo
                : a.format == "labelstudio" ? pipeline::ExportFormat::kLabelStudio
                                            : pipeline::ExportFormat::kCoco;
    eo.image_url_prefix = a.url_prefix;
    eo.extra_classes = a.extra_classes;
    const std::filesystem::path out =
        a.out.empty() ? std::filesystem::path(a.dir) / "export" / a.format : std::filesystem::path(a.out);
    const auto s = pipeline::export_dataset(d, out, eo);
    std::printf("%zu images, %zu pre-annotations -> %s\n", s.images, s.annotations, out.c_str());
    for (const auto& f : s.files) std::printf("  %s\n", f.c_str());
    return 0;
}

int run_collect(CollectArgs& a) {
    if (a.collect.endpoints.empty() == a.nats.urls.empty())
        throw Error(ErrorCode::kBadInput, "collect: give --connect ENDPOINT (lines) or --nats URL (JetStream), one");
    if (a.collect.out.empty()) throw Error(ErrorCode::kBadInput, "collect: --out is required");
    a.collect.curve = transport::load_client_keys(a.key, a.server_keys);
    std::map<std::string, std::map<std::string, int>> by; // line/camera -> strategy -> samples
    std::unique_ptr<pipeline::Metrics> metrics;
    if (!a.http.empty()) {
        metrics = std::make_unique<pipeline::Metrics>(a.http);
        spdlog::info("collect: metrics on http://{}/metrics", metrics->address());
        a.collect.on_counts = [&](const pipeline::CollectorSummary& s) {
            metrics->collector_problems(s.malformed, s.write_failures);
        };
    }
    a.collect.on_sample = [&](const pipeline::DatasetSample& d, bool added) {
        if (added) ++by[transport::line_camera(d.line, d.camera)][d.strategy];
        if (metrics) metrics->sample(d.line, d.camera, added ? "added" : "duplicate");
    };
    const auto s =
        a.nats.urls.empty()
            ? pipeline::run_collector(a.collect, stop_on_signals())
            : pipeline::run_collector(a.collect, *pipeline::jetstream_samples(a.nats.reader("sightline collect")),
                                      stop_on_signals());
    for (const auto& [camera, strategies] : by)
        for (const auto& [strategy, n] : strategies) std::printf("%s\t%s\t%d\n", camera.c_str(), strategy.c_str(), n);
    return s.malformed > 0 && s.added == 0 ? 1 : 0;
}

} // namespace

Run add_collect(CLI::App& app) {
    auto* cmd = app.add_subcommand("collect", command_help("collect"));
    auto o = std::make_shared<CollectArgs>();
    add_collector_options(cmd, *o);
    auto* exp = cmd->add_subcommand("export", "Write the dataset as COCO, YOLO or Label Studio tasks, with a manifest");
    exp->add_option("dataset", o->dir, "the dataset folder")->required();
    exp->add_option("--format", o->format, "coco, yolo or labelstudio")
        ->capture_default_str()
        ->check(CLI::IsMember({"coco", "yolo", "labelstudio"}));
    exp->add_option("--out", o->out, "where to write it (default: DATASET/export/FORMAT)");
    exp->add_option("--image-url-prefix", o->url_prefix,
                    "labelstudio: an image's URL is this + its path in the export (default: Label Studio's local "
                    "files, document root at the export folder)")
        ->capture_default_str();
    exp->add_option("--extra-classes", o->extra_classes,
                    "classes labelers may use beyond the model's (a part it never saw), comma-separated")
        ->delimiter(',');
    const Run labels = add_collect_labels(*cmd);
    auto* merge = cmd->add_subcommand("merge", "Combine datasets (shards of several collectors) into one; "
                                               "a sample id present twice is kept once");
    merge->add_option("out", o->out, "the merged dataset (created or resumed)")->required();
    merge->add_option("inputs", o->inputs, "the datasets to merge")->required();
    auto* validate = cmd->add_subcommand("validate", "Check that every sample's image is there and whole");
    validate->add_option("dataset", o->dir, "the dataset folder")->required();
    return [exp, labels, merge, validate, o]() -> int {
        if (exp->parsed()) return run_export(*o);
        if (const int code = labels(); code != kNotParsed) return code;
        if (merge->parsed()) {
            std::vector<std::filesystem::path> in(o->inputs.begin(), o->inputs.end());
            const std::size_t added = pipeline::merge_datasets(in, o->out);
            std::printf("%zu samples added -> %s (%zu in all)\n", added, o->out.c_str(), existing(o->out).size());
            return 0;
        }
        if (validate->parsed()) {
            const pipeline::Dataset d = existing(o->dir);
            const auto problems = d.validate();
            for (const auto& p : problems) std::printf("%s\n", p.c_str());
            std::printf("%zu samples, %zu problems\n", d.size(), problems.size());
            return problems.empty() ? 0 : 1;
        }
        return run_collect(*o);
    };
}

} // namespace sightline::tools
