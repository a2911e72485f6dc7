#include "sightline/transport/messages.hpp"

#include <msgpack.hpp>

#include <cmath>
#include <limits>
#include <type_traits>

#include "sightline/error.hpp"
#include "sightline/transport/blob.hpp"
#include "sightline/transport/checks.hpp"
#include "unpack_limits.hpp"

namespace sightline::transport {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;
using detail::unpack_limits;
constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

void key(Packer& p, std::string_view k) {
    p.pack_str(static_cast<std::uint32_t>(k.size())).pack_str_body(k.data(), static_cast<std::uint32_t>(k.size()));
}
void str(Packer& p, std::string_view k, std::string_view v) {
    key(p, k);
    key(p, v);
}
template <class T> void blob(Packer& p, std::string_view k, const std::vector<T>& v) {
    key(p, k);
    const std::string b = to_blob(std::span<const T>(v));
    p.pack_bin(static_cast<std::uint32_t>(b.size())).pack_bin_body(b.data(), static_cast<std::uint32_t>(b.size()));
}

struct Visitor {
    Packer& p;
    void operator()(const PredMessage& m) const {
        p.pack_map(18 + (m.time_ns != 0 ? 1 : 0) + (m.luma >= 0 ? 1 : 0) + (m.sharpness >= 0 ? 1 : 0) +
                   (m.contrast >= 0 ? 1 : 0) + (m.uncertainty >= 0 ? 2 : 0) + (m.track_ids.empty() ? 0 : 1) +
                   (m.line.empty() ? 0 : 1) + (m.shadow ? 1 : 0));
        key(p, "v"), p.pack(kSchemaVersion);
        str(p, "type", "pred");
        str(p, "camera", m.camera);
        key(p, "seq"), p.pack(m.seq);
        key(p, "pts_ns"), p.pack(m.pts_ns);
        key(p, "frame"), p.pack(m.frame);
        key(p, "width"), p.pack(m.width);
        key(p, "height"), p.pack(m.height);
        str(p, "model", m.model);
        key(p, "n"), p.pack(static_cast<std::uint32_t>(m.scores.size()));
        blob(p, "boxes", m.boxes);
        blob(p, "scores", m.scores);
        blob(p, "classes", m.classes);
        blob(p, "flags", m.flags);
        blob(p, "margins", m.margins);
        blob(p, "entropies", m.entropies);
        key(p, "t"), p.pack(m.stamps_ns);
        key(p, "meta"), p.pack(m.meta);
        if (m.time_ns != 0) key(p, "time_ns"), p.pack(m.time_ns);       // additive in v1: absent from older messages
        if (m.luma >= 0) key(p, "luma"), p.pack(m.luma);                // additive in v1 (session 7)
        if (m.sharpness >= 0) key(p, "sharpness"), p.pack(m.sharpness); // additive in v1 (session 9)
        if (m.contrast >= 0) key(p, "contrast"), p.pack(m.contrast);    // additive in v1 (0.9)
        if (m.uncertainty >= 0) {                                       // additive in v1 (session 7)
            key(p, "frame_flags"), p.pack(m.frame_flags);
            key(p, "uncertainty"), p.pack(m.uncertainty);
        }
        if (!m.track_ids.empty()) blob(p, "track_ids", m.track_ids); // additive in v1 (session 8)
        if (!m.line.empty()) str(p, "line", m.line);                 // additive in v1 (0.10)
        if (m.shadow) key(p, "shadow"), p.pack(true);                // additive in v1 (0.11)
    }
    void operator()(const EventMessage& m) const {
        p.pack_map(6 + (m.endpoint.empty() ? 0 : 1) + (m.classes.empty() ? 0 : 1) + (m.alarm ? 1 : 0) +
                   (m.line.empty() ? 0 : 1) + (m.run.empty() ? 0 : 1) + (m.switched ? 4 : 0));
        key(p, "v"), p.pack(kSchemaVersion);
        str(p, "type", "event");
        str(p, "kind", m.kind);
        str(p, "camera", m.camera);
        str(p, "message", m.message);
        key(p, "time_ns"), p.pack(m.time_ns);
        if (!m.endpoint.empty()) str(p, "endpoint", m.endpoint); // additive in v1: run_start only
        if (!m.classes.empty()) key(p, "classes"), p.pack(m.classes);
        if (!m.line.empty()) str(p, "line", m.line); // additive in v1 (0.10)
        if (!m.run.empty()) str(p, "run", m.run);
        if (m.switched) { // additive in v1 (0.11): model_switched
            str(p, "from", m.switched->from);
            str(p, "to", m.switched->to);
            str(p, "reason", m.switched->reason);
            str(p, "evidence", m.switched->evidence);
        }
        if (m.alarm) { // additive in v1: a monitor's alarm events
            const AlarmDetail& a = *m.alarm;
            key(p, "alarm"), p.pack_map(8);
            str(p, "model", a.model);
            str(p, "slice", a.slice);
            str(p, "signal", a.signal);
            str(p, "test", a.test);
            key(p, "value"), p.pack(a.value);
            key(p, "threshold"), p.pack(a.threshold);
            key(p, "window_start_ns"), p.pack(a.window_start_ns);
            key(p, "window_end_ns"), p.pack(a.window_end_ns);
        }
    }
    void operator()(const StatMessage& m) const {
        p.pack_map(5 + (m.model.empty() ? 0 : 1) + (m.line.empty() ? 0 : 1));
        key(p, "v"), p.pack(kSchemaVersion);
        str(p, "type", "stat");
        str(p, "camera", m.camera);
        key(p, "time_ns"), p.pack(m.time_ns);
        key(p, "values"), p.pack(m.values);
        if (!m.model.empty()) str(p, "model", m.model); // additive in v1 (0.9): a late consumer learns the model
        if (!m.line.empty()) str(p, "line", m.line);    // additive in v1 (0.10)
    }
};

/// Where outside bytes become values: every field is checked here, once (checks.hpp), so what decode() returns holds
/// finite numbers in their ranges, bounded strings of valid UTF-8 and consistent arrays.
class Reader {
  public:
    /// `path`: where the map sits in the body ("" for the body itself), for the errors.
    explicit Reader(const msgpack::object& o, std::string path = "") : path_(path.empty() ? "" : path + ".") {
        if (o.type != msgpack::type::MAP)
            fail(path.empty() ? "body is not a msgpack map" : "field '" + path + "' is not a map");
        if (o.via.map.size > limits::kBodyFields)
            fail("a map of " + std::to_string(o.via.map.size) + " fields, more than the " +
                 std::to_string(limits::kBodyFields) + " allowed");
        for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
            const auto& kv = o.via.map.ptr[i];
            if (kv.key.type != msgpack::type::STR) fail("a key that is not a string");
            const std::string_view k(kv.key.via.str.ptr, kv.key.via.str.size);
            if (!fields_.emplace(k, &kv.val).second) fail("field '" + path_ + printable(k) + "' appears twice");
        }
    }
    [[noreturn]] static void fail(const std::string& why) { throw Error(ErrorCode::kBadInput, "message: " + why); }
    std::string where(std::string_view k) const { return "field '" + path_ + std::string(k) + "'"; }
    const msgpack::object& at(std::string_view k) const {
        auto it = fields_.find(k);
        if (it == fields_.end()) fail("missing " + where(k));
        return *it->second;
    }
    bool has(std::string_view k) const { return fields_.count(k) > 0; }

