// `sightline draw`: a recording's pred messages drawn onto the camera's video.
#include "sightline/pipeline/annotate.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstring>
#include <map>

#include "draw_util.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/pipeline/video_writer.hpp"
#include "sightline/transport/recording.hpp"

namespace sightline::pipeline {

namespace {

const cv::Scalar kPalette[] = {{180, 119, 31}, {14, 127, 255},  {44, 160, 44},   {40, 39, 214},  {189, 103, 148},
                               {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};

/// One version's detections on a frame: a colour per class, "class score" and flag letters, flagged ones dashed;
/// counted into `s`. Returns the caption's tail.
std::string draw_prediction(cv::Mat& img, const transport::PredMessage& p, const std::vector<std::string>& classes,
                            AnnotateSummary& s) {
    ++s.frames_with_predictions;
    int flagged = 0;
    for (std::size_t k = 0; k < p.scores.size(); ++k) {
        const int cls = p.classes[k];
        const cv::Scalar colour = kPalette[(cls % 10 + 10) % 10];
        const cv::Point a(static_cast<int>(p.boxes[4 * k]), static_cast<int>(p.boxes[4 * k + 1]));
        const cv::Point b(static_cast<int>(p.boxes[4 * k + 2]), static_cast<int>(p.boxes[4 * k + 3]));
        const std::uint32_t fl = p.flags[k];
        if (fl) {
            draw::dashed_rect(img, a, b, colour, 3);
            ++flagged;
        } else {
            cv::rectangle(img, a, b, colour, 2);
        }
        std::string label =
            (cls >= 0 && static_cast<std::size_t>(cls) < classes.size() ? classes[cls] : std::to_string(cls));
        char score[16];
        std::snprintf(score, sizeof score, " %.2f", p.scores[k]);
        label += score;
        if (fl & transport::kFlagNearThreshold) label += " N";
        if (fl & transport::kFlagAmbiguousClass) label += " A";
        cv::putText(img, label, {a.x, std::max(10, a.y - 3)}, cv::FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv::LINE_AA);
    }
    s.detections += p.scores.size();
    s.flagged += static_cast<std::uint64_t>(flagged);
    return "  " + std::to_string(p.scores.size()) + " detections, " + std::to_string(flagged) + " flagged (dashed)";
}

} // namespace

AnnotateSummary annotate_video(const AnnotateOptions& o, const std::function<void(long, long)>& progress) {
    transport::RecordingReader rec(o.recording);
    const auto& cams = rec.header().cameras;
    std::string camera = o.camera;
    if (camera.empty()) {
        if (cams.size() != 1)
            throw Error(ErrorCode::kBadInput, o.recording.string() + ": holds " + std::to_string(cams.size()) +
                                                  " cameras: pick one (--camera)");
        camera = cams.front();
    } else if (std::find(cams.begin(), cams.end(), camera) == cams.end()) {
        throw Error(ErrorCode::kBadInput, o.recording.string() + ": no camera '" + camera + "' in this recording");
    }
    const auto& classes = rec.header().classes;
    const auto read_preds = [&](transport::RecordingReader& r) {
        std::map<std::int64_t, transport::PredMessage> out; // frame index -> its message
        std::string topic;
        transport::Message m;
        while (r.next(topic, m))
            if (auto* p = std::get_if<transport::PredMessage>(&m);
                p && !p->shadow && p->camera == camera && p->frame >= 0)
                out[p->frame] = std::move(*p);
        return out;
    };
    const auto preds = read_preds(rec);
    std::map<std::int64_t, std::vector<VersionBox>> second; // the second version's boxes by frame
    if (!o.recording_b.empty()) {
        transport::RecordingReader rb(o.recording_b);
        const auto& cb = rb.header().cameras;
        if (std::find(cb.begin(), cb.end(), camera) == cb.end())
            throw Error(ErrorCode::kBadInput,
                        o.recording_b.string() + ": no camera '" + camera + "' in this recording");
        for (const auto& [frame, p] : read_preds(rb)) second[frame] = version_boxes(p, rb.header().classes);
    }

    VideoReader reader(o.video.string());
    if (reader.width() % 2 || reader.height() % 2)
        throw Error(ErrorCode::kUnsupported, o.video.string() + ": odd frame size " + std::to_string(reader.width()) +
                                                 "x" + std::to_string(reader.height()) + " (4:2:0 needs even sizes)");
    VideoWriterOptions wo;
    wo.width = reader.width(), wo.height = reader.height();
    wo.fps = std::max(1, static_cast<int>(reader.fps() + 0.5));
    VideoWriter writer(o.out, wo);
    AnnotateSummary s;
    DecodedFrame f;
    const long last = preds.empty() ? 0 : static_cast<long>(preds.rbegin()->first) + 1;
    cv::Mat i420;
    while (reader.next(f)) {
        const auto it = preds.find(f.index);
        if (it == preds.end() && o.only_processed) continue;
        cv::Mat img = draw::to_bgr(f.view);
        std::string caption = camera + "  frame " + std::to_string(f.index);
        const auto it_b = second.find(f.index);
        if (it != preds.end() && !o.recording_b.empty()) {
            if (it_b != second.end()) {
                const int d = draw::version_pairs(img, version_boxes(it->second, classes), it_b->second);
                ++s.frames_compared, s.differences += static_cast<std::uint64_t>(d);
                caption += "  a " + std::to_string(it->second.scores.size()) + ", b " +
                           std::to_string(it_b->second.size()) + " detections, " + std::to_string(d) + " differences";
            } else {
                caption += "  (not in the second recording)";
            }
        } else if (it != preds.end()) {
            caption += draw_prediction(img, it->second, classes, s);
        } else {
            caption += "  (not processed by the run)";
        }
        cv::putText(img, caption, {6, img.rows - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.45, {0, 0, 0}, 3, cv::LINE_AA);
        cv::putText(img, caption, {6, img.rows - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.45, {255, 255, 255}, 1, cv::LINE_AA);
        cv::cvtColor(img, i420, cv::COLOR_BGR2YUV_I420);
        writer.write_i420(i420.data);
        ++s.frames_written;
        if (progress) progress(static_cast<long>(f.index) + 1, std::max(last, static_cast<long>(f.index) + 1));
    }
    writer.finish();
    return s;
}

} // namespace sightline::pipeline
