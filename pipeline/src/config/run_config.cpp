#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include <unistd.h>

#include "config/yaml_file.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/config.hpp"
#include "sightline/transport/checks.hpp"
#include "sightline/transport/messages.hpp"

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
    c.keys(n, p, {"id", "url", "meta", "realtime", "loop", "options", "ground_truth", "every", "decode", "model"});
    const auto resolve = [&](const std::string& s) {
        return is_network_url(s) || std::filesystem::path(s).is_absolute() ? std::filesystem::path(s) : dir / s;
    };
    CameraConfig cam;
    cam.id = c.get<std::string>(n["id"], p + ".id");
    if (const auto problem = transport::camera_id_problem(cam.id); !problem.empty()) c.fail(p + ".id", problem);
    if (!ids.insert(cam.id).second) c.fail(p + ".id", "duplicate camera id '" + cam.id + "'");
    const auto url = c.get<std::string>(n["url"], p + ".url");
    if (url.empty()) c.fail(p + ".url", "empty (a video file, or a stream URL such as rtsp://...)");
    cam.url = resolve(url).string();
    std::error_code ec;
    if (!cam.network() && !std::filesystem::exists(cam.url, ec))
        c.fail(p + ".url", cam.url + ": no such file (relative paths are read from the config file's folder)");
    if (!cam.network() && std::filesystem::is_directory(cam.url, ec))
        c.fail(p + ".url", cam.url + ": a folder, not a video file");
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
    c.read(n, p, "model", cam.model);
    std::string gt;
    c.read(n, p, "ground_truth", gt);
    if (!gt.empty()) {
        cam.ground_truth = resolve(gt);
        if (!std::filesystem::exists(cam.ground_truth))
            c.fail(p + ".ground_truth", cam.ground_truth.string() + ": no such file");
    }
    return cam;
}

/// `security:` (CURVE keys, read now: a missing or exposed key file fails here) and `allow_insecure:` (top level
/// or in publish:), and the rule that a non-loopback bind needs one of them.
void read_security(const detail::YamlFile& c, const YAML::Node& root, const YAML::Node& pub,
                   const std::filesystem::path& dir, PublishConfig& P) {
    const auto resolve = [&](const std::string& f) {
        return std::filesystem::path(f).is_absolute() ? std::filesystem::path(f) : dir / f;
    };
    const auto keyed = [&](const std::string& at, auto&& load) {
        try {
            return load();
        } catch (const Error& e) {
            c.fail(at, e.what());
        }
    };
    if (const auto sec = root["security"]) {
        c.keys(sec, "security", {"key", "authorized"});
        transport::CurveServer curve;
        const auto key = resolve(c.get<std::string>(sec["key"], "security.key"));
        curve.keys = keyed("security.key", [&] { return transport::load_secret_key(key); });
        std::vector<std::string> authorized;
        c.read(sec, "security", "authorized", authorized);
        for (std::size_t i = 0; i < authorized.size(); ++i) {
            const auto file = resolve(authorized[i]);
            const std::string at = "security.authorized[" + std::to_string(i) + "]";
            curve.authorized.push_back(keyed(at, [&] { return transport::load_public_key(file); }));
        }
        P.curve = std::move(curve);
    }
    c.read(root, "", "allow_insecure", P.allow_insecure);
    bool in_publish = false;
    c.read(pub, "publish", "allow_insecure", in_publish);
    P.allow_insecure = P.allow_insecure || in_publish;
    for (const auto& [key, endpoint] : {std::pair{"publish.predictions", P.predictions},
                                        {"publish.samples", P.samples},
                                        {"publish.control", P.control}})
        if (!endpoint.empty() && !P.curve && !P.allow_insecure && !transport::is_local_endpoint(endpoint))
            c.fail(key, endpoint +
                            " binds beyond loopback without security: anyone who reaches the port reads every "
                            "prediction and sample. Give security: {key: line.key} (sightline keys generate line; "
                            "docs/security.md), or allow_insecure: true to accept that");
}

