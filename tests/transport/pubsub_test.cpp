// Wire format v1 round trips, and the publisher's promises: in-order delivery, never blocking, drops counted.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>
#include <unistd.h>

#include "sightline/error.hpp"
#include "sightline/transport/pubsub.hpp"

using namespace sightline;
using namespace sightline::transport;
using namespace std::chrono_literals;

namespace {

std::string ipc(const std::string& name) {
    return "ipc:///tmp/sightline_test_" + name + "_" + std::to_string(::getpid());
}

PredMessage sample_pred(std::uint64_t seq, int n) {
    PredMessage m;
    m.camera = "cam7";
    m.seq = seq;
    m.pts_ns = 33'333'333 * static_cast<std::int64_t>(seq);
    m.frame = 7 + static_cast<std::int64_t>(seq);
    m.width = 640, m.height = 480;
    m.model = "parts-v1@1.0.0";
    for (int i = 0; i < n; ++i) {
        m.boxes.insert(m.boxes.end(), {1.f * i, 2.f * i, 10.f + i, 20.f + i});
        m.scores.push_back(0.5f + 0.01f * i);
        m.classes.push_back(i % 5);
        m.flags.push_back(i % 2 ? kFlagNearThreshold : 0u);
        m.margins.push_back(0.1f * i);
        m.entropies.push_back(0.05f * i);
    }
    m.stamps_ns = {{"arrival", 100}, {"published", 200}};
    m.meta = {{"line", "L2"}, {"location", "press"}};
    return m;
}

TEST(Wire, RoundTripsEveryMessageType) {
    auto p = sample_pred(42, 3);
    auto back = std::get<PredMessage>(decode(encode(p)));
    EXPECT_EQ(back.camera, "cam7");
    EXPECT_EQ(back.seq, 42u);
    EXPECT_EQ(back.pts_ns, p.pts_ns);
    EXPECT_EQ(back.boxes, p.boxes);
    EXPECT_EQ(back.scores, p.scores);
    EXPECT_EQ(back.classes, p.classes);
    EXPECT_EQ(back.flags, p.flags);
    EXPECT_EQ(back.margins, p.margins);
    EXPECT_EQ(back.entropies, p.entropies);
    EXPECT_EQ(back.width, 640);
    EXPECT_EQ(back.height, 480);
    EXPECT_EQ(back.model, "parts-v1@1.0.0");
    EXPECT_EQ(back.frame, p.frame);
    EXPECT_EQ(back.stamps_ns, p.stamps_ns);
    EXPECT_EQ(back.meta, p.meta);
    EXPECT_EQ(topic_of(p), "pred/cam7");
    auto empty = std::get<PredMessage>(decode(encode(sample_pred(0, 0))));
    EXPECT_TRUE(empty.scores.empty());
    auto e = std::get<EventMessage>(decode(encode(EventMessage{"camera_down", "cam2", "connection refused", 5})));
    EXPECT_EQ(e.kind, "camera_down");
    EXPECT_EQ(e.camera, "cam2");
    EXPECT_EQ(e.message, "connection refused");
    EXPECT_EQ(e.time_ns, 5);
    EXPECT_EQ(topic_of(e), "event");
    auto s = std::get<StatMessage>(decode(encode(StatMessage{"cam1", 9, {{"fps", 29.97}}, "parts@1.0"})));
    EXPECT_DOUBLE_EQ(s.values.at("fps"), 29.97);
    EXPECT_EQ(s.model, "parts@1.0"); // additive in v1: a stat without it (an older line) decodes with ""
    EXPECT_EQ(std::get<StatMessage>(decode(encode(StatMessage{"cam1", 9, {}}))).model, "");
    EXPECT_EQ(s.camera, "cam1");
    EXPECT_EQ(s.time_ns, 9);
    EXPECT_EQ(topic_of(s), "stat/cam1");
}

TEST(Wire, OptionalFieldsRoundTripAndStayAbsentWhenUnset) {
    auto p = sample_pred(3, 2);
    EXPECT_LT(std::get<PredMessage>(decode(encode(p))).luma, 0); // unset: not sent, read back as unknown
    const std::size_t without = encode(p).size();
    p.luma = 71.25f;
    EXPECT_FLOAT_EQ(std::get<PredMessage>(decode(encode(p))).luma, 71.25f);
    EXPECT_GT(encode(p).size(), without);
    EXPECT_LT(std::get<PredMessage>(decode(encode(p))).sharpness, 0);
    p.sharpness = 187.5f;
    EXPECT_FLOAT_EQ(std::get<PredMessage>(decode(encode(p))).sharpness, 187.5f);
    p.uncertainty = 0.75f, p.frame_flags = kFlagNearThreshold | kFrameUnusualCount;
    const auto scored = std::get<PredMessage>(decode(encode(p)));
    EXPECT_FLOAT_EQ(scored.uncertainty, 0.75f);
    EXPECT_EQ(scored.frame_flags, kFlagNearThreshold | kFrameUnusualCount);
    // the line (additive, 0.10): absent when unset, read back when set, on every kind of message
    EXPECT_EQ(std::get<PredMessage>(decode(encode(p))).line, "");
    const std::size_t without_line = encode(p).size();
    p.line = "east";
    EXPECT_EQ(std::get<PredMessage>(decode(encode(p))).line, "east");
    EXPECT_EQ(encode(p).size(), without_line + 5 + 5); // "line" and "east", a byte of length each
    StatMessage st{"cam3", 5, {{"fps", 10}}, "m@1", "west"};
    EXPECT_EQ(std::get<StatMessage>(decode(encode(st))).line, "west");
    EventMessage info{"line_info", "", "m@1", 7};
    info.line = "east", info.run = "1796-42";
    const auto info_back = std::get<EventMessage>(decode(encode(info)));
    EXPECT_EQ(info_back.line, "east");
    EXPECT_EQ(info_back.run, "1796-42");
    // a version beside the serving one (additive, 0.11): its own topic, `shadow: true` read back
    EXPECT_FALSE(std::get<PredMessage>(decode(encode(p))).shadow);
    EXPECT_EQ(topic_of(p), "pred/" + p.camera);
    p.shadow = true;
    EXPECT_TRUE(std::get<PredMessage>(decode(encode(p))).shadow);
    EXPECT_EQ(topic_of(p), "shadow/" + p.camera);
    EventMessage sw{"model_switched", "cam3", "rollback: a -> b", 9};
    EXPECT_FALSE(std::get<EventMessage>(decode(encode(sw))).switched);
    sw.switched = ModelSwitch{"m@2", "m@1", "rollback", "detections -2.8 a frame"};
    const auto sw_back = std::get<EventMessage>(decode(encode(sw)));
    ASSERT_TRUE(sw_back.switched);
    EXPECT_EQ(sw_back.switched->from, "m@2");
    EXPECT_EQ(sw_back.switched->to, "m@1");
    EXPECT_EQ(sw_back.switched->reason, "rollback");
    EXPECT_EQ(sw_back.switched->evidence, "detections -2.8 a frame");
    EXPECT_EQ(flag_bit("disagree"), kFrameDisagree);
    EventMessage e{"alarm_raised", "cam3", "ALARM luma", 11};
    EXPECT_FALSE(std::get<EventMessage>(decode(encode(e))).alarm);
    EXPECT_EQ(std::get<EventMessage>(decode(encode(e))).line, "");
    e.alarm =
        AlarmDetail{"parts-v1@1.0.0", "line=L1", "luma", "wasserstein", 9.5, 0.3, 147'000'000'000, 177'000'000'000};
    const auto back = std::get<EventMessage>(decode(encode(e)));
    ASSERT_TRUE(back.alarm);
    EXPECT_EQ(back.alarm->model, "parts-v1@1.0.0");
    EXPECT_EQ(back.alarm->slice, "line=L1");
    EXPECT_EQ(back.alarm->signal, "luma");
    EXPECT_EQ(back.alarm->test, "wasserstein");
    EXPECT_DOUBLE_EQ(back.alarm->value, 9.5);
    EXPECT_DOUBLE_EQ(back.alarm->threshold, 0.3);
    EXPECT_EQ(back.alarm->window_start_ns, 147'000'000'000);
    EXPECT_EQ(back.alarm->window_end_ns, 177'000'000'000);
    // an alarm map missing a field names it with its path
    std::string body = encode(e);
    const auto at = body.find("threshold");
    ASSERT_NE(at, std::string::npos);
    body.replace(at, 9, "threshXld");
    try {
        decode(body);
        FAIL();
    } catch (const Error& err) {
        EXPECT_NE(std::string(err.what()).find("alarm.threshold"), std::string::npos) << err.what();
    }
}

TEST(Wire, MalformedBodiesAreClearErrors) {
    EXPECT_THROW(decode("\xc1"), Error); // 0xc1 is never used in msgpack
    auto body = encode(sample_pred(1, 2));
    EXPECT_THROW(decode(std::string_view(body).substr(0, body.size() / 2)), Error);
    try {
        decode(encode(EventMessage{"x", "", "", 0}).replace(3, 1, "\x02")); // map, "v", then 1 -> 2
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("schema version 2"), std::string::npos) << e.what();
    }
}

TEST(PubSub, DeliversEveryMessageInOrder) {
    Publisher pub({ipc("order")});
    Subscriber sub(ipc("order"), {"pred/"});
    ASSERT_TRUE(pub.wait_for_subscribers(1, 5s)) << "subscriber never joined";
    for (std::uint64_t k = 0; k < 500; ++k) ASSERT_TRUE(pub.publish(sample_pred(k, static_cast<int>(k % 4))));
    pub.publish(EventMessage{"camera_up", "cam7", "", 0}); // not subscribed: filtered out
    for (std::uint64_t k = 0; k < 500; ++k) {
        auto r = sub.receive(5s);
        ASSERT_TRUE(r) << "message " << k << " missing";
        EXPECT_EQ(r->topic, "pred/cam7");
        EXPECT_EQ(std::get<PredMessage>(r->message).seq, k);
    }
    EXPECT_FALSE(sub.receive(100ms));
    EXPECT_EQ(pub.sent(), 501u);
    EXPECT_EQ(pub.dropped(), 0u);
}

TEST(PubSub, ASubscriberThatNeverReadsNeverBlocksAndDropsAreCounted) {
    PublisherOptions o{ipc("slow")};
    o.send_hwm = 20;
    Publisher pub(o);
    Subscriber sub(ipc("slow"), {""}, 20);
    ASSERT_TRUE(pub.wait_for_subscribers(1, 5s));
    const int n = 20000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < n; ++k) pub.publish(sample_pred(k, 8));
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(pub.sent() + pub.dropped(), static_cast<std::uint64_t>(n));
    EXPECT_GT(pub.dropped(), 0u) << "a subscriber that never reads must cost drops, not stalls";
    EXPECT_LT(took, 30s) << "publishing must not block on a slow consumer";
}

TEST(PubSub, OneSubscriberHearsSeveralPublishers) {
    Publisher a({ipc("node_a")}), b({ipc("node_b")});
    Subscriber sub(std::vector<std::string>{ipc("node_a"), ipc("node_b")}, {""});
    ASSERT_TRUE(a.wait_for_subscribers(1, 5s) && b.wait_for_subscribers(1, 5s));
    for (std::uint64_t k = 0; k < 50; ++k) {
        auto pa = sample_pred(k, 1), pb = sample_pred(k, 1);
        pb.camera = "cam8";
        a.publish(pa), b.publish(pb);
    }
    std::map<std::string, std::uint64_t> next;
    for (int k = 0; k < 100; ++k) {
        auto r = sub.receive(5s);
        ASSERT_TRUE(r) << "message " << k << " missing";
        const auto& p = std::get<PredMessage>(r->message);
        EXPECT_EQ(p.seq, next[p.camera]++) << p.camera; // each publisher's order kept
    }
    EXPECT_EQ(next["cam7"], 50u);
    EXPECT_EQ(next["cam8"], 50u);
}

TEST(PubSub, EndpointInUseIsAClearError) {
    Publisher a({"tcp://127.0.0.1:*"}); // any free port
    const std::string taken = a.bound_endpoint();
    ASSERT_NE(taken.find("tcp://127.0.0.1:"), std::string::npos);
    try {
        Publisher b({taken});
        FAIL() << "bound twice";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kTransport);
        EXPECT_NE(std::string(e.what()).find(taken), std::string::npos) << e.what();
    }
    EXPECT_THROW(Publisher({"nonsense://x"}), Error);
}

} // namespace
