#include <yaml-cpp/yaml.h>

#include <set>

#include "config/yaml_file.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/config.hpp"

namespace sightline::pipeline {

namespace {

/// Value rules, named as the error states them.
template <class T> auto in(T lo, T hi) {
    return [=](T v) { return v >= lo && v <= hi; };
}
template <class T> auto above(T lo, T hi) { // (lo, hi]
    return [=](T v) { return v > lo && v <= hi; };
}
template <class T> auto at_least(T lo) {
    return [=](T v) { return v >= lo; };
}

CameraConfig read_camera(const detail::YamlFile& c, const YAML::Node& n, const std::string& p,
                         const std::filesystem::path& dir, std::set<std::string>& ids) {
    c.keys(n, p, {"id", "url", "meta", "realtime", "loop", "options", "ground_truth", "every", "decode"});
    const auto resolve = [&](const std::string& s) {
        return is_network_url(s) || std::filesystem::path(s).is_absolute() ? std::filesystem::path(s) : dir / s;
    };
    CameraConfig cam;
    cam.id = c.get<std::string>(n["id"], p + ".id");
    if (cam.id.empty() || cam.id.find_first_of("/ \t") != std::string::npos)
        c.fail(p + ".id", "must be non-empty, without '/' or spaces (it is part of the topic)");
    if (!ids.insert(cam.id).second) c.fail(p + ".id", "duplicate camera id '" + cam.id + "'");
    cam.url = resolve(c.get<std::string>(n["url"], p + ".url")).string();
    if (!cam.network() && !std::filesystem::exists(cam.url))
        c.fail(p + ".url", cam.url + ": no such file (relative paths are read from the config file's folder)");
    c.read(n, p, "meta", cam.meta);
    c.read(n, p, "realtime", cam.realtime);
    c.read(n, p, "loop", cam.loop);
    c.read(n, p, "every", cam.every, in(1, 10000), "must be in 1..10000");
    std::string decode = "cpu";
    c.read(
        n, p, "decode", decode, [](const std::string& d) { return d == "cpu" || d == "nvdec"; },
        "expected cpu or nvdec");
    cam.decode = decode == "nvdec" ? Decoder::kNvdec : Decoder::kCpu;
    c.read(n, p, "options", cam.options);
    std::string gt;
    c.read(n, p, "ground_truth", gt);
    if (!gt.empty()) {
        cam.ground_truth = resolve(gt);
        if (!std::filesystem::exists(cam.ground_truth))
            c.fail(p + ".ground_truth", cam.ground_truth.string() + ": no such file");
    }
    return cam;
}

} // namespace

RunConfig load_run_config(const std::filesystem::path& path) {
    auto [c, root] = detail::YamlFile::load(path);
    c.keys(root, "", {"cameras", "model", "publish", "batching", "thresholds", "flags", "reconnect", "eval", "engine"});
    RunConfig r;
    r.path = path;
    const auto dir = path.parent_path();

    const auto cams = root["cameras"];
    if (!cams || !cams.IsSequence() || cams.size() == 0) c.fail("cameras", "expected a list of at least one camera");
    std::set<std::string> ids;
    for (std::size_t i = 0; i < cams.size(); ++i)
        r.cameras.push_back(read_camera(c, cams[i], "cameras[" + std::to_string(i) + "]", dir, ids));
    const auto model = c.get<std::string>(root["model"], "model");
    r.model = std::filesystem::path(model).is_absolute() ? std::filesystem::path(model) : dir / model;
    if (!std::filesystem::exists(r.model))
        c.fail("model", r.model.string() + ": no such file" +
                            (std::filesystem::path(model).is_absolute()
                                 ? std::string()
                                 : " (relative paths are read from the config file's folder, " +
                                       (dir.empty() ? std::string(".") : dir.string()) +
                                       ": write the path from there, or an absolute one)"));
    c.read(
        root, "", "engine", r.engine, [](const std::string& e) { return e == "opencv" || e == "libtorch"; },
        "expected opencv or libtorch");

    const auto pub = root["publish"];
    c.keys(pub, "publish", {"predictions", "send_hwm", "wait_for_subscribers", "wait_timeout_s"});
    auto& P = r.publish;
    P.predictions = c.get<std::string>(pub["predictions"], "publish.predictions");
    c.read(pub, "publish", "send_hwm", P.send_hwm, at_least(1), "must be >= 1");
    c.read(pub, "publish", "wait_for_subscribers", P.wait_for_subscribers, at_least(0), "must be >= 0");
    c.read(pub, "publish", "wait_timeout_s", P.wait_timeout_s, above(0.0, 86400.0), "must be in (0, 86400]");

    if (const auto b = root["batching"]) {
        c.keys(b, "batching", {"max_batch", "max_wait_ms", "max_latency_ms"});
        auto& B = r.batching;
        c.read(b, "batching", "max_latency_ms", B.max_latency_ms, at_least(0.0), "must be >= 0 (0: no deadline)");
        c.read(b, "batching", "max_batch", B.max_batch, in(1, 256), "must be in 1..256");
        c.read(b, "batching", "max_wait_ms", B.max_wait_ms, in(0.0, 10000.0), "must be in [0, 10000]");
    }
    if (const auto rc = root["reconnect"]) {
        c.keys(rc, "reconnect", {"max_backoff_s"});
        c.read(rc, "reconnect", "max_backoff_s", r.reconnect.max_backoff_s, above(0.0, 3600.0), "must be in (0, 3600]");
    }
    if (const auto t = root["thresholds"]) {
        c.keys(t, "thresholds", {"confidence", "iou", "max_det"});
        auto& T = r.thresholds;
        c.read(
            t, "thresholds", "confidence", T.confidence, [](float v) { return v >= 0 && v < 1; }, "must be in [0, 1)");
        c.read(t, "thresholds", "iou", T.iou, above(0.f, 1.f), "must be in (0, 1]");
        c.read(t, "thresholds", "max_det", T.max_det, at_least(1), "must be >= 1");
    }
    if (const auto f = root["flags"]) {
        c.keys(f, "flags", {"near_threshold_band", "ambiguity_margin", "entropy_threshold", "count_learn_frames"});
        c.read(f, "flags", "near_threshold_band", r.flags.near_threshold_band, in(0.f, 1.f), "must be in [0, 1]");
        c.read(f, "flags", "ambiguity_margin", r.flags.ambiguity_margin, in(0.f, 1.f), "must be in [0, 1]");
        c.read(f, "flags", "entropy_threshold", r.flags.entropy_threshold, in(0.f, 1.f), "must be in [0, 1]");
        c.read(f, "flags", "count_learn_frames", r.flags.count_learn_frames, at_least(1), "must be >= 1");
    }
    if (const auto e = root["eval"]) {
        c.keys(e, "eval", {"window_s", "iou"});
        c.read(e, "eval", "window_s", r.eval.window_s, above(0.0, 86400.0), "must be in (0, 86400]");
        c.read(e, "eval", "iou", r.eval.iou, above(0.0, 1.0), "must be in (0, 1]");
    }
    return r;
}

} // namespace sightline::pipeline
