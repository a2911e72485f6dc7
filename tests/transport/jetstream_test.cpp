// NATS JetStream (transport/jetstream.hpp): what goes where (subjects, message ids), the bad-input tables of the
// values users type (--nats, --from-time), and the writer and reader against a real nats-server (Debian's),
// started by the test on loopback with JetStream in a temporary folder.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "sightline/error.hpp"
#include "sightline/transport/jetstream.hpp"

extern char** environ;

using namespace sightline;
using namespace sightline::transport;

namespace {

PredMessage pred(const std::string& line, const std::string& camera, std::uint64_t seq, std::int64_t time_ns) {
    PredMessage p;
    p.line = line, p.camera = camera, p.seq = seq, p.time_ns = time_ns, p.model = "parts@1";
    return p;
}

} // namespace

TEST(JetStreamNames, ACameraIdStaysOneTokenAndMapsBackOneToOne) {
    EXPECT_EQ(subject_token("cam1"), "cam1");
    EXPECT_EQ(subject_token("dock.3"), "dock%2E3");
    EXPECT_EQ(subject_token("a*b>c"), "a%2Ab%3Ec");
    EXPECT_EQ(subject_token("50%"), "50%25");
    EXPECT_EQ(subject_token("gate 2"), "gate%202");
    std::set<std::string> seen;
    for (const char* id : {"a.b", "a%2Eb", "a b", "a%20b", "a*", "a%2A", "a>", "a"})
        EXPECT_TRUE(seen.insert(subject_token(id)).second) << id << " gives a token another id gives";
}

TEST(JetStreamNames, EachKindHasItsSubject) {
    EXPECT_EQ(jetstream_subject(pred("east", "cam.1", 0, 1), "line"), "sightline.east.pred.cam%2E1");
    PredMessage shadow = pred("east", "cam1", 0, 1);
    shadow.shadow = true;
    EXPECT_EQ(jetstream_subject(shadow, "line"), "sightline.east.shadow.cam1");
    StatMessage stat;
    stat.camera = "cam1";
    EXPECT_EQ(jetstream_subject(stat, "old"), "sightline.old.stat.cam1")
        << "a message without a line takes the default";
    EventMessage e;
    e.kind = "run_start", e.line = "west";
    EXPECT_EQ(jetstream_subject(e, "line"), "sightline.west.event");
    SampleMessage s;
    s.pred = pred("west", "cam2", 3, 1);
    EXPECT_EQ(jetstream_sample_subject(s, "line"), "sightline.west.sample.cam2");
}

TEST(JetStreamNames, AMessageIdIsTheSameForTheSameMessageAndDiffersForAnother) {
    const auto id = [](const Message& m) { return jetstream_msg_id(m, "line"); };
    EXPECT_EQ(id(pred("east", "cam1", 7, 100)), id(pred("east", "cam1", 7, 100)));
    std::set<std::string> ids;
    for (const Message& m : {Message(pred("east", "cam1", 7, 100)), Message(pred("east", "cam1", 8, 100)),
                             Message(pred("east", "cam1", 7, 101)), // seq 7 again after a restart of the line
                             Message(pred("west", "cam1", 7, 100)), Message(pred("east", "cam2", 7, 100))})
        EXPECT_TRUE(ids.insert(id(m)).second) << id(m);
    PredMessage shadow = pred("east", "cam1", 7, 100);
    shadow.shadow = true;
    EXPECT_TRUE(ids.insert(id(shadow)).second) << "a shadow's pred is another message";
    EventMessage a, b;
    a.kind = b.kind = "run_start", a.line = b.line = "east", a.time_ns = b.time_ns = 5;
    a.run = "1-100", b.run = "2-200";
    EXPECT_NE(id(a), id(b));
}

TEST(JetStreamOptions, ServerUrlsAreReadAndBadOnesRefusedByName) {
    EXPECT_EQ(nats_servers({"127.0.0.1:4222"}), std::vector<std::string>{"nats://127.0.0.1:4222"});
    EXPECT_EQ(nats_servers({"nats://a:1,nats://b:2", "tls://c:3"}),
              (std::vector<std::string>{"nats://a:1", "nats://b:2", "tls://c:3"}));
    for (const char* bad : {"nats://host", "http://host:4222", "nats://:4222", "nats://h:0", "nats://h:70000",
                            "nats://h:12ab", "nats://h:", ",", ""}) {
        try {
            nats_servers({bad});
            ADD_FAILURE() << "'" << bad << "' was taken";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadInput) << bad;
            EXPECT_NE(std::string(e.what()).find("--nats"), std::string::npos) << e.what();
        }
    }
}