SamplingStrategy read_strategy(const detail::YamlFile& c, const YAML::Node& n, const std::string& p,
                               std::set<std::string>& names) {
    SamplingStrategy s;
    s.type = c.get<std::string>(n["type"], p + ".type");
    std::set<std::string> allowed = {"name", "type", "tags", "probability", "limits", "ranked"};
    const std::map<std::string, std::set<std::string>> own = {
        {"random", {"fraction"}},    {"close_to_threshold", {"classes", "threshold", "epsilon", "min_objects"}},
        {"classes", {"classes"}},    {"detection_count", {"classes", "more_than", "less_than"}},
        {"flags", {"any", "all"}},   {"uncertainty", {"min"}},
        {"expected_errors", {"min"}}};
    const auto it = own.find(s.type);
    if (it == own.end())
        c.fail(p + ".type", "unknown strategy type '" + s.type +
                                "' (random, close_to_threshold, classes, detection_count, flags, uncertainty, "
                                "expected_errors)");
    allowed.insert(it->second.begin(), it->second.end());
    c.keys(n, p, allowed);
    s.name = c.get<std::string>(n["name"], p + ".name");
    if (s.name.empty()) c.fail(p + ".name", "must be non-empty");
    if (!names.insert(s.name).second) c.fail(p + ".name", "duplicate strategy name '" + s.name + "'");
    s.ranked = s.type != "random";
    c.read(n, p, "ranked", s.ranked);
    c.read(n, p, "tags", s.tags);
    c.read(n, p, "probability", s.probability, in(0.0, 1.0), "must be in [0, 1]");
    if (const auto l = n["limits"]) {
        c.keys(l, p + ".limits", {"minute", "hour", "day"});
        c.read(l, p + ".limits", "minute", s.per_minute, at_least(0), "must be >= 0 (0: no limit)");
        c.read(l, p + ".limits", "hour", s.per_hour, at_least(0), "must be >= 0 (0: no limit)");
        c.read(l, p + ".limits", "day", s.per_day, at_least(0), "must be >= 0 (0: no limit)");
    }
    c.read(n, p, "fraction", s.fraction, in(0.0, 1.0), "must be in [0, 1]");
    c.read(n, p, "classes", s.classes);
    c.read(n, p, "threshold", s.threshold, in(0.f, 1.f), "must be in [0, 1]");
    c.read(n, p, "epsilon", s.epsilon, in(0.f, 1.f), "must be in [0, 1]");
    c.read(n, p, "min_objects", s.min_objects, at_least(1), "must be >= 1");
    c.read(n, p, "more_than", s.more_than, at_least(0), "must be >= 0");
    c.read(n, p, "less_than", s.less_than, at_least(1), "must be >= 1");
    if (s.type == "detection_count" && s.more_than < 0 && s.less_than < 0)
        c.fail(p, "a detection_count strategy needs more_than or less_than");
    if (n["any"] && n["all"]) c.fail(p, "flags: either any or all, not both");
    if (n["any"]) c.read(n, p, "any", s.flags);
    if (n["all"]) c.read(n, p, "all", s.flags), s.all = true;
    if (s.type == "flags") {
        if (s.flags.empty()) c.fail(p, "a flags strategy needs a non-empty any or all list");
        for (std::size_t i = 0; i < s.flags.size(); ++i)
            if (transport::flag_bit(s.flags[i]) == 0)
                c.fail(p + (s.all ? ".all[" : ".any[") + std::to_string(i) + "]",
                       "unknown flag '" + s.flags[i] + "' (docs/wire.md lists them)");
    }
    if (s.type == "expected_errors")
        c.read(n, p, "min", s.min, at_least(0.f), "must be >= 0");
    else
        c.read(n, p, "min", s.min, in(0.f, 1.f), "must be in [0, 1]");
    return s;
}

