// The portal connection end to end on loopback: the sans-IO channel driven the way the app drives
// it, over io::WebSocketClient, against an in-process Beast server over ws and wss (a CA made at
// test time). Covers join then init, no pipelining, heartbeat, reconnect with backoff, 401,
// phx_error rejoin, the exact request target and headers, pings, close and TLS failures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include "base/encoding.hpp"
#include "crypto/rng.hpp"
#include "io/portal_client.hpp"
#include "portal/channel.hpp"
#include "portal/login_url.hpp"
#include "test_pki.hpp"
#include "test_ws_server.hpp"

namespace fz {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::TestWsServer;

constexpr const char* kToken = ".SFMyNTY.g2gDaAN-abc_def";
constexpr const char* kUserAgent = "Debian/12.0.0 connlib/1.4.16 (x86_64; 6.1.0-test)";

// A public key whose base64 holds '+', '/' and '='.
crypto::PublicKey awkward_key() {
  crypto::PublicKey k{};
  k[0] = 0xfb;
  k[1] = 0xff;
  k[2] = 0xbf;
  return k;
}

// The application's view of the portal: io::PortalClient with handlers that record everything.
class PortalHarness {
 public:
  PortalHarness(asio::io_context& io, portal::ChannelConfig config, io::WebSocketOptions options)
      : rng_(seed()),
        client_(io, std::move(config), rng_,
                io::PortalHandlers{
                    .on_joined = [this] { ++joins; },
                    .on_message =
                        [this](portal::IngressMessage m) { messages.push_back(std::move(m)); },
                    .on_reconnect =
                        [this](const portal::ReconnectAfter& r) { reconnects.push_back(r); },
                    .on_fatal = [this](const portal::Fatal& f) { fatal = f; },
                    .on_closed = [this] { closed = true; }},
                std::move(options)) {}

  void start() { client_.start(); }
  void send(const portal::EgressMessage& message) { client_.send(message); }
  void close() { client_.close(); }

  std::vector<portal::ReconnectAfter> reconnects;
  std::vector<portal::IngressMessage> messages;
  std::optional<portal::Fatal> fatal;
  int joins = 0;
  bool closed = false;

 private:
  static std::array<std::uint8_t, 32> seed() {
    std::array<std::uint8_t, 32> s{};
    s[0] = 9;
    return s;
  }

  crypto::ChaChaRng rng_;
  io::PortalClient client_;
};

bool run_until(asio::io_context& io, const std::function<bool()>& done,
               Clock::duration timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    io.run_for(5ms);
    if (io.stopped()) io.restart();
  }
  return true;
}

void run_for(asio::io_context& io, Clock::duration d) {
  run_until(
      io, [] { return false; }, d);
}

struct TempFile {
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("fz-portal-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::ofstream(path) << content;
  }
  ~TempFile() { std::filesystem::remove(path); }
  std::filesystem::path path;
};

const test::TestPki& trusted_pki() {
  static const auto pki = test::make_test_pki({"localhost"}, {"127.0.0.1"});
  return pki;
}

std::string reply_frame(std::string_view topic, std::uint64_t ref, std::string_view status = "ok",
                        std::string_view response = "{}") {
  return std::string(R"({"topic":")") + std::string(topic) +
         R"(","event":"phx_reply","payload":{"status":")" + std::string(status) +
         R"(","response":)" + std::string(response) + R"(},"ref":)" + std::to_string(ref) + "}";
}

constexpr const char* kInit =
    R"({"topic":"gateway","event":"init","ref":null,"payload":{"interface":{"ipv4":"100.115.164.78","ipv6":"fd00:2021:1111::2c:f6ab"},"config":{"ipv4_masquerade_enabled":true,"ipv6_masquerade_enabled":true}}})";

// Answers every join like the portal does: the reply, then `init`.
void portal_behaviour(TestWsServer& server) {
  server.on_frame([&server](std::size_t session, const std::string& text) {
    const auto frame = portal::parse_frame(text);
    if (!frame) return;
    if (frame->event == "phx_join") {
      server.send(session, reply_frame(frame->topic, *frame->ref));
      server.send(session, kInit);
    } else if (frame->event == "heartbeat") {
      server.send(session, reply_frame("phoenix", *frame->ref));
    }
  });
}

struct TransportCase {
  const char* name;
  bool tls;
  const char* host;
  friend void PrintTo(const TransportCase& c, std::ostream* os) { *os << c.name; }
};

