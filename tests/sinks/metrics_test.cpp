// The Prometheus metrics the monitor and `run --metrics` serve, read back over HTTP from the exposer itself.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "sightline/pipeline/metrics.hpp"

namespace sightline::pipeline {
namespace {

/// GET http://ADDRESS/metrics (HTTP/1.0: the server closes when done): the body.
std::string scrape(const std::string& address) {
    const auto colon = address.rfind(':');
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &a.sin_addr);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
    if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return "write failed";
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out.substr(out.find("\r\n\r\n") + 4);
}

// Issue 25, item 10: the online AP is AP at the window's IoU, named as `sightline eval` names it (AP50), never "ap"
// (eval's AP averages IoU 0.5 to 0.95).
TEST(Metrics, OnlineEvaluationIsNamedAsEvalNamesIt) {
    Metrics m("127.0.0.1:0");
    transport::StatMessage st;
    st.camera = "cam1";
    st.values = {{"eval_iou", 0.5},    {"eval_ap50", 0.75}, {"eval_ap", 0.75}, {"eval_precision", 0.9},
                 {"eval_recall", 0.6}, {"eval_f1", 0.72},   {"eval_tp", 6}};
    m.observe(st);
    const std::string body = scrape(m.address());
    EXPECT_NE(body.find("sightline_online_eval{camera=\"cam1\",metric=\"AP50\"} 0.75"), std::string::npos) << body;
    EXPECT_NE(body.find("sightline_online_eval{camera=\"cam1\",metric=\"precision\"} 0.9"), std::string::npos);
    EXPECT_EQ(body.find("metric=\"ap\""), std::string::npos) << body;
    EXPECT_EQ(body.find("metric=\"ap50\""), std::string::npos) << body;

    st.values = {{"eval_iou", 0.75}, {"eval_ap75", 0.5}, {"eval_ap", 0.5}};
    m.observe(st);
    EXPECT_NE(scrape(m.address()).find("metric=\"AP75\"} 0.5"), std::string::npos);
}

// Issue 26, part 2: a shadow version's agreement with the serving one, per camera and figure (an id with an
// underscore parsed whole; the rate from the counts: 21 of 24).
TEST(Metrics, ShadowAgreementIsAGaugePerFigure) {
    Metrics m("127.0.0.1:0");
    transport::StatMessage st;
    st.camera = "cam2";
    st.values = {{"agreement_parts_v1_rate", 0.875}, {"agreement_parts_v1_both", 21},
                 {"agreement_parts_v1_disagree_frames", 4},
                 {"agreement_parts_v1_frames", 30},
                 {"agreement_parts_v1_only_shadow", 3},
                 {"fps", 30}};
    m.observe(st);
    const std::string body = scrape(m.address());
    for (const char* want :
         {"sightline_version_agreement{camera=\"cam2\",figure=\"rate\",shadow=\"parts_v1\"} 0.875",
          "sightline_version_agreement{camera=\"cam2\",figure=\"disagree_frames\",shadow=\"parts_v1\"} 4",
          "sightline_version_agreement{camera=\"cam2\",figure=\"frames\",shadow=\"parts_v1\"} 30",
          "sightline_version_agreement{camera=\"cam2\",figure=\"only_shadow\",shadow=\"parts_v1\"} 3"})
        EXPECT_NE(body.find(want), std::string::npos) << want << "\n" << body;
    EXPECT_EQ(body.find("shadow=\"parts_v1_disagree\""), std::string::npos) << body;
}

// Issue 25, item 1: the learning state on /metrics: the reference's progress and the tests armed (0 while learning).
TEST(Metrics, LearningStateIsAGauge) {
    Metrics m("127.0.0.1:0");
    MonitorCameraView v;
    v.camera = "cam1", v.model = "parts@1";
    v.reference_progress = 0.3, v.reference_learned_s = 90, v.reference_needed_s = 300, v.tests_total = 52;
    m.window(v);
    std::string body = scrape(m.address());
    EXPECT_NE(body.find("sightline_monitor_tests_armed{camera=\"cam1\",model=\"parts@1\"} 0"), std::string::npos)
        << body;
    EXPECT_NE(body.find("sightline_monitor_reference_progress_ratio{camera=\"cam1\",model=\"parts@1\"} 0.3"),
              std::string::npos)
        << body;
    v.reference_ready = true, v.reference_progress = 1, v.tests_armed = 40;
    m.window(v);
    body = scrape(m.address());
    EXPECT_NE(body.find("sightline_monitor_tests_armed{camera=\"cam1\",model=\"parts@1\"} 40"), std::string::npos)
        << body;
}

} // namespace
} // namespace sightline::pipeline