SamplingConfig read_sampling(const detail::YamlFile& c, const YAML::Node& n) {
    SamplingConfig s;
    if (!n) {
        s.strategies = default_sampling_strategies();
        return s;
    }
    const std::string p = "sampling";
    c.keys(n, p,
           {"strategies", "window_s", "max_per_window", "carry_over_windows", "camera_max_per_window",
            "camera_per_hour", "share", "share_floor", "share_half_life_s", "dedupe", "jpeg_quality", "context_frames",
            "seed"});
    c.read(n, p, "window_s", s.window_s, above(0.0, 3600.0), "must be in (0, 3600]");
    c.read(n, p, "max_per_window", s.max_per_window, at_least(0), "must be >= 0 (0: no cap)");
    c.read(n, p, "carry_over_windows", s.carry_over_windows, in(0, 100000), "must be in 0..100000");
    c.read(n, p, "camera_max_per_window", s.camera_max_per_window, at_least(0), "must be >= 0 (0: no cap)");
    c.read(n, p, "camera_per_hour", s.camera_per_hour, at_least(0), "must be >= 0 (0: no quota)");
    c.read(
        n, p, "share", s.share, [](const std::string& v) { return v == "cameras" || v == "line"; },
        "must be cameras or line");
    c.read(n, p, "share_floor", s.share_floor, above(0.0, 1e6), "must be > 0");
    c.read(n, p, "share_half_life_s", s.share_half_life_s, above(0.0, 86400.0), "must be in (0, 86400]");
    c.read(n, p, "jpeg_quality", s.jpeg_quality, in(1, 100), "must be in 1..100");
    c.read(n, p, "context_frames", s.context_frames, in(0, 30), "must be in 0..30");
    c.read(n, p, "seed", s.seed);
    if (const auto d = n["dedupe"]) {
        c.keys(d, p + ".dedupe", {"max_distance", "window_s"});
        c.read(d, p + ".dedupe", "max_distance", s.dedupe_distance, in(-1, 64), "must be in -1..64 (-1: off)");
        c.read(d, p + ".dedupe", "window_s", s.dedupe_window_s, at_least(0.0), "must be >= 0");
    }
    const auto list = n["strategies"];
    if (!list) {
        s.strategies = default_sampling_strategies();
        return s;
    }
    if (!list.IsSequence() || list.size() == 0) c.fail(p + ".strategies", "expected a list of at least one strategy");
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i)
        s.strategies.push_back(read_strategy(c, list[i], p + ".strategies[" + std::to_string(i) + "]", names));
    return s;
}

} // namespace

std::vector<ModelVersionConfig> RunConfig::versions() const {
    if (!models.empty()) return models;
    return {{"default", model, {}}};
}

std::vector<SamplingStrategy> default_sampling_strategies() {
    SamplingStrategy unusual; // what the flags say is new to the camera
    unusual.name = "unusual", unusual.type = "flags", unusual.tags = {"unusual"};
    unusual.flags = {"unknown_object", "unusual_count", "too_dark",   "too_bright",
                     "low_contrast",   "blurred",       "unexplained"};
    unusual.per_minute = 5, unusual.per_hour = 60;
    SamplingStrategy uncertain; // the frames whose doubts add up to at least one likely error
    uncertain.name = "uncertain", uncertain.type = "expected_errors", uncertain.tags = {"uncertain"};
    uncertain.min = 1.0f, uncertain.per_hour = 600;
    SamplingStrategy random; // an unbiased trickle: what the model meets, for evaluation
    random.name = "random", random.type = "random", random.tags = {"random"}, random.ranked = false;
    random.fraction = 0.002, random.per_minute = 1, random.per_hour = 60; // spread over the hour, not a burst
    return {uncertain, unusual, random};
}

namespace {
RunConfig read_run_config(const std::filesystem::path& path);
}

std::string default_line_name() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) return "line";
    return transport::line_name_from(host);
}

RunConfig load_run_config(const std::filesystem::path& path) {
    return detail::YamlFile::guarded(path, [&] { return read_run_config(path); });
}

