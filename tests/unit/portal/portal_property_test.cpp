// Property tests of the portal codec: for every message type, encode → decode gives the value
// back and encode(decode(x)) is stable; frames round-trip; arbitrary input never throws.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "base/encoding.hpp"
#include "portal/frame.hpp"
#include "portal/messages.hpp"

namespace fz::portal {
namespace {

using Json = nlohmann::json;

template <class T>
rc::Gen<std::optional<T>> maybe(rc::Gen<T> gen) {
  return rc::gen::exec(
      [gen] { return *rc::gen::arbitrary<bool>() ? std::optional<T>(*gen) : std::optional<T>(); });
}

rc::Gen<Uuid> gen_uuid() {
  return rc::gen::map(rc::gen::arbitrary<std::array<std::uint8_t, 16>>(),
                      [](const std::array<std::uint8_t, 16>& b) { return Uuid(b); });
}

rc::Gen<net::IpAddr> gen_ipv4() {
  return rc::gen::map(rc::gen::arbitrary<std::uint32_t>(),
                      [](std::uint32_t v) { return net::IpAddr::v4_from_u32(v); });
}

rc::Gen<net::IpAddr> gen_ipv6() {
  return rc::gen::map(rc::gen::arbitrary<std::array<std::uint8_t, 16>>(),
                      [](const std::array<std::uint8_t, 16>& b) { return net::IpAddr::v6(b); });
}

rc::Gen<net::IpAddr> gen_ip() {
  return rc::gen::oneOf(gen_ipv4(), gen_ipv6());
}

rc::Gen<net::SocketAddr> gen_socket_addr() {
  return rc::gen::exec([] {
    return net::SocketAddr{*gen_ip(), *rc::gen::arbitrary<std::uint16_t>()};
  });
}

// Valid UTF-8 text: ASCII (controls included, they are escaped) and some multi-byte characters.
rc::Gen<std::string> gen_text() {
  return rc::gen::map(
      rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 0x7f + 4)),
      [](const std::vector<int>& chars) {
        static const char* kWide[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xd7\x90"};
        std::string out;
        for (int c : chars)
          out += c < 0x80 ? std::string(1, static_cast<char>(c)) : kWide[c - 0x80];
        return out;
      });
}

// A domain-like name: 1 to 64 ASCII characters.
rc::Gen<std::string> gen_name() {
  return rc::gen::map(rc::gen::container<std::string>(rc::gen::inRange('a', '{')),
                      [](std::string s) { return "n" + s.substr(0, 63); });
}

rc::Gen<UnixTime> gen_time() {
  return rc::gen::map(rc::gen::arbitrary<std::int64_t>(),
                      [](std::int64_t s) { return unix_from_seconds(s); });
}

rc::Gen<std::optional<UnixTime>> gen_optional_time() {
  return maybe(gen_time());
}

rc::Gen<PublicKey> gen_key() {
  return rc::gen::arbitrary<std::array<std::uint8_t, 32>>();
}

rc::Gen<PresharedKey> gen_psk() {
  return rc::gen::map(gen_key(), [](const std::array<std::uint8_t, 32>& b) {
    return PresharedKey(std::span<const std::uint8_t, 32>(b));
  });
}

rc::Gen<IceCredentials> gen_ice() {
  return rc::gen::exec([] { return IceCredentials{*gen_text(), *gen_text()}; });
}

rc::Gen<Filter> gen_filter() {
  return rc::gen::exec([] {
    Filter f;
    f.protocol = *rc::gen::element(FilterProtocol::tcp, FilterProtocol::udp, FilterProtocol::icmp);
    if (f.protocol != FilterProtocol::icmp) {
      f.port_range_start = *rc::gen::arbitrary<std::uint16_t>();
      f.port_range_end = *rc::gen::arbitrary<std::uint16_t>();
    }
    return f;
  });
}

rc::Gen<ResourceDescription> gen_resource() {
  return rc::gen::exec([]() -> ResourceDescription {
    switch (*rc::gen::inRange(0, 3)) {
      case 0: {
        const auto ip = *gen_ip();
        const auto prefix = *rc::gen::inRange(0u, ip.max_prefix_len() + 1);
        return CidrResource{*gen_uuid(), net::Cidr(ip, prefix), *gen_text(),
                            *rc::gen::container<Filters>(gen_filter())};
      }
      case 1:
        return DnsResource{*gen_uuid(), *gen_text(), *gen_text(),
                           *rc::gen::container<Filters>(gen_filter())};
      default:
        return InternetResource{*gen_uuid()};
    }
  });
}

rc::Gen<Relay> gen_relay() {
  return rc::gen::exec([]() -> Relay {
    if (*rc::gen::arbitrary<bool>()) {
      return TurnRelay{*gen_uuid(), *gen_socket_addr(), *gen_text(), *gen_text(), *gen_time()};
    }
    return StunRelay{*gen_uuid(), *gen_socket_addr()};
  });
}

// Candidates that the decoder keeps (it skips strings that do not parse).
rc::Gen<std::string> gen_candidate() {
  return rc::gen::exec([] {
    std::string c = "candidate:" + std::to_string(*rc::gen::arbitrary<std::uint64_t>()) + " 1 " +
                    *rc::gen::element<std::string>("udp", "tcp") + " " +
                    std::to_string(*rc::gen::arbitrary<std::uint32_t>()) + " " +
                    (*gen_ip()).to_string() + " " +
                    std::to_string(*rc::gen::arbitrary<std::uint16_t>()) + " typ " +
                    *rc::gen::element<std::string>("host", "srflx", "prflx", "relay");
    if (*rc::gen::arbitrary<bool>()) c += " raddr 0.0.0.0 rport 0";
    if (*rc::gen::arbitrary<bool>()) c += " ufrag ejqt";
    return c;
  });
}

rc::Gen<std::optional<ResolveRequest>> gen_resolve_request() {
  return maybe(rc::gen::exec([] {
    return ResolveRequest{*gen_name(), *rc::gen::container<std::vector<net::IpAddr>>(gen_ip())};
  }));
}

rc::Gen<IngressMessage> gen_ingress() {
  return rc::gen::exec([]() -> IngressMessage {
    switch (*rc::gen::inRange(0, 10)) {
      case 0: {
        Init m;
        m.interface = {*gen_ipv4(), *gen_ipv6()};
        m.config = *maybe(rc::gen::construct<MasqueradeConfig>(rc::gen::arbitrary<bool>(),
                                                               rc::gen::arbitrary<bool>()));
        m.relays = *rc::gen::container<std::vector<Relay>>(gen_relay());
        m.account_slug = *maybe(gen_text());
        m.authorizations = *rc::gen::container<std::vector<Authorization>>(rc::gen::exec([] {
          return Authorization{*gen_uuid(), *gen_uuid(), *gen_time()};
        }));
        return m;
      }
      case 1: {
        AuthorizeFlow m;
        m.ref = *gen_text();
        m.resource = *gen_resource();
        m.gateway_ice_credentials = *gen_ice();
        m.client_ice_credentials = *gen_ice();
        m.client = FlowClient{*gen_uuid(), *gen_key(), *gen_psk(), *gen_ipv4(), *gen_ipv6()};
        m.expires_at = *gen_optional_time();
        return m;
      }
      case 2:
        return RejectAccess{*gen_uuid(), *gen_uuid()};
      case 3:
        return AccessAuthorizationExpiryUpdated{*gen_uuid(), *gen_uuid(), *gen_time()};
      case 4:
        return ResourceUpdated{*gen_resource()};
      case 5:
        return RelaysPresence{*rc::gen::container<std::vector<RelayId>>(gen_uuid()),
                              *rc::gen::container<std::vector<Relay>>(gen_relay())};
      case 6:
        return IceCandidates{*gen_uuid(),
                             *rc::gen::container<std::vector<std::string>>(gen_candidate())};
      case 7:
        return InvalidateIceCandidates{
            *gen_uuid(), *rc::gen::container<std::vector<std::string>>(gen_candidate())};
      case 8: {
        RequestConnection m;
        m.ref = *gen_text();
        m.resource = *gen_resource();
        m.client.id = *gen_uuid();
        m.client.ice_parameters = *gen_ice();
        m.client.domain = *gen_resolve_request();
        m.client.peer = LegacyPeer{*maybe(rc::gen::arbitrary<std::uint16_t>()), *gen_key(),
                                   *gen_psk(), *gen_ipv4(), *gen_ipv6()};
        m.expires_at = *gen_optional_time();
        return m;
      }
      default: {
        AllowAccess m;
        m.ref = *gen_text();
        m.client_id = *gen_uuid();
        m.resource = *gen_resource();
        m.expires_at = *gen_optional_time();
        m.payload = *gen_resolve_request();
        m.client_ipv4 = *gen_ipv4();
        m.client_ipv6 = *gen_ipv6();
        return m;
      }
    }
  });
}

rc::Gen<EgressMessage> gen_egress() {
  return rc::gen::exec([]() -> EgressMessage {
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
        return FlowAuthorized{*gen_text()};
      case 1:
        return BroadcastIceCandidates{*rc::gen::container<std::vector<Uuid>>(gen_uuid()),
                                      *rc::gen::container<std::vector<std::string>>(gen_text())};
      case 2:
        return BroadcastInvalidatedIceCandidates{
            *rc::gen::container<std::vector<Uuid>>(gen_uuid()),
            *rc::gen::container<std::vector<std::string>>(gen_text())};
      default:
        return ConnectionReady{*gen_text(), *gen_ice()};
    }
  });
}

