// The portal codec against the reference's own JSON (frames.jsonl, copied from
// shared/fixtures/portal): every ingress example decodes to the expected struct, every egress
// example is produced byte for byte, plus the leniency rules.
#include "portal/messages.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "base/encoding.hpp"
#include "portal/frame.hpp"

namespace fz::portal {
namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

struct Fixture {
  std::string direction;
  std::string event;
  std::string source;
  OJson message;  // key order as in the file
};

const std::vector<Fixture>& fixtures() {
  static const std::vector<Fixture> all = [] {
    std::vector<Fixture> out;
    std::ifstream in(FZ_PORTAL_FIXTURES);
    EXPECT_TRUE(in) << "cannot open " << FZ_PORTAL_FIXTURES;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto j = OJson::parse(line);
      out.push_back({j.at("direction"), j.at("event"), j.at("source"), j.at("message")});
    }
    return out;
  }();
  return all;
}

// The fixture whose source mentions `tag` (a Rust test name); the nth if several.
const Fixture& fixture(std::string_view tag, int nth = 0) {
  for (const auto& f : fixtures()) {
    if (f.source.find(tag) != std::string::npos && nth-- == 0) return f;
  }
  ADD_FAILURE() << "no fixture " << tag;
  static const Fixture none;
  return none;
}

Json payload_of(const Fixture& f) {
  return Json::parse(f.message.at("payload").dump());
}

template <class T>
T decode_as(const Fixture& f) {
  const auto frame = parse_frame(f.message.dump());
  EXPECT_TRUE(frame.ok()) << frame.error().to_string();
  auto message = decode_ingress(frame->event, frame->payload);
  EXPECT_TRUE(message.ok()) << message.error().to_string();
  EXPECT_TRUE(std::holds_alternative<T>(*message));
  return std::get<T>(*message);
}

Uuid id(std::string_view text) {
  return *Uuid::parse(text);
}
net::IpAddr ip(std::string_view text) {
  return *net::IpAddr::parse(text);
}
net::SocketAddr sock(std::string_view text) {
  return *net::SocketAddr::parse(text);
}
PublicKey key(std::string_view b64) {
  return *base64_decode_fixed<32>(b64);
}
std::string psk_base64(const PresharedKey& psk) {
  return base64_encode(Bytes(psk.expose_secret().data(), 32));
}

TEST(PortalFixtures, AllLinesLoad) {
  EXPECT_EQ(fixtures().size(), 37u);
}

TEST(PortalFixtures, Filters) {
  auto udp = decode_filter(Json::parse(fixture("#can_deserialize_udp_filter").message.dump()));
  ASSERT_TRUE(udp.ok());
  EXPECT_EQ(*udp, (Filter{FilterProtocol::udp, 10, 20}));
  auto udp_all =
      decode_filter(Json::parse(fixture("#can_deserialize_empty_udp_filter").message.dump()));
  EXPECT_EQ(*udp_all, (Filter{FilterProtocol::udp, 0, 65535}));
  auto tcp = decode_filter(Json::parse(fixture("#can_deserialize_tcp_filter").message.dump()));
  EXPECT_EQ(*tcp, (Filter{FilterProtocol::tcp, 10, 20}));
  auto tcp_all =
      decode_filter(Json::parse(fixture("#can_deserialize_empty_tcp_filter").message.dump()));
  EXPECT_EQ(*tcp_all, (Filter{FilterProtocol::tcp, 0, 65535}));
  auto icmp = decode_filter(Json::parse(fixture("#can_deserialize_icmp_filter").message.dump()));
  EXPECT_EQ(icmp->protocol, FilterProtocol::icmp);
}

