#include <yaml-cpp/yaml.h>

#include <set>

#include "config/yaml_file.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/config.hpp"

namespace sightline::pipeline {

RunConfig load_run_config(const std::filesystem::path& path) {
    auto [c, root] = detail::YamlFile::load(path);
    c.keys(root, "", {"cameras", "model", "publish", "batching", "thresholds", "flags", "reconnect", "eval", "engine"});
    RunConfig r;
    r.path = path;
    const auto dir = path.parent_path();
    auto resolve = [&](const std::string& p) {
        return p.find("://") != std::string::npos || std::filesystem::path(p).is_absolute() ? std::filesystem::path(p)
                                                                                            : dir / p;
    };

    const auto cams = root["cameras"];
    if (!cams || !cams.IsSequence() || cams.size() == 0) c.fail("cameras", "expected a list of at least one camera");
    std::set<std::string> ids;
    for (std::size_t i = 0; i < cams.size(); ++i) {
        const std::string p = "cameras[" + std::to_string(i) + "]";
        c.keys(cams[i], p, {"id", "url", "meta", "realtime", "loop", "options", "ground_truth", "every", "decode"});
        CameraConfig cam;
        cam.id = c.get<std::string>(cams[i]["id"], p + ".id");
        if (cam.id.empty() || cam.id.find_first_of("/ \t") != std::string::npos)
            c.fail(p + ".id", "must be non-empty, without '/' or spaces (it is part of the topic)");
        if (!ids.insert(cam.id).second) c.fail(p + ".id", "duplicate camera id '" + cam.id + "'");
        const auto url = c.get<std::string>(cams[i]["url"], p + ".url");
        cam.url = resolve(url).string();
        if (url.find("://") == std::string::npos && !std::filesystem::exists(cam.url))
            c.fail(p + ".url", cam.url + ": no such file");
        if (cams[i]["meta"]) cam.meta = c.get<std::map<std::string, std::string>>(cams[i]["meta"], p + ".meta");
        if (cams[i]["realtime"]) cam.realtime = c.get<bool>(cams[i]["realtime"], p + ".realtime");
        if (cams[i]["loop"]) cam.loop = c.get<bool>(cams[i]["loop"], p + ".loop");
        if (cams[i]["every"]) cam.every = c.get<int>(cams[i]["every"], p + ".every");
        if (cam.every < 1 || cam.every > 10000) c.fail(p + ".every", "must be in 1..10000");
        if (cams[i]["decode"]) {
            const auto d = c.get<std::string>(cams[i]["decode"], p + ".decode");
            if (d != "cpu" && d != "nvdec") c.fail(p + ".decode", "expected cpu or nvdec, got '" + d + "'");
            cam.decoder = d == "nvdec" ? Decoder::kNvdec : Decoder::kCpu;
        }
        if (cams[i]["options"])
            cam.options = c.get<std::map<std::string, std::string>>(cams[i]["options"], p + ".options");
        if (cams[i]["ground_truth"]) {
            cam.ground_truth = resolve(c.get<std::string>(cams[i]["ground_truth"], p + ".ground_truth"));
            if (!std::filesystem::exists(cam.ground_truth))
                c.fail(p + ".ground_truth", cam.ground_truth.string() + ": no such file");
        }
        r.cameras.push_back(std::move(cam));
    }
    r.model = resolve(c.get<std::string>(root["model"], "model"));
    if (root["engine"]) r.engine = c.get<std::string>(root["engine"], "engine");
    if (r.engine != "opencv" && r.engine != "libtorch") c.fail("engine", "expected opencv or libtorch");

    const auto pub = root["publish"];
    c.keys(pub, "publish", {"predictions", "send_hwm", "wait_for_subscribers", "wait_timeout_s"});
    r.predictions_endpoint = c.get<std::string>(pub["predictions"], "publish.predictions");
    if (pub["send_hwm"]) r.send_hwm = c.get<int>(pub["send_hwm"], "publish.send_hwm");
    if (r.send_hwm < 1) c.fail("publish.send_hwm", "must be >= 1");
    if (pub["wait_for_subscribers"])
        r.wait_for_subscribers = c.get<int>(pub["wait_for_subscribers"], "publish.wait_for_subscribers");
    if (r.wait_for_subscribers < 0) c.fail("publish.wait_for_subscribers", "must be >= 0");
    if (pub["wait_timeout_s"]) r.wait_timeout_s = c.get<double>(pub["wait_timeout_s"], "publish.wait_timeout_s");

    if (const auto b = root["batching"]) {
        c.keys(b, "batching", {"max_batch", "max_wait_ms", "max_latency_ms"});
        if (b["max_latency_ms"]) r.max_latency_ms = c.get<double>(b["max_latency_ms"], "batching.max_latency_ms");
        if (!(r.max_latency_ms >= 0)) c.fail("batching.max_latency_ms", "must be >= 0 (0: no deadline)");
        if (b["max_batch"]) r.max_batch = c.get<int>(b["max_batch"], "batching.max_batch");
        if (r.max_batch < 1 || r.max_batch > 256) c.fail("batching.max_batch", "must be in 1..256");
        if (b["max_wait_ms"]) r.max_wait_ms = c.get<double>(b["max_wait_ms"], "batching.max_wait_ms");
        if (!(r.max_wait_ms >= 0 && r.max_wait_ms <= 10000)) c.fail("batching.max_wait_ms", "must be in [0, 10000]");
    }
    if (const auto rc = root["reconnect"]) {
        c.keys(rc, "reconnect", {"max_backoff_s"});
        if (rc["max_backoff_s"]) r.reconnect_max_s = c.get<double>(rc["max_backoff_s"], "reconnect.max_backoff_s");
        if (!(r.reconnect_max_s > 0 && r.reconnect_max_s <= 3600))
            c.fail("reconnect.max_backoff_s", "must be in (0, 3600]");
    }
    if (const auto t = root["thresholds"]) {
        c.keys(t, "thresholds", {"confidence", "iou", "max_det"});
        if (t["confidence"]) r.confidence = c.get<float>(t["confidence"], "thresholds.confidence");
        if (t["iou"]) r.iou = c.get<float>(t["iou"], "thresholds.iou");
        if (t["max_det"]) r.max_det = c.get<int>(t["max_det"], "thresholds.max_det");
        if (t["confidence"] && !(r.confidence >= 0 && r.confidence < 1))
            c.fail("thresholds.confidence", "must be in [0, 1)");
        if (t["iou"] && !(r.iou > 0 && r.iou <= 1)) c.fail("thresholds.iou", "must be in (0, 1]");
        if (t["max_det"] && r.max_det < 1) c.fail("thresholds.max_det", "must be >= 1");
    }
    if (const auto f = root["flags"]) {
        c.keys(f, "flags", {"near_threshold_band", "ambiguity_margin"});
        if (f["near_threshold_band"])
            r.near_threshold_band = c.get<float>(f["near_threshold_band"], "flags.near_threshold_band");
        if (f["ambiguity_margin"]) r.ambiguity_margin = c.get<float>(f["ambiguity_margin"], "flags.ambiguity_margin");
        if (!(r.near_threshold_band >= 0 && r.near_threshold_band <= 1))
            c.fail("flags.near_threshold_band", "must be in [0, 1]");
        if (!(r.ambiguity_margin >= 0 && r.ambiguity_margin <= 1))
            c.fail("flags.ambiguity_margin", "must be in [0, 1]");
    }
    if (const auto e = root["eval"]) {
        c.keys(e, "eval", {"window_s", "iou"});
        if (e["window_s"]) r.eval_window_s = c.get<double>(e["window_s"], "eval.window_s");
        if (!(r.eval_window_s > 0 && r.eval_window_s <= 86400)) c.fail("eval.window_s", "must be in (0, 86400]");
        if (e["iou"]) r.eval_iou = c.get<double>(e["iou"], "eval.iou");
        if (!(r.eval_iou > 0 && r.eval_iou <= 1)) c.fail("eval.iou", "must be in (0, 1]");
    }
    return r;
}

} // namespace sightline::pipeline
