#include "sightline/transport/messages.hpp"

#include <msgpack.hpp>

#include "sightline/error.hpp"
#include "sightline/transport/blob.hpp"

namespace sightline::transport {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

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
                   (m.uncertainty >= 0 ? 2 : 0) + (m.track_ids.empty() ? 0 : 1));
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
        if (m.uncertainty >= 0) {                                       // additive in v1 (session 7)
            key(p, "frame_flags"), p.pack(m.frame_flags);
            key(p, "uncertainty"), p.pack(m.uncertainty);
        }
        if (!m.track_ids.empty()) blob(p, "track_ids", m.track_ids); // additive in v1 (session 8)
    }
    void operator()(const EventMessage& m) const {
        p.pack_map(6 + (m.endpoint.empty() ? 0 : 1) + (m.classes.empty() ? 0 : 1) + (m.alarm ? 1 : 0));
        key(p, "v"), p.pack(kSchemaVersion);
        str(p, "type", "event");
        str(p, "kind", m.kind);
        str(p, "camera", m.camera);
        str(p, "message", m.message);
        key(p, "time_ns"), p.pack(m.time_ns);
        if (!m.endpoint.empty()) str(p, "endpoint", m.endpoint); // additive in v1: run_start only
        if (!m.classes.empty()) key(p, "classes"), p.pack(m.classes);
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
        p.pack_map(5);
        key(p, "v"), p.pack(kSchemaVersion);
        str(p, "type", "stat");
        str(p, "camera", m.camera);
        key(p, "time_ns"), p.pack(m.time_ns);
        key(p, "values"), p.pack(m.values);
    }
};

class Reader {
  public:
    /// `path`: where the map sits in the body ("" for the body itself), for the errors.
    explicit Reader(const msgpack::object& o, std::string path = "") : path_(path.empty() ? "" : path + ".") {
        if (o.type != msgpack::type::MAP)
            throw Error(ErrorCode::kBadInput, path.empty() ? "message: body is not a msgpack map"
                                                           : "message: field '" + path + "' is not a map");
        for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
            const auto& kv = o.via.map.ptr[i];
            if (kv.key.type == msgpack::type::STR) fields_[kv.key.as<std::string>()] = &kv.val;
        }
    }
    const msgpack::object& at(const std::string& k) const {
        auto it = fields_.find(k);
        if (it == fields_.end()) throw Error(ErrorCode::kBadInput, "message: missing field '" + path_ + k + "'");
        return *it->second;
    }
    bool has(const std::string& k) const { return fields_.count(k) > 0; }
    template <class T> T get(const std::string& k) const {
        try {
            return at(k).as<T>();
        } catch (const msgpack::type_error&) {
            throw Error(ErrorCode::kBadInput, "message: field '" + path_ + k + "' has the wrong type");
        }
    }
    std::string_view bin(const std::string& k) const {
        const auto& o = at(k);
        if (o.type != msgpack::type::BIN)
            throw Error(ErrorCode::kBadInput, "message: field '" + path_ + k + "' is not a blob");
        return {o.via.bin.ptr, o.via.bin.size};
    }

  private:
    std::string path_;
    std::map<std::string, const msgpack::object*> fields_;
};

PredMessage read_pred(const Reader& r) {
    PredMessage m;
    m.camera = r.get<std::string>("camera");
    m.seq = r.get<std::uint64_t>("seq");
    m.pts_ns = r.get<std::int64_t>("pts_ns");
    m.frame = r.has("frame") ? r.get<std::int64_t>("frame") : -1;
    m.width = r.get<int>("width");
    m.height = r.get<int>("height");
    m.model = r.get<std::string>("model");
    const auto n = r.get<std::uint32_t>("n");
    m.boxes = floats_from_blob(r.bin("boxes"), "boxes");
    m.scores = floats_from_blob(r.bin("scores"), "scores");
    m.classes = int32s_from_blob(r.bin("classes"), "classes");
    m.flags = uint32s_from_blob(r.bin("flags"), "flags");
    m.margins = floats_from_blob(r.bin("margins"), "margins");
    m.entropies = floats_from_blob(r.bin("entropies"), "entropies");
    if (m.boxes.size() != 4ull * n || m.scores.size() != n || m.classes.size() != n || m.flags.size() != n ||
        m.margins.size() != n || m.entropies.size() != n)
        throw Error(ErrorCode::kBadInput, "message: pred arrays disagree with n = " + std::to_string(n));
    m.stamps_ns = r.get<std::map<std::string, std::int64_t>>("t");
    m.meta = r.get<std::map<std::string, std::string>>("meta");
    if (r.has("time_ns")) m.time_ns = r.get<std::int64_t>("time_ns");
    if (r.has("luma")) m.luma = r.get<float>("luma");
    if (r.has("sharpness")) m.sharpness = r.get<float>("sharpness");
    if (r.has("uncertainty")) {
        m.uncertainty = r.get<float>("uncertainty");
        m.frame_flags = r.get<std::uint32_t>("frame_flags");
    }
    if (r.has("track_ids")) {
        m.track_ids = int32s_from_blob(r.bin("track_ids"), "track_ids");
        if (m.track_ids.size() != n)
            throw Error(ErrorCode::kBadInput, "message: pred track_ids disagree with n = " + std::to_string(n));
    }
    return m;
}

