// Unit tests of the dev portal's sans-IO core: upgrade checks, the gateway and client channels
// against the real frame shapes (tests/unit/portal/frames.jsonl), flow credentials (§6.3),
// control operations, config validation, redaction.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "base/encoding.hpp"
#include "crypto/rng.hpp"
#include "dev-portal/config.hpp"
#include "dev-portal/control.hpp"
#include "dev-portal/credentials.hpp"
#include "dev-portal/portal.hpp"
#include "portal/frame.hpp"
#include "portal/messages.hpp"

namespace fz::devportal {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Fixtures

const Json& fixture(std::string_view event_label, std::string_view direction = "ingress",
                    int nth = 0) {
  static std::vector<Json> lines = [] {
    std::vector<Json> out;
    std::ifstream in(FZ_PORTAL_FIXTURES);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(Json::parse(line));
    return out;
  }();
  for (const auto& l : lines) {
    if (l["event"] == event_label && l["direction"] == direction && nth-- == 0) return l["message"];
  }
  ADD_FAILURE() << "no fixture " << event_label;
  static const Json kNull;
  return kNull;
}

std::set<std::string> keys(const Json& object) {
  std::set<std::string> out;
  for (const auto& [k, v] : object.items())
    out.insert(k);
  return out;
}

constexpr const char* kSite = "bf56f32d-7b2c-4f5d-a784-788977d014a4";
constexpr const char* kSite2 = "eb94482a-94f4-47cb-8127-14fb3afa5516";
constexpr const char* kClient = "3abd725a-733b-4801-ac16-72f26cd98a24";
constexpr const char* kCidr = "73037362-715d-4a83-a749-f18eadd970e6";
constexpr const char* kDns = "03000143-e25e-45c7-aafb-144990e57dcd";
constexpr const char* kOtherSite = "c7793628-8579-465b-83e3-1a5d4af4db3b";
constexpr const char* kRelay = "0a133356-7a9e-4b9a-b413-0d95a5720fd8";
constexpr const char* kClientKey = "fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8=";
constexpr const char* kClientKeyQuery = "fiAjSBWDgQfD1CFJkTwOf4zg%2B1QhH0eTT%2BoLaVIMpH8%3D";
constexpr const char* kGatewayKey = "uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY=";
constexpr const char* kGatewayKeyQuery = "uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY%3D";
constexpr const char* kGatewayUa = "Ubuntu/22.4.0 connlib/1.4.16 (x86_64; 6.8.0)";
constexpr const char* kClientUa = "Ubuntu/22.4.0 connlib/1.5.3 (x86_64; 6.8.0)";
constexpr std::int64_t kStartWall = 1700000000;

Json test_config() {
  return Json::parse(R"({
    "account": {"id": "24eb631e-c529-4182-a746-d99ee66f7426", "slug": "acme"},
    "sites": [{"id": "bf56f32d-7b2c-4f5d-a784-788977d014a4", "name": "test", "tokens": ["gw-token"]},
              {"id": "eb94482a-94f4-47cb-8127-14fb3afa5516", "name": "empty", "tokens": ["gw-token-2"]}],
    "clients": [{"id": "3abd725a-733b-4801-ac16-72f26cd98a24", "name": "c1", "token": "client-token",
                 "ipv4": "100.93.74.51", "ipv6": "fd00:2021:1111::f:853b",
                 "psk_base": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}],
    "resources": [
      {"id": "73037362-715d-4a83-a749-f18eadd970e6", "type": "cidr", "address": "172.20.1.1/16",
       "name": "MyCorp Network", "site_ids": ["bf56f32d-7b2c-4f5d-a784-788977d014a4"],
       "filters": [{"protocol": "tcp", "ports": ["80", "433"]}, {"protocol": "udp", "ports": ["100-200"]}, {"protocol": "icmp"}]},
      {"id": "03000143-e25e-45c7-aafb-144990e57dcd", "type": "dns", "address": "*.httpbin",
       "site_ids": ["bf56f32d-7b2c-4f5d-a784-788977d014a4"]},
      {"id": "c7793628-8579-465b-83e3-1a5d4af4db3b", "type": "cidr", "address": "10.9.0.0/24",
       "site_ids": ["eb94482a-94f4-47cb-8127-14fb3afa5516"]}
    ],
    "policies": [
      {"id": "11111111-1111-4111-8111-111111111111", "client_id": "3abd725a-733b-4801-ac16-72f26cd98a24",
       "resource_id": "73037362-715d-4a83-a749-f18eadd970e6"},
      {"id": "22222222-2222-4222-8222-222222222222", "client_id": "3abd725a-733b-4801-ac16-72f26cd98a24",
       "resource_id": "03000143-e25e-45c7-aafb-144990e57dcd", "expires_in": 3600},
      {"id": "33333333-3333-4333-8333-333333333333", "client_id": "3abd725a-733b-4801-ac16-72f26cd98a24",
       "resource_id": "c7793628-8579-465b-83e3-1a5d4af4db3b"}
    ],
    "relays": [{"id": "0a133356-7a9e-4b9a-b413-0d95a5720fd8",
                "addresses": ["[2001:db8::101]:3478", "198.51.100.101:3478"],
                "secret": "0123456789abcdef"}]
  })");
}

struct Harness {
  Harness() : Harness(test_config()) {}
  explicit Harness(const Json& config_json)
      : rng(std::array<std::uint8_t, 32>{}),
        portal(*parse_config(config_json), rng, t0, unix_from_seconds(kStartWall)) {}

  std::string gateway_target(std::string_view token = "gw-token",
                             std::string_view external_id = "gw-ext-1",
                             std::string_view key = kGatewayKeyQuery) {
    return "/gateway/websocket?token=" + std::string(token) +
           "&external_id=" + std::string(external_id) + "&name=gw-1&public_key=" + std::string(key);
  }
  std::string client_target() {
    return "/client/websocket?token=client-token&external_id=c-ext&name=c1&public_key=" +
           std::string(kClientKeyQuery);
  }