    /// A string of at most `max_bytes` of valid UTF-8.
    std::string text(std::string_view k, std::size_t max_bytes) const { return text_of(at(k), max_bytes, where(k)); }
    std::string camera(std::string_view k) const {
        std::string s = text(k, limits::kCameraBytes);
        check_camera_id(s, "message: " + where(k));
        return s;
    }
    /// The optional `line` field: a line name, "" when absent.
    std::string line() const {
        if (!has("line")) return {};
        std::string s = text("line", limits::kCameraBytes);
        check_line_name(s, "message: " + where("line"));
        return s;
    }
    /// An integer in [lo, hi].
    template <class T> T integer(std::string_view k, T lo, T hi) const {
        const auto& o = at(k);
        T v{};
        if (o.type == msgpack::type::POSITIVE_INTEGER) {
            if (o.via.u64 > static_cast<std::uint64_t>(hi)) fail(where(k) + " is out of range");
            v = static_cast<T>(o.via.u64);
        } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
            if constexpr (std::is_unsigned_v<T>)
                fail(where(k) + " is out of range");
            else
                v = static_cast<T>(o.via.i64);
        } else {
            fail(where(k) + " has the wrong type");
        }
        if (v < lo || v > hi) fail(where(k) + " is out of range (" + std::to_string(v) + ")");
        return v;
    }
    /// A finite number in [lo, hi] (integers accepted).
    double real(std::string_view k, double lo, double hi) const { return real_of(at(k), lo, hi, where(k)); }
    bool boolean(std::string_view k) const {
        const msgpack::object& o = at(k);
        if (o.type != msgpack::type::BOOLEAN) fail(where(k) + " is not true or false");
        return o.via.boolean;
    }
    std::string_view bin(std::string_view k) const {
        const auto& o = at(k);
        if (o.type != msgpack::type::BIN) fail(where(k) + " is not a blob");
        return {o.via.bin.ptr, o.via.bin.size};
    }
    std::vector<std::string> texts(std::string_view k, std::size_t max_items, std::size_t max_bytes) const {
        const auto& o = at(k);
        if (o.type != msgpack::type::ARRAY) fail(where(k) + " is not an array");
        if (o.via.array.size > max_items)
            fail(where(k) + " holds " + std::to_string(o.via.array.size) + " items, more than the " +
                 std::to_string(max_items) + " allowed");
        std::vector<std::string> out;
        for (std::uint32_t i = 0; i < o.via.array.size; ++i)
            out.push_back(text_of(o.via.array.ptr[i], max_bytes, where(k) + "[" + std::to_string(i) + "]"));
        return out;
    }
    /// A map of strings to values read by `value(object, where)`, at most `max_entries`, keys of kNameBytes.
    template <class V, class F>
    std::map<std::string, V> map_of(std::string_view k, std::size_t max_entries, F value) const {
        const auto& o = at(k);
        if (o.type != msgpack::type::MAP) fail(where(k) + " is not a map");
        if (o.via.map.size > max_entries)
            fail(where(k) + " holds " + std::to_string(o.via.map.size) + " entries, more than the " +
                 std::to_string(max_entries) + " allowed");
        std::map<std::string, V> out;
        for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
            const auto& kv = o.via.map.ptr[i];
            std::string key = text_of(kv.key, limits::kNameBytes, where(k) + " key");
            const std::string at = where(k) + "['" + key + "']";
            if (out.count(key)) fail(at + " appears twice");
            out.emplace(std::move(key), value(kv.val, at));
        }
        return out;
    }

    static std::string text_of(const msgpack::object& o, std::size_t max_bytes, const std::string& at) {
        if (o.type != msgpack::type::STR) fail(at + " is not a string");
        const std::string_view s(o.via.str.ptr, o.via.str.size);
        try {
            check_text(s, max_bytes, at);
        } catch (const Error& e) {
            fail(e.what());
        }
        return std::string(s);
    }
    static double real_of(const msgpack::object& o, double lo, double hi, const std::string& at) {
        double v = 0;
        if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64)
            v = o.via.f64;
        else if (o.type == msgpack::type::POSITIVE_INTEGER)
            v = static_cast<double>(o.via.u64);
        else if (o.type == msgpack::type::NEGATIVE_INTEGER)
            v = static_cast<double>(o.via.i64);
        else
            fail(at + " is not a number");
        if (!std::isfinite(v)) fail(at + " is not finite");
        if (v < lo || v > hi) fail(at + " is out of range (" + std::to_string(v) + ")");
        return v;
    }

  private:
    std::string path_;
    std::map<std::string_view, const msgpack::object*, std::less<>> fields_;
};