TEST(PortalFixtures, ResourceDescriptions) {
  auto list =
      decode_resources(Json::parse(fixture("#can_deserialize_internet_resource").message.dump()));
  ASSERT_TRUE(list.ok()) << list.error().to_string();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ(std::get<CidrResource>((*list)[0]),
            (CidrResource{id("73037362-715d-4a83-a749-f18eadd970e6"),
                          *net::Cidr::parse("172.172.0.0/16"),
                          "172.172.0.0/16",
                          {}}));
  EXPECT_EQ(std::get<DnsResource>((*list)[1]),
            (DnsResource{id("03000143-e25e-45c7-aafb-144990e57dcd"),
                         "gitlab.mycorp.com",
                         "gitlab.mycorp.com",
                         {}}));
  EXPECT_EQ(std::get<InternetResource>((*list)[2]).id, id("1106047c-cd5d-4151-b679-96b93da7383b"));
}

TEST(PortalFixtures, RequestConnectionCidr) {
  const auto m =
      decode_as<RequestConnection>(fixture("#can_deserialize_request_connection_messages"));
  EXPECT_EQ(m.ref, "78e1159d-9dc6-480d-b2ef-1fcec2cd5730");
  EXPECT_EQ(m.expires_at, unix_from_seconds(1719367575));
  EXPECT_EQ(m.client.id, id("3a25ff38-f8d7-47de-9b30-c7c40c206083"));
  EXPECT_EQ(m.client.ice_parameters,
            (IceCredentials{"PvCPFevCOgkvVCtH", "xEwoXEzHuSyrcgOCSRnwOXQVnbnbeGeF"}));
  EXPECT_FALSE(m.client.domain.has_value());
  EXPECT_EQ(m.client.peer.persistent_keepalive, 25);
  EXPECT_EQ(m.client.peer.public_key, key("OR2dYCLwMEtwqtjOxSm4SU7BbHJDfM8ZCqK7HKXXxDw="));
  EXPECT_EQ(psk_base64(m.client.peer.preshared_key),
            "sMeTuiJ3mezfpVdan948CmisIWbwBZ1z7jBNnbVtfVg=");
  EXPECT_EQ(m.client.peer.ipv4, ip("100.114.114.30"));
  EXPECT_EQ(m.client.peer.ipv6, ip("fd00:2021:1111::3a:ab1b"));
  const auto& r = std::get<CidrResource>(m.resource);
  EXPECT_EQ(r.id, id("ea6570d1-47c7-49d2-9dc3-efff1c0c9e0b"));
  EXPECT_EQ(r.address, *net::Cidr::parse("172.20.0.0/16"));
  EXPECT_EQ(r.name, "172.20.0.1/16");
  EXPECT_TRUE(r.filters.empty());
}

TEST(PortalFixtures, RequestConnectionDns) {
  const auto m =
      decode_as<RequestConnection>(fixture("#can_deserialize_legacy_request_connection_message"));
  EXPECT_EQ(m.expires_at, unix_from_seconds(1718663242));
  EXPECT_EQ(m.client.id, id("2e5c0210-3ac0-49cd-bfc9-8005046291de"));
  ASSERT_TRUE(m.client.domain.has_value());
  EXPECT_EQ(m.client.domain->name, "download.httpbin");
  ASSERT_EQ(m.client.domain->proxy_ips.size(), 8u);
  EXPECT_EQ(m.client.domain->proxy_ips[0], ip("100.96.0.1"));
  EXPECT_EQ(m.client.domain->proxy_ips[7], ip("fd00:2021:1111:8000::3"));
  EXPECT_EQ(m.client.ice_parameters, (IceCredentials{"aYaH", "MMceouYA5jGIPkxbvIiLvD"}));
  const auto& r = std::get<DnsResource>(m.resource);
  EXPECT_EQ(r.address, "?.httpbin");
  EXPECT_EQ(r.filters, (Filters{{FilterProtocol::tcp, 80, 80},
                                {FilterProtocol::tcp, 433, 433},
                                {FilterProtocol::udp, 53, 53},
                                {FilterProtocol::icmp, 0, 65535}}));
  EXPECT_EQ(m.ref.substr(0, 8), "SFMyNTY.");
}

