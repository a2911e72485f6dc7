#pragma once
/// The synthetic production line: parts on a conveyor seen by N cameras, rendered with exact ground truth.
///
/// Everything is deterministic from (seed, camera index): the same options give byte-identical videos and JSON.
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sightline::pipeline::synth {

/// Part classes. The first five are what the demo detector is trained on; `gear` is the novel part type that a
/// scenario introduces and the model has never seen.
enum class PartClass : int { kBolt = 0, kNut = 1, kWasher = 2, kBracket = 3, kDefect = 4, kGear = 5 };
inline constexpr int kNumPartClasses = 6;
inline constexpr int kNumTrainedClasses = 5;
/// COCO category names, indexed by PartClass; COCO category id = index + 1.
inline constexpr std::array<const char*, kNumPartClasses> kPartClassNames = {"bolt",    "nut",    "washer",
                                                                             "bracket", "defect", "gear"};

/// A knob that switches on at `start` seconds and reaches full strength after `ramp` more seconds (linear).
struct Ramp {
    double start = 0.0;
    double ramp = 0.0;
    /// Strength in [0, 1] at time t.
    double at(double t) const {
        if (t < start) return 0.0;
        if (ramp <= 0.0) return 1.0;
        return t >= start + ramp ? 1.0 : (t - start) / ramp;
    }
};

struct LightingDrift {
    Ramp when;
    double gain = 1.0;               ///< brightness multiplier at full strength
    double color_temperature = 6500; ///< kelvin at full strength (6500 = neutral)
};
struct CameraShift {
    Ramp when;
    double dx = 0.0, dy = 0.0; ///< translation in pixels at full strength
    double rotation_deg = 0.0; ///< rotation about the frame centre at full strength
};
struct NovelPart {
    Ramp when;
    double rate = 0.15; ///< fraction of new parts that are of the novel type at full strength
};
struct ClassMix {
    Ramp when;
    std::array<double, 4> weights{1, 1, 1, 1}; ///< bolt, nut, washer, bracket weights at full strength
};
struct Blur {
    Ramp when;
    double extra_px = 8.0; ///< additional horizontal motion blur length at full strength
};

/// Everything that defines one camera's stream.
struct CameraSpec {
    std::string id; ///< "cam1" ...
    int width = 640;
    int height = 480;
    int fps = 30;
    double defect_rate = 0.02; ///< fraction of parts that are defective (base rate)
    double parts_per_second = 1.6;
    double belt_speed = 110.0;      ///< pixels per second at scale 1
    double noise_sigma = 3.0;       ///< sensor noise, grey levels
    double occluded_fraction = 0.6; ///< a part hidden more than this is marked iscrowd (ignored by COCO metrics)
    std::optional<LightingDrift> lighting_drift;
    std::optional<CameraShift> camera_shift;
    std::optional<NovelPart> novel_part;
    std::optional<ClassMix> class_mix;
    std::optional<Blur> blur;
};

struct SynthOptions {
    std::filesystem::path out_dir;
    int cameras = 4;
    double seconds = 60.0;
    std::uint64_t seed = 1;
    std::vector<CameraSpec> specs;    ///< one per camera, filled by make_specs
    int threads = 0;                  ///< 0: one per hardware thread
    std::string preset = "superfast"; ///< x264 preset
    int crf = 23;
};

/// The default demo scene: cams 1-2 nominal, cam 3 lighting drift from 30 s, cam 4 a novel part type from 20 s.
std::string default_scenario_yaml();

/// Builds the per-camera specs from a scenario (YAML text, may be empty: all nominal) plus `--set key=value`
/// overrides. Throws sightline::Error naming `source` and the key path for an unknown key or a bad value.
std::vector<CameraSpec> make_specs(int cameras, const std::string& scenario_yaml, const std::string& source,
                                   const std::vector<std::string>& overrides);

/// One ground-truth object in one frame.
struct GroundTruthBox {
    PartClass cls;
    double x, y, w, h;          ///< COCO box in frame pixels (visible extent of the part, clipped to the frame)
    double area;                ///< visible pixel area of the part
    double visible_fraction;    ///< visible pixels / pixels of the whole part (occlusion and truncation)
    bool crowd;                 ///< hidden more than the camera's occluded_fraction: COCO iscrowd=1
    std::uint32_t track_id;     ///< the same physical part keeps its id across frames
    bool defect_hidden = false; ///< a defective part whose crack and rust are hidden: labelled as its shape
};

/// Tags and knob strengths in effect in one frame.
struct FrameInfo {
    int index;
    double timestamp;
    std::vector<std::string> tags;
    std::map<std::string, double> knobs;
    std::vector<GroundTruthBox> objects;
};

/// Renders one camera frame by frame into BGR images (for tests and training; generate() encodes them).
class CameraRenderer {
  public:
    CameraRenderer(const CameraSpec& spec, std::uint64_t seed, int camera_index);
    ~CameraRenderer();
    CameraRenderer(CameraRenderer&&) noexcept;
    CameraRenderer& operator=(CameraRenderer&&) noexcept;

    /// Renders the next frame into `bgr` (width*height*3 bytes, tightly packed) and returns its ground truth.
    FrameInfo next(std::uint8_t* bgr);
    const CameraSpec& spec() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct Progress {
    int frames_done;
    int frames_total;
};

/// Writes DIR/<camera>.mp4 (H.264) and DIR/<camera>.json (COCO) for every camera, cameras in parallel.
/// Each file is written under a temporary name and renamed when complete.
void generate(const SynthOptions& options, const std::function<void(const Progress&)>& on_progress = {});

/// A rendering of the default scenario kept in a folder for the next run (the demo's, the line benchmarks').
struct CachedScene {
    std::filesystem::path dir;
    int cameras = 4;
    double seconds = 60.0;
    std::uint64_t seed = 1;
    std::vector<std::string> overrides; ///< `--set key=value` (e.g. defaults.width=1920)
    bool nominal = false;               ///< every camera without drift (else the default demo scenario)
};

/// Renders `scene` into its folder unless a complete rendering of the same scene is there (dir/scene.stamp names
/// it, and every camera's .mp4 and .json exist). Returns true when it rendered. Progress as generate().
bool ensure_scene(const CachedScene& scene, const std::function<void(const Progress&)>& on_progress = {});

} // namespace sightline::pipeline::synth