/// Every value of a float blob finite and within [lo, hi].
void check_floats(const std::vector<float>& v, double lo, double hi, const char* field) {
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i]) || v[i] < lo || v[i] > hi)
            Reader::fail(std::string("field '") + field + "'[" + std::to_string(i) + "] is " +
                         (std::isfinite(v[i]) ? "out of range (" + std::to_string(v[i]) + ")" : "not finite"));
}
void check_boxes(const std::vector<float>& b, const char* field) {
    check_floats(b, -limits::kCoordinate, limits::kCoordinate, field);
    for (std::size_t i = 0; i + 3 < b.size(); i += 4)
        if (b[i + 2] < b[i] || b[i + 3] < b[i + 1])
            Reader::fail(std::string("field '") + field + "': box " + std::to_string(i / 4) +
                         " has x2 < x1 or y2 < y1");
}
void check_classes(const std::vector<std::int32_t>& c, const char* field) {
    for (std::size_t i = 0; i < c.size(); ++i)
        if (c[i] < 0 || static_cast<std::size_t>(c[i]) >= limits::kClasses)
            Reader::fail(std::string("field '") + field + "'[" + std::to_string(i) + "] is class " +
                         std::to_string(c[i]) + ", not an index into a class list");
}

constexpr double kUnitLo = -limits::kUnitSlack, kUnitHi = 1 + limits::kUnitSlack;

