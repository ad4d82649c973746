// The Phoenix channel state machine on a virtual clock: join, no pipelining, heartbeat schedule,
// join timeout, backoff, error classes, phx_error rejoin, send queue, close, secrecy of the token.
#include "portal/channel.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "crypto/rng.hpp"

namespace fz::portal {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = ".SFMyNTY.SECRETTOKENVALUE";
constexpr const char* kUrl =
    "wss://portal.test/gateway/websocket?token=.SFMyNTY.SECRETTOKENVALUE&external_id=e&name=n"
    "&public_key=AAAA";

crypto::ChaChaRng seeded_rng() {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 42;
  return crypto::ChaChaRng(seed);
}

ChannelConfig test_config() {
  ChannelConfig c;
  c.url = kUrl;
  c.redacted_url = "wss://portal.test/gateway/websocket?token=<redacted>&external_id=e&name=n";
  c.user_agent = "Ubuntu/22.4.0 connlib/1.4.16 (x86_64; 6.8.0)";
  return c;
}

std::string reply(std::string_view topic, std::uint64_t ref, std::string_view status = "ok",
                  std::string_view response = "{}") {
  return std::string(R"({"topic":")") + std::string(topic) +
         R"(","event":"phx_reply","payload":{"status":")" + std::string(status) +
         R"(","response":)" + std::string(response) + R"(},"ref":)" + std::to_string(ref) + "}";
}

std::string push(std::string_view event, std::string_view payload) {
  return std::string(R"({"topic":"gateway","event":")") + std::string(event) + R"(","payload":)" +
         std::string(payload) + R"(,"ref":null})";
}

constexpr const char* kInitPayload =
    R"({"interface":{"ipv4":"100.115.164.78","ipv6":"fd00:2021:1111::2c:f6ab"},
        "config":{"ipv4_masquerade_enabled":true,"ipv6_masquerade_enabled":true}})";

struct Harness {
  crypto::ChaChaRng rng = seeded_rng();
  Channel channel;
  Instant now = instant_from_nanos(1'000'000'000'000);
  std::vector<std::string> sent;  // every frame ever transmitted

  explicit Harness(ChannelConfig config = test_config()) : channel(std::move(config), rng) {}

  std::vector<std::string> transmits() {
    std::vector<std::string> out;
    while (auto frame = channel.poll_transmit()) {
      sent.push_back(*frame);
      out.push_back(std::move(*frame));
    }
    return out;
  }
  std::vector<Event> events() {
    std::vector<Event> out;
    while (auto e = channel.poll_event())
      out.push_back(std::move(*e));
    return out;
  }
  void advance(Duration d) {
    now += d;
    channel.handle_timeout(now);
  }
  // Connects, answers the join, and returns the join ref.
  std::uint64_t connect_and_join() {
    channel.connect(now);
    channel.handle_connected(now);
    const auto frames = transmits();
    EXPECT_EQ(frames.size(), 1u);
    const auto join = parse_frame(frames.at(0));
    EXPECT_EQ(join->event, "phx_join");
    channel.handle_message(reply("gateway", *join->ref), now);
    return *join->ref;
  }
};

template <class T>
bool has(const std::vector<Event>& events) {
  return std::any_of(events.begin(), events.end(),
                     [](const Event& e) { return std::holds_alternative<T>(e); });
}

template <class T>
const T& first(const std::vector<Event>& events) {
  for (const auto& e : events)
    if (const auto* t = std::get_if<T>(&e)) return *t;
  ADD_FAILURE() << "event not found";
  static const T none{};
  return none;
}

TEST(Channel, ConnectJoinAndInit) {
  Harness h;
  EXPECT_FALSE(h.channel.poll_timeout().has_value());
  h.channel.connect(h.now);
  auto events = h.events();
  ASSERT_EQ(events.size(), 1u);
  const auto& connect = std::get<ConnectNow>(events[0]);
  EXPECT_EQ(connect.url, kUrl);
  EXPECT_EQ(connect.headers,
            (std::vector<Header>{{"User-Agent", "Ubuntu/22.4.0 connlib/1.4.16 (x86_64; 6.8.0)"}}));
  EXPECT_TRUE(h.transmits().empty());

  h.channel.handle_connected(h.now);
  EXPECT_EQ(h.transmits(),
            (std::vector<std::string>{
                R"({"topic":"gateway","event":"phx_join","payload":null,"ref":0})"}));
  EXPECT_EQ(h.channel.state(), Channel::State::joining);

  h.channel.handle_message(reply("gateway", 0), h.now);
  EXPECT_TRUE(has<Joined>(h.events()));
  EXPECT_EQ(h.channel.state(), Channel::State::joined);

  h.channel.handle_message(push("init", kInitPayload), h.now);
  events = h.events();
  ASSERT_EQ(events.size(), 1u);
  const auto& init = std::get<Init>(std::get<IngressMessage>(events[0]));
  EXPECT_EQ(init.interface.ipv4.to_string(), "100.115.164.78");
}