namespace {
/// `flags:` (FlagsConfig), validated key by key.
void read_flags(const detail::YamlFile& c, const YAML::Node& f, FlagsConfig& flags) {
    if (!f) return;
    c.keys(f, "flags",
           {"near_threshold_band", "score_band",         "rank_score_band", "ambiguity_margin", "entropy_threshold",
            "count_learn_frames",  "candidate_floor",    "max_candidates",  "candidate_weight", "track_iou",
            "track_max_age",       "temporal_weight",    "luma_band",       "contrast_band",    "blur_ratio",
            "unexplained_cells",   "unexplained_weight", "background_cell", "background_floor", "background_warmup"});
    c.read(f, "flags", "unexplained_cells", flags.unexplained_cells, in(0, 100000), "must be in 0..100000");
    c.read(f, "flags", "unexplained_weight", flags.unexplained_weight, in(0.f, 1.f), "must be in [0, 1]");
    c.read(f, "flags", "background_cell", flags.background_cell, in(2, 256), "must be in 2..256");
    c.read(f, "flags", "background_floor", flags.background_floor, in(0.f, 255.f), "must be in [0, 255]");
    c.read(f, "flags", "background_warmup", flags.background_warmup, in(1, 1000000), "must be in 1..1000000");
    c.read(f, "flags", "luma_band", flags.luma_band, in(0.f, 255.f), "must be in [0, 255]");
    c.read(f, "flags", "contrast_band", flags.contrast_band, in(0.f, 255.f), "must be in [0, 255]");
    c.read(f, "flags", "blur_ratio", flags.blur_ratio, above(0.f, 1.f), "must be in (0, 1]");
    c.read(f, "flags", "track_iou", flags.track_iou, above(0.f, 1.f), "must be in (0, 1]");
    c.read(f, "flags", "track_max_age", flags.track_max_age, in(1, 100000), "must be in 1..100000");
    c.read(f, "flags", "temporal_weight", flags.temporal_weight, in(0.f, 1.f), "must be in [0, 1]");
    c.read(f, "flags", "candidate_weight", flags.candidate_weight, in(0.f, 1.f), "must be in [0, 1]");
    c.read(
        f, "flags", "candidate_floor", flags.candidate_floor, [](float v) { return v < 1; },
        "must be below 1 (negative: keep no candidates)");
    c.read(f, "flags", "max_candidates", flags.max_candidates, in(1, 1000), "must be in 1..1000");
    c.read(f, "flags", "near_threshold_band", flags.near_threshold_band, in(0.f, 1.f), "must be in [0, 1]");
    c.read(f, "flags", "score_band", flags.score_band, in(0.f, 1.f), "must be in [0, 1]");
    c.read(f, "flags", "rank_score_band", flags.rank_score_band, in(0.f, 1.f), "must be in [0, 1]");
    c.read(f, "flags", "ambiguity_margin", flags.ambiguity_margin, in(0.f, 1.f), "must be in [0, 1]");
    c.read(f, "flags", "entropy_threshold", flags.entropy_threshold, in(0.f, 1.f), "must be in [0, 1]");
    c.read(f, "flags", "count_learn_frames", flags.count_learn_frames, at_least(1), "must be >= 1");
}

/// A model.yaml path as the config gives it, resolved and checked: a missing file or a folder fails at `at`.
std::filesystem::path model_file(const detail::YamlFile& c, const std::string& given, const std::string& at,
                                 const std::filesystem::path& dir) {
    const std::filesystem::path f =
        std::filesystem::path(given).is_absolute() ? std::filesystem::path(given) : dir / given;
    if (!std::filesystem::exists(f))
        c.fail(at, f.string() + ": no such file" +
                       (std::filesystem::path(given).is_absolute()
                            ? std::string()
                            : " (relative paths are read from the config file's folder, " +
                                  (dir.empty() ? std::string(".") : dir.string()) +
                                  ": write the path from there, or an absolute one)"));
    if (std::error_code ec; std::filesystem::is_directory(f, ec))
        c.fail(at, f.string() + ": a folder; give the model.yaml in it (e.g. " + (f / "model.yaml").string() + ")");
    return f;
}

void read_thresholds(const detail::YamlFile& c, const YAML::Node& t, const std::string& p, ThresholdsConfig& T) {
    c.read(
        t, p, "confidence", T.confidence, [](float v) { return v >= 0 && v < 1; }, "must be in [0, 1)");
    c.read(t, p, "iou", T.iou, above(0.f, 1.f), "must be in (0, 1]");
    c.read(t, p, "max_det", T.max_det, at_least(1), "must be >= 1");
}

/// `rollout:` against the versions read.
LineRolloutConfig read_rollout(const detail::YamlFile& c, const YAML::Node& n, const std::set<std::string>& ids) {
    const std::string p = "rollout";
    c.keys(n, p, {"candidate", "fallback", "promote", "block_frames", "alpha", "min_blocks", "guardrails"});
    LineRolloutConfig r;
    for (auto [key, v] : {std::pair{"candidate", &r.candidate}, {"fallback", &r.fallback}}) {
        *v = c.get<std::string>(n[key], p + "." + key);
        if (!ids.count(*v)) c.fail(p + "." + key, "'" + *v + "' is not an id under models:");
    }
    if (r.candidate == r.fallback) c.fail(p + ".fallback", "must differ from the candidate");
    c.read(n, p, "promote", r.promote);
    c.read(n, p, "block_frames", r.guard.block_frames, in(1, 100000), "must be in 1..100000");
    c.read(
        n, p, "alpha", r.guard.alpha, [](double a) { return a > 0 && a < 1; }, "must be in (0, 1)");
    c.read(n, p, "min_blocks", r.guard.min_blocks, in(1, 1000000), "must be in 1..1000000");
    const auto g = n["guardrails"];
    if (!g) return r;
    if (!g.IsSequence() || g.size() == 0) c.fail(p + ".guardrails", "expected a list of at least one guardrail");
    r.guard.guardrails.clear();
    r.guardrails_given = true;
    for (std::size_t i = 0; i < g.size(); ++i) {
        const std::string at = p + ".guardrails[" + std::to_string(i) + "]";
        c.keys(g[i], at, {"metric", "worse", "tolerance"});
        GuardrailConfig rail;
        rail.metric = c.get<std::string>(g[i]["metric"], at + ".metric");
        const auto& names = guardrail_metrics();
        if (std::find(names.begin(), names.end(), rail.metric) == names.end()) {
            std::string known;
            for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
            c.fail(at + ".metric", "unknown metric '" + rail.metric + "' (" + known + ")");
        }
        c.read(
            g[i], at, "worse", rail.worse,
            [](const std::string& w) { return w == "lower" || w == "higher" || w == "either"; },
            "must be lower, higher or either");
        c.read(g[i], at, "tolerance", rail.tolerance, in(0.0, 1e6), "must be in [0, 1e6]");
        r.guard.guardrails.push_back(rail);
    }
    return r;
}

/// `model:` or `models:`, and what names versions: cameras[].model, shadow:, rollout:.
void read_versions(const detail::YamlFile& c, const YAML::Node& root, const std::filesystem::path& dir, RunConfig& r) {
    if (root["model"] && root["models"]) c.fail("models", "give model: (one version) or models:, not both");
    std::set<std::string> ids;
    if (const auto list = root["models"]) {
        if (!list.IsSequence() || list.size() == 0) c.fail("models", "expected a list of at least one version");
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string at = "models[" + std::to_string(i) + "]";
            c.keys(list[i], at, {"id", "file", "confidence", "iou", "max_det"});
            ModelVersionConfig v;
            v.id = c.get<std::string>(list[i]["id"], at + ".id");
            if (const auto problem = transport::camera_id_problem(v.id); !problem.empty()) c.fail(at + ".id", problem);
            if (!ids.insert(v.id).second) c.fail(at + ".id", "duplicate version id '" + v.id + "'");
            v.file = model_file(c, c.get<std::string>(list[i]["file"], at + ".file"), at + ".file", dir);
            read_thresholds(c, list[i], at, v.thresholds);
            r.models.push_back(std::move(v));
        }
        r.model = r.models.front().file;
    } else {
        r.model = model_file(c, c.get<std::string>(root["model"], "model"), "model", dir);
        ids.insert("default");
    }
    const std::string where = root["models"] ? "an id under models:" : "the one version of model: ('default')";
    for (std::size_t i = 0; i < r.cameras.size(); ++i)
        if (!r.cameras[i].model.empty() && !ids.count(r.cameras[i].model))
            c.fail("cameras[" + std::to_string(i) + "].model", "'" + r.cameras[i].model + "' is not " + where);
    c.read(root, "", "shadow", r.shadow);
    for (std::size_t i = 0; i < r.shadow.size(); ++i)
        if (!ids.count(r.shadow[i]))
            c.fail("shadow[" + std::to_string(i) + "]", "'" + r.shadow[i] + "' is not " + where);
    if (!root["rollout"]) return;
    r.rollout = read_rollout(c, root["rollout"], ids);
    const std::string first = r.models.empty() ? "default" : r.models.front().id;
    const bool canary = std::any_of(r.cameras.begin(), r.cameras.end(), [&](const CameraConfig& cam) {
        return (cam.model.empty() ? first : cam.model) == r.rollout->candidate;
    });
    if (!canary)
        c.fail("rollout.candidate", "'" + r.rollout->candidate + "' serves no camera: set cameras[].model: " +
                                        r.rollout->candidate + " on the cameras it is tried on (the canaries)");
}