RC_GTEST_PROP(PortalProperty, IngressRoundTrips, ()) {
  const auto message = *gen_ingress();
  RC_ASSERT(is_ingress_event(event_name(message)));
  const auto encoded = dump_json(encode_payload(message));
  const auto payload = Json::parse(encoded, nullptr, false);
  RC_ASSERT(!payload.is_discarded());
  const auto decoded = decode_ingress(event_name(message), payload);
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == message);
  RC_ASSERT(dump_json(encode_payload(*decoded)) == encoded);
}

RC_GTEST_PROP(PortalProperty, EgressRoundTrips, ()) {
  const auto message = *gen_egress();
  const auto encoded = dump_json(encode_payload(message));
  const auto decoded = decode_egress(event_name(message), Json::parse(encoded, nullptr, false));
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == message);
  RC_ASSERT(dump_json(encode_payload(*decoded)) == encoded);
}

RC_GTEST_PROP(PortalProperty, FramesRoundTrip, ()) {
  const auto message = *gen_egress();
  const auto topic = *gen_text();
  const auto ref = *maybe(rc::gen::arbitrary<std::uint64_t>());
  const auto payload = dump_json(encode_payload(message));
  const auto frame = parse_frame(encode_frame(topic, event_name(message), payload, ref));
  RC_ASSERT(frame.ok());
  RC_ASSERT(frame->topic == topic);
  RC_ASSERT(frame->event == event_name(message));
  RC_ASSERT(frame->ref == ref);
  RC_ASSERT(dump_json(frame->payload) == dump_json(Json::parse(payload)));
}

// Mutating a valid payload (dropping keys, retyping values) never throws and never crashes.
RC_GTEST_PROP(PortalProperty, DamagedPayloadsNeverThrow, ()) {
  const auto message = *gen_ingress();
  Json payload = Json::parse(dump_json(encode_payload(message)));
  const auto victims = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 64));
  static const Json kReplacements[] = {nullptr,        1,   -1, 1.5, "x", Json::array(),
                                       Json::object(), true};
  for (int v : victims) {
    if (!payload.is_object() || payload.empty()) break;
    auto it = payload.begin();
    std::advance(it, v % static_cast<int>(payload.size()));
    if (v % 3 == 0) {
      payload.erase(it);
    } else {
      *it = kReplacements[v % std::size(kReplacements)];
    }
  }
  const auto decoded = decode_ingress(event_name(message), payload);
  if (decoded) RC_ASSERT(!dump_json(encode_payload(*decoded)).empty());
}

}  // namespace
}  // namespace fz::portal