TEST(JetStreamOptions, StartTimesAreReadAndBadOnesRefused) {
    EXPECT_EQ(parse_start_time_ns("2026-12-07T03:00:00Z"), 1796612400LL * 1'000'000'000);
    EXPECT_EQ(parse_start_time_ns("2026-12-07T03:00"), 1796612400LL * 1'000'000'000);
    const auto now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    EXPECT_NEAR(double(now - parse_start_time_ns("-30m")), 1800e9, 5e9);
    EXPECT_NEAR(double(now - parse_start_time_ns("-1.5h")), 5400e9, 5e9);
    for (const char* bad : {"yesterday", "-5x", "-", "", "2026-13-01T00:00", "2026-12-07T03:00:00+02", "-1e99d",
                            "1969-01-01T00:00", "6026-12-07T03:00", "2026-12-07T-3:00"}) {
        try {
            parse_start_time_ns(bad);
            ADD_FAILURE() << "'" << bad << "' was taken";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("--from-time"), std::string::npos) << e.what();
        }
    }
}

// --- against a real server ---------------------------------------------------------------------------------------

namespace {

/// A TCP port free on 127.0.0.1 now (the OS's pick).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

/// One nats-server with JetStream on a free loopback port, its store in a temporary folder; killed at the end.
class NatsServer {
  public:
    NatsServer() {
        dir_ = std::filesystem::temp_directory_path() /
               ("sightline-nats-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        std::filesystem::create_directories(dir_);
        port_ = free_port();
        start();
    }
    ~NatsServer() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    void start() {
        const std::string port = std::to_string(port_), store = (dir_ / "store").string();
        const char* argv[] = {SIGHTLINE_NATS_SERVER, "-a",   "127.0.0.1", "-p", port.c_str(), "-js", "-sd",
                              store.c_str(),         nullptr};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        const std::string log = (dir_ / "server.log").string();
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ASSERT_EQ(posix_spawn(&pid_, argv[0], &fa, nullptr, const_cast<char**>(argv), environ), 0)
            << "cannot start " << SIGHTLINE_NATS_SERVER << " (scripts/setup.sh installs Debian's nats-server)";
        posix_spawn_file_actions_destroy(&fa);
    }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    NatsOptions options() const {
        NatsOptions o;
        o.servers = {"nats://127.0.0.1:" + std::to_string(port_)};
        o.request_timeout_s = 10;
        return o;
    }

  private:
    static inline int counter_ = 0;
    std::filesystem::path dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

StreamSettings stream(const std::string& name) {
    StreamSettings s;
    s.name = name;
    s.subjects = {"test." + name + ".>"};
    return s;
}

JetStreamReaderOptions reader(const NatsServer& server, const std::string& stream, const std::string& durable) {
    JetStreamReaderOptions ro;
    ro.nats = server.options();
    ro.stream = stream, ro.filter = "test." + stream + ".>", ro.durable = durable;
    return ro;
}

/// A writer on the server with the test stream `name` made.
std::unique_ptr<JetStreamWriter> writer_with_stream(const NatsServer& server, const std::string& name) {
    JetStreamWriterOptions wo;
    wo.nats = server.options();
    auto w = std::make_unique<JetStreamWriter>(wo);
    w->ensure_stream(stream(name));
    return w;
}

std::vector<JetStreamReader::Received> read_all(JetStreamReader& r, std::size_t n) {
    std::vector<JetStreamReader::Received> out;
    for (int tries = 0; out.size() < n && tries < 50; ++tries)
        for (auto& m : r.fetch(std::chrono::milliseconds(200))) out.push_back(std::move(m));
    return out;
}

} // namespace

TEST(JetStreamServer, EveryMessageIsAcknowledgedOnceInOrderAndARepeatedIdIsStoredOnce) {
    NatsServer server;
    JetStreamWriterOptions wo;
    wo.nats = server.options();
    wo.max_in_flight = 64;
    JetStreamWriter w(wo);
    w.ensure_stream(stream("A"));
    w.ensure_stream(stream("A")); // an existing stream with the same subjects is used as it is
    constexpr int kN = 2000;
    for (int i = 0; i < kN; ++i)
        w.publish("test.A.cam" + std::to_string(i % 3), "body " + std::to_string(i), "id-" + std::to_string(i),
                  std::uint64_t(i + 1));
    w.publish("test.A.cam0", "body 0 again", "id-0", kN + 1); // the same id: stored once
    ASSERT_TRUE(w.drain(std::chrono::seconds(30))) << w.last_error();
    const auto tokens = w.take_acknowledged();
    ASSERT_EQ(tokens.size(), std::size_t(kN + 1));
    for (std::size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ(tokens[i], i + 1) << "acknowledged in publish order";
    EXPECT_EQ(w.counters().acked, std::uint64_t(kN + 1));
    EXPECT_EQ(w.counters().duplicates, 1u);
    EXPECT_EQ(w.counters().failures, 0u);

    JetStreamReader r(reader(server, "A", "reader"));
    const auto got = read_all(r, kN);
    ASSERT_EQ(got.size(), std::size_t(kN));
    for (int i = 0; i < kN; ++i) {
        ASSERT_EQ(got[i].body, "body " + std::to_string(i));
        ASSERT_EQ(got[i].stream_seq, std::uint64_t(i + 1));
    }
    EXPECT_TRUE(r.fetch(std::chrono::milliseconds(300)).empty()) << "the repeated id was not stored";
}

TEST(JetStreamServer, ADurableReaderResumesWhereItLeftAndSeesAgainWhatItDidNotAcknowledge) {
    NatsServer server;
    auto w = writer_with_stream(server, "B");
    for (int i = 0; i < 30; ++i) w->publish("test.B.x", std::to_string(i), "b" + std::to_string(i));
    ASSERT_TRUE(w->drain(std::chrono::seconds(20)));

    JetStreamReaderOptions ro = reader(server, "B", "d");
    ro.batch = 10, ro.ack_wait_s = 1;
    {
        JetStreamReader r(ro);
        auto first = read_all(r, 10);
        ASSERT_EQ(first.size(), 10u);
        for (int i = 0; i < 8; ++i) r.ack(first[i].stream_seq);
        r.term(first[8].stream_seq); // 9th: never again; 10th: left unanswered
    }
    ro.start_seq = 25; // a start for a new consumer: this one exists and resumes
    JetStreamReader again(ro);
    auto rest = read_all(again, 21);
    std::vector<std::string> bodies;
    for (const auto& m : rest) bodies.push_back(m.body);
    ASSERT_FALSE(bodies.empty());
    EXPECT_EQ(std::count(bodies.begin(), bodies.end(), "8"), 0) << "a terminated message came again";
    EXPECT_EQ(std::count(bodies.begin(), bodies.end(), "9"), 1) << "the unacknowledged message came again";
    for (int i = 10; i < 30; ++i) EXPECT_EQ(std::count(bodies.begin(), bodies.end(), std::to_string(i)), 1) << i;
    for (int i = 0; i < 8; ++i) EXPECT_EQ(std::count(bodies.begin(), bodies.end(), std::to_string(i)), 0) << i;

    ro.durable = "from25"; // a new consumer starts where it is told
    JetStreamReader late(ro);
    const auto from = read_all(late, 6);
    ASSERT_EQ(from.size(), 6u);
    EXPECT_EQ(from.front().body, "24");
}

// Two sinks sharing one durable consumer (two collectors of a site) started at the same moment: both see no
// consumer, both make it, and each must bind, whichever made it (the whole stream, made by the reader; and a
// filtered one, made by the subscription). Between them they read every message once.
TEST(JetStreamServer, TwoReadersOfOneNewDurableStartingTogetherBothBind) {
    NatsServer server;
    auto w = writer_with_stream(server, "D");
    constexpr int kN = 60;
    for (int i = 0; i < kN; ++i)
        w->publish("test.D.cam1", "body " + std::to_string(i), "id-" + std::to_string(i), std::uint64_t(i + 1));
    ASSERT_TRUE(w->drain(std::chrono::seconds(30))) << w->last_error();
    for (int k = 0; k < 8; ++k) {
        JetStreamReaderOptions ro = reader(server, "D", "pair" + std::to_string(k));
        if (k % 2 == 0) ro.filter.clear();
        std::unique_ptr<JetStreamReader> a, b;
        std::string a_error, b_error;
        std::atomic<int> ready{0};
        const auto make = [&](std::unique_ptr<JetStreamReader>& r, std::string& error) {
            ++ready;
            while (ready.load() < 2) std::this_thread::yield();
            try {
                r = std::make_unique<JetStreamReader>(ro);
            } catch (const Error& e) {
                error = e.what();
            }
        };
        std::thread ta([&] { make(a, a_error); }), tb([&] { make(b, b_error); });
        ta.join(), tb.join();
        ASSERT_TRUE(a && b) << "pair " << k << ": " << a_error << " | " << b_error;
        std::multiset<std::string> bodies;
        for (int tries = 0; bodies.size() < std::size_t(kN) && tries < 50; ++tries)
            for (JetStreamReader* r : {a.get(), b.get()})
                for (auto& m : r->fetch(std::chrono::milliseconds(100))) {
                    bodies.insert(m.body);
                    r->ack(m.stream_seq);
                }
        EXPECT_EQ(bodies.size(), std::size_t(kN)) << "pair " << k;
        EXPECT_EQ(std::set<std::string>(bodies.begin(), bodies.end()).size(), std::size_t(kN))
            << "pair " << k << ": a message read twice";
    }
}

TEST(JetStreamServer, AServerDownAtTheStartIsANamedErrorAndOneThatComesBackIsWrittenToAgain) {
    NatsServer server;
    JetStreamWriterOptions wo;
    wo.nats = server.options();
    wo.nats.request_timeout_s = 1;
    wo.ack_wait_s = 1;
    JetStreamWriter w(wo);
    w.ensure_stream(stream("C"));
    for (int i = 0; i < 10; ++i) w.publish("test.C.x", std::to_string(i), "c" + std::to_string(i), i + 1);
    ASSERT_TRUE(w.drain(std::chrono::seconds(10)));
    server.stop();
    for (int i = 10; i < 20; ++i) w.publish("test.C.x", std::to_string(i), "c" + std::to_string(i), i + 1);
    EXPECT_FALSE(w.drain(std::chrono::seconds(2))) << "nothing is acknowledged while the server is down";
    server.start();
    ASSERT_TRUE(w.drain(std::chrono::seconds(30))) << w.last_error();
    EXPECT_EQ(w.counters().acked, 20u);
    EXPECT_GT(w.counters().retried, 0u);

    JetStreamReader r(reader(server, "C", "all"));
    const auto got = read_all(r, 20);
    ASSERT_EQ(got.size(), 20u);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(got[i].body, std::to_string(i)) << "in order, once";

    server.stop();
    wo.nats.request_timeout_s = 0.5;
    try {
        JetStreamWriter dead(wo);
        ADD_FAILURE() << "connected to a stopped server";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kTransport);
        EXPECT_NE(std::string(e.what()).find(wo.nats.servers.front()), std::string::npos) << e.what();
    }
}

// --- the bridge's look at a pred without decoding it -------------------------------------------------------------

TEST(PeekPred, ReadsWhatDecodeReadsOfEveryPred) {
    PredMessage full = pred("east", "dock.3", 41, 1'796'612'400'000'000'000);
    full.boxes = {1, 2, 3, 4}, full.scores = {0.9f}, full.classes = {2}, full.flags = {1}, full.margins = {0.2f};
    full.entropies = {0.1f}, full.track_ids = {7}, full.stamps_ns = {{"arrival", 5}}, full.meta = {{"site", "a"}};
    full.luma = 80, full.uncertainty = 0.4f;
    PredMessage shadow = full;
    shadow.shadow = true, shadow.model = "parts@2";
    PredMessage older = pred("", "cam1", 0, 0); // no line, no time: fields an older line does not send
    for (const PredMessage& p : {full, shadow, older}) {
        const std::string body = encode(p);
        const auto k = peek_pred(body);
        ASSERT_TRUE(k) << p.camera;
        EXPECT_EQ(k->line, p.line);
        EXPECT_EQ(k->camera, p.camera);
        EXPECT_EQ(k->model, p.model);
        EXPECT_EQ(k->seq, p.seq);
        EXPECT_EQ(k->time_ns, p.time_ns);
        EXPECT_EQ(k->shadow, p.shadow);
        EXPECT_EQ(jetstream_subject(*k, "line"), jetstream_subject(Message(p), "line"));
        EXPECT_EQ(jetstream_msg_id(*k, "line"), jetstream_msg_id(Message(p), "line"));
    }
}

TEST(PeekPred, AnythingElseIsLeftToDecode) {
    const std::string good = encode(pred("east", "cam1", 3, 10));
    StatMessage stat;
    stat.camera = "cam1";
    EventMessage event;
    event.kind = "run_start";
    PredMessage bad_line = pred("east.hall", "cam1", 3, 10), bad_camera = pred("east", "a/b", 3, 10);
    // a map of one repeated key, a newer schema, a string where the seq goes
    const auto map_of = [](std::initializer_list<std::pair<std::string, std::string>> kv) {
        std::string b(1, char(0x80 | kv.size()));
        for (const auto& [k, v] : kv) b += char(0xa0 | k.size()) + k + v;
        return b;
    };
    const std::string fix1 = std::string(1, '\x01'), fix2 = std::string(1, '\x02');
    const std::string pred_str = std::string(1, char(0xa4)) + "pred", cam = std::string(1, char(0xa4)) + "cam1",
                      model = std::string(1, char(0xa1)) + "m";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"not a map", std::string(1, char(0x91)) + fix1},
        {"truncated", good.substr(0, good.size() / 2)},
        {"one byte short", good.substr(0, good.size() - 1)},
        {"a stat", encode(Message(stat))},
        {"an event", encode(Message(event))},
        {"a line name with a dot", encode(Message(bad_line))},
        {"a camera id with a slash", encode(Message(bad_camera))},
        {"schema v2", map_of({{"v", fix2}, {"type", pred_str}, {"camera", cam}, {"seq", fix1}, {"model", model}})},
        {"seq as text", map_of({{"v", fix1}, {"type", pred_str}, {"camera", cam}, {"seq", cam}, {"model", model}})},
        {"a repeated key",
         map_of({{"v", fix1}, {"type", pred_str}, {"camera", cam}, {"camera", cam}, {"seq", fix1}, {"model", model}})},
        {"no model", map_of({{"v", fix1}, {"type", pred_str}, {"camera", cam}, {"seq", fix1}})},
        {"a reserved byte", map_of({{"v", fix1},
                                    {"type", pred_str},
                                    {"camera", cam},
                                    {"seq", fix1},
                                    {"model", model},
                                    {"x", std::string(1, char(0xc1))}})},
    };
    EXPECT_TRUE(peek_pred(map_of({{"v", fix1}, {"type", pred_str}, {"camera", cam}, {"seq", fix1}, {"model", model}})))
        << "the table's good row";
    for (const auto& [what, body] : cases) EXPECT_FALSE(peek_pred(body)) << what;
}

TEST(JetStreamServer, AMessageTheStreamCanNeverTakeIsRefusedAndTheOthersGoOn) {
    NatsServer server;
    JetStreamWriterOptions wo;
    wo.nats = server.options();
    JetStreamWriter w(wo);
    StreamSettings small = stream("D");
    small.max_msg_size = 100; // a 4K frame's JPEG over a stream's limit, in small
    w.ensure_stream(small);
    w.publish("test.D.x", "small", "d1", 1);
    w.publish("test.D.x", std::string(200, 'x'), "d2", 2);
    w.publish("test.D.x", "small again", "d3", 3);
    ASSERT_TRUE(w.drain(std::chrono::seconds(20))) << "a refused message holds nothing behind it";
    EXPECT_EQ(w.take_acknowledged(), (std::vector<std::uint64_t>{1, 3}));
    EXPECT_EQ(w.take_refused(), (std::vector<std::uint64_t>{2}));
    EXPECT_EQ(w.counters().refused, 1u);
    EXPECT_NE(w.last_error().find("test.D.x"), std::string::npos) << w.last_error();
}