TEST(PortalFixtures, InvalidateIceCandidates) {
  const auto m = decode_as<InvalidateIceCandidates>(
      fixture("#can_deserialize_invalidate_ice_candidates_message"));
  EXPECT_EQ(m.client_id, id("2b1524e6-239e-4570-bc73-70a188e12101"));
  EXPECT_EQ(m.candidates,
            (std::vector<std::string>{"candidate:7854631899965427361 1 udp 1694498559 172.28.0.100 "
                                      "47717 typ srflx"}));
}

TEST(PortalFixtures, InitMinimal) {
  const auto m = decode_as<Init>(fixture("#can_deserialize_init_message"));
  EXPECT_EQ(m.interface.ipv4, ip("100.115.164.78"));
  EXPECT_EQ(m.interface.ipv6, ip("fd00:2021:1111::2c:f6ab"));
  EXPECT_EQ(m.config, (MasqueradeConfig{true, true}));
  EXPECT_TRUE(m.relays.empty());
  EXPECT_FALSE(m.account_slug.has_value());
  EXPECT_TRUE(m.authorizations.empty());
}

TEST(PortalFixtures, ResourceUpdated) {
  const auto m = decode_as<ResourceUpdated>(fixture("#can_deserialize_resource_updated_message"));
  const auto& r = std::get<DnsResource>(m.resource);
  EXPECT_EQ(r.id, id("57f9ebbb-21d5-4f9f-bf86-b25122fc7a43"));
  EXPECT_EQ(r.address, "?.httpbin");
  EXPECT_EQ(r.filters,
            (Filters{{FilterProtocol::icmp, 0, 65535}, {FilterProtocol::tcp, 0, 65535}}));
}

TEST(PortalFixtures, RelaysPresence) {
  const auto m = decode_as<RelaysPresence>(fixture("#can_deserialize_relays_presence_message"));
  EXPECT_EQ(m.disconnected_ids, (std::vector<RelayId>{id("e95f9517-2152-4677-a16a-fbb2687050a3"),
                                                      id("b0724bd1-a8cc-4faf-88cd-f21159cfec47")}));
  ASSERT_EQ(m.connected.size(), 1u);
  EXPECT_EQ(std::get<TurnRelay>(m.connected[0]),
            (TurnRelay{id("0a133356-7a9e-4b9a-b413-0d95a5720fd8"), sock("172.28.0.101:3478"),
                       "1719367575:ZQHcVGkdnfgGmcP1", "ZWYiBeFHOJyYq0mcwAXjRpcuXIJJpzWlOXVdxwttrWg",
                       unix_from_seconds(1719367575)}));
}

TEST(PortalFixtures, AuthorizeFlow) {
  const auto m = decode_as<AuthorizeFlow>(fixture("#can_deserialize_authorize_flow"));
  EXPECT_EQ(m.client.id, id("3abd725a-733b-4801-ac16-72f26cd98a24"));
  EXPECT_EQ(m.client.public_key, key("fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8="));
  EXPECT_EQ(psk_base64(m.client.preshared_key), "BzPiNE9qszKczZcZzGsyieLYeJ2EQfkfdibls/l3beM=");
  EXPECT_EQ(m.client.ipv4, ip("100.93.74.51"));
  EXPECT_EQ(m.client.ipv6, ip("fd00:2021:1111::f:853b"));
  EXPECT_EQ(std::get<CidrResource>(m.resource),
            (CidrResource{id("c7793628-8579-465b-83e3-1a5d4af4db3b"),
                          *net::Cidr::parse("172.20.0.0/16"),
                          "MyCorp Network",
                          {}}));
  EXPECT_EQ(m.expires_at, unix_from_seconds(1729813989));
  EXPECT_EQ(m.client_ice_credentials, (IceCredentials{"hgwh", "j2fqufatn7xlrrvv6fsvea"}));
  EXPECT_EQ(m.gateway_ice_credentials, (IceCredentials{"ejqt", "zfjrrjdkbci42t2axyd45a"}));
  EXPECT_EQ(m.ref, payload_of(fixture("#can_deserialize_authorize_flow")).at("ref"));
}