/// publish: where the line sends, how long it waits for its consumers, and security.
void read_publish(const detail::YamlFile& c, YAML::Node root, const std::filesystem::path& dir, PublishConfig& P) {
    const auto pub = root["publish"];
    c.keys(pub, "publish",
           {"predictions", "send_hwm", "wait_for_subscribers", "wait_timeout_s", "samples", "samples_buffer",
            "samples_drain_s", "samples_ack_timeout_s", "allow_insecure", "control"});
    P.predictions = c.get<std::string>(pub["predictions"], "publish.predictions");
    if (const auto problem = transport::endpoint_problem(P.predictions); !problem.empty())
        c.fail("publish.predictions", problem);
    c.read(pub, "publish", "send_hwm", P.send_hwm, at_least(1), "must be >= 1");
    c.read(pub, "publish", "wait_for_subscribers", P.wait_for_subscribers, at_least(0), "must be >= 0");
    c.read(pub, "publish", "wait_timeout_s", P.wait_timeout_s, above(0.0, 86400.0), "must be in (0, 86400]");
    c.read(pub, "publish", "samples", P.samples);
    if (!P.samples.empty())
        if (const auto problem = transport::endpoint_problem(P.samples); !problem.empty())
            c.fail("publish.samples", problem);
    c.read(pub, "publish", "control", P.control);
    if (!P.control.empty())
        if (const auto problem = transport::endpoint_problem(P.control); !problem.empty())
            c.fail("publish.control", problem);
    c.read(pub, "publish", "samples_buffer", P.samples_buffer, in(1, 1000000), "must be in 1..1000000");
    c.read(pub, "publish", "samples_drain_s", P.samples_drain_s, in(0.0, 3600.0), "must be in [0, 3600]");
    c.read(pub, "publish", "samples_ack_timeout_s", P.samples_ack_timeout_s, above(0.0, 86400.0),
           "must be in (0, 86400]");

    read_security(c, root, pub, dir, P);
}