TEST(Channel, NothingButTheJoinIsSentBeforeTheJoinReply) {
  Harness h;
  h.channel.connect(h.now);
  // Messages queued before and during the join wait.
  h.channel.send(FlowAuthorized{"early"}, h.now);
  h.channel.handle_connected(h.now);
  h.channel.send(FlowAuthorized{"during"}, h.now);
  auto frames = h.transmits();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(parse_frame(frames[0])->event, "phx_join");
  // A reply to something else does not release them either.
  h.channel.handle_message(reply("phoenix", 99), h.now);
  h.advance(4s);
  EXPECT_TRUE(h.transmits().empty());

  h.channel.handle_message(reply("gateway", 0), h.now);
  frames = h.transmits();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0],
            R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":"early"},"ref":1})");
  EXPECT_EQ(frames[1],
            R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":"during"},"ref":2})");
}

TEST(Channel, HeartbeatAfterThirtySecondsWithoutSending) {
  Harness h;
  h.connect_and_join();
  h.events();
  const Instant joined = h.now;
  EXPECT_EQ(h.channel.poll_timeout(), joined + 30s);
  h.advance(30s - 1ns);
  EXPECT_TRUE(h.transmits().empty());
  h.advance(1ns);
  EXPECT_EQ(h.transmits(), (std::vector<std::string>{
                               R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":1})"}));
  EXPECT_EQ(h.channel.poll_timeout(), h.now + 30s);

  // Any frame sent resets the timer.
  h.advance(20s);
  h.channel.send(BroadcastIceCandidates{{}, {"candidate:1 1 udp 1 1.2.3.4 5 typ host"}}, h.now);
  EXPECT_EQ(h.transmits().size(), 1u);
  EXPECT_EQ(h.channel.poll_timeout(), h.now + 30s);
  h.advance(29s);
  EXPECT_TRUE(h.transmits().empty());
  h.advance(1s);
  const auto frames = h.transmits();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(parse_frame(frames[0])->topic, "phoenix");
  EXPECT_EQ(parse_frame(frames[0])->ref, 3u);
  // The heartbeat reply is just logged.
  h.channel.handle_message(reply("phoenix", 3), h.now);
  EXPECT_TRUE(h.events().empty());
}

TEST(Channel, JoinTimesOutAfterFiveSeconds) {
  Harness h;
  h.channel.connect(h.now);
  h.channel.handle_connected(h.now);
  h.transmits();
  h.events();
  EXPECT_EQ(h.channel.poll_timeout(), h.now + 5s);
  h.advance(5s - 1ns);
  EXPECT_EQ(h.channel.state(), Channel::State::joining);
  h.advance(1ns);
  const auto events = h.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(std::get<ReconnectAfter>(events[0]).delay, Duration::zero());
  EXPECT_NE(std::get<ReconnectAfter>(events[0]).reason.find("timed out"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<ConnectNow>(events[1]));
  EXPECT_EQ(h.channel.state(), Channel::State::connecting);
}

TEST(Channel, ReconnectBackoffScheduleAndGivingUp) {
  Harness h;
  h.channel.connect(h.now);
  h.events();
  const Instant first_failure = h.now;
  const TransportError refused{TransportErrorKind::connect, 0, "connection refused"};

  // First failure: reconnect at once.
  h.channel.handle_transport_error(refused, h.now);
  auto events = h.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(std::get<ReconnectAfter>(events[0]).delay, Duration::zero());
  EXPECT_TRUE(std::holds_alternative<ConnectNow>(events[1]));

  // Then delays within [0.5, 1.5] × 0.5 s, 0.75 s, 1.125 s, … capped at 60 s.
  double current = 0.5;
  int attempts = 0;
  while (true) {
    h.channel.handle_transport_error(refused, h.now);
    events = h.events();
    ASSERT_FALSE(events.empty());
    if (const auto* fatal = std::get_if<Fatal>(&events[0])) {
      EXPECT_EQ(fatal->reason, FatalReason::retries_exhausted);
      EXPECT_NE(fatal->message.find("connection refused"), std::string::npos);
      EXPECT_NE(fatal->message.find("15 minutes"), std::string::npos);
      break;
    }
    const auto delay = std::get<ReconnectAfter>(events[0]).delay;
    EXPECT_GE(to_millis(delay), current * 500 - 1);
    EXPECT_LE(to_millis(delay), current * 1500 + 1);
    current = current >= 40 ? 60 : current * 1.5;
    EXPECT_EQ(h.channel.poll_timeout(), h.now + delay);
    h.advance(delay - 1ns);
    EXPECT_TRUE(h.events().empty());
    h.advance(1ns);
    events = h.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<ConnectNow>(events[0]));
    ++attempts;
  }
  EXPECT_GT(attempts, 15);
  EXPECT_LE(h.now - first_failure, 15min);
  EXPECT_GT(h.now - first_failure, 13min);
  EXPECT_EQ(h.channel.state(), Channel::State::failed);
}