TEST(PortalFixtures, FaultyCandidatesAreSkippedOneByOne) {
  // This fixture is a payload on its own.
  const auto payload = fixture("#faulty_candidate_get_skipped").message.dump();
  for (const char* event : {"ice_candidates", "invalidate_ice_candidates"}) {
    auto m = decode_ingress(event, Json::parse(payload));
    ASSERT_TRUE(m.ok());
    const auto candidates = std::visit(
        [](const auto& v) -> std::vector<std::string> {
          if constexpr (requires { v.candidates; }) {
            return v.candidates;
          } else {
            return {};
          }
        },
        *m);
    EXPECT_EQ(candidates, (std::vector<std::string>{
                              "candidate:fffeff6435be70ddbf995982 1 udp 1694498559 87.121.72.60 "
                              "57114 typ srflx raddr 0.0.0.0 rport 0"}));
  }
}

TEST(PortalFixtures, GenericPushWithJoinRef) {
  const auto frame = parse_frame(fixture("#can_deserialize_inbound_message").message.dump());
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->topic, "room:lobby");
  EXPECT_EQ(frame->event, "shout");
  EXPECT_FALSE(frame->ref.has_value());
  EXPECT_EQ(frame->payload, Json::parse(R"({"hello":"world"})"));
  // Not a gateway message: the channel logs and ignores it.
  EXPECT_FALSE(is_ingress_event(frame->event));
  EXPECT_EQ(decode_ingress(frame->event, frame->payload).error().code(), Errc::unsupported);
  for (const char* control : {"phx_reply", "phx_error", "phx_close", "disconnect", "heartbeat"}) {
    EXPECT_FALSE(is_ingress_event(control));
  }
}

TEST(PortalFixtures, Replies) {
  struct Case {
    const char* tag;
    bool ok;
    const char* reason;
    std::optional<std::uint64_t> ref;
  };
  for (const auto& c :
       {Case{"#unmatched_topic_reply", false, "unmatched topic", 12},
        Case{"#unexpected_error_reply", false, "bad reply", 12},
        Case{"#invalid_version_reply", false, "invalid_version", 12},
        Case{"#disabled_err_reply", false, "disabled", std::nullopt},
        Case{"client_does_not_pipeline_messages [full frame sent by test server]", true, "", 1}}) {
    const auto frame = parse_frame(fixture(c.tag).message.dump());
    ASSERT_TRUE(frame.ok()) << c.tag;
    EXPECT_EQ(frame->event, "phx_reply");
    EXPECT_EQ(frame->ref, c.ref) << c.tag;
    const auto reply = parse_reply(frame->payload);
    ASSERT_TRUE(reply.ok()) << c.tag;
    EXPECT_EQ(reply->ok, c.ok) << c.tag;
    EXPECT_EQ(reply->reason, c.reason) << c.tag;
  }
  // The constructed portal replies: join ok (ref 0), heartbeat ok on topic phoenix (ref 7),
  // unmatched topic (ref 9).
  const auto join_ok = parse_frame(fixture("API.Gateway.Channel.join/3").message.dump());
  EXPECT_EQ(join_ok->ref, 0u);
  EXPECT_TRUE(parse_reply(join_ok->payload)->ok);
  const auto heartbeat_ok = parse_frame(fixture("heartbeat handler").message.dump());
  EXPECT_EQ(heartbeat_ok->topic, "phoenix");
  EXPECT_EQ(heartbeat_ok->ref, 7u);
  const auto unmatched = parse_frame(fixture("encode_ignore").message.dump());
  EXPECT_EQ(unmatched->ref, 9u);
  EXPECT_EQ(parse_reply(unmatched->payload)->reason, "unmatched topic");
}

