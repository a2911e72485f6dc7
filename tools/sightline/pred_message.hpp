#pragma once
// One processed frame as a wire-format pred message (shared by `sightline run` and the line-speed benchmark).
#include <chrono>

#include "sightline/pipeline/runner.hpp"
#include "sightline/transport/messages.hpp"

namespace sightline::tools {

inline transport::PredMessage to_pred_message(const pipeline::FrameOutput& f, const std::string& model,
                                              const std::map<std::string, std::string>& meta) {
    transport::PredMessage m;
    m.camera = f.camera;
    m.seq = f.seq;
    m.pts_ns = f.pts_ns;
    m.frame = f.frame;
    m.width = f.width;
    m.height = f.height;
    m.model = model;
    for (std::size_t k = 0; k < f.detections.size(); ++k) {
        const auto& d = f.detections[k];
        m.boxes.insert(m.boxes.end(), {d.x1, d.y1, d.x2, d.y2});
        m.scores.push_back(d.score);
        m.classes.push_back(d.cls);
        m.flags.push_back(f.flags[k]);
        m.margins.push_back(d.margin);
        m.entropies.push_back(d.entropy);
    }
    m.stamps_ns = f.stamps_ns;
    m.stamps_ns["published"] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    m.meta = meta;
    return m;
}

} // namespace sightline::tools
