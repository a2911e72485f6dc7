// The line's control socket (transport/control.hpp): one request, one reply; with CURVE only a client holding the
// line's public key (and, with an authorized list, an admitted key) is answered; a request nobody answers is a
// clear error naming the endpoint within its timeout.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "sightline/error.hpp"
#include "sightline/transport/control.hpp"
#include "sightline/transport/security.hpp"
#include "support/test_support.hpp"

using namespace sightline;
using namespace sightline::transport;

namespace {

/// Answers every request with "echo: <request>" until stopped.
struct Echo {
    ControlServer server;
    std::atomic<bool> stop{false};
    std::thread thread;
    Echo(const std::string& endpoint, const std::optional<CurveServer>& curve) : server(endpoint, curve) {
        thread = std::thread([this] {
            while (!stop.load())
                if (auto r = server.receive(std::chrono::milliseconds(50))) server.reply("echo: " + *r);
        });
    }
    ~Echo() {
        stop = true;
        thread.join();
    }
};

TEST(Control, OneRequestOneReplyAndSilenceIsAClearError) {
    const auto dir = sightline::testing::temp_dir("control");
    const std::string ep = "ipc://" + (dir / "control").string();
    {
        Echo echo(ep, std::nullopt);
        EXPECT_EQ(echo.server.bound_endpoint(), ep);
        EXPECT_EQ(control_request(ep, R"({"command": "status"})", std::chrono::seconds(5)),
                  R"(echo: {"command": "status"})");
        EXPECT_EQ(control_request(ep, "second", std::chrono::seconds(5)), "echo: second");
    }
    try {
        control_request(ep, "anyone?", std::chrono::milliseconds(300));
        ADD_FAILURE() << "answered with nobody there";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kTransport);
        EXPECT_NE(std::string(e.what()).find(ep), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("no reply within 300 ms"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ControlServer("tcp://127.0.0.1:notaport"), Error);
    std::filesystem::remove_all(dir);
}

TEST(Control, WithCurveOnlyAnAdmittedClientIsAnswered) {
    const auto dir = sightline::testing::temp_dir("controlcurve");
    const auto line = generate_key_files(dir / "line"), ops = generate_key_files(dir / "ops"),
               stranger = generate_key_files(dir / "stranger");
    const std::string ep = "ipc://" + (dir / "control").string();
    Echo echo(ep, CurveServer{line, {ops.public_key}});
    EXPECT_EQ(control_request(ep, "hello", std::chrono::seconds(5), CurveClient{ops, line.public_key}), "echo: hello");
    for (const auto& [who, client] : std::vector<std::pair<std::string, std::optional<CurveClient>>>{
             {"no key", std::nullopt},
             {"a key not admitted", CurveClient{stranger, line.public_key}},
             {"a wrong server key", CurveClient{ops, stranger.public_key}}})
        EXPECT_THROW(control_request(ep, "hello", std::chrono::milliseconds(500), client), Error) << who;
    std::filesystem::remove_all(dir);
}

} // namespace
