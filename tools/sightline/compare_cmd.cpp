// sightline compare A.slrec [B.slrec]: two model versions on the same frames, box by box (issue 26, part 5): two
// recordings, or one recording of a line that ran a version beside the serving one.
#include <spdlog/spdlog.h>

#include <fstream>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/versions.hpp"

namespace sightline::tools {

namespace {

struct Options {
    std::filesystem::path a, b, json, html, sheet, videos;
    double iou = 0.5;
    std::size_t keep = 24;
    bool guardrails = false;
    std::vector<std::string> guardrail; ///< --guardrail specs: replace the defaults
    pipeline::RolloutConfig rollout;
    std::filesystem::path gt;
    std::string camera;
    int bootstrap = 200;
    std::uint64_t seed = 1;
};

/// What is judged beside the agreement: b as a rollout's candidate (guardrails), and both against ground truth.
void add_judgement_options(CLI::App* cmd, Options& o) {
    cmd->add_flag("--guardrails", o.guardrails,
                  "also judge b as a candidate against a, per camera, frame by frame in order, as a rollout's "
                  "guardrails would (docs/versions.md): rollback, promote or undecided, with the evidence");
    cmd->add_option("--guardrail", o.guardrail,
                    "with --guardrails (implied): judge by this guardrail, METRIC:WORSE:TOLERANCE (e.g. "
                    "disagreement:higher:0.1; repeat for several), instead of the defaults (detections:either:0.2, "
                    "mean_score:lower:0.1, flagged:higher:0.5); metrics: detections, mean_score, flagged, "
                    "latency_ms, latency_p99, disagreement (docs/versions.md)");
    cmd->add_option("--block-frames", o.rollout.block_frames, "guardrails: frames per block")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--alpha", o.rollout.alpha, "guardrails: each test's chance of ever deciding wrongly")
        ->capture_default_str()
        ->check(CLI::Range(1e-9, 0.5));
    cmd->add_option("--gt", o.gt,
                    "COCO ground truth of the frames (as `sightline synth` writes it): also b against a on it, every "
                    "metric with a paired bootstrap 95% interval, as `sightline eval --compare` computes it")
        ->check(CLI::ExistingFile);
    cmd->add_option("--camera", o.camera,
                    "with --gt: the camera to score, where the recordings hold several and the ground truth names "
                    "none");
    cmd->add_option("--bootstrap", o.bootstrap, "with --gt: bootstrap replicates")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--seed", o.seed, "with --gt: bootstrap seed")->capture_default_str();
}

/// The --guardrail specs as the rollout's guardrails (none given: the defaults). The ground-truth ones are refused:
/// a recording has no truth (`--gt` scores both versions on it instead).
void read_guardrails(Options& o) {
    if (o.guardrail.empty()) return;
    o.guardrails = true;
    o.rollout.guardrails.clear();
    for (const auto& spec : o.guardrail) {
        const auto g = pipeline::parse_guardrail(spec);
        if (pipeline::guardrail_needs_truth(g.metric))
            throw Error(ErrorCode::kBadInput,
                        "compare: guardrail '" + spec + "': " + g.metric +
                            " needs ground truth, which a recording does not hold (on the line: a camera's "
                            "ground_truth; here: --gt scores both versions on it)");
        o.rollout.guardrails.push_back(g);
    }
}

int run_compare(Options& o) {
    read_guardrails(o);
    auto c = pipeline::compare_recordings(o.a, o.b, o.iou, o.keep, o.guardrails ? &o.rollout : nullptr);
    if (!o.gt.empty()) pipeline::add_ground_truth(c, o.gt, o.camera, o.bootstrap, o.seed);
    pipeline::print_comparison(c, stdout);
    const auto write = [](const std::filesystem::path& path, const std::string& bytes) {
        std::ofstream f(path, std::ios::binary);
        f << bytes;
        if (!f) throw Error(ErrorCode::kIo, "compare: cannot write " + path.string());
        spdlog::info("compare: written {}", path.string());
    };
    if (!o.sheet.empty() && o.videos.empty())
        throw Error(ErrorCode::kBadInput, "compare: --sheet needs --videos (the folder of the cameras' videos)");
    const std::string sheet = o.videos.empty() || c.most_different.empty()
                                  ? std::string()
                                  : pipeline::comparison_sheet(c, o.videos, o.sheet.extension() == ".png");
    if (!o.sheet.empty()) write(o.sheet, sheet);
    if (!o.html.empty()) write(o.html, pipeline::render_comparison_html(c, sheet));
    if (!o.json.empty()) write(o.json, pipeline::comparison_json(c) + "\n");
    return 0;
}

} // namespace

Run add_compare(CLI::App& app) {
    auto o = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("compare", command_help("compare"));
    cmd->add_option("a", o->a, "the first version's recording (`sightline run --record FILE`)")->required();
    cmd->add_option("b", o->b,
                    "the second version's recording, of the same videos; without it, the versions that ran beside the "
                    "serving ones in A (shadow/<camera>) against what served");
    cmd->add_option("--iou", o->iou, "IoU at which two detections are the same object (as the online evaluator)")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 1.0));
    cmd->add_option("--json", o->json, "also write the comparison as JSON to this file");
    cmd->add_option("--keep", o->keep, "how many of the most different frames to keep (the sheet's tiles)")
        ->capture_default_str();
    cmd->add_option("--html", o->html,
                    "write a self-contained HTML page (tables, class changes, and with --videos "
                    "the contact sheet)");
    cmd->add_option("--sheet", o->sheet,
                    "write the most different frames, both versions' boxes drawn, as a contact sheet (needs "
                    "--videos): a PNG when FILE ends in .png, else a JPEG");
    cmd->add_option("--videos", o->videos, "the folder of the cameras' videos as the runs read them, <camera>.mp4");
    add_judgement_options(cmd, *o);
    cmd->footer("Frames pair by camera and frame index. Per camera and per class: frames compared, the share where "
                "the versions differ, and their detections as both (same object, same class), class changed, only "
                "in a, only in b; agreement = both / all. Classes match by name, so versions with different class "
                "lists compare.");
    return [o] { return run_compare(*o); };
}

} // namespace sightline::tools