TEST(Channel, SuccessfulUpgradeResetsTheBackoff) {
  Harness h;
  h.channel.connect(h.now);
  const TransportError down{TransportErrorKind::http, 502, "Bad Gateway"};
  h.channel.handle_transport_error(down, h.now);  // immediate
  h.channel.handle_transport_error(down, h.now);  // delayed
  h.events();
  h.advance(*h.channel.poll_timeout() - h.now);
  h.channel.handle_connected(h.now);  // no join reply needed
  h.events();
  h.channel.handle_transport_error({TransportErrorKind::closed, 0, "eof"}, h.now);
  const auto events = h.events();
  EXPECT_EQ(std::get<ReconnectAfter>(events.at(0)).delay, Duration::zero());
}

TEST(Channel, FourHundredsOnTheUpgradeAreFatal) {
  for (int status : {400, 401, 403, 404, 422, 429, 499}) {
    Harness h;
    h.channel.connect(h.now);
    h.events();
    h.channel.handle_transport_error({TransportErrorKind::http, status, "Invalid token"}, h.now);
    const auto events = h.events();
    ASSERT_EQ(events.size(), 1u) << status;
    const auto& fatal = std::get<Fatal>(events[0]);
    EXPECT_EQ(fatal.reason, FatalReason::upgrade_rejected);
    EXPECT_EQ(fatal.http_status, status);
    EXPECT_NE(fatal.message.find("HTTP " + std::to_string(status)), std::string::npos);
    EXPECT_NE(fatal.message.find("Invalid token"), std::string::npos);
    EXPECT_EQ(fatal.is_authentication_error(), status == 401 || status == 403);
    EXPECT_EQ(h.channel.state(), Channel::State::failed);
    EXPECT_FALSE(h.channel.poll_timeout().has_value());
  }
  for (int status : {301, 500, 502, 503}) {
    Harness h;
    h.channel.connect(h.now);
    h.events();
    h.channel.handle_transport_error({TransportErrorKind::http, status, ""}, h.now);
    EXPECT_TRUE(has<ReconnectAfter>(h.events())) << status;
  }
}

TEST(Channel, CertificateFailureIsFatalOtherTlsErrorsAreNot) {
  Harness h;
  h.channel.connect(h.now);
  h.channel.handle_transport_error({TransportErrorKind::tls, 0, "handshake failure"}, h.now);
  EXPECT_TRUE(has<ReconnectAfter>(h.events()));
  h.channel.handle_transport_error({TransportErrorKind::certificate, 0, "self-signed"}, h.now);
  const auto events = h.events();
  EXPECT_EQ(first<Fatal>(events).reason, FatalReason::certificate);
  EXPECT_NE(first<Fatal>(events).message.find("self-signed"), std::string::npos);
}

TEST(Channel, JoinErrorIsFatal) {
  Harness h;
  h.channel.connect(h.now);
  h.channel.handle_connected(h.now);
  h.transmits();
  h.events();
  h.channel.handle_message(reply("gateway", 0, "error", R"({"reason":"disabled"})"), h.now);
  const auto events = h.events();
  const auto& fatal = first<Fatal>(events);
  EXPECT_EQ(fatal.reason, FatalReason::login_failed);
  EXPECT_NE(fatal.message.find("disabled"), std::string::npos);
}

TEST(Channel, ErrorRepliesToOtherRequestsAreOnlyLogged) {
  Harness h;
  h.connect_and_join();
  h.events();
  h.channel.handle_message(reply("gateway", 5, "error", R"({"reason":"invalid_ref"})"), h.now);
  h.channel.handle_message(reply("gateway", 6, "error", R"({"reason":"unmatched topic"})"), h.now);
  // A reply without a ref is discarded.
  h.channel.handle_message(
      R"({"topic":"gateway","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":null})",
      h.now);
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.channel.state(), Channel::State::joined);
}

