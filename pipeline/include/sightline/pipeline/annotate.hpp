#pragma once
/// A run's predictions drawn on its video: `sightline draw`.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace sightline::pipeline {

struct AnnotateOptions {
    std::filesystem::path recording; ///< `sightline run --record` output
    std::filesystem::path video;     ///< the camera's video, as the run read it
    std::string camera;              ///< the camera whose predictions to draw (empty: the recording's only one)
    std::filesystem::path out;       ///< the annotated MP4 (H.264)
    bool only_processed = false;     ///< write only the frames the run processed (a pred message each)
    /// A second version's recording of the same video: each frame both recordings hold is drawn as `sightline
    /// compare` draws it (both, class changed, only in `recording`, only in this one) instead of per class.
    std::filesystem::path recording_b;
};

struct AnnotateSummary {
    std::uint64_t frames_written = 0;
    std::uint64_t frames_with_predictions = 0; ///< of them, frames the run published a pred message for
    std::uint64_t detections = 0, flagged = 0;
    std::uint64_t frames_compared = 0, differences = 0; ///< with recording_b: frames both hold, differences drawn
};

/// Decodes `video`, draws each processed frame's detections (a colour per class, "class score", flagged detections
/// with a thick dashed outline and their flag letters: N near threshold, A ambiguous class), a caption with the
/// camera, frame and counts, and writes the MP4. Frames the run did not process are written undrawn (captioned so),
/// or left out with only_processed. Errors name the file: a missing or damaged recording, an unknown camera.
AnnotateSummary annotate_video(const AnnotateOptions& options, const std::function<void(long, long)>& progress = {});

} // namespace sightline::pipeline
