// `sightline compare`'s pictures: the most different frames as a contact sheet, and the self-contained HTML page.
#include <openssl/evp.h>

#include <fmt/format.h>
#include <map>
#include <opencv2/imgproc.hpp>

#include "../common/html.hpp"
#include "../media/draw_util.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/curate.hpp"
#include "sightline/pipeline/eval_report.hpp"
#include "sightline/pipeline/versions.hpp"
#include "sightline/pipeline/video_reader.hpp"

namespace sightline::pipeline {

namespace {

std::string base64(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

void tally_rows(std::string& h, const std::map<std::string, AgreementTally>& rows, const AgreementTally* all,
                const char* what) {
    h += fmt::format("<table><tr><th>{}</th><th>frames</th><th>differ</th><th>both</th><th>class changed</th><th>only "
                     "a</th><th>only b</th><th>agreement</th></tr>\n",
                     what);
    const auto row = [&](const std::string& name, const AgreementTally& t) {
        const double differ = t.frames ? 100.0 * static_cast<double>(t.frames_disagreeing) / t.frames : 0.0;
        h += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.1f}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>"
                         "{:.1f}%</td></tr>\n",
                         html::esc(name), t.frames, differ, t.both, t.class_changed, t.only_a, t.only_b,
                         100 * t.agreement());
    };
    for (const auto& [name, t] : rows) row(name, t);
    if (all) row("all", *all);
    h += "</table>\n";
}

} // namespace