class PortalConnection : public ::testing::TestWithParam<TransportCase> {
 protected:
  PortalConnection() {
    if (GetParam().tls) {
      server_tls_ = test::ServerTls{trusted_pki().server_cert_pem, trusted_pki().server_key_pem};
      ca_file_.emplace(trusted_pki().ca_cert_pem);
    }
    server_.emplace(io_, server_tls_);
  }

  std::string api_url() const {
    return std::string(GetParam().tls ? "wss" : "ws") + "://" + GetParam().host + ":" +
           std::to_string(server_->port());
  }

  portal::ChannelConfig config() const {
    auto login = portal::LoginUrl::gateway(api_url(), kToken, "ext-id", "gw test/1");
    EXPECT_TRUE(login.ok());
    portal::ChannelConfig c;
    c.url = login->url(awkward_key());
    c.redacted_url = login->redacted(awkward_key());
    c.user_agent = kUserAgent;
    return c;
  }

  io::WebSocketOptions options() const {
    io::WebSocketOptions o;
    if (ca_file_) {
      o.extra_ca_file = ca_file_->path.string();
      o.use_system_trust_store = false;
    }
    return o;
  }

  PortalHarness& harness(std::optional<portal::ChannelConfig> c = std::nullopt) {
    harness_.emplace(io_, c ? *c : config(), options());
    return *harness_;
  }

  bool run_until(const std::function<bool()>& done, Clock::duration timeout = 10s) {
    return fz::run_until(io_, done, timeout);
  }

  asio::io_context io_;
  std::optional<test::ServerTls> server_tls_;
  std::optional<TempFile> ca_file_;
  std::optional<TestWsServer> server_;
  std::optional<PortalHarness> harness_;

  ~PortalConnection() override {
    harness_.reset();
    server_.reset();
  }
};

TEST_P(PortalConnection, JoinsThenDeliversInit) {
  portal_behaviour(*server_);
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return !h.messages.empty(); })) << "no init";
  EXPECT_EQ(h.joins, 1);
  EXPECT_TRUE(std::holds_alternative<portal::Init>(h.messages[0]));
  EXPECT_FALSE(h.fatal.has_value());
  EXPECT_EQ(server_->received(0).at(0),
            R"({"topic":"gateway","event":"phx_join","payload":null,"ref":0})");
}

TEST_P(PortalConnection, SendsNothingBeforeTheJoinReply) {
  auto& h = harness();
  h.send(portal::FlowAuthorized{"queued-before-connect"});
  h.start();
  ASSERT_TRUE(run_until([&] { return server_->sessions() == 1 && !server_->received(0).empty(); }));
  h.send(portal::FlowAuthorized{"queued-while-joining"});
  run_for(io_, 300ms);
  ASSERT_EQ(server_->received(0).size(), 1u);
  EXPECT_EQ(portal::parse_frame(server_->received(0)[0])->event, "phx_join");

  server_->send(0, reply_frame("gateway", 0));
  ASSERT_TRUE(run_until([&] { return server_->received(0).size() == 3; }));
  EXPECT_EQ(
      server_->received(0)[1],
      R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":"queued-before-connect"},"ref":1})");
  EXPECT_EQ(
      server_->received(0)[2],
      R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":"queued-while-joining"},"ref":2})");
}

TEST_P(PortalConnection, HeartbeatAfterSilence) {
  portal_behaviour(*server_);
  auto c = config();
  c.heartbeat_interval = 300ms;  // the 30 s schedule is checked on a virtual clock
  auto& h = harness(c);
  h.start();
  ASSERT_TRUE(run_until([&] { return h.joins == 1; }));
  const auto joined = Clock::now();
  ASSERT_TRUE(run_until([&] { return server_->received(0).size() >= 2; }));
  EXPECT_GE(Clock::now() - joined, 250ms);
  EXPECT_EQ(server_->received(0)[1],
            R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":1})");
}