void version_check(const Reader& r) {
    const int v = r.get<int>("v");
    if (v != kSchemaVersion)
        throw Error(ErrorCode::kBadInput, "message: schema version " + std::to_string(v) + ", this build reads " +
                                              std::to_string(kSchemaVersion));
}

msgpack::object_handle unpack(std::string_view body) {
    try {
        return msgpack::unpack(body.data(), body.size());
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
    if (auto* p = std::get_if<PredMessage>(&m)) return "pred/" + p->camera;
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
    const auto type = r.get<std::string>("type");
    if (type == "pred") return read_pred(r);
    if (type == "event") {
        EventMessage e{r.get<std::string>("kind"), r.get<std::string>("camera"), r.get<std::string>("message"),
                       r.get<std::int64_t>("time_ns")};
        if (r.has("endpoint")) e.endpoint = r.get<std::string>("endpoint");
        if (r.has("classes")) e.classes = r.get<std::vector<std::string>>("classes");
        if (r.has("alarm")) {
            const Reader a(r.at("alarm"), "alarm");
            e.alarm = AlarmDetail{a.get<std::string>("model"),
                                  a.get<std::string>("slice"),
                                  a.get<std::string>("signal"),
                                  a.get<std::string>("test"),
                                  a.get<double>("value"),
                                  a.get<double>("threshold"),
                                  a.get<std::int64_t>("window_start_ns"),
                                  a.get<std::int64_t>("window_end_ns")};
        }
        return e;
    }
    if (type == "stat") {
        return StatMessage{r.get<std::string>("camera"), r.get<std::int64_t>("time_ns"),
                           r.get<std::map<std::string, double>>("values")};
    }
    throw Error(ErrorCode::kBadInput, "message: unknown type '" + type + "'");
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
    if (const auto type = r.get<std::string>("type"); type != "sample")
        throw Error(ErrorCode::kBadInput, "message: type '" + type + "' where a sample was expected");
    SampleMessage m;
    m.id = r.get<std::string>("id");
    if (m.id.empty()) throw Error(ErrorCode::kBadInput, "message: field 'id' is empty");
    m.pred = read_pred(Reader(r.at("pred"), "pred"));
    m.classes = r.get<std::vector<std::string>>("classes");
    const auto n = r.get<std::uint32_t>("candidates_n");
    m.candidate_boxes = floats_from_blob(r.bin("candidate_boxes"), "candidate_boxes");
    m.candidate_scores = floats_from_blob(r.bin("candidate_scores"), "candidate_scores");
    m.candidate_classes = int32s_from_blob(r.bin("candidate_classes"), "candidate_classes");
    if (m.candidate_boxes.size() != 4ull * n || m.candidate_scores.size() != n || m.candidate_classes.size() != n)
        throw Error(ErrorCode::kBadInput,
                    "message: candidate arrays disagree with candidates_n = " + std::to_string(n));
    const auto in_classes = [&](const std::vector<std::int32_t>& cls, const char* field) {
        for (auto c : cls)
            if (c < 0 || static_cast<std::size_t>(c) >= m.classes.size())
                throw Error(ErrorCode::kBadInput, std::string("message: field '") + field + "' holds class " +
                                                      std::to_string(c) + ", outside the " +
                                                      std::to_string(m.classes.size()) + " classes");
    };
    in_classes(m.pred.classes, "pred.classes");
    in_classes(m.candidate_classes, "candidate_classes");
    m.strategy = r.get<std::string>("strategy");
    m.tags = r.get<std::vector<std::string>>("tags");
    m.reasons = r.get<std::vector<std::string>>("reasons");
    m.threshold = r.get<float>("threshold");
    m.selected_ns = r.get<std::int64_t>("selected_ns");
    if (r.has("context_of")) {
        m.context_of = r.get<std::string>("context_of");
        m.context_offset = r.get<std::int32_t>("context_offset");
    }
    m.jpeg = std::string(r.bin("jpeg"));
    if (m.jpeg.size() < 4 || static_cast<unsigned char>(m.jpeg[0]) != 0xFF ||
        static_cast<unsigned char>(m.jpeg[1]) != 0xD8)
        throw Error(ErrorCode::kBadInput, "message: field 'jpeg' is not a JPEG image");
    return m;
}

} // namespace sightline::transport
