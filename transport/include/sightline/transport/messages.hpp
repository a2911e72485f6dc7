#pragma once
/// Wire format v1: the messages sightline publishes, as plain structs, and their msgpack encoding.
/// docs/wire.md is the contract, field by field.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sightline::transport {

inline constexpr int kSchemaVersion = 1;

/// Uncertainty flags, one bit each, in PredMessage::flags.
enum Flag : std::uint32_t {
    kFlagNearThreshold = 1u << 0,    ///< score within the near-threshold band above the operating threshold
    kFlagAmbiguousClass = 1u << 1,   ///< best minus second-best class score below the ambiguity margin
    kFlagHighEntropy = 1u << 2,      ///< normalised class entropy at or above the entropy threshold
    kFlagReappeared = 1u << 3,       ///< its track was missing for some frames before this one (a gap)
    kFlagClassSwitch = 1u << 4,      ///< its class differs from its track's usual class
    kFlagScoreOscillation = 1u << 5, ///< its track's score crossed the threshold back and forth recently
    /// Frame-only flags (PredMessage::frame_flags, from bit 16; below it the OR of the detections' flags):
    kFrameUnusualCount = 1u << 16,   ///< the frame's detection count is outside the camera's usual range
    kFrameCandidateBelow = 1u << 17, ///< a candidate scored between flags.candidate_floor and the threshold
    kFrameUnknownObject = 1u << 18,  ///< a cluster of sub-threshold candidates where nothing is detected
    kFrameTooDark = 1u << 19,        ///< mean luma below the camera's usual band
    kFrameTooBright = 1u << 20,      ///< mean luma above it
    kFrameLowContrast = 1u << 21,    ///< luma spread below the camera's usual band
    kFrameBlurred = 1u << 22,        ///< sharpness (relative to the luma spread) below the camera's usual band
    kFrameDisagree = 1u << 23,       ///< a version running beside the serving one found otherwise (docs/versions.md)
    kFrameUnexplained = 1u << 24,    ///< part of the picture changed from the camera's background and no box covers it
};

/// A flag's bit from its name in docs/wire.md (near_threshold, ..., unknown_object); 0 for an unknown name.
std::uint32_t flag_bit(std::string_view name);
/// The names of the bits set in `bits`, low bits first.
std::vector<std::string> flag_names(std::uint32_t bits);

/// One processed frame of one camera (topic `pred/<camera>`; a shadow version's `shadow/<camera>`), sent also when
/// there are no detections.
struct PredMessage {
    std::string camera;
    std::uint64_t seq = 0; ///< 0 for a camera's first frame, +1 per frame: a gap means lost messages
    std::int64_t pts_ns = 0;
    /// The frame's index in its source since the source was (re)opened: for a file, its frame number (from 0 again
    /// when it loops). -1 when unknown (a message from before the field existed).
    std::int64_t frame = -1;
    int width = 0, height = 0;
    std::string model;        ///< name@version
    std::vector<float> boxes; ///< x1 y1 x2 y2 per detection, frame pixels
    std::vector<float> scores;
    std::vector<std::int32_t> classes;   ///< indices into the model's class list
    std::vector<std::uint32_t> flags;    ///< Flag bits per detection
    std::vector<float> margins;          ///< best minus second-best class score per detection
    std::vector<float> entropies;        ///< normalised class-score entropy per detection
    std::vector<std::int32_t> track_ids; ///< per detection, its track in this camera (-1: none); empty: not sent
    std::map<std::string, std::int64_t> stamps_ns; ///< stage -> monotonic time: arrival, decoded, ..., published
    std::map<std::string, std::string> meta;       ///< camera metadata from the config, passed through
    std::int64_t time_ns = 0; ///< wall clock when published, ns since the epoch (0: unknown, an older message)
    /// Mean luma of the frame, full range 0..255 (negative: unknown, an older message; not sent then).
    float luma = -1;
    /// Variance of the Laplacian of the frame's luma at the model's input size (kernels::LumaStats::sharpness;
    /// negative: unknown, an older message; not sent then).
    float sharpness = -1;
    /// Standard deviation of the frame's luma (its contrast; kernels::LumaStats::stddev; negative: unknown, an older
    /// message; not sent then). Sharpness over its square is what a lighting change leaves alone (additive, 0.9).
    float contrast = -1;
    /// The frame's flags: the OR of its detections' bits, and frame-only bits from 16 (sent with uncertainty).
    std::uint32_t frame_flags = 0;
    /// The frame's uncertainty score in [0, 1] for ranking (docs/wire.md; negative: unknown, not sent).
    float uncertainty = -1;
    /// The line that published it (RunConfig::line; additive in v1, 0.10; empty: an older line, not sent then).
    std::string line;
    /// A version running beside the one serving the camera (a shadow, a rollout's fallback): topic
    /// `shadow/<camera>`, the same schema (additive in v1, 0.11; sent only when true).
    bool shadow = false;
};