PredMessage read_pred(const Reader& r) {
    PredMessage m;
    constexpr auto kMaxSeq = static_cast<std::int64_t>(limits::kSeq);
    m.camera = r.camera("camera");
    m.seq = r.integer<std::uint64_t>("seq", 0, limits::kSeq - 1);
    m.pts_ns = r.integer<std::int64_t>("pts_ns", -limits::kTimeNs, limits::kTimeNs);
    m.frame = r.has("frame") ? r.integer<std::int64_t>("frame", -1, kMaxSeq - 1) : -1;
    m.width = r.integer<int>("width", 0, limits::kFrameSide);
    m.height = r.integer<int>("height", 0, limits::kFrameSide);
    m.model = r.text("model", limits::kNameBytes);
    const auto n = r.integer<std::uint32_t>("n", 0, limits::kDetections);
    m.boxes = floats_from_blob(r.bin("boxes"), "boxes");
    m.scores = floats_from_blob(r.bin("scores"), "scores");
    m.classes = int32s_from_blob(r.bin("classes"), "classes");
    m.flags = uint32s_from_blob(r.bin("flags"), "flags");
    m.margins = floats_from_blob(r.bin("margins"), "margins");
    m.entropies = floats_from_blob(r.bin("entropies"), "entropies");
    if (m.boxes.size() != 4ull * n || m.scores.size() != n || m.classes.size() != n || m.flags.size() != n ||
        m.margins.size() != n || m.entropies.size() != n)
        Reader::fail("pred arrays disagree with n = " + std::to_string(n));
    check_boxes(m.boxes, "boxes");
    check_floats(m.scores, kUnitLo, kUnitHi, "scores");
    check_classes(m.classes, "classes");
    check_floats(m.margins, -kUnitHi, kUnitHi, "margins");
    check_floats(m.entropies, kUnitLo, kUnitHi, "entropies");
    m.stamps_ns = r.map_of<std::int64_t>("t", limits::kMapEntries, [](const msgpack::object& o, const std::string& at) {
        // monotonic clock readings: non-negative, and a difference of two cannot overflow
        if (o.type == msgpack::type::POSITIVE_INTEGER && o.via.u64 <= std::uint64_t(limits::kTimeNs))
            return static_cast<std::int64_t>(o.via.u64);
        Reader::fail(at + " is not a time in ns in [0, 2^62]");
    });
    m.meta = r.map_of<std::string>("meta", limits::kMapEntries, [](const msgpack::object& o, const std::string& at) {
        return Reader::text_of(o, limits::kTextBytes, at);
    });
    if (r.has("time_ns")) m.time_ns = r.integer<std::int64_t>("time_ns", 0, limits::kTimeNs);
    if (r.has("luma")) m.luma = static_cast<float>(r.real("luma", 0, 255));
    if (r.has("sharpness")) m.sharpness = static_cast<float>(r.real("sharpness", 0, limits::kSharpness));
    if (r.has("contrast")) m.contrast = static_cast<float>(r.real("contrast", 0, 255)); // a luma spread: 0..127.5
    if (r.has("uncertainty")) {
        m.uncertainty = static_cast<float>(r.real("uncertainty", kUnitLo, kUnitHi));
        m.frame_flags = r.integer<std::uint32_t>("frame_flags", 0, std::numeric_limits<std::uint32_t>::max());
    }
    if (r.has("track_ids")) {
        m.track_ids = int32s_from_blob(r.bin("track_ids"), "track_ids");
        if (m.track_ids.size() != n) Reader::fail("pred track_ids disagree with n = " + std::to_string(n));
        for (std::size_t i = 0; i < n; ++i)
            if (m.track_ids[i] < -1) Reader::fail("field 'track_ids'[" + std::to_string(i) + "] is below -1");
    }
    m.line = r.line();
    if (r.has("shadow")) m.shadow = r.boolean("shadow");
    return m;
}