TEST_P(PortalConnection, ServerCloseReconnectsWithBackoff) {
  portal_behaviour(*server_);
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return h.joins == 1; }));

  // The portal goes away: the close is answered at once, then two refused attempts back off.
  server_->reject_upgrades(503, "maintenance");
  server_->close(0);
  ASSERT_TRUE(run_until([&] { return server_->requests() == 3; }));
  server_->accept_upgrades();
  ASSERT_TRUE(run_until([&] { return h.joins == 2; }));

  ASSERT_EQ(h.reconnects.size(), 3u);
  EXPECT_EQ(h.reconnects[0].delay, Duration::zero());
  EXPECT_EQ(h.reconnects[0].reason,
            "connection closed: the server closed the WebSocket (code 1000)");
  EXPECT_GE(h.reconnects[1].delay, 250ms);
  EXPECT_LE(h.reconnects[1].delay, 750ms);
  EXPECT_EQ(h.reconnects[1].reason, "HTTP 503: maintenance");
  EXPECT_GE(h.reconnects[2].delay, 375ms);
  EXPECT_LE(h.reconnects[2].delay, 1125ms);
  ASSERT_EQ(server_->requests(), 4u);
  EXPECT_GE(server_->request(2).received_at - server_->request(1).received_at,
            h.reconnects[1].delay - 5ms);
  EXPECT_GE(server_->request(3).received_at - server_->request(2).received_at,
            h.reconnects[2].delay - 5ms);
  // The new connection joins again with the next ref: the counter is never reset.
  EXPECT_EQ(server_->received(1).at(0),
            R"({"topic":"gateway","event":"phx_join","payload":null,"ref":1})");
  EXPECT_FALSE(h.fatal.has_value());
}

TEST_P(PortalConnection, DroppedConnectionReconnects) {
  portal_behaviour(*server_);
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return h.joins == 1; }));
  server_->drop(0);
  ASSERT_TRUE(run_until([&] { return h.joins == 2 && h.messages.size() == 2; }));
  EXPECT_EQ(h.reconnects.at(0).delay, Duration::zero());
  EXPECT_EQ(h.messages.size(), 2u);
}

TEST_P(PortalConnection, UnauthorizedIsFatalWithAClearMessage) {
  server_->reject_upgrades(401, "Invalid token");
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return h.fatal.has_value(); }));
  EXPECT_EQ(h.fatal->reason, portal::FatalReason::upgrade_rejected);
  EXPECT_EQ(h.fatal->http_status, 401);
  EXPECT_EQ(h.fatal->message,
            "the portal rejected the connection with HTTP 401: Invalid token (check "
            "FIREZONE_TOKEN)");
  EXPECT_TRUE(h.fatal->is_authentication_error());
  run_for(io_, 200ms);
  EXPECT_EQ(server_->requests(), 1u);  // no retry
  EXPECT_TRUE(h.reconnects.empty());
}

TEST_P(PortalConnection, PhxErrorRejoinsOnTheSameConnection) {
  portal_behaviour(*server_);
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return h.messages.size() == 1; }));
  server_->send(0, R"({"topic":"gateway","event":"phx_error","payload":{},"ref":null})");
  ASSERT_TRUE(run_until([&] { return h.joins == 2 && h.messages.size() == 2; }));
  EXPECT_EQ(server_->sessions(), 1u);
  EXPECT_EQ(server_->requests(), 1u);
  ASSERT_EQ(server_->received(0).size(), 2u);
  EXPECT_EQ(server_->received(0)[1],
            R"({"topic":"gateway","event":"phx_join","payload":null,"ref":1})");
  EXPECT_TRUE(h.reconnects.empty());
}

TEST_P(PortalConnection, RequestTargetAndHeadersAreExactlyAsSpecified) {
  portal_behaviour(*server_);
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return h.joins == 1; }));
  ASSERT_EQ(server_->requests(), 1u);
  const auto& request = server_->request(0);
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.version, "11");
  EXPECT_EQ(request.target,
            "/gateway/websocket?token=.SFMyNTY.g2gDaAN-abc_def&external_id=ext-id"
            "&name=gw+test%2F1&public_key=%2B%2F%2B%2FAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D");
  ASSERT_EQ(request.headers.size(), 6u);
  using H = std::pair<std::string, std::string>;
  EXPECT_EQ(request.headers[0], (H{"Host", GetParam().host}));  // no port
  EXPECT_EQ(request.headers[1], (H{"Connection", "Upgrade"}));
  EXPECT_EQ(request.headers[2], (H{"Upgrade", "websocket"}));
  EXPECT_EQ(request.headers[3], (H{"Sec-WebSocket-Version", "13"}));
  EXPECT_EQ(request.headers[4].first, "Sec-WebSocket-Key");
  auto key = base64_decode(request.headers[4].second);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->size(), 16u);
  EXPECT_EQ(request.headers[5], (H{"User-Agent", kUserAgent}));
}

TEST_P(PortalConnection, AnswersPings) {
  portal_behaviour(*server_);
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return h.joins == 1; }));
  server_->ping(0);
  ASSERT_TRUE(run_until([&] { return server_->pongs(0) == 1; }));
  EXPECT_TRUE(server_->is_open(0));
}