/// What a model_switched event says (issue 26, docs/versions.md): the camera's serving version before and after
/// (name@version), why (rollback, promote, operator) and the evidence in words.
struct ModelSwitch {
    std::string from, to, reason, evidence;
};

/// What a monitor's alarm event says about the alarm (EventMessage::alarm; docs/wire.md, "Alarms").
struct AlarmDetail {
    std::string model;  ///< name@version of the predictions tested
    std::string slice;  ///< the camera's metadata as k=v,k=v
    std::string signal; ///< class_mix, confidence/<class>, detections_per_frame, box_size, luma, flag_rate, ...
    std::string test;   ///< jensen_shannon, wasserstein, psi, page_hinkley, p99, silence, seq_gap
    double value = 0, threshold = 0;
    std::int64_t window_start_ns = 0, window_end_ns = 0; ///< stream time (pts) of the window tested
};

/// Camera up/down, errors (topic `event`).
struct EventMessage {
    std::string kind;   ///< camera_up, camera_down, error, ...
    std::string camera; ///< empty when not about a camera
    std::string message;
    std::int64_t time_ns = 0;         ///< wall clock when it happened, ns since the epoch
    std::string endpoint;             ///< run_start: the endpoint the publisher bound (its port resolved)
    std::vector<std::string> classes; ///< run_start: the model's class names (PredMessage::classes index them)
    std::optional<AlarmDetail> alarm; ///< alarm_raised, alarm_cleared (a monitor's events): the alarm
    /// The line it comes from, or a monitor's alarm is about (additive in v1, 0.10; empty: not sent).
    std::string line;
    /// run_start, line_info: this run of the line, unique per process start (its start time in ns since the epoch
    /// and its process id); two runs heard under one line name at once are two publishers sharing a name.
    std::string run;
    /// model_switched: from, to, reason, evidence (additive in v1, 0.11: top-level fields of the event).
    std::optional<ModelSwitch> switched;
};

/// Per-camera statistics (topic `stat/<camera>`): a flat map of named numbers.
struct StatMessage {
    std::string camera;
    std::int64_t time_ns = 0;
    std::map<std::string, double> values;
    std::string model; ///< the model@version serving the camera (additive in v1, 0.9; empty: an older line)
    std::string line;  ///< the line (additive in v1, 0.10; empty: an older line)
};

using Message = std::variant<PredMessage, EventMessage, StatMessage>;

/// The topic frame a message goes out under.
std::string topic_of(const Message& m);

/// msgpack body of a message (a map with `v`, `type` and the fields above; arrays as little-endian blobs).
std::string encode(const Message& m);

/// A message encoded once: its topic frame and msgpack body. The line publishes and records these same bytes.
struct EncodedMessage {
    std::string topic;
    std::string body;
};

/// The topic and body of a message (encode() and topic_of() in one).
EncodedMessage encode_message(const Message& m);

/// Parses a body; throws Error(kBadInput) naming the field on a malformed or newer-schema message.
Message decode(std::string_view body);

/// A frame selected for relabeling (topic `sample/<camera>`, on the samples channel: transport/samples.hpp): the
/// JPEG of the whole frame and everything known about it (docs/wire.md, "Samples").
struct SampleMessage {
    std::string id;   ///< unique across lines and restarts: <camera>/<line start, ns since the epoch>/<seq>
    PredMessage pred; ///< the frame's predictions, flags, uncertainty, stamps and metadata, as on pred/<camera>
    std::vector<std::string> classes; ///< the model's class names (pred.classes and candidate_classes index them)
    /// Candidates below the operating threshold (flags.candidate_floor), x1 y1 x2 y2 per candidate, frame pixels.
    std::vector<float> candidate_boxes, candidate_scores;
    std::vector<std::int32_t> candidate_classes;
    std::string strategy;             ///< the sampling strategy that selected it
    std::vector<std::string> tags;    ///< that strategy's tags
    std::vector<std::string> reasons; ///< why, in words: "uncertainty 0.93", "flags near_threshold", ...
    float threshold = 0;              ///< the operating threshold the predictions were cut at
    std::int64_t selected_ns = 0;     ///< wall clock when it was selected, ns since the epoch
    /// A context frame (sampling.context_frames): the id of the sample it surrounds, and its offset in frames of
    /// that camera (-k..-1 before, 1..k after). Empty for a sample.
    std::string context_of;
    std::int32_t context_offset = 0;
    std::string jpeg; ///< the frame at full resolution
};

/// The topic (`sample/<camera>`) and msgpack body of a sample.
EncodedMessage encode_sample(const SampleMessage& m);
/// Parses a sample's body; Error(kBadInput) naming the field when malformed.
SampleMessage decode_sample(std::string_view body);
/// The id of a sample body that decode_sample() refuses, when one can be read (a string field `id` of valid UTF-8
/// in a msgpack map), so the collector can tell the line which sample it rejects; nothing otherwise.
std::optional<std::string> sample_id_of(std::string_view body);

} // namespace sightline::transport