  SocketId accept(const std::string& target, std::string_view ua) {
    auto outcome = portal.handle_upgrade(target, ua, now);
    EXPECT_TRUE(std::holds_alternative<SocketId>(outcome));
    return std::get<SocketId>(outcome);
  }
  UpgradeRejected refuse(const std::string& target, std::string_view ua = kGatewayUa) {
    auto outcome = portal.handle_upgrade(target, ua, now);
    EXPECT_TRUE(std::holds_alternative<UpgradeRejected>(outcome));
    if (auto* r = std::get_if<UpgradeRejected>(&outcome)) return *r;
    return {};
  }

  // Drains the outputs into `sent` / `closed`.
  void drain() {
    while (auto out = portal.poll_output()) {
      if (auto* s = std::get_if<SendFrame>(&*out)) {
        sent[s->socket].push_back(s->text);
      } else {
        closed.insert(std::get<CloseSocket>(*out).socket);
      }
    }
  }
  void frame(SocketId socket, const std::string& text) {
    portal.handle_frame(socket, text, now);
    drain();
  }
  std::vector<std::string> take(SocketId socket) {
    auto out = std::move(sent[socket]);
    sent[socket].clear();
    return out;
  }
  SocketId joined_gateway(std::string_view key = kGatewayKeyQuery,
                          std::string_view external_id = "gw-ext-1") {
    const SocketId id = accept(gateway_target("gw-token", external_id, key), kGatewayUa);
    frame(id, R"({"topic":"gateway","event":"phx_join","payload":null,"ref":0})");
    EXPECT_EQ(take(id).size(), 2u);
    return id;
  }
  SocketId joined_client() {
    const SocketId id = accept(client_target(), kClientUa);
    frame(id, R"({"topic":"client","event":"phx_join","payload":null,"ref":0})");
    EXPECT_EQ(take(id).size(), 2u);
    return id;
  }

