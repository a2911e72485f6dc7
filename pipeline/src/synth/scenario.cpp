// Scenario files: per-camera knobs for the synthetic line, validated key by key.
#include <yaml-cpp/yaml.h>

#include <set>

#include "sightline/error.hpp"
#include "sightline/pipeline/synth.hpp"

namespace sightline::pipeline::synth {

namespace {

[[noreturn]] void fail(const std::string& source, const std::string& path, const std::string& why) {
    throw Error(ErrorCode::kBadInput, source + ": " + path + ": " + why);
}

class Reader {
  public:
    explicit Reader(std::string source) : source_(std::move(source)) {}

    void expect_map(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) const {
        if (!n.IsMap()) fail(source_, path, "expected a mapping");
        for (const auto& kv : n) {
            if (!kv.first.IsScalar()) fail(source_, path, "a key that is not a plain name");
            const auto key = kv.first.Scalar();
            if (!allowed.count(key)) {
                std::string list;
                for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
                fail(source_, path.empty() ? key : path + "." + key, "unknown key (expected one of: " + list + ")");
            }
        }
    }
    double number(const YAML::Node& n, const std::string& path, double lo, double hi) const {
        double v;
        try {
            v = n.as<double>();
        } catch (const YAML::Exception&) {
            fail(source_, path,
                 "expected a number, got '" + (n.IsScalar() ? n.Scalar() : std::string("a collection")) + "'");
        }
        if (!(v >= lo && v <= hi))
            fail(source_, path,
                 "value " + n.Scalar() + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return v;
    }
    int integer(const YAML::Node& n, const std::string& path, int lo, int hi) const {
        double v = number(n, path, lo, hi);
        if (v != static_cast<int>(v)) fail(source_, path, "expected an integer, got " + n.Scalar());
        return static_cast<int>(v);
    }
    Ramp ramp(const YAML::Node& n, const std::string& path) const {
        Ramp r;
        if (n["start"]) r.start = number(n["start"], path + ".start", 0, 1e7);
        if (n["ramp"]) r.ramp = number(n["ramp"], path + ".ramp", 0, 1e7);
        return r;
    }

    void camera(const YAML::Node& n, const std::string& path, CameraSpec& c) const {
        expect_map(n, path,
                   {"width", "height", "fps", "defect_rate", "parts_per_second", "belt_speed", "noise_sigma",
                    "occluded_fraction", "lighting_drift", "camera_shift", "novel_part", "class_mix", "blur"});
        auto p = [&](const char* key) { return path + "." + key; };
        if (n["width"]) c.width = integer(n["width"], p("width"), 64, 7680);
        if (n["height"]) c.height = integer(n["height"], p("height"), 64, 4320);
        if (n["fps"]) c.fps = integer(n["fps"], p("fps"), 1, 240);
        if (n["defect_rate"]) c.defect_rate = number(n["defect_rate"], p("defect_rate"), 0, 1);
        if (n["parts_per_second"]) c.parts_per_second = number(n["parts_per_second"], p("parts_per_second"), 0, 100);
        if (n["belt_speed"]) c.belt_speed = number(n["belt_speed"], p("belt_speed"), 1, 10000);
        if (n["noise_sigma"]) c.noise_sigma = number(n["noise_sigma"], p("noise_sigma"), 0, 64);
        if (n["occluded_fraction"]) c.occluded_fraction = number(n["occluded_fraction"], p("occluded_fraction"), 0, 1);
        if (auto k = n["lighting_drift"]) {
            const auto kp = p("lighting_drift");
            expect_map(k, kp, {"start", "ramp", "gain", "color_temperature"});
            LightingDrift d{ramp(k, kp)};
            if (k["gain"]) d.gain = number(k["gain"], kp + ".gain", 0.05, 10);
            if (k["color_temperature"])
                d.color_temperature = number(k["color_temperature"], kp + ".color_temperature", 1000, 40000);
            c.lighting_drift = d;
        }
        if (auto k = n["camera_shift"]) {
            const auto kp = p("camera_shift");
            expect_map(k, kp, {"start", "ramp", "dx", "dy", "rotation_deg"});
            CameraShift d{ramp(k, kp)};
            if (k["dx"]) d.dx = number(k["dx"], kp + ".dx", -10000, 10000);
            if (k["dy"]) d.dy = number(k["dy"], kp + ".dy", -10000, 10000);
            if (k["rotation_deg"]) d.rotation_deg = number(k["rotation_deg"], kp + ".rotation_deg", -180, 180);
            c.camera_shift = d;
        }
        if (auto k = n["novel_part"]) {
            const auto kp = p("novel_part");
            expect_map(k, kp, {"start", "ramp", "rate"});
            NovelPart d{ramp(k, kp)};
            if (k["rate"]) d.rate = number(k["rate"], kp + ".rate", 0, 1);
            c.novel_part = d;
        }
        if (auto k = n["class_mix"]) {
            const auto kp = p("class_mix");
            expect_map(k, kp, {"start", "ramp", "weights"});
            ClassMix d{ramp(k, kp)};
            if (auto w = k["weights"]) {
                expect_map(w, kp + ".weights", {"bolt", "nut", "washer", "bracket"});
                const char* names[4] = {"bolt", "nut", "washer", "bracket"};
                double sum = 0;
                for (int i = 0; i < 4; ++i)
                    if (w[names[i]]) d.weights[i] = number(w[names[i]], kp + ".weights." + names[i], 0, 1e6);
                for (double v : d.weights) sum += v;
                if (sum <= 0) fail(source_, kp + ".weights", "at least one weight must be positive");
            }
            c.class_mix = d;
        }
        if (auto k = n["blur"]) {
            const auto kp = p("blur");
            expect_map(k, kp, {"start", "ramp", "extra_px"});
            Blur d{ramp(k, kp)};
            if (k["extra_px"]) d.extra_px = number(k["extra_px"], kp + ".extra_px", 0, 200);
            c.blur = d;
        }
        if (c.width % 2 || c.height % 2) fail(source_, path, "width and height must be even (H.264 4:2:0)");
    }

  private:
    std::string source_;
};

// Applies "a.b.c=value" onto the YAML tree, creating maps along the path.
void apply_override(YAML::Node& root, const std::string& text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
        throw Error(ErrorCode::kBadInput,
                    "--set " + text + ": expected KEY.PATH=VALUE (e.g. cameras.cam3.blur.start=10)");
    const std::string path = text.substr(0, eq), value = text.substr(eq + 1);
    std::vector<std::string> keys;
    for (std::size_t b = 0;;) {
        auto dot = path.find('.', b);
        keys.push_back(path.substr(b, dot - b));
        if (dot == std::string::npos) break;
        b = dot + 1;
    }
    // yaml-cpp's operator[] on a non-const node refers into the tree, so walk with fresh handles.
    std::vector<YAML::Node> chain{root};
    for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
        YAML::Node next = chain.back()[keys[i]];
        if (!next.IsDefined() || next.IsNull()) {
            chain.back()[keys[i]] = YAML::Node(YAML::NodeType::Map);
            next = chain.back()[keys[i]];
        }
        if (!next.IsMap()) throw Error(ErrorCode::kBadInput, "--set " + text + ": " + keys[i] + " is not a mapping");
        chain.push_back(next);
    }
    chain.back()[keys.back()] = YAML::Load(value);
}

} // namespace

std::string default_scenario_yaml() {
    return R"(# The default demo scene: cams 1-2 nominal, cam 3 lighting drift from 30 s, cam 4 a novel part from 20 s.
cameras:
  cam3:
    lighting_drift: {start: 30, ramp: 10, gain: 0.7, color_temperature: 4300}
  cam4:
    novel_part: {start: 20, ramp: 0, rate: 0.3}
)";
}