TEST(PortalFixtures, ControlEvents) {
  for (const char* tag : {"#phx_close", "encode_close"}) {
    const auto f = parse_frame(fixture(tag).message.dump());
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->event, "phx_close");
    EXPECT_TRUE(f->payload.is_object() && f->payload.empty());
  }
  const auto error = parse_frame(fixture("encode_on_exit").message.dump());
  EXPECT_EQ(error->event, "phx_error");
  EXPECT_EQ(error->topic, "gateway");
  const auto disconnect = parse_frame(fixture("#token_expired").message.dump());
  EXPECT_EQ(disconnect->event, "disconnect");
  EXPECT_EQ(disconnect->payload.at("reason"), "token_expired");
  // A push without ref and with a null payload.
  const auto foo =
      parse_frame(fixture("[full frame sent by test server; no ref key]").message.dump());
  ASSERT_TRUE(foo.ok());
  EXPECT_TRUE(foo->payload.is_null());
  EXPECT_FALSE(foo->ref.has_value());
}

TEST(PortalFixtures, LegacyGatewayPayloadShape) {
  // The historical client-side reply carries the gateway_payload our connection_ready sends; an
  // extra domain_response key (older gateways) is ignored.
  auto reply = Json::parse(fixture("#can_deserialize_connect_reply").message.dump());
  Json as_connection_ready{{"ref", "x"}, {"gateway_payload", reply.at("gateway_payload")}};
  auto m = decode_egress("connection_ready", as_connection_ready);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(std::get<ConnectionReady>(*m).ice_parameters,
            (IceCredentials{"tGeqOjtGuPzPpuOx", "pMAxxTgHHSdpqHRzHGNvuNsZinLrMxwe"}));
}

// Every egress example is produced byte for byte (compact JSON, the reference's key order).
TEST(PortalFixtures, EgressFramesAreByteCompatible) {
  int checked = 0;
  for (const auto& f : fixtures()) {
    if (f.direction != "egress") continue;
    const auto& m = f.message;
    if (!m.contains("payload")) {
      // The Rust test's unit event without payload: real Phoenix rejects such frames, and we
      // never send one.
      EXPECT_NE(f.source.find("WITHOUT payload"), std::string::npos);
      continue;
    }
    const std::string topic = m.at("topic");
    const std::string event = m.at("event");
    const std::uint64_t ref = m.at("ref");
    std::string payload;
    if (event == "phx_join") {
      payload = "null";
    } else if (event == "heartbeat") {
      payload = "{}";
    } else {
      auto decoded = decode_egress(event, Json::parse(m.at("payload").dump()));
      ASSERT_TRUE(decoded.ok()) << event << ": " << decoded.error().to_string();
      payload = dump_json(encode_payload(*decoded));
    }
    EXPECT_EQ(encode_frame(topic, event, payload, ref), m.dump()) << f.source;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

// Every ingress full frame parses; every gateway event in it decodes and re-encodes to JSON that
// decodes to the same struct.
TEST(PortalFixtures, IngressFramesRoundTrip) {
  int decoded_count = 0;
  for (const auto& f : fixtures()) {
    if (f.direction != "ingress" || !f.message.is_object() || !f.message.contains("topic")) {
      continue;
    }
    const auto frame = parse_frame(f.message.dump());
    ASSERT_TRUE(frame.ok()) << f.source;
    auto m = decode_ingress(frame->event, frame->payload);
    if (!m) continue;  // control events and generic pushes
    const auto encoded = dump_json(encode_payload(*m));
    auto again = decode_ingress(frame->event, Json::parse(encoded));
    ASSERT_TRUE(again.ok()) << encoded;
    EXPECT_EQ(*again, *m) << f.source;
    EXPECT_EQ(dump_json(encode_payload(*again)), encoded);
    ++decoded_count;
  }
  EXPECT_EQ(decoded_count, 7);
}

// ---------------------------------------------------------------------------------------------
// Leniency and strictness

const char* kFlow = R"({
  "ref":"r","expires_at":null,
  "resource":{"id":"c7793628-8579-465b-83e3-1a5d4af4db3b","type":"cidr","address":"10.0.0.0/8",
              "name":"n","filters":[]},
  "gateway_ice_credentials":{"username":"a","password":"b"},
  "client_ice_credentials":{"username":"c","password":"d"},
  "client":{"id":"3abd725a-733b-4801-ac16-72f26cd98a24",
            "public_key":"fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8=",
            "preshared_key":"BzPiNE9qszKczZcZzGsyieLYeJ2EQfkfdibls/l3beM=",
            "ipv4":"100.93.74.51","ipv6":"fd00:2021:1111::f:853b"}})";