void version_check(const Reader& r) {
    const auto v = r.integer<std::int64_t>("v", std::numeric_limits<std::int64_t>::min(), kMaxInt64);
    if (v != kSchemaVersion)
        Reader::fail("schema version " + std::to_string(v) + ", this build reads " + std::to_string(kSchemaVersion));
}

msgpack::object_handle unpack(std::string_view body) {
    try {
        std::size_t offset = 0;
        auto h = msgpack::unpack(body.data(), body.size(), offset, nullptr, nullptr, unpack_limits());
        if (offset != body.size()) Reader::fail(std::to_string(body.size() - offset) + " bytes after the body's map");
        return h;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(ErrorCode::kBadInput, std::string("message: not msgpack: ") + e.what());
    }
}

} // namespace

namespace {
constexpr std::pair<std::uint32_t, std::string_view> kFlagNames[] = {
    {kFlagNearThreshold, "near_threshold"},
    {kFlagAmbiguousClass, "ambiguous_class"},
    {kFlagHighEntropy, "high_entropy"},
    {kFlagReappeared, "reappeared"},
    {kFlagClassSwitch, "class_switch"},
    {kFlagScoreOscillation, "score_oscillation"},
    {kFrameUnusualCount, "unusual_count"},
    {kFrameCandidateBelow, "candidate_below"},
    {kFrameUnknownObject, "unknown_object"},
    {kFrameTooDark, "too_dark"},
    {kFrameTooBright, "too_bright"},
    {kFrameLowContrast, "low_contrast"},
    {kFrameBlurred, "blurred"},
    {kFrameDisagree, "disagree"},
    {kFrameUnexplained, "unexplained"},
};
} // namespace

std::uint32_t flag_bit(std::string_view name) {
    for (const auto& [bit, n] : kFlagNames)
        if (n == name) return bit;
    return 0;
}

std::vector<std::string> flag_names(std::uint32_t bits) {
    std::vector<std::string> out;
    for (const auto& [bit, n] : kFlagNames)
        if (bits & bit) out.emplace_back(n);
    return out;
}

std::string topic_of(const Message& m) {
    if (auto* p = std::get_if<PredMessage>(&m)) return (p->shadow ? "shadow/" : "pred/") + p->camera;
    if (auto* s = std::get_if<StatMessage>(&m)) return "stat/" + s->camera;
    return "event";
}

