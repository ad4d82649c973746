// The dev portal server on loopback with our own gateway-side portal client (io::PortalClient,
// io::WebSocketClient) connecting to it: join -> init; control API reject_access reaches the
// gateway; a frame before the join reply is logged as an error; upgrades refused with 401/422.
//
// The server runs on its own thread and io_context; the test talks to it only through sockets
// (WebSocket and the HTTP control API).
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "crypto/rng.hpp"
#include "dev-portal/portal.hpp"
#include "dev-portal/server.hpp"
#include "io/portal_client.hpp"
#include "io/websocket_client.hpp"
#include "portal/login_url.hpp"

namespace fz::devportal {
namespace {

namespace asio = boost::asio;
using Json = nlohmann::json;

constexpr const char* kClient = "3abd725a-733b-4801-ac16-72f26cd98a24";
constexpr const char* kResource = "73037362-715d-4a83-a749-f18eadd970e6";

Json loopback_config() {
  return Json::parse(R"({
    "account": {"id": "24eb631e-c529-4182-a746-d99ee66f7426", "slug": "loop"},
    "sites": [{"id": "bf56f32d-7b2c-4f5d-a784-788977d014a4", "name": "lab", "tokens": [".SFMyNTY.gw-token"]}],
    "clients": [{"id": "3abd725a-733b-4801-ac16-72f26cd98a24", "token": "client-token",
                 "ipv4": "100.64.0.10", "ipv6": "fd00:2021:1111::a"}],
    "resources": [{"id": "73037362-715d-4a83-a749-f18eadd970e6", "type": "cidr",
                   "address": "203.0.113.0/24", "site_ids": ["bf56f32d-7b2c-4f5d-a784-788977d014a4"]}],
    "relays": [{"id": "0a133356-7a9e-4b9a-b413-0d95a5720fd8", "addresses": ["127.0.0.1:3478"],
                "username": "u", "password": "p"}]
  })");
}

Instant steady_now() {
  return instant_from_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count());
}

class Loopback : public ::testing::Test {
 protected:
  void SetUp() override {
    portal_.emplace(*parse_config(loopback_config()), server_rng_, steady_now(),
                    unix_from_seconds(1700000000));
    ServerOptions options;
    options.control_address = "127.0.0.1";
    server_.emplace(server_io_, *portal_, options, steady_now);
    ASSERT_TRUE(server_->start());
    port_ = server_->port();
    control_port_ = *server_->control_port();
    guard_.emplace(server_io_.get_executor());
    thread_ = std::thread([this] { server_io_.run(); });
  }
  void TearDown() override {
    asio::post(server_io_, [this] {
      server_->stop();
      guard_.reset();
    });
    thread_.join();
  }

  // One HTTP/1.1 request to the control API, answered and closed by the server.
  std::pair<int, Json> control(const std::string& method, const std::string& target,
                               const std::string& body = "") {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), control_port_});
    std::string request =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    asio::write(socket, asio::buffer(request));
    std::string response;
    boost::system::error_code ec;
    std::array<char, 4096> chunk{};
    for (;;) {
      const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
      response.append(chunk.data(), n);
      if (ec) break;
    }
    const int status = std::stoi(response.substr(9, 3));
    const auto body_start = response.find("\r\n\r\n");
    return {status, Json::parse(response.substr(body_start + 4))};
  }

  std::string url(std::string_view token, const crypto::PublicKey& key,
                  std::string_view external_id = "loop-gw") {
    auto login = portal::LoginUrl::gateway("ws://127.0.0.1:" + std::to_string(port_), token,
                                           external_id, "loop-gw-name");
    EXPECT_TRUE(login);
    return login->url(key);
  }

  // Runs the client io_context until `done` or a 10 s timeout.
  template <class Pred>
  bool run_until(asio::io_context& io, Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.run_for(std::chrono::milliseconds(10));
      if (io.stopped()) io.restart();
    }
    return done();
  }

  crypto::ChaChaRng server_rng_{std::array<std::uint8_t, 32>{}};
  asio::io_context server_io_;
  std::optional<DevPortal> portal_;
  std::optional<Server> server_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::uint16_t control_port_ = 0;
};