TEST(PortalCodec, NullExpiryMeansNoExpiryButTheKeyIsRequired) {
  auto flow = Json::parse(kFlow);
  auto m = decode_ingress("authorize_flow", flow);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_FALSE(std::get<AuthorizeFlow>(*m).expires_at.has_value());
  flow.erase("expires_at");
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
  flow["expires_at"] = 1.5;
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
  flow["expires_at"] = "1729813989";
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
}

TEST(PortalCodec, KeysMustBeExactly32Bytes) {
  auto flow = Json::parse(kFlow);
  flow["client"]["public_key"] = base64_encode(std::vector<std::uint8_t>(31, 1));
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
  flow = Json::parse(kFlow);
  flow["client"]["preshared_key"] = base64_encode(std::vector<std::uint8_t>(33, 1));
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
  flow = Json::parse(kFlow);
  flow["client"]["public_key"] = "not base64!";
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
}

TEST(PortalCodec, TunnelAddressesMustHaveTheRightFamily) {
  auto flow = Json::parse(kFlow);
  flow["client"]["ipv4"] = "fd00::1";
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
}

TEST(PortalCodec, UnknownFilterProtocolIsSkippedButNeverWidensAccess) {
  auto flow = Json::parse(kFlow);
  flow["resource"]["filters"] =
      Json::parse(R"([{"protocol":"sctp"},{"protocol":"tcp","port_range_start":443}])");
  auto m = decode_ingress("authorize_flow", flow);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::get<CidrResource>(std::get<AuthorizeFlow>(*m).resource).filters,
            (Filters{{FilterProtocol::tcp, 443, 65535}}));
  // Only unknown protocols: an empty list would permit everything, so the resource is refused.
  flow["resource"]["filters"] = Json::parse(R"([{"protocol":"sctp"}])");
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
  // A malformed known filter is an error, as in the reference.
  flow["resource"]["filters"] = Json::parse(R"([{"protocol":"tcp","port_range_start":70000}])");
  EXPECT_FALSE(decode_ingress("authorize_flow", flow).ok());
}

TEST(PortalCodec, UnknownResourceTypeIsUnsupported) {
  auto flow = Json::parse(kFlow);
  flow["resource"]["type"] = "ip";
  auto m = decode_ingress("authorize_flow", flow);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::unsupported);
  auto list = decode_resources(Json::parse(
      R"([{"id":"1106047c-cd5d-4151-b679-96b93da7383b","type":"future"},
          {"id":"1106047c-cd5d-4151-b679-96b93da7383b","type":"internet"}])"));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST(PortalCodec, CidrHostBitsAreMasked) {
  auto r = decode_resource(Json::parse(
      R"({"id":"1106047c-cd5d-4151-b679-96b93da7383b","type":"cidr","address":"10.1.2.3/8",
          "name":"x","filters":[]})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<CidrResource>(*r).address.to_string(), "10.0.0.0/8");
}