/// batching, reconnect, thresholds, flags and eval: the line's knobs, each with its defaults.
/// (Both take the root by value: yaml-cpp's operator[] on a const node gives an invalid node for a missing key.)
void read_tuning(const detail::YamlFile& c, YAML::Node root, RunConfig& r) {
    if (const auto b = root["batching"]) {
        c.keys(b, "batching", {"max_batch", "max_wait_ms", "max_latency_ms"});
        auto& B = r.batching;
        c.read(b, "batching", "max_latency_ms", B.max_latency_ms, at_least(0.0), "must be >= 0 (0: no deadline)");
        c.read(b, "batching", "max_batch", B.max_batch, in(1, 256), "must be in 1..256");
        c.read(b, "batching", "max_wait_ms", B.max_wait_ms, in(0.0, 10000.0), "must be in [0, 10000]");
    }
    if (const auto rc = root["reconnect"]) {
        c.keys(rc, "reconnect", {"max_backoff_s", "stall_timeout_s"});
        c.read(rc, "reconnect", "max_backoff_s", r.reconnect.max_backoff_s, above(0.0, 3600.0), "must be in (0, 3600]");
        c.read(rc, "reconnect", "stall_timeout_s", r.reconnect.stall_timeout_s, in(0.0, 3600.0),
               "must be in [0, 3600] (0: never)");
    }
    if (const auto t = root["thresholds"]) {
        c.keys(t, "thresholds", {"confidence", "iou", "max_det"});
        read_thresholds(c, t, "thresholds", r.thresholds);
    }
    read_flags(c, root["flags"], r.flags);
    if (const auto e = root["eval"]) {
        c.keys(e, "eval", {"window_s", "iou"});
        c.read(e, "eval", "window_s", r.eval.window_s, above(0.0, 86400.0), "must be in (0, 86400]");
        c.read(e, "eval", "iou", r.eval.iou, above(0.0, 1.0), "must be in (0, 1]");
    }
}