TEST(Channel, TokenExpiredIsFatal) {
  Harness h;
  h.connect_and_join();
  h.events();
  h.channel.handle_message(
      R"({"event":"disconnect","ref":null,"topic":"client","payload":{"reason":"token_expired"}})",
      h.now);
  const auto events = h.events();
  EXPECT_EQ(first<Fatal>(events).reason, FatalReason::token_expired);
  EXPECT_TRUE(first<Fatal>(events).is_authentication_error());
}

TEST(Channel, PhxCloseAndTransportCloseReconnect) {
  Harness h;
  h.connect_and_join();
  h.events();
  h.channel.handle_message(R"({"topic":"gateway","event":"phx_close","payload":{},"ref":null})",
                           h.now);
  auto events = h.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<ReconnectAfter>(events[0]));
  EXPECT_TRUE(std::holds_alternative<ConnectNow>(events[1]));
  // Late frames from the dropped socket are ignored.
  h.channel.handle_message(push("init", kInitPayload), h.now);
  EXPECT_TRUE(h.events().empty());

  // The new connection joins again; the ref counter continues.
  h.channel.handle_connected(h.now);
  const auto frames = h.transmits();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], R"({"topic":"gateway","event":"phx_join","payload":null,"ref":1})");
}

TEST(Channel, PhxErrorRejoinsOnTheSameSocket) {
  Harness h;
  h.connect_and_join();
  h.events();
  h.channel.send(FlowAuthorized{"queued-after-error"}, h.now);
  h.transmits();  // sent (ref 1)

  h.channel.handle_message(R"({"topic":"gateway","event":"phx_error","payload":{},"ref":null})",
                           h.now);
  EXPECT_TRUE(h.events().empty());  // no reconnect
  EXPECT_EQ(h.channel.state(), Channel::State::joining);
  h.channel.send(FlowAuthorized{"waits"}, h.now);
  auto frames = h.transmits();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], R"({"topic":"gateway","event":"phx_join","payload":null,"ref":2})");
  h.channel.handle_message(reply("gateway", 2), h.now);
  EXPECT_TRUE(has<Joined>(h.events()));
  frames = h.transmits();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(parse_frame(frames[0])->ref, 3u);

  // A second phx_error soon after waits (0.25–0.75 s) before rejoining; heartbeats may still go.
  h.advance(1s);
  h.channel.handle_message(R"({"topic":"gateway","event":"phx_error","payload":{},"ref":null})",
                           h.now);
  EXPECT_EQ(h.channel.state(), Channel::State::rejoin_wait);
  EXPECT_TRUE(h.transmits().empty());
  const auto wake = *h.channel.poll_timeout();
  EXPECT_GE(wake - h.now, 250ms);
  EXPECT_LE(wake - h.now, 750ms);
  h.advance(wake - h.now);
  frames = h.transmits();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(parse_frame(frames[0])->event, "phx_join");

  // phx_error on another topic is ignored.
  h.channel.handle_message(reply("gateway", *parse_frame(frames[0])->ref), h.now);
  h.events();
  h.channel.handle_message(R"({"topic":"phoenix","event":"phx_error","payload":{},"ref":null})",
                           h.now);
  EXPECT_EQ(h.channel.state(), Channel::State::joined);
}

TEST(Channel, UnknownAndMalformedEventsAreIgnored) {
  Harness h;
  h.connect_and_join();
  h.events();
  h.channel.handle_message(push("future_event", R"({"x":1})"), h.now);
  h.channel.handle_message(push("init", R"({"interface":{}})"), h.now);
  h.channel.handle_message("not json", h.now);
  h.channel.handle_message("", h.now);
  h.channel.handle_message(R"([1,2,3])", h.now);
  h.channel.handle_message(push("disconnect", R"({"reason":"something_else"})"), h.now);
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.channel.state(), Channel::State::joined);
}

TEST(Channel, SendQueueIsBoundedDropsTheOldestAndSurvivesReconnects) {
  auto config = test_config();
  config.max_queued_messages = 3;
  Harness h(config);
  h.channel.connect(h.now);
  for (int i = 0; i < 5; ++i)
    h.channel.send(FlowAuthorized{"m" + std::to_string(i)}, h.now);
  EXPECT_EQ(h.channel.queued_messages(), 3u);
  EXPECT_EQ(h.channel.dropped_messages(), 2u);

  // A failed attempt and a reconnect keep the queue.
  h.channel.handle_transport_error({TransportErrorKind::connect, 0, "refused"}, h.now);
  h.channel.handle_connected(h.now);
  h.transmits();
  h.channel.handle_message(reply("gateway", 0), h.now);
  const auto frames = h.transmits();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(parse_frame(frames[0])->payload.at("ref"), "m2");
  EXPECT_EQ(parse_frame(frames[2])->payload.at("ref"), "m4");
}