const char* kInit = R"({
  "account_slug":"acme",
  "authorizations":[
    {"client_id":"3abd725a-733b-4801-ac16-72f26cd98a24","resource_id":"c7793628-8579-465b-83e3-1a5d4af4db3b","expires_at":1729813989},
    {"client_id":"not-a-uuid","resource_id":"c7793628-8579-465b-83e3-1a5d4af4db3b","expires_at":1}],
  "config":{"ipv4_masquerade_enabled":true,"ipv6_masquerade_enabled":true},
  "interface":{"ipv4":"100.115.164.78","ipv6":"fd00:2021:1111::2c:f6ab"},
  "relays":[
    {"id":"0a133356-7a9e-4b9a-b413-0d95a5720fd8","type":"turn","addr":"172.28.0.101:3478","username":"u1","password":"p1","expires_at":1719367575},
    {"id":"0a133356-7a9e-4b9a-b413-0d95a5720fd8","type":"turn","addr":"[2001:db8::101]:3478","username":"u2","password":"p2","expires_at":1719367576},
    {"id":"11111111-7a9e-4b9a-b413-0d95a5720fd8","type":"quic","addr":"172.28.0.102:3478"},
    {"id":"22222222-7a9e-4b9a-b413-0d95a5720fd8","type":"turn","addr":"bogus","username":"u","password":"p","expires_at":1},
    {"id":"0bfc5e02-a093-423b-827b-002d7d2bb407","type":"stun","addr":"172.28.0.101:3478"},
    {"id":"33333333-7a9e-4b9a-b413-0d95a5720fd8","type":"turn","addr":"[2001:db8::103]:3478","username":"u3","password":"p3","expires_at":5}]})";

TEST(PortalCodec, InitKeepsEverythingItCanUse) {
  auto m = decode_ingress("init", Json::parse(kInit));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  const auto& init = std::get<Init>(*m);
  EXPECT_EQ(init.account_slug, "acme");
  ASSERT_EQ(init.authorizations.size(), 1u);  // the malformed one is skipped
  EXPECT_EQ(init.authorizations[0].expires_at, unix_from_seconds(1729813989));
  EXPECT_EQ(init.relays.size(), 4u);  // unknown type and bad address skipped, stun kept

  const auto servers = merge_turn_relays(init.relays);
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].id, id("0a133356-7a9e-4b9a-b413-0d95a5720fd8"));
  EXPECT_EQ(servers[0].v4, sock("172.28.0.101:3478"));
  EXPECT_EQ(servers[0].v6, sock("[2001:db8::101]:3478"));
  EXPECT_EQ(servers[0].username, "u2");  // the last entry's credentials win
  EXPECT_EQ(servers[0].password, "p2");
  EXPECT_EQ(servers[1].v4, std::nullopt);
  EXPECT_EQ(servers[1].v6, sock("[2001:db8::103]:3478"));
}

TEST(PortalCodec, InitWithoutConfigIsAccepted) {
  auto j = Json::parse(kInit);
  j.erase("config");
  j.erase("relays");
  j.erase("authorizations");
  auto m = decode_ingress("init", j);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(std::get<Init>(*m).config.has_value());
  j.erase("interface");
  EXPECT_FALSE(decode_ingress("init", j).ok());
}

TEST(PortalCodec, RelayDuplicatesOfOneFamilyKeepTheFirstAddress) {
  std::vector<Relay> relays{
      TurnRelay{id("0a133356-7a9e-4b9a-b413-0d95a5720fd8"), sock("1.1.1.1:3478"), "a", "b",
                unix_from_seconds(1)},
      TurnRelay{id("0a133356-7a9e-4b9a-b413-0d95a5720fd8"), sock("2.2.2.2:3478"), "c", "d",
                unix_from_seconds(2)},
  };
  const auto merged = merge_turn_relays(relays);
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].v4, sock("1.1.1.1:3478"));
  EXPECT_EQ(merged[0].username, "c");
}