RunConfig read_run_config(const std::filesystem::path& path) {
    auto [c, root] = detail::YamlFile::load(path);
    c.keys(root, "",
           {"line", "cameras", "model", "models", "shadow", "rollout", "publish", "batching", "thresholds", "flags",
            "reconnect", "eval", "engine", "engine_threads", "sampling", "security", "allow_insecure"});
    RunConfig r;
    r.path = path;
    r.line = root["line"] ? c.get<std::string>(root["line"], "line") : default_line_name();
    if (const auto problem = transport::line_name_problem(r.line); !problem.empty()) c.fail("line", problem);
    const auto dir = path.parent_path();

    const auto cams = root["cameras"];
    if (!cams || !cams.IsSequence() || cams.size() == 0) c.fail("cameras", "expected a list of at least one camera");
    std::set<std::string> ids;
    for (std::size_t i = 0; i < cams.size(); ++i)
        r.cameras.push_back(read_camera(c, cams[i], "cameras[" + std::to_string(i) + "]", dir, ids));
    read_versions(c, root, dir, r);
    c.read(
        root, "", "engine", r.engine,
        [](const std::string& e) { return e == "auto" || e == "opencv" || e == "openvino" || e == "libtorch"; },
        "expected auto, opencv, openvino or libtorch");
    c.read(root, "", "engine_threads", r.engine_threads, in(0, 1024), "must be in [0, 1024]");

    read_publish(c, root, dir, r.publish);

    read_tuning(c, root, r);
    if (r.rollout && r.eval.iou != 0.5) // the guardrails match the truth as the online evaluator does, at eval.iou
        for (std::size_t i = 0; i < r.rollout->guard.guardrails.size(); ++i)
            if (r.rollout->guard.guardrails[i].metric == "ap50")
                c.fail("rollout.guardrails[" + std::to_string(i) + "].metric",
                       "ap50 is AP at IoU 0.5, and the guardrails match at eval.iou (" + std::to_string(r.eval.iou) +
                           "): leave eval.iou at 0.5");
    r.sampling = read_sampling(c, root["sampling"]);
    if (!r.publish.samples.empty() && r.flags.candidate_floor >= 0 && r.thresholds.confidence >= 0 &&
        r.flags.candidate_floor >= r.thresholds.confidence)
        c.fail("flags.candidate_floor", "must be below thresholds.confidence");
    return r;
}
} // namespace

} // namespace sightline::pipeline