std::string encode(const Message& m) {
    msgpack::sbuffer buf;
    Packer p(buf);
    std::visit(Visitor{p}, m);
    return {buf.data(), buf.size()};
}

Message decode(std::string_view body) {
    const msgpack::object_handle h = unpack(body);
    const Reader r(h.get());
    version_check(r);
    const auto type = r.text("type", limits::kNameBytes);
    if (type == "pred") return read_pred(r);
    if (type == "event") {
        EventMessage e;
        e.kind = r.text("kind", limits::kNameBytes);
        e.camera = r.text("camera", limits::kCameraBytes);
        if (!e.camera.empty()) check_camera_id(e.camera, "message: field 'camera'");
        e.message = r.text("message", limits::kTextBytes);
        e.time_ns = r.integer<std::int64_t>("time_ns", 0, limits::kTimeNs);
        if (r.has("endpoint")) e.endpoint = r.text("endpoint", limits::kTextBytes);
        if (r.has("classes")) e.classes = r.texts("classes", limits::kClasses, limits::kNameBytes);
        e.line = r.line();
        if (r.has("run")) e.run = r.text("run", limits::kNameBytes);
        if (r.has("from"))
            e.switched = ModelSwitch{r.text("from", limits::kNameBytes), r.text("to", limits::kNameBytes),
                                     r.text("reason", limits::kNameBytes), r.text("evidence", limits::kTextBytes)};
        if (r.has("alarm")) {
            const Reader a(r.at("alarm"), "alarm");
            e.alarm = AlarmDetail{a.text("model", limits::kNameBytes),
                                  a.text("slice", limits::kTextBytes),
                                  a.text("signal", limits::kNameBytes),
                                  a.text("test", limits::kNameBytes),
                                  a.real("value", -limits::kStatValue, limits::kStatValue),
                                  a.real("threshold", -limits::kStatValue, limits::kStatValue),
                                  a.integer<std::int64_t>("window_start_ns", -limits::kTimeNs, limits::kTimeNs),
                                  a.integer<std::int64_t>("window_end_ns", -limits::kTimeNs, limits::kTimeNs)};
        }
        return e;
    }
    if (type == "stat") {
        StatMessage st;
        st.camera = r.camera("camera");
        st.time_ns = r.integer<std::int64_t>("time_ns", 0, limits::kTimeNs);
        st.values =
            r.map_of<double>("values", limits::kStatValues, [](const msgpack::object& o, const std::string& at) {
                return Reader::real_of(o, -limits::kStatValue, limits::kStatValue, at);
            });
        if (r.has("model")) st.model = r.text("model", limits::kNameBytes);
        st.line = r.line();
        return st;
    }
    Reader::fail("unknown type '" + printable(type) + "'");
}

EncodedMessage encode_message(const Message& m) {
    return {topic_of(m), encode(m)};
}

EncodedMessage encode_sample(const SampleMessage& m) {
    msgpack::sbuffer buf;
    Packer p(buf);
    p.pack_map(15 + (m.context_of.empty() ? 0 : 2));
    key(p, "v"), p.pack(kSchemaVersion);
    str(p, "type", "sample");
    str(p, "id", m.id);
    key(p, "pred"), Visitor{p}(m.pred);
    key(p, "classes"), p.pack(m.classes);
    key(p, "candidates_n"), p.pack(static_cast<std::uint32_t>(m.candidate_scores.size()));
    blob(p, "candidate_boxes", m.candidate_boxes);
    blob(p, "candidate_scores", m.candidate_scores);
    blob(p, "candidate_classes", m.candidate_classes);
    str(p, "strategy", m.strategy);
    key(p, "tags"), p.pack(m.tags);
    key(p, "reasons"), p.pack(m.reasons);
    key(p, "threshold"), p.pack(m.threshold);
    key(p, "selected_ns"), p.pack(m.selected_ns);
    if (!m.context_of.empty()) { // additive in v1 (session 9): a context frame
        str(p, "context_of", m.context_of);
        key(p, "context_offset"), p.pack(m.context_offset);
    }
    key(p, "jpeg");
    p.pack_bin(static_cast<std::uint32_t>(m.jpeg.size()))
        .pack_bin_body(m.jpeg.data(), static_cast<std::uint32_t>(m.jpeg.size()));
    return {"sample/" + m.pred.camera, {buf.data(), buf.size()}};
}