TEST_F(Loopback, GatewayJoinsGetsInitAndRejectAccess) {
  asio::io_context io;
  crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{1});
  crypto::PublicKey key{};
  key.fill(0xfb);  // base64 has '+' and '/': exercises the query encoding
  portal::ChannelConfig config;
  config.url = url(".SFMyNTY.gw-token", key);
  config.redacted_url = "ws://127.0.0.1/gateway/websocket";
  config.user_agent = "Debian/12.0.0 connlib/1.4.16 (x86_64; 6.1.0)";
  int joined = 0;
  bool closed = false;
  std::vector<portal::IngressMessage> messages;
  io::PortalClient client(
      io, config, rng,
      {.on_joined = [&] { ++joined; },
       .on_message = [&](portal::IngressMessage m) { messages.push_back(std::move(m)); },
       .on_reconnect = {},
       .on_fatal = [&](const portal::Fatal& f) { ADD_FAILURE() << f.message; },
       .on_closed = [&] { closed = true; }});
  client.start();
  ASSERT_TRUE(run_until(io, [&] { return !messages.empty(); }));
  EXPECT_EQ(joined, 1);
  const auto* init = std::get_if<portal::Init>(&messages[0]);
  ASSERT_NE(init, nullptr);
  const auto [status, gateways] = control("GET", "/gateways");
  EXPECT_EQ(status, 200);
  ASSERT_EQ(gateways.size(), 1u);
  EXPECT_EQ(gateways[0]["ipv4"], init->interface.ipv4.to_string());
  EXPECT_EQ(gateways[0]["ipv6"], init->interface.ipv6.to_string());
  EXPECT_EQ(gateways[0]["public_key"], "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=");
  EXPECT_EQ(gateways[0]["version"], "1.4.16");
  EXPECT_TRUE(gateways[0]["joined"].get<bool>());
  ASSERT_EQ(init->relays.size(), 1u);
  EXPECT_EQ(std::get<portal::TurnRelay>(init->relays[0]).username, "u");

  const auto [rs, rbody] =
      control("POST", "/reject_access",
              R"({"client_id":")" + std::string(kClient) + R"(","resource_id":")" + kResource +
                  R"(","gateway_id":")" + gateways[0]["id"].get<std::string>() + R"("})");
  EXPECT_EQ(rs, 200) << rbody;
  ASSERT_TRUE(run_until(io, [&] { return messages.size() >= 2; }));
  const auto* reject = std::get_if<portal::RejectAccess>(&messages[1]);
  ASSERT_NE(reject, nullptr);
  EXPECT_EQ(reject->client_id.to_string(), kClient);
  EXPECT_EQ(reject->resource_id.to_string(), kResource);

  // Our gateway never sends a frame before the join reply.
  const auto [es, errors] = control("GET", "/errors");
  EXPECT_EQ(errors, Json::array());
  // The frames log has the join, its reply, init and reject_access, with directions.
  const auto [fs, frames] = control("GET", "/frames");
  std::vector<std::string> seen;
  for (const auto& f : frames)
    if (f["what"] == "frame")
      seen.push_back(f["dir"].get<std::string>() + " " + f["event"].get<std::string>());
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen[0], "in phx_join");
  EXPECT_EQ(seen[1], "out phx_reply");
  EXPECT_EQ(seen[2], "out init");
  EXPECT_EQ(seen.back(), "out reject_access");
  client.close();
  EXPECT_TRUE(run_until(io, [&] { return closed; }));
}

TEST_F(Loopback, FrameBeforeJoinReplyIsLoggedAsAnError) {
  asio::io_context io;
  bool opened = false;
  std::vector<std::string> received;
  io::WebSocketClient ws(io,
                         {.on_open = [&](int) { opened = true; },
                          .on_message = [&](std::string m) { received.push_back(std::move(m)); },
                          .on_closed = [](portal::TransportError) {}});
  crypto::PublicKey key{};
  key.fill(7);
  ws.connect(url(".SFMyNTY.gw-token", key, "bad-gw"),
             {{"User-Agent", "Linux/Unknown connlib/1.4.16"}});
  ASSERT_TRUE(run_until(io, [&] { return opened; }));
  ws.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":0})");
  ASSERT_TRUE(run_until(io, [&] { return !received.empty(); }));
  const auto [status, errors] = control("GET", "/errors");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["message"], "`heartbeat` on topic `phoenix` before the join reply");
  EXPECT_EQ(errors[0]["peer"], "gateway");
  ws.abort();
}

TEST_F(Loopback, UpgradeRefusals) {
  asio::io_context io;
  std::optional<portal::TransportError> error;
  io::WebSocketClient ws(io, {.on_open = [](int) {},
                              .on_message = [](std::string) {},
                              .on_closed = [&](portal::TransportError e) { error = e; }});
  crypto::PublicKey key{};
  ws.connect(url("wrong-token", key), {{"User-Agent", "Linux/Unknown connlib/1.4.16"}});
  ASSERT_TRUE(run_until(io, [&] { return error.has_value(); }));
  EXPECT_EQ(error->kind, portal::TransportErrorKind::http);
  EXPECT_EQ(error->http_status, 401);
  error.reset();
  ws.connect(url(".SFMyNTY.gw-token", key), {{"User-Agent", "curl/8.0"}});
  ASSERT_TRUE(run_until(io, [&] { return error.has_value(); }));
  EXPECT_EQ(error->http_status, 422);
  // Revoking the token closes the socket and refuses reconnects with 401.
  bool opened = false;
  error.reset();
  io::WebSocketClient ok(io, {.on_open = [&](int) { opened = true; },
                              .on_message = [](std::string) {},
                              .on_closed = [&](portal::TransportError e) { error = e; }});
  ok.connect(url(".SFMyNTY.gw-token", key), {{"User-Agent", "Linux/Unknown connlib/1.4.16"}});
  ASSERT_TRUE(run_until(io, [&] { return opened; }));
  const auto [status, body] = control("POST", "/revoke_token", R"({"token":".SFMyNTY.gw-token"})");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["closed"], 1);
  ASSERT_TRUE(run_until(io, [&] { return error.has_value(); }));
  EXPECT_EQ(error->kind, portal::TransportErrorKind::closed);
  error.reset();
  ok.connect(url(".SFMyNTY.gw-token", key), {{"User-Agent", "Linux/Unknown connlib/1.4.16"}});
  ASSERT_TRUE(run_until(io, [&] { return error.has_value(); }));
  EXPECT_EQ(error->http_status, 401);
}

}  // namespace
}  // namespace fz::devportal
