// Recordings (sightline.record/1): what is written reads back message for message; damage is named, a cut tail is
// reported, a full disk is an error naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <msgpack.hpp>
#include <set>

#include "sightline/error.hpp"
#include "sightline/transport/recording.hpp"
#include "support/test_support.hpp"

using namespace sightline;
using namespace sightline::transport;
namespace fs = std::filesystem;

namespace {

PredMessage pred(std::uint64_t seq) {
    PredMessage m;
    m.camera = "cam1", m.seq = seq, m.frame = static_cast<std::int64_t>(seq) + 7, m.pts_ns = 1000 * seq;
    m.width = 64, m.height = 48, m.model = "m@1";
    m.boxes = {1, 2, 3, 4}, m.scores = {0.5f}, m.classes = {1}, m.flags = {2}, m.margins = {0.1f}, m.entropies = {0.2f};
    m.meta = {{"line", "L1"}};
    return m;
}

// A recording made before the line was split into stages (tests/fixtures/wire/README.md) still reads, message for
// message, and every body re-encodes to the bytes it was written as: wire v1 stays byte-compatible.
TEST(Recording, ARecordingFromBeforeTheRestructureDecodesAndReencodesToTheSameBytes) {
    const fs::path file = fs::path(SIGHTLINE_SOURCE_DIR) / "tests/fixtures/wire/v1_two_cameras.slrec";
    RecordingReader reader(file);
    EXPECT_EQ(reader.header().model, "parts-v1@1.0.0");
    EXPECT_EQ(reader.header().cameras, (std::vector<std::string>{"cam1", "cam2"}));
    EXPECT_EQ(reader.header().classes.size(), 5u);
    // the raw records, read with msgpack alone
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t off = 0;
    msgpack::unpack(bytes.data(), bytes.size(), off); // the header
    std::map<std::string, int> per_type;
    std::string topic;
    Message m;
    while (off < bytes.size()) {
        const auto rec = msgpack::unpack(bytes.data(), bytes.size(), off);
        const auto& arr = rec.get().via.array;
        ASSERT_EQ(arr.size, 2u);
        const std::string raw_topic = arr.ptr[0].as<std::string>();
        const std::string body(arr.ptr[1].via.bin.ptr, arr.ptr[1].via.bin.size);
        ASSERT_TRUE(reader.next(topic, m));
        EXPECT_EQ(topic, raw_topic);
        EXPECT_EQ(topic_of(m), raw_topic);
        EXPECT_EQ(encode(m), body) << "message " << reader.records() << " (" << topic << ") re-encodes differently";
        if (const auto* p = std::get_if<PredMessage>(&m)) {
            ++per_type["pred"];
            EXPECT_EQ(p->model, "parts-v1@1.0.0");
            EXPECT_EQ(p->width, 160);
            EXPECT_EQ(p->boxes.size(), 4 * p->scores.size());
            EXPECT_EQ(p->flags.size(), p->scores.size());
            std::set<std::string> stages;
            for (const auto& [k, v] : p->stamps_ns) stages.insert(k);
            EXPECT_EQ(stages, (std::set<std::string>{"arrival", "batched", "decoded", "inferred", "published"}));
            EXPECT_EQ(p->meta.count("line"), p->camera == "cam1" ? 1u : 0u);
        } else if (const auto* e = std::get_if<EventMessage>(&m)) {
            ++per_type[e->kind];
        } else {
            ++per_type["stat"];
            EXPECT_TRUE(std::get<StatMessage>(m).values.count("frames_total"));
        }
    }
    EXPECT_FALSE(reader.next(topic, m));
    EXPECT_EQ(per_type, (std::map<std::string, int>{{"pred", 10}, {"stat", 2}, {"run_start", 1}, {"run_end", 1}}));
}

TEST(Recording, RoundTripsEveryMessageInOrder) {
    const auto dir = sightline::testing::temp_dir("recording");
    RecordingHeader h{"m@1", {"bolt", "nut"}, {"cam1", "cam2"}, 42};
    {
        RecordingWriter w(dir / "r.slrec", h);
        w.write(EventMessage{"run_start", "", "m@1", 1});
        for (std::uint64_t k = 0; k < 3; ++k) w.write(pred(k));
        w.write(StatMessage{"cam1", 5, {{"fps", 30.0}}});
        w.close();
        EXPECT_EQ(w.written(), 5u);
    }
    EXPECT_TRUE(is_recording(dir / "r.slrec"));
    RecordingReader r(dir / "r.slrec");
    EXPECT_EQ(r.header().model, "m@1");
    EXPECT_EQ(r.header().classes, h.classes);
    EXPECT_EQ(r.header().cameras, h.cameras);
    EXPECT_EQ(r.header().created_ns, 42);
    std::string topic;
    Message m;
    ASSERT_TRUE(r.next(topic, m));
    EXPECT_EQ(topic, "event");
    for (std::uint64_t k = 0; k < 3; ++k) {
        ASSERT_TRUE(r.next(topic, m));
        EXPECT_EQ(topic, "pred/cam1");
        const auto& p = std::get<PredMessage>(m);
        EXPECT_EQ(p.seq, k);
        EXPECT_EQ(p.frame, static_cast<std::int64_t>(k) + 7);
        EXPECT_EQ(p.boxes, pred(k).boxes);
        EXPECT_EQ(p.meta, pred(k).meta);
    }
    ASSERT_TRUE(r.next(topic, m));
    EXPECT_EQ(std::get<StatMessage>(m).values.at("fps"), 30.0);
    EXPECT_FALSE(r.next(topic, m));
    EXPECT_FALSE(r.truncated());
    EXPECT_EQ(r.records(), 5u);

    // a run killed mid-write: the complete records read, the cut one reported
    const auto size = fs::file_size(dir / "r.slrec");
    fs::copy_file(dir / "r.slrec", dir / "cut.slrec");
    fs::resize_file(dir / "cut.slrec", size - 5);
    RecordingReader cut(dir / "cut.slrec");
    int n = 0;
    while (cut.next(topic, m)) ++n;
    EXPECT_EQ(n, 4);
    EXPECT_TRUE(cut.truncated());
    fs::remove_all(dir);
}

// Two runs recording to one file (a script started twice): the second is refused, naming the file, before it can
// empty it, and the first one's recording reads whole; once the first has closed, the file may be written again.
TEST(Recording, ASecondWriterOfTheSameFileIsRefusedAndCutsNothing) {
    const auto dir = sightline::testing::temp_dir("recording_lock");
    const auto file = dir / "r.slrec";
    RecordingHeader h{"m@1", {"bolt", "nut"}, {"cam1"}, 42};
    {
        RecordingWriter first(file, h);
        EXPECT_TRUE(first.guarded()) << "a temp folder's file system locks";
        for (std::uint64_t k = 0; k < 3; ++k) first.write(pred(k));
        first.flush();
        const auto size = fs::file_size(file);
        try {
            RecordingWriter second(file, h);
            FAIL() << "a second writer of a recording being written must be refused";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kIo);
            EXPECT_NE(std::string(e.what()).find(file.string() + ": another process is writing this recording"),
                      std::string::npos)
                << e.what();
        }
        EXPECT_EQ(fs::file_size(file), size) << "the refused writer emptied the first one's recording";
        first.write(pred(3));
        first.close();
    }
    {
        RecordingReader r(file);
        std::string topic;
        Message m;
        std::uint64_t n = 0;
        while (r.next(topic, m)) EXPECT_EQ(std::get<PredMessage>(m).seq, n++);
        EXPECT_EQ(n, 4u);
        EXPECT_FALSE(r.truncated());
    }
    { // closed: a later run replaces it (as before), under its own lock
        RecordingWriter again(file, h);
        again.write(pred(9));
        again.close();
    }
    RecordingReader r(file);
    std::string topic;
    Message m;
    ASSERT_TRUE(r.next(topic, m));
    EXPECT_EQ(std::get<PredMessage>(m).seq, 9u);
    EXPECT_FALSE(r.next(topic, m));
    fs::remove_all(dir);
}