namespace {
std::vector<CameraSpec> read_specs(int cameras, const std::string& scenario_yaml, const std::string& source,
                                   const std::vector<std::string>& overrides);
}

std::vector<CameraSpec> make_specs(int cameras, const std::string& scenario_yaml, const std::string& source,
                                   const std::vector<std::string>& overrides) {
    try { // whatever yaml-cpp throws on the way is the scenario's fault: named, never an unexpected failure
        return read_specs(cameras, scenario_yaml, source, overrides);
    } catch (const YAML::Exception& e) {
        throw Error(ErrorCode::kBadInput, source + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
}

namespace {
std::vector<CameraSpec> read_specs(int cameras, const std::string& scenario_yaml, const std::string& source,
                                   const std::vector<std::string>& overrides) {
    if (cameras < 1 || cameras > 256)
        throw Error(ErrorCode::kBadInput, "--cameras must be in 1..256, got " + std::to_string(cameras));
    YAML::Node root;
    try {
        root = scenario_yaml.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(scenario_yaml);
    } catch (const YAML::Exception& e) {
        throw Error(ErrorCode::kBadInput, source + ": malformed YAML at line " + std::to_string(e.mark.line + 1) +
                                              ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    for (const auto& o : overrides) apply_override(root, o);

    Reader r(source);
    r.expect_map(root, "", {"defaults", "cameras"});
    CameraSpec base;
    if (root["defaults"]) r.camera(root["defaults"], "defaults", base);
    std::vector<CameraSpec> specs;
    for (int i = 0; i < cameras; ++i) {
        specs.push_back(base);
        specs.back().id = "cam" + std::to_string(i + 1);
    }
    if (auto cams = root["cameras"]) {
        if (!cams.IsMap()) fail(source, "cameras", "expected a mapping from camera id (cam1, cam2, ...) to knobs");
        for (const auto& kv : cams) {
            if (!kv.first.IsScalar()) fail(source, "cameras", "a key that is not a camera id");
            const auto id = kv.first.Scalar();
            int n = 0;
            if (id.rfind("cam", 0) != 0 || id.size() < 4 || id.size() > 6 ||
                id.find_first_not_of("0123456789", 3) != std::string::npos || (n = std::stoi(id.substr(3))) < 1)
                fail(source, "cameras." + id, "camera ids are cam1, cam2, ...");
            if (n > cameras) continue; // the scene has fewer cameras than the scenario describes
            r.camera(kv.second, "cameras." + id, specs[n - 1]);
        }
    }
    return specs;
}
} // namespace

} // namespace sightline::pipeline::synth