TEST(Channel, SendQueueIsBoundedInBytes) {
  auto config = test_config();
  config.max_queued_bytes = 100;
  Harness h(config);
  h.channel.send(FlowAuthorized{std::string(45, 'a')}, h.now);
  h.channel.send(FlowAuthorized{std::string(45, 'b')}, h.now);  // 2 × 55 bytes > 100
  EXPECT_EQ(h.channel.queued_messages(), 1u);
  h.channel.send(FlowAuthorized{std::string(200, 'c')}, h.now);  // never fits
  EXPECT_EQ(h.channel.queued_messages(), 1u);
  EXPECT_EQ(h.channel.dropped_messages(), 2u);
}

TEST(Channel, GracefulClose) {
  Harness h;
  h.connect_and_join();
  h.events();
  h.channel.close(h.now);
  EXPECT_TRUE(std::holds_alternative<CloseConnection>(h.events().at(0)));
  EXPECT_TRUE(h.transmits().empty());
  h.channel.handle_transport_error({TransportErrorKind::closed, 0, "closed"}, h.now);
  EXPECT_TRUE(std::holds_alternative<Closed>(h.events().at(0)));
  EXPECT_EQ(h.channel.state(), Channel::State::closed);
  h.channel.connect(h.now);
  EXPECT_TRUE(h.events().empty());

  Harness waiting;
  waiting.channel.connect(waiting.now);
  waiting.events();
  waiting.channel.close(waiting.now);
  EXPECT_TRUE(std::holds_alternative<Closed>(waiting.events().at(0)));
}

TEST(Channel, ForcedReconnectClearsTheBackoff) {
  Harness h;
  h.channel.connect(h.now);
  h.channel.handle_transport_error({TransportErrorKind::connect, 0, "x"}, h.now);
  h.channel.handle_transport_error({TransportErrorKind::connect, 0, "x"}, h.now);
  h.events();
  EXPECT_EQ(h.channel.state(), Channel::State::waiting_to_connect);
  h.channel.connect(h.now);
  EXPECT_TRUE(std::holds_alternative<ConnectNow>(h.events().at(0)));
  h.channel.connect(h.now);  // already connecting: no-op
  EXPECT_TRUE(h.events().empty());
  h.channel.handle_transport_error({TransportErrorKind::connect, 0, "x"}, h.now);
  EXPECT_EQ(std::get<ReconnectAfter>(h.events().at(0)).delay, Duration::zero());

  // While joined: drops the socket and connects again at once.
  h.channel.handle_connected(h.now);
  const auto join = h.transmits();
  h.channel.handle_message(reply("gateway", *parse_frame(join.at(0))->ref), h.now);
  h.events();
  h.channel.connect(h.now);
  EXPECT_TRUE(std::holds_alternative<ConnectNow>(h.events().at(0)));
}

TEST(Channel, StaleTransportInputIsIgnored) {
  Harness h;
  h.channel.handle_connected(h.now);
  h.channel.handle_message(push("init", kInitPayload), h.now);
  h.channel.handle_transport_error({TransportErrorKind::closed, 0, ""}, h.now);
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.channel.state(), Channel::State::idle);
}

TEST(Channel, TheTokenNeverReachesTheLogs) {
  std::vector<std::string> lines;
  log::set_filter(log::Filter(log::Level::trace));
  log::set_writer([&](log::Level, std::string_view target, std::string_view message) {
    lines.push_back(std::string(target) + ": " + std::string(message));
  });
  {
    Harness h;
    h.connect_and_join();
    h.channel.handle_message(push("init", kInitPayload), h.now);
    h.channel.send(FlowAuthorized{"r"}, h.now);
    h.transmits();
    h.advance(31s);
    h.transmits();
    h.channel.handle_transport_error({TransportErrorKind::closed, 0, "eof"}, h.now);
    h.channel.handle_transport_error({TransportErrorKind::http, 401, "Invalid token"}, h.now);
    h.events();
  }
  log::set_writer({});
  log::set_filter(log::Filter());
  EXPECT_FALSE(lines.empty());
  for (const auto& line : lines) {
    EXPECT_EQ(line.find("SECRETTOKEN"), std::string::npos) << line;
  }
  EXPECT_NE(std::string(kToken).find("SECRETTOKEN"), std::string::npos);
}

}  // namespace
}  // namespace fz::portal
