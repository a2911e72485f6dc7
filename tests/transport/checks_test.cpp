// The validation layer for outside input (transport/checks.hpp and decode()): a table of bad messages, each refused
// with Error(kBadInput) naming the field, and the shared checks (UTF-8, camera ids, endpoints, sequence gaps).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <msgpack.hpp>

#include "sightline/error.hpp"
#include "sightline/transport/blob.hpp"
#include "sightline/transport/checks.hpp"
#include "sightline/transport/messages.hpp"

using namespace sightline;
using namespace sightline::transport;

namespace {

PredMessage good_pred() {
    PredMessage m;
    m.camera = "cam1", m.seq = 5, m.frame = 5, m.pts_ns = 1000, m.width = 64, m.height = 48, m.model = "m@1";
    m.boxes = {1, 2, 30, 40}, m.scores = {0.5f}, m.classes = {1}, m.flags = {2}, m.margins = {0.1f};
    m.entropies = {0.2f};
    m.meta = {{"line", "L1"}};
    m.stamps_ns = {{"arrival", 10}, {"published", 20}};
    m.luma = 100, m.sharpness = 50, m.uncertainty = 0.3f, m.time_ns = 1;
    return m;
}

/// A pred body rebuilt field by field so one field can be replaced (or doubled) by raw msgpack.
struct Body {
    std::vector<std::pair<std::string, std::function<void(msgpack::packer<msgpack::sbuffer>&)>>> fields;
    std::string pack() const {
        msgpack::sbuffer b;
        msgpack::packer<msgpack::sbuffer> p(b);
        p.pack_map(static_cast<std::uint32_t>(fields.size()));
        for (const auto& [k, f] : fields) p.pack(k), f(p);
        return {b.data(), b.size()};
    }
    void set(const std::string& k, std::function<void(msgpack::packer<msgpack::sbuffer>&)> f) {
        for (auto& [key, g] : fields)
            if (key == k) {
                g = f;
                return;
            }
        fields.emplace_back(k, f);
    }
};

/// The pred message above as a Body: decoded, re-packed through msgpack's own objects.
Body body_of(const PredMessage& m) {
    const std::string bytes = encode(m);
    auto h = std::make_shared<msgpack::object_handle>(msgpack::unpack(bytes.data(), bytes.size()));
    Body b;
    const auto& map = h->get().via.map;
    for (std::uint32_t i = 0; i < map.size; ++i) {
        const msgpack::object* v = &map.ptr[i].val;
        b.fields.emplace_back(map.ptr[i].key.as<std::string>(), [h, v](auto& p) { p.pack(*v); });
    }
    return b;
}

auto f32(float x) {
    return [x](msgpack::packer<msgpack::sbuffer>& p) { p.pack_float(x); };
}
auto f64(double x) {
    return [x](msgpack::packer<msgpack::sbuffer>& p) { p.pack_double(x); };
}
auto u64(std::uint64_t x) {
    return [x](msgpack::packer<msgpack::sbuffer>& p) { p.pack_uint64(x); };
}
auto raw_str(std::string s) {
    return [s](msgpack::packer<msgpack::sbuffer>& p) {
        p.pack_str(static_cast<std::uint32_t>(s.size())).pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    };
}
auto blob_of(std::vector<float> v) {
    return [v](msgpack::packer<msgpack::sbuffer>& p) {
        const std::string b = to_blob(std::span<const float>(v));
        p.pack_bin(static_cast<std::uint32_t>(b.size())).pack_bin_body(b.data(), static_cast<std::uint32_t>(b.size()));
    };
}
auto iblob_of(std::vector<std::int32_t> v) {
    return [v](msgpack::packer<msgpack::sbuffer>& p) {
        const std::string b = to_blob(std::span<const std::int32_t>(v));
        p.pack_bin(static_cast<std::uint32_t>(b.size())).pack_bin_body(b.data(), static_cast<std::uint32_t>(b.size()));
    };
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct BadCase {
    const char* what;
    const char* field; ///< the error names it
    std::function<void(Body&)> mutate;
};

} // namespace

TEST(Checks, AGoodPredDecodesAsItWasSent) {
    const PredMessage m = good_pred();
    const auto d = std::get<PredMessage>(decode(body_of(m).pack()));
    EXPECT_EQ(d.camera, m.camera);
    EXPECT_EQ(d.seq, m.seq);
    EXPECT_EQ(d.boxes, m.boxes);
    EXPECT_FLOAT_EQ(d.luma, 100);
}

TEST(Checks, EveryBadFieldIsRefusedNamingIt) {
    const std::vector<BadCase> cases = {
        {"luma inf", "luma", [](Body& b) { b.set("luma", f32(kInf)); }},
        {"luma 1e30", "luma", [](Body& b) { b.set("luma", f64(1e30)); }},
        {"luma NaN", "luma", [](Body& b) { b.set("luma", f32(kNaN)); }},
        {"luma above 255", "luma", [](Body& b) { b.set("luma", f32(256)); }},
        {"sharpness inf", "sharpness", [](Body& b) { b.set("sharpness", f32(kInf)); }},
        {"sharpness 3e38", "sharpness", [](Body& b) { b.set("sharpness", f32(3e38f)); }},
        {"uncertainty 7", "uncertainty", [](Body& b) { b.set("uncertainty", f32(7)); }},
        {"scores inf", "scores", [](Body& b) { b.set("scores", blob_of({kInf})); }},
        {"scores NaN", "scores", [](Body& b) { b.set("scores", blob_of({kNaN})); }},
        {"scores 3e38", "scores", [](Body& b) { b.set("scores", blob_of({3e38f})); }},
        {"boxes inf", "boxes",
         [](Body& b) {
             b.set("boxes", blob_of({0, 0, kInf, 4}));
         }},
        {"boxes 3e38", "boxes",
         [](Body& b) {
             b.set("boxes", blob_of({0, 0, 3e38f, 4}));
         }},
        {"boxes NaN", "boxes",
         [](Body& b) {
             b.set("boxes", blob_of({kNaN, 0, 1, 4}));
         }},
        {"box x2 < x1", "boxes",
         [](Body& b) {
             b.set("boxes", blob_of({10, 0, 1, 4}));
         }},
        {"margins NaN", "margins", [](Body& b) { b.set("margins", blob_of({kNaN})); }},
        {"entropies 2", "entropies", [](Body& b) { b.set("entropies", blob_of({2})); }},
        {"class -1", "classes", [](Body& b) { b.set("classes", iblob_of({-1})); }},
        {"class 2^31-1", "classes", [](Body& b) { b.set("classes", iblob_of({2147483647})); }},
        {"seq 2^63", "seq", [](Body& b) { b.set("seq", u64(1ull << 63)); }},
        {"seq 2^64-1", "seq", [](Body& b) { b.set("seq", u64(~0ull)); }},
        {"width 10^6", "width", [](Body& b) { b.set("width", u64(1000000)); }},
        {"luma twice", "luma", [](Body& b) { b.fields.emplace_back("luma", f32(kInf)); }},
        {"camera twice", "camera", [](Body& b) { b.fields.emplace_back("camera", raw_str("cam9")); }},
        {"camera ..", "camera", [](Body& b) { b.set("camera", raw_str("..")); }},
        {"camera a/b", "camera", [](Body& b) { b.set("camera", raw_str("a/b")); }},
        {"camera empty", "camera", [](Body& b) { b.set("camera", raw_str("")); }},
        {"line a.b", "line", [](Body& b) { b.set("line", raw_str("a.b")); }},
        {"line empty", "line", [](Body& b) { b.set("line", raw_str("")); }},
        {"line a/b", "line", [](Body& b) { b.set("line", raw_str("a/b")); }},
        {"line *", "line", [](Body& b) { b.set("line", raw_str("*")); }},
        {"camera not UTF-8", "camera", [](Body& b) { b.set("camera", raw_str("\xff\xfe")); }},
        {"camera 200 bytes", "camera", [](Body& b) { b.set("camera", raw_str(std::string(200, 'c'))); }},
        {"model not UTF-8", "model", [](Body& b) { b.set("model", raw_str("m\xc3(")); }},
        {"model a surrogate", "model", [](Body& b) { b.set("model", raw_str("\xed\xa0\x80")); }},
        {"model 100 kB", "model", [](Body& b) { b.set("model", raw_str(std::string(100000, 'm'))); }},
        {"meta 5000 keys", "meta",
         [](Body& b) {
             b.set("meta", [](auto& p) {
                 p.pack_map(5000);
                 for (int i = 0; i < 5000; ++i) p.pack(std::to_string(i)), p.pack("v");
             });
         }},
        {"meta a key twice", "meta",
         [](Body& b) {
             b.set("meta", [](auto& p) {
                 p.pack_map(2);
                 p.pack("a"), p.pack("1"), p.pack("a"), p.pack("2");
             });
         }},
        {"meta value not UTF-8", "meta",
         [](Body& b) {
             b.set("meta", [](auto& p) {
                 p.pack_map(1);
                 p.pack("a");
                 raw_str("\xc0\xaf")(p);
             });
         }},
        {"t a float", "t",
         [](Body& b) {
             b.set("t", [](auto& p) {
                 p.pack_map(1);
                 p.pack("arrival"), p.pack_double(1.5);
             });
         }},
        {"n larger than the blobs", "n", [](Body& b) { b.set("n", u64(2)); }},
        {"time_ns negative", "time_ns", [](Body& b) { b.set("time_ns", [](auto& p) { p.pack_int64(-5); }); }},
        {"pts_ns -2^63", "pts_ns",
         [](Body& b) { b.set("pts_ns", [](auto& p) { p.pack_int64(std::numeric_limits<std::int64_t>::min()); }); }},
        {"pts_ns 2^63-1", "pts_ns",
         [](Body& b) { b.set("pts_ns", [](auto& p) { p.pack_int64(std::numeric_limits<std::int64_t>::max()); }); }},
        {"a stamp negative", "t",
         [](Body& b) {
             b.set("t", [](auto& p) {
                 p.pack_map(1);
                 p.pack("arrival"), p.pack_int64(-1);
             });
         }},
    };
    for (const auto& c : cases) {
        Body b = body_of(good_pred());
        c.mutate(b);
        try {
            decode(b.pack());
            ADD_FAILURE() << c.what << ": accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadInput) << c.what;
            EXPECT_NE(std::string(e.what()).find(c.field), std::string::npos) << c.what << ": " << e.what();
        }
    }
}

TEST(Checks, ABodyThatIsNotOneMapIsRefused) {
    const std::string good = encode(good_pred());
    EXPECT_THROW(decode(good + good), Error) << "two maps";
    EXPECT_THROW(decode(good.substr(0, good.size() / 2)), Error) << "cut short";
    EXPECT_THROW(decode("\xc1"), Error) << "a byte msgpack never uses";
    // an array header claiming 2^32-1 items: refused before anything is allocated for them
    EXPECT_THROW(decode(std::string("\xdd\xff\xff\xff\xff", 5)), Error);
    EXPECT_THROW(decode(std::string("\xdf\xff\xff\xff\xff", 5)), Error);
}

TEST(Checks, SampleStringsAndNumbersAreCheckedToo) {
    SampleMessage s;
    s.id = "cam1/1/5", s.pred = good_pred(), s.classes = {"a", "b"}, s.strategy = "x", s.tags = {"t"};
    s.reasons = {"r"}, s.threshold = 0.25f, s.selected_ns = 1, s.jpeg = std::string("\xff\xd8\xff\xd9", 4);
    EXPECT_NO_THROW(decode_sample(encode_sample(s).body));
    auto bad = s;
    bad.tags = {"ok", "\xff\xfe"};
    EXPECT_THROW(decode_sample(encode_sample(bad).body), Error) << "non-UTF-8 tag";
    bad = s;
    bad.pred.scores = {kNaN};
    EXPECT_THROW(decode_sample(encode_sample(bad).body), Error) << "NaN score";
    bad = s;
    bad.pred.camera = "..";
    EXPECT_THROW(decode_sample(encode_sample(bad).body), Error) << "camera ..";
    bad = s;
    bad.threshold = kNaN;
    EXPECT_THROW(decode_sample(encode_sample(bad).body), Error) << "NaN threshold";
    // the id of a refused sample can still be read, so the line is told which one
    bad = s;
    bad.tags = {"\xff"};
    EXPECT_EQ(sample_id_of(encode_sample(bad).body), std::optional<std::string>("cam1/1/5"));
    EXPECT_EQ(sample_id_of("\xc1"), std::nullopt);
}

TEST(Checks, Utf8) {
    EXPECT_TRUE(valid_utf8("plain ascii"));
    EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(valid_utf8("\xff"));
    EXPECT_FALSE(valid_utf8("\xc3"));             // cut short
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));         // overlong '/'
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));     // a surrogate
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80")); // past U+10FFFF
    EXPECT_EQ(printable("a\xff\x01"), "a\\xFF\\x01");
}