// A line of several versions (0.11): each version's class list in the header, and each pred message's classes
// checked against its own version's list (a six-class shadow beside a five-class serving model).
TEST(Recording, EachVersionsClassesIndexItsOwnMessages) {
    const auto dir = sightline::testing::temp_dir("recversions");
    RecordingHeader h{"m@1", {"bolt", "nut"}, {"cam1"}, 42};
    h.versions = {{"m@1", {"bolt", "nut"}}, {"m@2", {"bolt", "nut", "gear"}}};
    PredMessage serving = pred(0), shadow = pred(0);
    shadow.model = "m@2", shadow.shadow = true, shadow.classes = {2};
    {
        RecordingWriter w(dir / "r.slrec", h);
        w.write(serving);
        w.write(shadow);
        serving.classes = {2}; // class 2 of a two-class model: refused on reading
        w.write(serving);
        w.close();
    }
    RecordingReader r(dir / "r.slrec");
    EXPECT_EQ(r.header().versions, h.versions);
    std::string topic;
    Message m;
    ASSERT_TRUE(r.next(topic, m));
    EXPECT_EQ(topic, "pred/cam1");
    ASSERT_TRUE(r.next(topic, m));
    EXPECT_EQ(topic, "shadow/cam1");
    EXPECT_TRUE(std::get<PredMessage>(m).shadow);
    EXPECT_EQ(std::get<PredMessage>(m).classes, std::vector<std::int32_t>{2}) << "gear: m@2's third class";
    try {
        r.next(topic, m);
        ADD_FAILURE() << "class 2 of m@1 accepted";
    } catch (const sightline::Error& e) {
        EXPECT_NE(std::string(e.what()).find("outside the header's 2 classes"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

TEST(Recording, BadFilesAreNamedErrors) {
    const auto dir = sightline::testing::temp_dir("recording_bad");
    try {
        RecordingReader r(dir / "missing.slrec");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kNotFound);
        EXPECT_NE(std::string(e.what()).find("missing.slrec"), std::string::npos);
    }
    std::ofstream(dir / "json.slrec") << "[{\"image_id\": 1}]";
    EXPECT_FALSE(is_recording(dir / "json.slrec"));
    try {
        RecordingReader r(dir / "json.slrec");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kBadInput);
        EXPECT_NE(std::string(e.what()).find("not a sightline recording"), std::string::npos) << e.what();
    }
    // a header, then a record that is not a [topic, body] pair
    {
        RecordingWriter w(dir / "odd.slrec", {});
        w.close();
        std::ofstream(dir / "odd.slrec", std::ios::app | std::ios::binary) << '\x2a'; // msgpack 42
    }
    RecordingReader odd(dir / "odd.slrec");
    std::string topic;
    Message m;
    try {
        odd.next(topic, m);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("record 1: not a [topic, body] pair"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

// The header's `versions` (0.11) is read strictly: a map of name@version to class-name lists, else an error naming
// the file and the field.
TEST(Recording, ABadVersionsHeaderIsANamedError) {
    const auto dir = sightline::testing::temp_dir("recording_versions");
    const auto header_with = [&](const std::string& name, const auto& versions) {
        msgpack::sbuffer buf;
        msgpack::packer<msgpack::sbuffer> p(buf);
        p.pack_map(2);
        p.pack(std::string("schema")), p.pack(std::string(kRecordingSchema));
        p.pack(std::string("versions")), p.pack(versions);
        std::ofstream(dir / name, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(buf.size()));
        return dir / name;
    };
    const std::map<std::string, std::string> not_lists = {{"m@1", "bolt"}};
    const std::map<std::string, std::vector<int>> not_names = {{"m@1", {1, 2}}};
    for (const auto& [file, why] : std::vector<std::pair<fs::path, std::string>>{
             {header_with("number.slrec", 5), "versions is not a map"},
             {header_with("string.slrec", not_lists), "versions.m@1 is not an array"},
             {header_with("ints.slrec", not_names), "versions.m@1[0]"}}) {
        try {
            RecordingReader r(file);
            ADD_FAILURE() << file << " accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadInput);
            EXPECT_NE(std::string(e.what()).find(file.filename().string()), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    }
    fs::remove_all(dir);
}

TEST(Recording, FullDiskIsAnErrorNamingTheFile) {
    if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this machine";
    try {
        RecordingWriter w("/dev/full", {});
        for (int k = 0; k < 100000; ++k) w.write(pred(k));
        w.close();
        FAIL() << "writes to a full device must fail";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kIo);
        EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
    }
}

} // namespace
