// sightline draw --rec RUN.slrec --video CAM.mp4 --out OUT.mp4: a run's predictions drawn onto its video.
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "progress.hpp"
#include "sightline/pipeline/annotate.hpp"

namespace sightline::tools {

Run add_draw(CLI::App& app) {
    auto o = std::make_shared<pipeline::AnnotateOptions>();
    auto* cmd = app.add_subcommand("draw", command_help("draw"));
    cmd->add_option("--rec", o->recording, "the recording (`sightline run --record FILE`)")->required();
    cmd->add_option("--video", o->video, "the camera's video, as the run read it")->required();
    cmd->add_option("--out", o->out, "the annotated MP4 to write (H.264)")->required();
    cmd->add_option("--camera", o->camera, "the camera to draw (needed when the recording holds several)");
    cmd->add_option("--rec-b", o->recording_b,
                    "a second version's recording of the same video: both drawn as `sightline compare` draws them "
                    "(both green, class changed orange, only in --rec red, only in --rec-b blue dashed)");
    cmd->add_flag("--only-processed", o->only_processed,
                  "write only the frames the run processed (default: every frame, unprocessed ones captioned so)");
    return [o] {
        ProgressLine progress("draw");
        const auto s =
            pipeline::annotate_video(*o, [&](long done, long total) { progress.update(done, total, "frames"); });
        progress.done();
        if (!o->recording_b.empty())
            spdlog::info("draw: {} frames written to {} ({} compared: {} differences)", s.frames_written,
                         o->out.string(), s.frames_compared, s.differences);
        else
            spdlog::info("draw: {} frames written to {} ({} with predictions: {} detections, {} flagged)",
                         s.frames_written, o->out.string(), s.frames_with_predictions, s.detections, s.flagged);
        return 0;
    };
}

} // namespace sightline::tools