TEST(Checks, CameraIds) {
    for (const char* ok : {"cam1", "bay-3.left", "kamera_ü"}) EXPECT_EQ(camera_id_problem(ok), "") << ok;
    for (const char* bad : {"", ".", "..", "a/b", "a\\b", "a b", "a\tb", "\x01"})
        EXPECT_NE(camera_id_problem(bad), "") << bad;
    EXPECT_NE(camera_id_problem(std::string(129, 'c')), "");
}

TEST(Checks, LineNames) {
    for (const char* ok : {"east", "bay-3_left", "linie_ü"}) EXPECT_EQ(line_name_problem(ok), "") << ok;
    for (const char* bad : {"", ".", "a.b", "a*", "a>", "a/b", "a b", "\x01"})
        EXPECT_NE(line_name_problem(bad), "") << bad;
    // a host name becomes a line name: its first label, what a line name refuses as '-'
    EXPECT_EQ(line_name_from("edge-07.plant.example.com"), "edge-07");
    EXPECT_EQ(line_name_from("a b*c"), "a-b-c");
    EXPECT_EQ(line_name_from(""), "line");
    EXPECT_EQ(line_name_from(".hidden"), "line");
    for (const std::string host :
         {std::string("edge-07.plant"), std::string("a b*c"), std::string(), std::string(".."), std::string(300, 'h')})
        EXPECT_EQ(line_name_problem(line_name_from(host)), "") << host;
}

TEST(Checks, Endpoints) {
    for (const char* ok : {"tcp://127.0.0.1:5555", "tcp://127.0.0.1:*", "tcp://*:1", "ipc:///tmp/x", "inproc://a"})
        EXPECT_EQ(endpoint_problem(ok), "") << ok;
    for (const char* bad : {"tcp://127.0.0.1:99999", "tcp://127.0.0.1:-1", "tcp://127.0.0.1:0", "tcp://127.0.0.1",
                            "tcp://:5", "127.0.0.1:5555", "udp://a:1", "tcp://h:5x", ""})
        EXPECT_NE(endpoint_problem(bad), "") << bad;
}

TEST(Checks, SequenceGapsNeverWrap) {
    EXPECT_EQ(seq_gap(4, 5), 0u);
    EXPECT_EQ(seq_gap(4, 8), 3u);
    EXPECT_EQ(seq_gap(8, 4), 0u);            // a step back: a restart, not 2^64 lost
    EXPECT_EQ(seq_gap(~0ull, 0), 0u);        // no wrap from the top
    EXPECT_EQ(seq_gap(0, ~0ull), ~0ull - 1); // the largest jump is still exact
    EXPECT_EQ(seq_gap(~0ull - 1, ~0ull), 0u);
}