SampleMessage decode_sample(std::string_view body) {
    const msgpack::object_handle h = unpack(body);
    const Reader r(h.get());
    version_check(r);
    if (const auto type = r.text("type", limits::kNameBytes); type != "sample")
        Reader::fail("type '" + printable(type) + "' where a sample was expected");
    SampleMessage m;
    m.id = r.text("id", limits::kIdBytes);
    if (m.id.empty()) Reader::fail("field 'id' is empty");
    m.pred = read_pred(Reader(r.at("pred"), "pred"));
    m.classes = r.texts("classes", limits::kClasses, limits::kNameBytes);
    const auto n = r.integer<std::uint32_t>("candidates_n", 0, limits::kDetections);
    m.candidate_boxes = floats_from_blob(r.bin("candidate_boxes"), "candidate_boxes");
    m.candidate_scores = floats_from_blob(r.bin("candidate_scores"), "candidate_scores");
    m.candidate_classes = int32s_from_blob(r.bin("candidate_classes"), "candidate_classes");
    if (m.candidate_boxes.size() != 4ull * n || m.candidate_scores.size() != n || m.candidate_classes.size() != n)
        Reader::fail("candidate arrays disagree with candidates_n = " + std::to_string(n));
    check_boxes(m.candidate_boxes, "candidate_boxes");
    check_floats(m.candidate_scores, kUnitLo, kUnitHi, "candidate_scores");
    const auto in_classes = [&](const std::vector<std::int32_t>& cls, const char* field) {
        for (auto c : cls)
            if (c < 0 || static_cast<std::size_t>(c) >= m.classes.size())
                Reader::fail(std::string("field '") + field + "' holds class " + std::to_string(c) + ", outside the " +
                             std::to_string(m.classes.size()) + " classes");
    };
    in_classes(m.pred.classes, "pred.classes");
    in_classes(m.candidate_classes, "candidate_classes");
    m.strategy = r.text("strategy", limits::kNameBytes);
    m.tags = r.texts("tags", limits::kMapEntries, limits::kTextBytes);
    m.reasons = r.texts("reasons", limits::kMapEntries, limits::kTextBytes);
    m.threshold = static_cast<float>(r.real("threshold", 0, 1));
    m.selected_ns = r.integer<std::int64_t>("selected_ns", 0, limits::kTimeNs);
    if (r.has("context_of")) {
        m.context_of = r.text("context_of", limits::kIdBytes);
        m.context_offset = r.integer<std::int32_t>("context_offset", -1000, 1000);
    }
    m.jpeg = std::string(r.bin("jpeg"));
    if (m.jpeg.size() < 4 || static_cast<unsigned char>(m.jpeg[0]) != 0xFF ||
        static_cast<unsigned char>(m.jpeg[1]) != 0xD8)
        Reader::fail("field 'jpeg' is not a JPEG image");
    return m;
}

std::optional<std::string> sample_id_of(std::string_view body) {
    try {
        const msgpack::object_handle h = msgpack::unpack(body.data(), body.size(), nullptr, nullptr, unpack_limits());
        const msgpack::object& o = h.get();
        if (o.type != msgpack::type::MAP) return std::nullopt;
        for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
            const auto& kv = o.via.map.ptr[i];
            if (kv.key.type != msgpack::type::STR || kv.val.type != msgpack::type::STR) continue;
            if (std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) != "id") continue;
            const std::string_view id(kv.val.via.str.ptr, kv.val.via.str.size);
            if (id.empty() || id.size() > limits::kIdBytes || !valid_utf8(id)) return std::nullopt;
            return std::string(id);
        }
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

} // namespace sightline::transport