  crypto::ChaChaRng rng;
  Instant t0 = instant_from_nanos(1'000'000'000);
  Instant now = t0;
  DevPortal portal;
  std::map<SocketId, std::vector<std::string>> sent;
  std::set<SocketId> closed;
};

// ---------------------------------------------------------------------------------------------
// Credentials (client-protocol.md §6.3)

TEST(Credentials, Base32MatchesRfc4648) {
  auto b32 = [](std::string_view s) {
    return base32_lower_nopad(Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  };
  EXPECT_EQ(b32(""), "");
  EXPECT_EQ(b32("f"), "my");
  EXPECT_EQ(b32("fo"), "mzxq");
  EXPECT_EQ(b32("foo"), "mzxw6");
  EXPECT_EQ(b32("foob"), "mzxw6yq");
  EXPECT_EQ(b32("fooba"), "mzxw6ytb");
  EXPECT_EQ(b32("foobar"), "mzxw6ytboi");
}

TEST(Credentials, IceCredentialsFromTheWorkedExample) {
  const auto creds = derive_ice_credentials(kClient, kClientKey,
                                            "d263d490-a0bb-452a-8990-01d27a1f1144", kGatewayKey);
  EXPECT_EQ(creds.client.username, "sim3");
  EXPECT_EQ(creds.client.password, "ceqc5rlg6ueluoxqoa56ze");
  EXPECT_EQ(creds.gateway.username, "bmet");
  EXPECT_EQ(creds.gateway.password, "g6zhuorrjh2c2cmvvuepsa");
}

TEST(Credentials, PskFromTheWorkedExample) {
  PskBase client{}, gateway{};
  for (int i = 0; i < 32; ++i) {
    client[i] = static_cast<std::uint8_t>(i);
    gateway[i] = static_cast<std::uint8_t>(0x20 + i);
  }
  EXPECT_EQ(derive_psk(client, gateway, kClient, kClientKey, "d263d490-a0bb-452a-8990-01d27a1f1144",
                       kGatewayKey),
            "AYlDZtTGEucn4Vzjdi9A2kXpjO4LJUqZNAssv/JqYRA=");
}

TEST(Credentials, RelayCredentials) {
  const auto creds = relay_credentials(kClientKey, "0123456789abcdef", 1719367575);
  EXPECT_EQ(creds.username, "1719367575:vWv9RfZkTOa8lNJGVhSPK65JoOhjM2b5vyNIV8CU2zE");
  EXPECT_EQ(creds.password, "LPvoyMEn1tW4QeO6u+U1TF5bhVG/iP6vT+1gWZ7U468");
  // The Firezone relay's own test vector.
  EXPECT_EQ(relay_password("1cab293a-4032-46f4-862a-40e5d174b0d2", "uvdgKvS9GXYZ_vmv", 1685984278),
            "6xUIoZ+QvxKhRasLifwfRkMXl+ETLJUsFkHlXjlHAkg");
}

// ---------------------------------------------------------------------------------------------
// Upgrade checks (portal-protocol.md §1.6)

TEST(Upgrade, TokenChecks) {
  Harness h;
  auto r = h.refuse("/gateway/websocket?external_id=x&name=n&public_key=" +
                    std::string(kGatewayKeyQuery));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "Missing token");
  r = h.refuse(h.gateway_target("nope"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "Invalid token");
  // A client token does not open a gateway socket, and vice versa.
  r = h.refuse(h.gateway_target("client-token"));
  EXPECT_EQ(r.status, 401);
  r = h.refuse(
      "/client/websocket?token=gw-token&external_id=x&public_key=" + std::string(kClientKeyQuery),
      kClientUa);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(h.refuse("/relay/websocket?token=gw-token").status, 404);
}

TEST(Upgrade, ParameterChecksGive422) {
  Harness h;
  auto r = h.refuse("/gateway/websocket?token=gw-token&name=n&public_key=" +
                    std::string(kGatewayKeyQuery));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, "Invalid or missing connection parameters: external_id: can't be blank");
  r = h.refuse("/gateway/websocket?token=gw-token&external_id=e&name=n");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, "Invalid or missing connection parameters: public_key: can't be blank");
  // 43 characters.
  r = h.refuse(h.gateway_target("gw-token", "e", "uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body,
            "Invalid or missing connection parameters: public_key: should be 44 character(s)");
  // An unescaped `+` decodes as a space: 44 characters, but not base64.
  r = h.refuse(h.gateway_target("gw-token", "e", "fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8="));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(
      r.body,
      "Invalid or missing connection parameters: public_key: must be a base64-encoded string");
  // The User-Agent needs a connlib/<semver> token.
  r = h.refuse(h.gateway_target(), "Ubuntu/22.4.0 (x86_64)");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, "Invalid or missing connection parameters: last_seen_user_agent: is invalid");
  r = h.refuse(h.gateway_target(), "Ubuntu/22.4.0 connlib/1.4");
  EXPECT_EQ(r.status, 422);
  // Several problems: one per line.
  r = h.refuse("/gateway/websocket?token=gw-token", "curl/8");
  EXPECT_EQ(r.body,
            "Invalid or missing connection parameters: external_id: can't be blank\n"
            "public_key: can't be blank\nlast_seen_user_agent: is invalid");
  // Accepted with the right parameters.
  EXPECT_NE(h.accept(h.gateway_target(), kGatewayUa), 0u);
  // The same key for another gateway of the account is taken.
  r = h.refuse(h.gateway_target("gw-token", "gw-ext-2"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, "Invalid or missing connection parameters: public_key: has already been taken");
}

TEST(Upgrade, VersionParsing) {
  EXPECT_EQ(connlib_version("iOS/12.7 (iPhone) connlib/1.3.0"), "1.3.0");
  EXPECT_EQ(connlib_version("connlib/1.4.16"), "1.4.16");
  EXPECT_EQ(connlib_version("Linux/x xconnlib/1.4.16"), std::nullopt);
  EXPECT_EQ(parse_version("1.10.2"), (Version{1, 10, 2}));
  EXPECT_EQ(parse_version("1.4"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Gateway channel

TEST(GatewayChannel, JoinReplyThenInitWithTheRealShapes) {
  Harness h;
  const SocketId gw = h.accept(h.gateway_target(), kGatewayUa);
  h.frame(gw, portal::dump_json(fixture("phx_join", "egress", 1)));
  const auto frames = h.take(gw);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(Json::parse(frames[0]), fixture("phx_reply (join ok)", "ingress", 1));
  EXPECT_EQ(
      frames[0],
      R"({"topic":"gateway","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":0})");

  const Json init = Json::parse(frames[1]);
  EXPECT_EQ(keys(init), keys(fixture("init")));
  EXPECT_EQ(init["topic"], "gateway");
  EXPECT_EQ(init["event"], "init");
  EXPECT_TRUE(init["ref"].is_null());
  const Json& payload = init["payload"];
  EXPECT_EQ(keys(payload), (std::set<std::string>{"interface", "config", "relays", "account_slug",
                                                  "authorizations"}));
  EXPECT_EQ(keys(payload["interface"]), keys(fixture("init")["payload"]["interface"]));
  EXPECT_EQ(payload["config"], fixture("init")["payload"]["config"]);
  EXPECT_EQ(payload["account_slug"], "acme");
  EXPECT_EQ(payload["authorizations"], Json::array());
  // One entry per family, IPv4 first, same id; Firezone credentials salted with the gateway key.
  ASSERT_EQ(payload["relays"].size(), 2u);
  const Json& fixture_relay = fixture("relays_presence")["payload"]["connected"][0];
  const std::int64_t expires = kStartWall + 90LL * 24 * 3600;
  const auto creds = relay_credentials(kGatewayKey, "0123456789abcdef", expires);
  EXPECT_EQ(keys(payload["relays"][0]), keys(fixture_relay));
  EXPECT_EQ(payload["relays"][0], (Json{{"id", kRelay},
                                        {"type", "turn"},
                                        {"addr", "198.51.100.101:3478"},
                                        {"username", creds.username},
                                        {"password", creds.password},
                                        {"expires_at", expires}}));
  EXPECT_EQ(payload["relays"][1]["addr"], "[2001:db8::101]:3478");
  // Our own gateway codec accepts it.
  auto decoded = portal::decode_ingress("init", payload);
  ASSERT_TRUE(decoded);
  const auto& parsed = std::get<portal::Init>(*decoded);
  EXPECT_TRUE(tunnel_v4_range().contains(parsed.interface.ipv4));
  EXPECT_TRUE(tunnel_v6_range().contains(parsed.interface.ipv6));
  EXPECT_EQ(portal::merge_turn_relays(parsed.relays).size(), 1u);
  EXPECT_EQ(h.portal.log().error_count(), 0u);
}

TEST(GatewayChannel, TunnelIpsAndIdAreStablePerExternalId) {
  Harness h;
  const SocketId first = h.joined_gateway();
  const Json g1 = h.portal.gateways_json()[0];
  h.portal.handle_closed(first, h.now);
  const SocketId second = h.joined_gateway();
  EXPECT_NE(first, second);
  const Json all = h.portal.gateways_json();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["id"], g1["id"]);
  EXPECT_EQ(all[0]["ipv4"], g1["ipv4"]);
  EXPECT_EQ(all[0]["ipv6"], g1["ipv6"]);
  EXPECT_EQ(all[0]["id"], h.portal.gateway_id_for(*Uuid::parse(kSite), "gw-ext-1")->to_string());
  // Another external id: another record with other addresses.
  h.joined_gateway("S6REkbStSNMfn8hpLkVxibjR%2Bzz3RO%2FGq40TprHJE2U%3D", "gw-ext-2");
  const Json both = h.portal.gateways_json();
  ASSERT_EQ(both.size(), 2u);
  EXPECT_NE(both[0]["ipv4"], both[1]["ipv4"]);
  EXPECT_NE(both[0]["ipv6"], both[1]["ipv6"]);
}

TEST(GatewayChannel, HeartbeatIsAnswered) {
  Harness h;
  const SocketId gw = h.joined_gateway();
  h.frame(gw, portal::dump_json(fixture("heartbeat", "egress")));
  const auto frames = h.take(gw);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(Json::parse(frames[0]), fixture("phx_reply (heartbeat ok)"));
  EXPECT_EQ(h.portal.log().error_count(), 0u);
}

TEST(GatewayChannel, FrameBeforeTheJoinReplyIsLoggedAsAnError) {
  Harness h;
  const SocketId gw = h.accept(h.gateway_target(), kGatewayUa);
  h.frame(gw, R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":0})");
  EXPECT_EQ(h.portal.log().error_count(), 1u);
  const Json errors = h.portal.log().errors();
  EXPECT_EQ(errors[0]["message"], "`heartbeat` on topic `phoenix` before the join reply");
  EXPECT_EQ(errors[0]["peer"], "gateway");
  // Phoenix still answers the heartbeat; a channel message gets `unmatched topic`.
  EXPECT_EQ(h.take(gw).size(), 1u);
  h.frame(gw, R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":"x"},"ref":1})");
  EXPECT_EQ(h.portal.log().error_count(), 2u);
  const auto frames = h.take(gw);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(
      frames[0],
      R"({"topic":"gateway","event":"phx_reply","payload":{"status":"error","response":{"reason":"unmatched topic"}},"ref":1})");
}

TEST(GatewayChannel, BadFramesAndUnknownEvents) {
  Harness h;
  const SocketId gw = h.joined_gateway();
  h.frame(gw, R"({"topic":"gateway","event":"nonsense","payload":{},"ref":5})");
  auto frames = h.take(gw);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(Json::parse(frames[0])["payload"],
            (Json{{"status", "error"}, {"response", {{"reason", "unknown_message"}}}}));
  h.frame(gw,
          R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":"forged"},"ref":6})");
  frames = h.take(gw);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(Json::parse(frames[0])["payload"]["response"]["reason"], "invalid_ref");
  h.frame(gw, R"({"topic":"room:lobby","event":"phx_join","payload":null,"ref":7})");
  EXPECT_EQ(Json::parse(h.take(gw)[0])["payload"]["response"]["reason"], "unmatched topic");
  EXPECT_EQ(h.portal.log().error_count(), 0u);
  // A frame without `payload` makes Phoenix drop the socket.
  h.frame(gw, R"({"topic":"test","event":"bar","ref":0})");
  EXPECT_TRUE(h.closed.contains(gw));
  EXPECT_EQ(h.portal.log().error_count(), 1u);
}

TEST(GatewayChannel, IdleSocketsCloseAfter37Seconds) {
  Harness h;
  const SocketId gw = h.joined_gateway();
  EXPECT_EQ(h.portal.poll_timeout(), h.now + std::chrono::seconds(37));
  h.now += std::chrono::seconds(20);
  h.frame(gw, R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":1})");
  EXPECT_EQ(h.portal.poll_timeout(), h.now + std::chrono::seconds(37));
  h.now += std::chrono::seconds(37) - std::chrono::nanoseconds(1);
  h.portal.handle_timeout(h.now);
  h.drain();
  EXPECT_FALSE(h.closed.contains(gw));
  h.now += std::chrono::nanoseconds(1);
  h.portal.handle_timeout(h.now);
  h.drain();
  EXPECT_TRUE(h.closed.contains(gw));
  EXPECT_EQ(h.portal.poll_timeout(), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Flows between a client and a gateway

struct FlowSetup : Harness {
  FlowSetup() {
    gw = joined_gateway();
    client = joined_client();
    gateway_id = portal.gateways_json()[0]["id"].get<std::string>();
  }
  Json create_flow(std::string_view resource) {
    frame(client, R"({"topic":"client","event":"create_flow","payload":{"resource_id":")" +
                      std::string(resource) + R"(","connected_gateway_ids":[]},"ref":3})");
    EXPECT_TRUE(take(client).empty());  // never a reply
    auto frames = take(gw);
    EXPECT_EQ(frames.size(), 1u);
    return frames.empty() ? Json() : Json::parse(frames[0]);
  }
  SocketId gw = 0, client = 0;
  std::string gateway_id;
};

TEST(Flow, ClientInitListsAllowedResources) {
  Harness h;
  const SocketId c = h.accept(h.client_target(), kClientUa);
  h.frame(c, R"({"topic":"client","event":"phx_join","payload":null,"ref":0})");
  const auto frames = h.take(c);
  ASSERT_EQ(frames.size(), 2u);
  const Json init = Json::parse(frames[1]);
  EXPECT_EQ(init["event"], "init");
  EXPECT_EQ(init["payload"]["interface"], (Json{{"ipv4", "100.93.74.51"},
                                                {"ipv6", "fd00:2021:1111::f:853b"},
                                                {"upstream_dns", Json::array()},
                                                {"search_domain", nullptr}}));
  const Json& resources = init["payload"]["resources"];
  ASSERT_EQ(resources.size(), 3u);
  // Normalised CIDR, one filter element per port entry (client-protocol.md §3.1).
  EXPECT_EQ(
      resources[0],
      Json::parse(
          R"({"id":"73037362-715d-4a83-a749-f18eadd970e6","type":"cidr","address":"172.20.0.0/16","address_description":null,"name":"MyCorp Network","gateway_groups":[{"id":"bf56f32d-7b2c-4f5d-a784-788977d014a4","name":"test"}],"filters":[{"protocol":"tcp","port_range_start":80,"port_range_end":80},{"protocol":"tcp","port_range_start":433,"port_range_end":433},{"protocol":"udp","port_range_start":100,"port_range_end":200},{"protocol":"icmp"}]})"));
  EXPECT_EQ(resources[1]["ip_stack"], "dual");
  // Client relay credentials: salted with the client key; without a token expiry they expire
  // 90 days after the portal started, so they are the same on every reconnect.
  const std::int64_t expires = kStartWall + 90LL * 24 * 3600;
  const auto creds = relay_credentials(kClientKey, "0123456789abcdef", expires);
  EXPECT_EQ(init["payload"]["relays"][0]["username"], creds.username);
  EXPECT_EQ(init["payload"]["relays"][0]["password"], creds.password);
}

TEST(Flow, CreateFlowAuthorizeFlowFlowCreated) {
  FlowSetup h;
  const Json authorize = h.create_flow(kCidr);
  const Json& shape = fixture("authorize_flow");
  EXPECT_EQ(keys(authorize), keys(shape));
  EXPECT_EQ(authorize["event"], "authorize_flow");
  EXPECT_TRUE(authorize["ref"].is_null());
  // The fixture's extra keys (actor, flow_id) are from older portals; everything else matches.
  auto expected_keys = keys(shape["payload"]);
  expected_keys.erase("actor");
  expected_keys.erase("flow_id");
  const Json& p = authorize["payload"];
  EXPECT_EQ(keys(p), expected_keys);
  EXPECT_EQ(keys(p["client"]), keys(shape["payload"]["client"]));
  EXPECT_EQ(keys(p["resource"]), keys(shape["payload"]["resource"]));
  EXPECT_EQ(p["client"]["id"], kClient);
  EXPECT_EQ(p["client"]["public_key"], kClientKey);
  EXPECT_EQ(p["client"]["ipv4"], "100.93.74.51");
  EXPECT_EQ(p["client"]["ipv6"], "fd00:2021:1111::f:853b");
  EXPECT_TRUE(p["expires_at"].is_null());
  EXPECT_EQ(p["resource"]["address"], "172.20.0.0/16");
  const auto ice = derive_ice_credentials(kClient, kClientKey, h.gateway_id, kGatewayKey);
  EXPECT_EQ(p["client_ice_credentials"],
            (Json{{"username", ice.client.username}, {"password", ice.client.password}}));
  EXPECT_EQ(p["gateway_ice_credentials"],
            (Json{{"username", ice.gateway.username}, {"password", ice.gateway.password}}));
  ASSERT_TRUE(portal::decode_ingress("authorize_flow", p));

  // The gateway answers; the client gets flow_created with the same secrets.
  h.frame(h.gw, R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":)" +
                    p["ref"].dump() + R"(},"ref":1})");
  auto gw_frames = h.take(h.gw);
  ASSERT_EQ(gw_frames.size(), 1u);
  EXPECT_EQ(
      gw_frames[0],
      R"({"topic":"gateway","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":1})");
  auto client_frames = h.take(h.client);
  ASSERT_EQ(client_frames.size(), 1u);
  const Json created = Json::parse(client_frames[0]);
  const Json flow_created_shape = Json::parse(
      R"({"event":"flow_created","ref":null,"topic":"client","payload":{"gateway_group_id":"ef42a07f-87d0-40da-baa7-e881e619ea1c","gateway_id":"d263d490-a0bb-452a-8990-01d27a1f1144","resource_id":"733e8d14-c18d-4931-af30-3639fa09c0c0","preshared_key":"anX2T9RH9mimT5Xd5+HqNGV0bfCodWDHQch1DLiFNls=","client_ice_credentials":{"username":"resc","password":"rqi3ibvfikfaxj3wgp7muh"},"gateway_ice_credentials":{"username":"jbi4","password":"a6oeevhlutevykcifd5r2a"},"gateway_public_key":"uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY=","gateway_ipv4":"100.72.145.83","gateway_ipv6":"fd00:2021:1111::5:bcfd"}})");
  EXPECT_EQ(keys(created), keys(flow_created_shape));
  EXPECT_EQ(keys(created["payload"]), keys(flow_created_shape["payload"]));
  const Json& c = created["payload"];
  EXPECT_EQ(c["resource_id"], kCidr);
  EXPECT_EQ(c["gateway_id"], h.gateway_id);
  EXPECT_EQ(c["gateway_group_id"], kSite);
  EXPECT_EQ(c["gateway_public_key"], kGatewayKey);
  const Json gw_record = h.portal.gateways_json()[0];
  EXPECT_EQ(c["gateway_ipv4"], gw_record["ipv4"]);
  EXPECT_EQ(c["gateway_ipv6"], gw_record["ipv6"]);
  EXPECT_EQ(c["preshared_key"], p["client"]["preshared_key"]);
  EXPECT_EQ(c["client_ice_credentials"], p["client_ice_credentials"]);
  EXPECT_EQ(c["gateway_ice_credentials"], p["gateway_ice_credentials"]);
  EXPECT_EQ(gw_record["authorizations"],
            Json::parse(R"([{"client_id":")" + std::string(kClient) + R"(","resource_id":")" +
                        kCidr + R"(","expires_at":null}])"));