TEST(PortalCodec, CandidateGrammar) {
  for (const char* good : {
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host",
           "candidate:1 1 UDP 2130706175 10.0.0.5 52625 typ host",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host foo bar",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ hostile",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host\r\n",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host ufrag abc generation 0",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host ufrag",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ srflx raddr 0.0.0.0 rport 0",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ srflx rport 0 raddr 0.0.0.0",
           "candidate:1 1 udp 2130706175 2001:db8::5 52625 typ host",
           "candidate:1 +1 udp +2130706175 10.0.0.5 +52625 typ host",
           "candidate:1 2 udp 0 224.0.0.1 1 typ relay",
           "candidate:1 1 tcp 1518280447 10.0.0.5 9 typ host tcptype active",
           "candidate:a/b+c=d;e 1 udp 1 10.0.0.5 9 typ prflx",
       }) {
    EXPECT_TRUE(is_valid_candidate(good)) << good;
  }
  for (const char* bad : {
           "a=candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ HOST",
           "Candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host",
           " candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host",
           "candidate:1  1 udp 2130706175 10.0.0.5 52625 typ host",
           "candidate: 1 udp 2130706175 10.0.0.5 52625 typ host",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host ufrag ",
           "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ srflx raddr 0.0.0.0",
           "candidate:1 1 udp 2130706175 [2001:db8::5] 52625 typ host",
           "candidate:1 1 udp 2130706175 fe80::1%eth0 52625 typ host",
           "candidate:1 1 udp 2130706175 010.0.0.5 52625 typ host",
           "candidate:1 1 udp 4294967296 10.0.0.5 52625 typ host",
           "candidate:1 1 udp 1 10.0.0.5 65536 typ host",
           "candidate:1 1 sctp 1 10.0.0.5 1 typ host",
           "candidate:1 1 udp 1 10.0.0.5 1",
           "foo",
       }) {
    EXPECT_FALSE(is_valid_candidate(bad)) << bad;
  }
}

TEST(PortalCodec, UuidForms) {
  const auto expected = id("67e55044-10b1-426f-9247-bb680e5fe0c8");
  for (const char* text :
       {"67e55044-10b1-426f-9247-bb680e5fe0c8", "67e5504410b1426f9247bb680e5fe0c8",
        "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8", "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
        "67E55044-10B1-426F-9247-BB680E5FE0C8"}) {
    auto parsed = parse_uuid_any(text);
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(*parsed, expected);
  }
  for (const char* text :
       {"", "67e5504410b1426f9247bb680e5fe0c", "{00000000000000000000000000000000}",
        "URN:UUID:67e55044-10b1-426f-9247-bb680e5fe0c8", "67e55044-10b1-426f-9247-bb680e5fe0cg"}) {
    EXPECT_FALSE(parse_uuid_any(text).ok()) << text;
  }
}

TEST(PortalFrame, RejectsWhatIsNotAFrame) {
  for (const char* text :
       {"", "{", "[]", "null", R"({"event":"x"})", R"({"topic":"t"})", R"({"topic":1,"event":"x"})",
        R"({"topic":"t","event":"x","ref":-1})", R"({"topic":"t","event":"x","ref":"1x"})",
        R"({"topic":"t","event":"x","ref":1.5})"}) {
    EXPECT_FALSE(parse_frame(text).ok()) << text;
  }
  EXPECT_TRUE(parse_frame(R"({"topic":"t","event":"x","ref":"12","join_ref":"3"})").ok());
}

TEST(PortalFrame, EncodesAllFourKeysInOrder) {
  EXPECT_EQ(encode_frame("gateway", "phx_join", "null", 0),
            R"({"topic":"gateway","event":"phx_join","payload":null,"ref":0})");
  EXPECT_EQ(encode_frame("gateway", "init", "{}", std::nullopt),
            R"({"topic":"gateway","event":"init","payload":{},"ref":null})");
}

TEST(PortalFrame, InvalidUtf8NeverThrows) {
  EXPECT_FALSE(parse_frame("{\"topic\":\"\xff\",\"event\":\"x\"}").ok());
  FlowAuthorized bad{std::string("\xff\xfe", 2)};
  EXPECT_NO_THROW((void)dump_json(encode_payload(EgressMessage(bad))));
}

}  // namespace
}  // namespace fz::portal