std::string comparison_sheet(const VersionComparison& c, const std::filesystem::path& videos, bool png) {
    if (c.most_different.empty()) throw Error(ErrorCode::kBadInput, "compare: the versions agree on every frame");
    // decode each camera's video once, up to its last wanted frame
    std::map<std::string, std::map<std::int64_t, cv::Mat>> wanted;
    for (const auto& f : c.most_different) wanted[f.camera][f.frame] = cv::Mat();
    for (auto& [camera, frames] : wanted) {
        const auto path = videos / (camera + ".mp4");
        if (!std::filesystem::exists(path))
            throw Error(ErrorCode::kNotFound, fmt::format("compare: {}: no such video (--videos names the folder of "
                                                          "the cameras' videos, <camera>.mp4)",
                                                          path.string()));
        VideoReader reader(path.string());
        DecodedFrame d;
        const std::int64_t last = frames.rbegin()->first;
        while (reader.next(d) && d.index <= last)
            if (const auto it = frames.find(d.index); it != frames.end()) it->second = draw::to_bgr(d.view);
        for (const auto& [index, img] : frames)
            if (img.empty())
                throw Error(
                    ErrorCode::kBadInput,
                    fmt::format("compare: {} has no frame {} (is it the video the runs read?)", path.string(), index));
    }
    constexpr int kTileW = 480, kColumns = 2;
    std::vector<cv::Mat> tiles;
    for (const auto& f : c.most_different) {
        cv::Mat img = wanted[f.camera][f.frame].clone();
        draw::version_pairs(img, f.boxes_a, f.boxes_b);
        cv::Mat tile;
        cv::resize(img, tile, {kTileW, img.rows * kTileW / img.cols}, 0, 0, cv::INTER_AREA);
        const std::string caption = fmt::format("{} frame {}: {} differences", f.camera, f.frame, f.differences);
        cv::putText(tile, caption, {6, tile.rows - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.45, {0, 0, 0}, 3, cv::LINE_AA);
        cv::putText(tile, caption, {6, tile.rows - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.45, {255, 255, 255}, 1, cv::LINE_AA);
        tiles.push_back(std::move(tile));
    }
    int tile_h = 0;
    for (const auto& t : tiles) tile_h = std::max(tile_h, t.rows);
    const int rows = (static_cast<int>(tiles.size()) + kColumns - 1) / kColumns;
    cv::Mat sheet(rows * (tile_h + 4), kColumns * (kTileW + 4), CV_8UC3, cv::Scalar(255, 255, 255));
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        const int r = static_cast<int>(i) / kColumns, col = static_cast<int>(i) % kColumns;
        tiles[i].copyTo(sheet(cv::Rect(col * (kTileW + 4) + 2, r * (tile_h + 4) + 2, kTileW, tiles[i].rows)));
    }
    kernels::ImageView v;
    v.format = kernels::PixelFormat::kBGR, v.width = sheet.cols, v.height = sheet.rows;
    v.planes[0] = sheet.data, v.pitch[0] = static_cast<int>(sheet.step);
    return png ? encode_png(v) : encode_jpeg(v, 88);
}

std::string render_comparison_html(const VersionComparison& c, const std::string& sheet) {
    std::string h = "<!doctype html><html><head><meta charset=\"utf-8\"><title>sightline compare</title><style>"
                    "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 "
                    "20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-"
                    "child{text-align:left}.key span{display:inline-block;width:14px;height:10px;margin:0 4px 0 "
                    "14px}img{max-width:100%}</style></head><body>\n";
    h += "<h1>Two versions on the same frames</h1>\n";
    h += fmt::format("<p>a: <b>{}</b> ({})<br>b: <b>{}</b> ({})<br>matched at IoU &ge; {:g}, the same class first, "
                     "then any class</p>\n",
                     html::esc(c.model_a), html::esc(c.a.string()), html::esc(c.model_b), html::esc(c.b.string()),
                     c.iou);
    h += fmt::format("<h2>Agreement: {:.1f}% of detections, {} of {} frames differ</h2>\n", 100 * c.all.agreement(),
                     c.all.frames_disagreeing, c.all.frames);
    tally_rows(h, c.by_camera, &c.all, "camera");
    h += "<h2>By class</h2>\n";
    tally_rows(h, c.by_class, nullptr, "class");
    if (!c.class_changes.empty()) {
        h += "<h2>Class changes</h2>\n<table><tr><th>a</th><th>b</th><th>detections</th></tr>\n";
        for (const auto& [k, n] : c.class_changes)
            h +=
                fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", html::esc(k.first), html::esc(k.second), n);
        h += "</table>\n";
    }
    if (!c.rollouts.empty()) {
        h += "<h2>b as a candidate against a (guardrails)</h2>\n<table><tr><th>camera</th><th>decision</th><th>at "
             "frame</th><th>of</th><th>evidence</th></tr>\n";
        for (const auto& [cam, r] : c.rollouts)
            h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td>"
                             "</tr>\n",
                             html::esc(cam), decision_name(r.decision), r.decided_at_frame, r.frames,
                             html::esc(r.evidence));
        h += "</table>\n";
    }
    if (c.accuracy && c.accuracy->compare) {
        h += fmt::format("<h2>Against the ground truth</h2>\n<p>{} (b) against {} (a) on {}: paired bootstrap over "
                         "images, {} replicates, 95% intervals.</p>\n",
                         html::esc(c.accuracy->b.label()), html::esc(c.accuracy->a.label()),
                         html::esc(c.accuracy->options.gt), c.accuracy->compare->replicates);
        h += render_eval_comparison_table(*c.accuracy) + "\n";
        for (const auto& f : c.accuracy->red_flags) h += "<p><b>Red flag:</b> " + html::esc(f) + "</p>\n";
    }
    if (c.frames_only_in_a || c.frames_only_in_b || c.repeated_frames)
        h += fmt::format("<p>Not compared: {} frames only in a, {} only in b, {} repeated (a looping file).</p>\n",
                         c.frames_only_in_a, c.frames_only_in_b, c.repeated_frames);
    if (!sheet.empty()) {
        const bool is_png = sheet.rfind("\x89PNG", 0) == 0;
        h += fmt::format("<h2>The {} most different frames</h2>\n<p class=\"key\">", c.most_different.size());
        h += "<span style=\"background:#3caa3c\"></span>both<span style=\"background:#ff8c00\"></span>class changed "
             "(a&gt;b)<span style=\"background:#e13232\"></span>only a<span style=\"background:#1478e1\"></span>only "
             "b (dashed)</p>\n";
        h += "<img alt=\"the most different frames\" src=\"data:image/" + std::string(is_png ? "png" : "jpeg") +
             ";base64," + base64(sheet) + "\">\n";
    }
    h += "</body></html>\n";
    return h;
}

} // namespace sightline::pipeline