  // A second resource on the same gateway: the same credentials and PSK (connection reuse);
  // its expiry comes from the policy (expires_in 3600).
  const Json second = h.create_flow(kDns);
  EXPECT_EQ(second["payload"]["client"]["preshared_key"], p["client"]["preshared_key"]);
  EXPECT_EQ(second["payload"]["client_ice_credentials"], p["client_ice_credentials"]);
  EXPECT_EQ(second["payload"]["gateway_ice_credentials"], p["gateway_ice_credentials"]);
  EXPECT_EQ(second["payload"]["expires_at"], kStartWall + 3600);
  EXPECT_EQ(
      second["payload"]["resource"],
      Json::parse(
          R"({"id":"03000143-e25e-45c7-aafb-144990e57dcd","type":"dns","address":"*.httpbin","name":"*.httpbin","filters":[]})"));
  // A replayed ref is no longer valid.
  h.frame(h.gw, R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":)" +
                    p["ref"].dump() + R"(},"ref":2})");
  EXPECT_EQ(Json::parse(h.take(h.gw)[0])["payload"]["response"]["reason"], "invalid_ref");
  EXPECT_EQ(h.portal.log().error_count(), 0u);
}

TEST(Flow, CandidatesAreRelayedBothWaysAfterFlowCreated) {
  FlowSetup h;
  const Json authorize = h.create_flow(kCidr);
  const std::string ref = authorize["payload"]["ref"].dump();
  // The gateway sends flow_authorized and then its candidates; the client sees them in order.
  h.frame(h.gw, R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":)" + ref +
                    R"(},"ref":1})");
  Json broadcast = fixture("broadcast_ice_candidates", "egress");
  broadcast["ref"] = 2;
  h.frame(h.gw, broadcast.dump());
  Json invalidated = fixture("broadcast_invalidated_ice_candidates", "egress");
  invalidated["ref"] = 3;
  h.frame(h.gw, invalidated.dump());
  EXPECT_EQ(h.take(h.gw).size(), 1u);  // only the flow_authorized reply
  auto frames = h.take(h.client);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(Json::parse(frames[0])["event"], "flow_created");
  const Json ice = Json::parse(frames[1]);
  EXPECT_EQ(
      ice,
      (Json{{"topic", "client"},
            {"event", "ice_candidates"},
            {"payload",
             {{"gateway_id", h.gateway_id}, {"candidates", broadcast["payload"]["candidates"]}}},
            {"ref", nullptr}}));
  EXPECT_EQ(Json::parse(frames[2])["event"], "invalidate_ice_candidates");

  // Client -> gateway, in the shape the gateway parses (fixture invalidate_ice_candidates).
  h.frame(
      h.client,
      R"({"topic":"client","event":"broadcast_invalidated_ice_candidates","payload":{"gateway_ids":[")" +
          h.gateway_id +
          R"("],"candidates":["candidate:7854631899965427361 1 udp 1694498559 172.28.0.100 47717 typ srflx"]},"ref":4})");
  EXPECT_TRUE(h.take(h.client).empty());
  frames = h.take(h.gw);
  ASSERT_EQ(frames.size(), 1u);
  Json expected = fixture("invalidate_ice_candidates");
  expected["payload"]["client_id"] = kClient;
  EXPECT_EQ(Json::parse(frames[0]), expected);
  // A broadcast without its keys is an unknown message.
  h.frame(
      h.client,
      R"({"topic":"client","event":"broadcast_ice_candidates","payload":{"candidates":[]},"ref":5})");
  EXPECT_EQ(Json::parse(h.take(h.client)[0])["payload"]["response"]["reason"], "unknown_message");
}

