#pragma once
/// The `sightline run` configuration (docs/config.md), validated key by key. The structs mirror the YAML: each
/// member is named as its key, so `batching.max_batch` in the file is `config.batching.max_batch` here.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sightline/pipeline/video_reader.hpp"

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
};

struct BatchingConfig {
    int max_batch = 4;
    double max_wait_ms = 10;   ///< a batch leaves at most this long after its first frame, full or not
    double max_latency_ms = 0; ///< live frames older than this (from packet arrival) are dropped; 0: never
};

struct ReconnectConfig {
    double max_backoff_s = 10; ///< cap of the reconnect backoff of network cameras (from 0.25 s, doubling)
};

struct ThresholdsConfig {
    float confidence = -1, iou = -1; ///< negative: the model's defaults
    int max_det = -1;
};

struct FlagsConfig {
    float near_threshold_band = 0.1f; ///< flag near_threshold: score in [confidence, confidence + band)
    float ambiguity_margin = 0.2f;    ///< flag ambiguous_class: best - second-best class score below this
    float entropy_threshold = 0.5f;   ///< flag high_entropy: normalised class entropy at or above this
    /// unusual_count: a frame whose detection count lies outside the camera's usual range, learned online over its
    /// frames (the first count_learn_frames, then a moving average over as many): mean +- max(2, 4 sigma).
    int count_learn_frames = 300;
};

struct EvalConfig {
    double window_s = 60; ///< online evaluation: the rolling window, seconds of video (stream time)
    double iou = 0.5;     ///< online evaluation: IoU for a match
};

struct RunConfig {
    std::filesystem::path path;
    std::vector<CameraConfig> cameras;
    std::filesystem::path model;   ///< model.yaml, resolved against the config's directory
    std::string engine = "opencv"; ///< opencv (ONNX) or libtorch (TorchScript)
    PublishConfig publish;
    BatchingConfig batching;
    ReconnectConfig reconnect;
    ThresholdsConfig thresholds;
    FlagsConfig flags;
    EvalConfig eval;
};

/// Reads and validates a config. Throws Error(kNotFound) for a missing file, Error(kBadInput) naming the file, the
/// key path (e.g. cameras[1].url) and the reason for anything else.
RunConfig load_run_config(const std::filesystem::path& path);

} // namespace sightline::pipeline
