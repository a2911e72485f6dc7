#pragma once
/// The `sightline run` configuration (docs/config.md), validated key by key. The structs mirror the YAML: each
/// member is named as its key, so `batching.max_batch` in the file is `config.batching.max_batch` here.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sightline/pipeline/rollout.hpp"
#include "sightline/pipeline/video_reader.hpp"
#include "sightline/transport/security.hpp"

namespace sightline::pipeline {

struct CameraConfig {
    std::string id;
    std::string url;                         ///< a file path (resolved against the config's directory) or an FFmpeg URL
    std::map<std::string, std::string> meta; ///< free-form metadata passed through on every message
    bool realtime = false;                   ///< files: pace frames to their timestamps, as a live camera (ffmpeg -re)
    bool loop = false;                       ///< files: start again at the end
    std::map<std::string, std::string> options; ///< FFmpeg options for the input (rtsp_transport: tcp, ...)
    /// COCO ground truth of this camera's frames (resolved against the config's directory): `run` then evaluates
    /// a rolling window online and publishes the figures on stat/<camera>. Empty: none.
    std::filesystem::path ground_truth;
    int every = 1; ///< process every k-th decoded frame (all are decoded; the others are skipped, not dropped)
    /// cpu, or nvdec: NVDEC decodes into device memory and the preprocess kernel reads the frames there; where
    /// NVDEC cannot be had, the camera decodes on the CPU and the log says why (once).
    Decoder decode = Decoder::kCpu;
    /// The model version serving this camera (an id of RunConfig::models; empty: the first). docs/versions.md.
    std::string model;
    /// Network URLs are live: on error or end of stream they reconnect with capped exponential backoff.
    bool network() const { return is_network_url(url); }
    /// Live sources (URLs, and realtime files) drop their oldest decoded frame when the line falls behind;
    /// files read as fast as the line takes them are lossless (the source waits).
    bool live() const { return realtime || network(); }
};

struct PublishConfig {
    std::string predictions;      ///< the ZeroMQ endpoint bound
    int send_hwm = 1000;          ///< messages queued per subscriber before it is dropped for (counted)
    int wait_for_subscribers = 0; ///< a lossless replay waits for this many subscriptions before the first frame
    double wait_timeout_s = 30;
    /// The samples channel (docs/wire.md, "Samples"): frames the sampling rules select go to collectors here (a
    /// ROUTER socket bound; empty: no sampling at all).
    std::string samples;
    int samples_buffer = 256;    ///< samples kept until a collector acknowledges them (the oldest dropped, counted)
    double samples_drain_s = 10; ///< at the end of a run, how long the line waits for the last acknowledgements
    double samples_ack_timeout_s = 30; ///< a sample unanswered this long goes again (to any collector)
    /// The control socket (a REP socket bound; docs/versions.md, "Hot swap"): `sightline ctl` loads, serves and
    /// unloads model versions while the line runs. Empty: none.
    std::string control;
    /// CURVE on both sockets (`security:` in the config, docs/security.md): the line's key and the clients it admits;
    /// nullopt: plain ZeroMQ, which binds a non-loopback address only with `allow_insecure: true`.
    std::optional<transport::CurveServer> curve;
    bool allow_insecure = false;
};

struct BatchingConfig {
    int max_batch = 4;
    double max_wait_ms = 10;   ///< a batch leaves at most this long after its first frame, full or not
    double max_latency_ms = 0; ///< live frames older than this (from packet arrival) are dropped; 0: never
};

struct ReconnectConfig {
    double max_backoff_s = 10; ///< cap of the reconnect backoff of network cameras (from 0.25 s, doubling)
    /// A network camera that delivers no packet for this long (its connection open, nothing coming: a hung camera
    /// or a dead link without a reset) is dropped: camera_down, then reconnects. Any protocol (FFmpeg's interrupt
    /// callback). 0: never.
    double stall_timeout_s = 5;
};

struct ThresholdsConfig {
    float confidence = -1, iou = -1; ///< negative: the model's defaults
    int max_det = -1;
};

/// One version of the model the line loads (`models:`; a config with `model:` alone has one, id `default`).
struct ModelVersionConfig {
    std::string id;              ///< the camera-id rule
    std::filesystem::path file;  ///< its model.yaml, resolved against the config's directory
    ThresholdsConfig thresholds; ///< its own (negative: the line's thresholds:, else the model's defaults)
};

/// `rollout:` (docs/versions.md): the cameras served by `candidate` run `fallback` beside it on every frame, and the
/// guardrails (rollout.hpp) compare the two per block of frames; a breach switches the camera back to `fallback`
/// (event model_switched, reason rollback), and with `promote` a win (every guardrail cleared) keeps the candidate
/// and stops running the fallback there (reason promote).
struct LineRolloutConfig {
    std::string candidate, fallback;
    bool promote = false;
    RolloutConfig guard;
    /// Whether `guardrails:` was given; if not, a camera with ground truth also gets
    /// RolloutConfig::ground_truth_guardrails().
    bool guardrails_given = false;
};

struct FlagsConfig {
    /// Flag near_threshold: score in [confidence, confidence + band); and candidate_below: a free candidate (one
    /// no detection overlaps) in [confidence - band, confidence). Narrow, so the flags stay rare on a nominal camera
    /// (at most 10% of frames each on the monitor proof's nominal cameras, bench/README.md).
    float near_threshold_band = 0.02f;
    /// The frame's uncertainty score's near-threshold term: 1 at the threshold, falling to 0 at confidence +
    /// score_band (flags.hpp, detection_uncertainty). Wider than the flag's band: the ranking wants a gradient.
    float score_band = 0.1f;
    /// The ranking's near-threshold term (frame expected_errors, flags.hpp detection_expected_error): 1 at the
    /// threshold, 0 at confidence + rank_score_band. Wide, so a fading object counts before it nears the threshold:
    /// 0.75 (from 0.1, the uncertainty's band) raised what the collector's picks hold on drifting cameras,
    /// bench/README.md.
    float rank_score_band = 0.75f;
    float ambiguity_margin = 0.2f;  ///< flag ambiguous_class: best - second-best class score below this
    float entropy_threshold = 0.5f; ///< flag high_entropy: normalised class entropy at or above this
    /// unusual_count: a frame whose detection count lies outside the camera's usual range, learned online over its
    /// frames (the first count_learn_frames, then a moving average over as many): mean +- max(2, 4 sigma).
    int count_learn_frames = 300;
    /// too_dark / too_bright: the frame's mean luma (0..255) outside the camera's usual band, learned as the count
    /// is: mean +- max(luma_band, 4 sigma). low_contrast: its luma spread below mean - max(contrast_band, 4 sigma).
    float luma_band = 12, contrast_band = 6;
    /// blurred: the frame's relative sharpness (kernels::LumaStats::sharpness / the luma variance: a change of gain
    /// or exposure leaves it, a defocus or motion blur lowers it) below the camera's usual, learned as the luma band
    /// is, by more than a factor max(1 / blur_ratio, e^(4 sigma)) (the band is taken on its logarithm).
    float blur_ratio = 0.7f;
    /// Candidates scoring in [candidate_floor, threshold) are kept beside the detections (for flags and samples;
    /// never published as detections): candidate_below per frame, unknown_object. Negative: none kept.
    float candidate_floor = 0.1f;
    int max_candidates = 50; ///< at most this many per frame (the best)
    /// A free candidate's weight in the frame's uncertainty terms (flags.hpp, candidate_uncertainty); 0: candidates
    /// flag frames and travel with samples, but do not move the score.
    float candidate_weight = 0;
    /// The tracker (flags.hpp): detections associated frame to frame by IoU, per camera, for the temporal flags.
    float track_iou = 0.3f; ///< a detection continues a track when their boxes overlap at least this much
    int track_max_age = 15; ///< frames a track survives unseen (a reappearance within them is a gap)
    /// A detection with a temporal flag (reappeared, class_switch, score_oscillation) counts at least this much in
    /// the frame's uncertainty terms (0, the default: the temporal flags flag, but do not move the score; 0.5 raised
    /// the novel-part camera's enrichment and lowered the line's, bench/README.md).
    float temporal_weight = 0;
    /// unexplained (docs/wire.md): at least this many of the frame's foreground cells (cells of the resized luma that
    /// differ from the camera's background, sightline/kernels/background.hpp) touch no detection and no candidate.
    /// 0: no background is kept and the flag never fires.
    int unexplained_cells = 2;
    float unexplained_weight = 0; ///< the flag's term in the frame's uncertainty (0: it flags, but does not score)
    int background_cell = 16;     ///< a background cell's side, in the model input's pixels
    float background_floor = 10;  ///< a cell is foreground when off its background by more than max(4 deviations, this)
    int background_warmup = 50;   ///< frames a camera's background learns before a cell can be foreground
};

/// One sampling strategy (docs/collector.md): evaluated in order, the first that matches a frame, passes its
/// probability draw and has headroom in its limits selects it (Roboflow Inference's active-learning semantics).
struct SamplingStrategy {
    std::string name; ///< unique: each sample records it
    /// random (a fraction of traffic), close_to_threshold, classes (any of them present), detection_count, flags
    /// (any/all of a set), uncertainty (the frame's score at or above `min`), expected_errors (the frame's ranking
    /// score, the sum of its uncertainty terms, at or above `min`)
    std::string type;
    std::vector<std::string> tags;
    double probability = 1;                        ///< a match selects the frame with this probability
    int per_minute = 0, per_hour = 0, per_day = 0; ///< samples this strategy may select (video time); 0: no limit
    /// Ranked (the default, except random): candidates wait for the end of their window and the most uncertain
    /// go. Unranked: a match goes at once (still through limits, quotas and dedupe).
    bool ranked = true;
    double fraction = 0.01;                 ///< random: the share of frames
    std::vector<std::string> classes;       ///< close_to_threshold, classes, detection_count: class names (empty: all)
    float threshold = 0.5f, epsilon = 0.1f; ///< close_to_threshold: scores in [threshold - eps, threshold + eps]
    int min_objects = 1;                    ///< close_to_threshold: at least this many such
    int more_than = -1, less_than = -1;     ///< detection_count: selected when count > more_than or < less_than
    std::vector<std::string> flags;         ///< flags: flag names (docs/wire.md)
    bool all = false;                       ///< flags: all of them (else any)
    float min = 0.5f; ///< uncertainty: the frame's score at least this; expected_errors: its ranking score
};

struct SamplingConfig {
    std::vector<SamplingStrategy> strategies; ///< the default set (docs/collector.md) when the config has none
    /// Ranked candidates compete within windows this long (each camera's video time). Long, so that a camera's
    /// picks are the best of many of its frames: a drifting camera's errors are on nearly every frame, and even the
    /// worst frame of each 2 s holds only 1.3-1.4x its mean (docs/collector.md); samples leave when their window
    /// closes.
    double window_s = 30;
    int max_per_window = 15; ///< samples per window over the whole line, the most informative first (0: no cap)
    /// What a window leaves unspent carries over, up to this many windows' worth: quiet stretches save the budget
    /// for the stretches where the model struggles (0: none carries).
    int carry_over_windows = 2;
    int camera_max_per_window = 0; ///< per camera per window (0: no cap)
    int camera_per_hour = 0;       ///< per camera per hour of video (0: no quota)
    /// How a window's budget is shared. "cameras" (the default): weighted fair queueing over the cameras with
    /// candidates, each camera's weight share_floor + the mean doubt of its frames (FrameOutput::doubt) over the last
    /// share_half_life_s (so a camera that drifts gets most, and a second drifting camera is never starved); within
    /// a camera the most informative first. "line": the most informative of the whole line first, whatever camera.
    std::string share = "cameras";
    double share_floor = 0.25;
    double share_half_life_s = 30;
    int dedupe_distance = 6;     ///< a frame within this Hamming distance (of 64 bits) of a sample is a duplicate
    double dedupe_window_s = 10; ///< ...of a sample of the same camera this recent; negative distance: no dedupe
    int jpeg_quality = 90;
    /// Context frames for video labeling: the k frames before and the k after each sample, of its camera, sent as
    /// samples of their own (strategy `context`, `context_of` the sample's id, `context_offset` -k..k; outside the
    /// limits and quotas; a frame already sent is not sent again). 0: none. While on, the line keeps a host copy of
    /// each camera's last k frames (and of those a waiting sample still needs).
    int context_frames = 0;
    std::uint64_t seed = 0; ///< probability draws hash (seed, camera, frame): a replay selects the same frames
};

struct EvalConfig {
    double window_s = 60; ///< online evaluation: the rolling window, seconds of video (stream time)
    double iou = 0.5;     ///< online evaluation: IoU for a match
};

struct RunConfig {
    std::filesystem::path path;
    /// The line's name (`line:`; default: the host name's first label): carried by every message it publishes
    /// (docs/wire.md), it keeps apart lines whose cameras share ids in every sink. The camera-id rule, and no
    /// '.', '*' or '>'.
    std::string line;
    std::vector<CameraConfig> cameras;
    std::filesystem::path model; ///< model.yaml, resolved against the config's directory (with models:, the first's)
    /// Every version the line loads (`models:`), the first serving by default; empty in a config built in code with
    /// `model` alone (versions() then gives that one).
    std::vector<ModelVersionConfig> models;
    std::vector<std::string> shadow; ///< versions also run on every frame they do not serve (shadow/<camera>)
    std::optional<LineRolloutConfig> rollout;
    /// `models`, or the one version `model` names (id `default`).
    std::vector<ModelVersionConfig> versions() const;
    std::string engine = "auto"; ///< auto (openvino where built, else opencv), opencv, openvino (ONNX), libtorch
    int engine_threads = 0;      ///< the engine's inference threads (0: the engine's default, every core)
    PublishConfig publish;
    BatchingConfig batching;
    ReconnectConfig reconnect;
    ThresholdsConfig thresholds;
    FlagsConfig flags;
    EvalConfig eval;
    SamplingConfig sampling;
};

/// The strategies a run samples with when its config names none (docs/collector.md).
std::vector<SamplingStrategy> default_sampling_strategies();

/// The default line name: this host's name, its first label (transport::line_name_from).
std::string default_line_name();

/// Reads and validates a config. Throws Error(kNotFound) for a missing file, Error(kBadInput) naming the file, the
/// key path (e.g. cameras[1].url) and the reason for anything else.
RunConfig load_run_config(const std::filesystem::path& path);

} // namespace sightline::pipeline