TEST(Flow, Failures) {
  FlowSetup h;
  auto failed = [&](std::string_view resource) {
    h.frame(h.client, R"({"topic":"client","event":"create_flow","payload":{"resource_id":")" +
                          std::string(resource) + R"(","connected_gateway_ids":[]},"ref":3})");
    EXPECT_TRUE(h.take(h.gw).empty());
    auto frames = h.take(h.client);
    EXPECT_EQ(frames.size(), 1u);
    return frames.empty() ? Json() : Json::parse(frames[0]);
  };
  // Unknown resource.
  EXPECT_EQ(
      failed("f16ecfa0-a94f-4bfd-a2ef-1cc1f2ef3da3"),
      Json::parse(
          R"({"topic":"client","event":"flow_creation_failed","payload":{"resource_id":"f16ecfa0-a94f-4bfd-a2ef-1cc1f2ef3da3","reason":"not_found"},"ref":null})"));
  // No gateway of that resource's site is connected.
  EXPECT_EQ(failed(kOtherSite)["payload"],
            (Json{{"resource_id", kOtherSite}, {"reason", "offline"}}));
  // The policy expired.
  h.now += std::chrono::seconds(3600);
  EXPECT_EQ(failed(kDns)["payload"], (Json{{"resource_id", kDns},
                                           {"reason", "forbidden"},
                                           {"violated_properties", {"current_utc_datetime"}}}));
  // A missing connected_gateway_ids is an unknown message (replied).
  h.frame(h.client, R"({"topic":"client","event":"create_flow","payload":{"resource_id":")" +
                        std::string(kCidr) + R"("},"ref":9})");
  EXPECT_EQ(Json::parse(h.take(h.client)[0])["payload"]["response"]["reason"], "unknown_message");
}

