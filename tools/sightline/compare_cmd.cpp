// sightline compare A.slrec B.slrec: two model versions on the same frames, box by box (issue 26, part 5).
#include <spdlog/spdlog.h>

#include <fstream>

#include "commands.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/versions.hpp"

namespace sightline::tools {

Run add_compare(CLI::App& app) {
    struct Options {
        std::filesystem::path a, b, json;
        double iou = 0.5;
        std::size_t keep = 24;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("compare", command_help("compare"));
    cmd->add_option("a", o->a, "the first version's recording (`sightline run --record FILE`)")->required();
    cmd->add_option("b", o->b, "the second version's recording, of the same videos")->required();
    cmd->add_option("--iou", o->iou, "IoU at which two detections are the same object (as the online evaluator)")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 1.0));
    cmd->add_option("--json", o->json, "also write the comparison as JSON to this file");
    cmd->add_option("--keep", o->keep, "how many of the most different frames to list")->capture_default_str();
    cmd->footer("Frames pair by camera and frame index. Per camera and per class: frames compared, the share where "
                "the versions differ, and their detections as both (same object, same class), class changed, only "
                "in a, only in b; agreement = both / all. Classes match by name, so versions with different class "
                "lists compare.");
    return [o] {
        const auto c = pipeline::compare_recordings(o->a, o->b, o->iou, o->keep);
        pipeline::print_comparison(c, stdout);
        if (!o->json.empty()) {
            std::ofstream f(o->json);
            f << pipeline::comparison_json(c) << "\n";
            if (!f) throw Error(ErrorCode::kIo, "compare: cannot write " + o->json.string());
            spdlog::info("compare: written {}", o->json.string());
        }
        return 0;
    };
}

} // namespace sightline::tools