TEST_P(PortalConnection, GracefulClose) {
  portal_behaviour(*server_);
  auto& h = harness();
  h.start();
  ASSERT_TRUE(run_until([&] { return h.joins == 1; }));
  h.close();
  ASSERT_TRUE(run_until([&] { return h.closed && server_->close_frame_received(0); }));
  EXPECT_TRUE(h.reconnects.empty());
  EXPECT_FALSE(h.fatal.has_value());
}

INSTANTIATE_TEST_SUITE_P(Transports, PortalConnection,
                         ::testing::Values(TransportCase{"ws", false, "127.0.0.1"},
                                           TransportCase{"wss_name", true, "localhost"},
                                           TransportCase{"wss_ip", true, "127.0.0.1"}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// TLS failures and transient network errors

struct TlsFailure {
  const char* name;
  std::vector<std::string> server_names;
  std::vector<std::string> server_ips;
  bool trust_server_ca;
  friend void PrintTo(const TlsFailure& c, std::ostream* os) { *os << c.name; }
};

class PortalTlsFailure : public ::testing::TestWithParam<TlsFailure> {};

TEST_P(PortalTlsFailure, IsFatal) {
  asio::io_context io;
  const auto server_pki = test::make_test_pki(GetParam().server_names, GetParam().server_ips);
  TestWsServer server(io, test::ServerTls{server_pki.server_cert_pem, server_pki.server_key_pem});
  portal_behaviour(server);
  TempFile ca(GetParam().trust_server_ca ? server_pki.ca_cert_pem : trusted_pki().ca_cert_pem);
  io::WebSocketOptions options;
  options.extra_ca_file = ca.path.string();
  options.use_system_trust_store = false;
  auto login = portal::LoginUrl::gateway("wss://127.0.0.1:" + std::to_string(server.port()), kToken,
                                         "e", "n");
  portal::ChannelConfig config;
  config.url = login->url(awkward_key());
  config.user_agent = kUserAgent;
  {
    PortalHarness h(io, config, options);
    h.start();
    ASSERT_TRUE(run_until(io, [&] { return h.fatal.has_value(); }));
    EXPECT_EQ(h.fatal->reason, portal::FatalReason::certificate);
    EXPECT_NE(h.fatal->message.find("certificate"), std::string::npos) << h.fatal->message;
    EXPECT_EQ(server.sessions(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, PortalTlsFailure,
    ::testing::Values(TlsFailure{"untrusted_ca", {"localhost"}, {"127.0.0.1"}, false},
                      TlsFailure{"wrong_name", {"portal.example"}, {}, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PortalTransport, ConnectionRefusedIsTransient) {
  asio::io_context io;
  std::uint16_t port;
  {
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  auto login =
      portal::LoginUrl::gateway("ws://127.0.0.1:" + std::to_string(port), kToken, "e", "n");
  portal::ChannelConfig config;
  config.url = login->url(awkward_key());
  config.user_agent = kUserAgent;
  PortalHarness h(io, config, {});
  h.start();
  ASSERT_TRUE(run_until(io, [&] { return h.reconnects.size() >= 2; }));
  EXPECT_EQ(h.reconnects[0].reason.rfind("TCP connect failed: connecting to 127.0.0.1:", 0), 0u)
      << h.reconnects[0].reason;
  EXPECT_EQ(h.reconnects[0].delay, Duration::zero());
  EXPECT_GE(h.reconnects[1].delay, 250ms);
  EXPECT_FALSE(h.fatal.has_value());
}

TEST(PortalTransport, UnresolvableHostIsTransient) {
  asio::io_context io;
  portal::ChannelConfig config;
  config.url = "ws://name-that-does-not-exist.invalid/gateway/websocket?token=x";
  config.user_agent = kUserAgent;
  PortalHarness h(io, config, {});
  h.start();
  ASSERT_TRUE(run_until(
      io, [&] { return !h.reconnects.empty(); }, 30s));
  EXPECT_EQ(h.reconnects[0].reason.rfind("name resolution failed: resolving ", 0), 0u)
      << h.reconnects[0].reason;
  EXPECT_EQ(h.reconnects[0].reason.find("token"), std::string::npos);
  EXPECT_FALSE(h.fatal.has_value());
}

TEST(PortalTransport, BadCaFileIsReported) {
  asio::io_context io;
  io::WebSocketOptions options;
  options.extra_ca_file = "/nonexistent/ca.pem";
  io::WebSocketClient client(io, {}, options);
  EXPECT_FALSE(client.ok());
  EXPECT_NE(client.setup_error().find("/nonexistent/ca.pem"), std::string::npos);
}

}  // namespace
}  // namespace fz