// ---------------------------------------------------------------------------------------------
// Control operations

TEST(Control, RejectAccessExpiryResourceUpdatedRelaysPresence) {
  FlowSetup h;
  auto control = [&](std::string_view method, std::string_view target, std::string_view body) {
    auto r = handle_control(h.portal, method, target, body, h.now);
    h.drain();
    return r;
  };
  auto r = control(
      "POST", "/reject_access",
      R"({"client_id":")" + std::string(kClient) + R"(","resource_id":")" + kCidr + R"("})");
  EXPECT_EQ(r.status, 200);
  auto frames = h.take(h.gw);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], R"({"topic":"gateway","event":"reject_access","payload":{"client_id":")" +
                           std::string(kClient) + R"(","resource_id":")" + kCidr +
                           R"("},"ref":null})");

  r = control("POST", "/access_authorization_expiry_updated",
              R"({"gateway_id":")" + h.gateway_id + R"(","client_id":")" + kClient +
                  R"(","resource_id":")" + kCidr + R"(","expires_at":1729813989})");
  EXPECT_EQ(r.status, 200);
  const Json expiry = Json::parse(h.take(h.gw)[0]);
  ASSERT_TRUE(portal::decode_ingress("access_authorization_expiry_updated", expiry["payload"]));
  EXPECT_EQ(expiry["payload"]["expires_at"], 1729813989);

  r = control("POST", "/resource_updated",
              R"({"resource_id":")" + std::string(kCidr) +
                  R"(","filters":[{"protocol":"icmp"},{"protocol":"tcp"}]})");
  EXPECT_EQ(r.status, 200);
  const Json updated = Json::parse(h.take(h.gw)[0]);
  EXPECT_EQ(keys(updated["payload"]), keys(fixture("resource_updated")["payload"]));
  EXPECT_EQ(
      updated["payload"]["filters"],
      Json::parse(
          R"([{"protocol":"icmp"},{"protocol":"tcp","port_range_start":0,"port_range_end":65535}])"));
  EXPECT_EQ(Json::parse(h.take(h.client)[0])["event"], "resource_created_or_updated");

  r = control("POST", "/relays_presence",
              R"({"disconnected_ids":[")" + std::string(kRelay) + R"("]})");
  EXPECT_EQ(r.status, 200);
  const Json presence = Json::parse(h.take(h.gw)[0]);
  EXPECT_EQ(keys(presence["payload"]), keys(fixture("relays_presence")["payload"]));
  EXPECT_EQ(presence["payload"]["connected"], Json::array());
  EXPECT_EQ(Json::parse(h.take(h.client)[0])["event"], "relays_presence");
  // Errors name the problem.
  r = control("POST", "/reject_access", R"({"client_id":"x"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(control("GET", "/nothing", "").status, 404);
}

TEST(Control, DisconnectAndTokenRevocation) {
  FlowSetup h;
  auto r = handle_control(h.portal, "POST", "/disconnect",
                          R"({"gateway_id":")" + h.gateway_id + R"(","mode":"phx_close"})", h.now);
  h.drain();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(h.take(h.gw)[0]), fixture("phx_close", "ingress", 1));
  EXPECT_FALSE(h.portal.gateways_json()[0]["joined"].get<bool>());

  r = handle_control(h.portal, "POST", "/revoke_token", R"({"token":"gw-token"})", h.now);
  h.drain();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(h.closed.contains(h.gw));
  EXPECT_FALSE(h.portal.gateways_json()[0]["connected"].get<bool>());
  const auto refused = h.refuse(h.gateway_target());
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.body, "Invalid token");
}

TEST(Control, LegacyRequestConnectionAndAllowAccess) {
  FlowSetup h;
  auto r = handle_control(h.portal, "POST", "/request_connection",
                          R"({"gateway_id":")" + h.gateway_id + R"(","client_id":")" + kClient +
                              R"(","resource_id":")" + kCidr + R"(","expires_at":1719367575})",
                          h.now);
  h.drain();
  ASSERT_EQ(r.status, 200) << r.body;
  const Json request = Json::parse(h.take(h.gw)[0]);
  const Json& shape = fixture("request_connection")["payload"];
  auto expected_keys = keys(shape);
  expected_keys.erase("actor");
  expected_keys.erase("relays");
  EXPECT_EQ(keys(request["payload"]), expected_keys);
  EXPECT_EQ(keys(request["payload"]["client"]), keys(shape["client"]));
  EXPECT_EQ(keys(request["payload"]["client"]["peer"]), keys(shape["client"]["peer"]));
  ASSERT_TRUE(portal::decode_ingress("request_connection", request["payload"]));

  Json ready = fixture("connection_ready", "egress");
  ready["payload"]["ref"] = request["payload"]["ref"];
  h.frame(h.gw, ready.dump());
  EXPECT_EQ(Json::parse(h.take(h.gw)[0])["payload"]["status"], "ok");
  const Json replies = h.portal.legacy_replies_json();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0]["gateway_payload"], ready["payload"]["gateway_payload"]);

  r = handle_control(h.portal, "POST", "/allow_access",
                     R"({"gateway_id":")" + h.gateway_id + R"(","client_id":")" + kClient +
                         R"(","resource_id":")" + kDns +
                         R"(","payload":{"name":"download.httpbin","proxy_ips":["100.96.0.1"]}})",
                     h.now);
  h.drain();
  ASSERT_EQ(r.status, 200) << r.body;
  const Json allow = Json::parse(h.take(h.gw)[0]);
  auto decoded = portal::decode_ingress("allow_access", allow["payload"]);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<portal::AllowAccess>(*decoded).payload->name, "download.httpbin");
}

TEST(Control, PolicyChangesAndReplay) {
  FlowSetup h;
  const Json authorize = h.create_flow(kCidr);
  h.frame(h.gw, R"({"topic":"gateway","event":"flow_authorized","payload":{"ref":)" +
                    authorize["payload"]["ref"].dump() + R"(},"ref":1})");
  h.take(h.gw);
  h.take(h.client);
  auto r = handle_control(h.portal, "DELETE", "/policies/11111111-1111-4111-8111-111111111111", "",
                          h.now);
  h.drain();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(h.take(h.gw)[0])["event"], "reject_access");
  EXPECT_EQ(Json::parse(h.take(h.client)[0]), (Json{{"topic", "client"},
                                                    {"event", "resource_deleted"},
                                                    {"payload", kCidr},
                                                    {"ref", nullptr}}));
  r = handle_control(h.portal, "POST", "/policies",
                     R"({"id":"44444444-4444-4444-8444-444444444444","client_id":")" +
                         std::string(kClient) + R"(","resource_id":")" + kCidr +
                         R"(","expires_at":1800000000})",
                     h.now);
  h.drain();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(h.take(h.client)[0])["event"], "resource_created_or_updated");
  r = handle_control(h.portal, "POST", "/policies", R"({"id":"x"})", h.now);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"policy.id: not a hyphenated UUID"})");

  r = handle_control(h.portal, "POST", "/replay?gateway_id=" + h.gateway_id, "{\"raw\":1}", h.now);
  h.drain();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(h.take(h.gw), std::vector<std::string>{"{\"raw\":1}"});
}

TEST(Log, SecretsAreRedacted) {
  FlowSetup h;
  const Json authorize = h.create_flow(kCidr);
  const std::string psk = authorize["payload"]["client"]["preshared_key"];
  const std::string log = h.portal.log().entries_since(0).dump();
  EXPECT_EQ(log.find(psk), std::string::npos);
  EXPECT_EQ(log.find("gw-token"), std::string::npos);
  EXPECT_EQ(log.find("client-token"), std::string::npos);
  const auto creds =
      relay_credentials(kGatewayKey, "0123456789abcdef", kStartWall + 90LL * 24 * 3600);
  EXPECT_EQ(log.find(creds.password), std::string::npos);
  EXPECT_NE(log.find("<redacted>"), std::string::npos);
  // Frame entries carry direction and peer.
  const Json entries = h.portal.log().entries_since(0);
  bool found = false;
  for (const auto& e : entries) {
    if (e.value("event", "") == "authorize_flow") {
      EXPECT_EQ(e["dir"], "out");
      EXPECT_EQ(e["peer"], "gateway");
      EXPECT_EQ(e["peer_id"], h.gateway_id);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

// ---------------------------------------------------------------------------------------------
// Config validation

std::string config_error(const std::function<void(Json&)>& edit) {
  Json c = test_config();
  edit(c);
  auto parsed = parse_config(c);
  return parsed ? std::string("ok") : parsed.error().detail();
}

TEST(Config, ValidationErrorsNameTheField) {
  EXPECT_EQ(config_error([](Json&) {}), "ok");
  EXPECT_EQ(config_error([](Json& c) { c.erase("account"); }), "account: missing");
  EXPECT_EQ(config_error([](Json& c) { c["sitez"] = 1; }), "sitez: unknown key");
  EXPECT_EQ(config_error([](Json& c) { c["sites"][0]["id"] = "nope"; }),
            "sites[0].id: not a hyphenated UUID");
  EXPECT_EQ(config_error([](Json& c) { c["sites"][1]["tokens"][0] = "gw-token"; }),
            "sites[1].tokens[0]: duplicate token");
  EXPECT_EQ(config_error([](Json& c) { c["clients"][0]["ipv4"] = "10.0.0.1"; }),
            "clients[0].ipv4: not inside 100.64.0.0/11");
  EXPECT_EQ(config_error([](Json& c) { c["clients"][0]["ipv6"] = "100.64.0.1"; }),
            "clients[0].ipv6: not an IPv6 address");
  EXPECT_EQ(config_error([](Json& c) { c["clients"][0]["psk_base"] = "00"; }),
            "clients[0].psk_base: must be 64 hex digits");
  EXPECT_EQ(config_error([](Json& c) { c["resources"][0]["type"] = "foo"; }),
            "resources[0].type: must be cidr, ip, dns or internet");
  EXPECT_EQ(config_error([](Json& c) { c["resources"][0]["address"] = "172.20.0.0/33"; }),
            "resources[0].address: not a CIDR");
  EXPECT_EQ(config_error([](Json& c) { c["resources"][0]["site_ids"][0] = kClient; }),
            "resources[0].site_ids[0]: no site with this id");
  EXPECT_EQ(config_error([](Json& c) { c["resources"][0]["filters"][1]["ports"][0] = "200-100"; }),
            "resources[0].filters[1].ports[0]: range start is above its end");
  EXPECT_EQ(config_error([](Json& c) { c["resources"][0]["filters"][0]["protocol"] = "sctp"; }),
            "resources[0].filters[0].protocol: must be tcp, udp or icmp");
  EXPECT_EQ(config_error([](Json& c) { c["resources"][1]["ip_stack"] = "both"; }),
            "resources[1].ip_stack: must be dual, ipv4_only or ipv6_only");
  EXPECT_EQ(config_error([](Json& c) { c["resources"][1]["id"] = kCidr; }),
            "resources[1].id: duplicate id");
  EXPECT_EQ(config_error([](Json& c) { c["policies"][0]["resource_id"] = kSite2; }),
            "policies[0].resource_id: no resource with this id");
  EXPECT_EQ(config_error([](Json& c) { c["policies"][1]["expires_at"] = 5; }),
            "policies[1].expires_in: give expires_at or expires_in, not both");
  EXPECT_EQ(config_error([](Json& c) { c["relays"][0]["addresses"][0] = "198.51.100.1"; }),
            "relays[0].addresses[0]: not an ip:port or [ipv6]:port address");
  EXPECT_EQ(config_error([](Json& c) { c["relays"][0]["addresses"][0] = "198.51.100.1:3478"; }),
            "relays[0].addresses[1]: a second address of the same family");
  EXPECT_EQ(config_error([](Json& c) { c["relays"][0]["username"] = "u"; }),
            "relays[0].secret: give either username/password or secret, not both");
  EXPECT_EQ(config_error([](Json& c) {
              c["relays"][0].erase("secret");
              c["relays"][0]["username"] = "u";
            }),
            "relays[0].password: missing");
  auto text = parse_config_text("{not json");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().to_string(), "invalid configuration: (file): not valid JSON");
}

TEST(Config, ExampleFileIsValid) {
  std::ifstream in(FZ_DEVPORTAL_EXAMPLE);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_config_text(text.str());
  ASSERT_TRUE(parsed) << parsed.error().to_string();
  EXPECT_FALSE(parsed->relays.empty());
}

}  // namespace
}  // namespace fz::devportal
