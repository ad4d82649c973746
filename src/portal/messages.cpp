#include "portal/messages.hpp"

#include <algorithm>
#include <limits>

#include "base/encoding.hpp"
#include "base/log.hpp"

namespace fz::portal {
namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

// Assigns the value of a Result to `lhs`, or returns its error from the enclosing function.
#define PORTAL_TRY(lhs, expr)      \
  do {                             \
    auto portal_try_ = (expr);     \
    if (!portal_try_) {            \
      return portal_try_.error();  \
    }                              \
    lhs = std::move(*portal_try_); \
  } while (0)

Error missing(const char* field) {
  return Error(Errc::malformed, "missing or invalid field", field);
}

// nullptr when `object` is not an object or has no such key.
const Json* find(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Result<std::string> get_string(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_string()) return missing(key);
  return v->get_ref<const std::string&>();
}

Result<Uuid> get_uuid(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_string()) return missing(key);
  auto id = parse_uuid_any(v->get_ref<const std::string&>());
  if (!id) return missing(key);
  return *id;
}

Result<net::IpAddr> parse_ip_value(const Json& v, std::optional<net::IpFamily> family,
                                   const char* key) {
  if (!v.is_string()) return missing(key);
  auto ip = net::IpAddr::parse(v.get_ref<const std::string&>());
  if (!ip || (family && ip->family() != *family)) return missing(key);
  return *ip;
}

Result<net::IpAddr> get_ip(const Json& object, const char* key, net::IpFamily family) {
  const Json* v = find(object, key);
  if (v == nullptr) return missing(key);
  return parse_ip_value(*v, family, key);
}

Result<net::SocketAddr> get_socket_addr(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_string()) return missing(key);
  auto addr = net::SocketAddr::parse(v->get_ref<const std::string&>());
  if (!addr) return missing(key);
  return *addr;
}

// Unix seconds as a JSON integer (floats and strings are rejected, as chrono's ts_seconds does).
Result<UnixTime> parse_time_value(const Json& v, const char* key) {
  if (v.is_number_unsigned()) {
    const auto s = v.get<std::uint64_t>();
    if (s > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return missing(key);
    return unix_from_seconds(static_cast<std::int64_t>(s));
  }
  if (v.is_number_integer()) return unix_from_seconds(v.get<std::int64_t>());
  return missing(key);
}

Result<UnixTime> get_time(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr) return missing(key);
  return parse_time_value(*v, key);
}

// The key must be present; null means "no expiry".
Result<std::optional<UnixTime>> get_nullable_time(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr) return missing(key);
  if (v->is_null()) return std::optional<UnixTime>();
  auto t = parse_time_value(*v, key);
  if (!t) return t.error();
  return std::optional<UnixTime>(*t);
}

Result<std::uint16_t> parse_u16(const Json& v, const char* key) {
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 65535) return missing(key);
  return static_cast<std::uint16_t>(v.get<std::uint64_t>());
}

Result<std::array<std::uint8_t, 32>> get_key_bytes(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_string()) return missing(key);
  auto bytes = base64_decode_fixed<32>(v->get_ref<const std::string&>());
  if (!bytes) return Error(Errc::malformed, "key is not 32 bytes of base64", key);
  return *bytes;
}

Result<PublicKey> get_public_key(const Json& object, const char* key) {
  return get_key_bytes(object, key);
}

Result<PresharedKey> get_preshared_key(const Json& object, const char* key) {
  auto bytes = get_key_bytes(object, key);
  if (!bytes) return bytes.error();
  PresharedKey psk{std::span<const std::uint8_t, 32>(*bytes)};
  crypto::secure_zero(MutBytes(*bytes));
  return psk;
}

Result<IceCredentials> get_ice_credentials(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_object()) return missing(key);
  IceCredentials out;
  PORTAL_TRY(out.username, get_string(*v, "username"));
  PORTAL_TRY(out.password, get_string(*v, "password"));
  return out;
}

// An optional display string: missing or null gives "".
std::string get_optional_string(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_string()) return {};
  return v->get_ref<const std::string&>();
}

std::string key_to_base64(std::span<const std::uint8_t, 32> key) {
  return base64_encode(Bytes(key.data(), key.size()));
}

std::int64_t unix_seconds(UnixTime t) {
  return t.time_since_epoch().count();
}

OJson nullable_time(const std::optional<UnixTime>& t) {
  return t ? OJson(unix_seconds(*t)) : OJson(nullptr);
}

// ---------------------------------------------------------------------------------------------
// Relays

Result<Relay> decode_relay(const Json& value) {
  if (!value.is_object()) return missing("relay");
  const Json* type = find(value, "type");
  if (type == nullptr || !type->is_string()) return missing("type");
  const auto& t = type->get_ref<const std::string&>();
  if (t == "turn") {
    TurnRelay relay;
    PORTAL_TRY(relay.id, get_uuid(value, "id"));
    PORTAL_TRY(relay.addr, get_socket_addr(value, "addr"));
    PORTAL_TRY(relay.username, get_string(value, "username"));
    PORTAL_TRY(relay.password, get_string(value, "password"));
    PORTAL_TRY(relay.expires_at, get_time(value, "expires_at"));
    return Relay(std::move(relay));
  }
  if (t == "stun") {
    StunRelay relay;
    PORTAL_TRY(relay.id, get_uuid(value, "id"));
    PORTAL_TRY(relay.addr, get_socket_addr(value, "addr"));
    return Relay(relay);
  }
  return Error(Errc::unsupported, "unknown relay type", t);
}

OJson encode_relay(const Relay& relay) {
  if (const auto* turn = std::get_if<TurnRelay>(&relay)) {
    return OJson{{"id", turn->id.to_string()},     {"type", "turn"},
                 {"addr", turn->addr.to_string()}, {"username", turn->username},
                 {"password", turn->password},     {"expires_at", unix_seconds(turn->expires_at)}};
  }
  const auto& stun = std::get<StunRelay>(relay);
  return OJson{{"id", stun.id.to_string()}, {"type", "stun"}, {"addr", stun.addr.to_string()}};
}

OJson encode_relays(const std::vector<Relay>& relays) {
  OJson out = OJson::array();
  for (const auto& r : relays)
    out.push_back(encode_relay(r));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Small shared pieces

Result<std::vector<std::string>> decode_candidates(const Json& object) {
  const Json* v = find(object, "candidates");
  if (v == nullptr || !v->is_array()) return missing("candidates");
  std::vector<std::string> out;
  out.reserve(v->size());
  for (const auto& c : *v) {
    if (c.is_string() && is_valid_candidate(c.get_ref<const std::string&>())) {
      out.push_back(c.get_ref<const std::string&>());
    } else {
      FZ_DEBUG("portal", "skipping an ICE candidate that does not parse");
    }
  }
  return out;
}

Result<ResolveRequest> decode_resolve_request(const Json& value, const char* key) {
  if (!value.is_object()) return missing(key);
  ResolveRequest out;
  PORTAL_TRY(out.name, get_string(value, "name"));
  if (out.name.empty() || out.name.size() > 255) return missing("name");
  const Json* ips = find(value, "proxy_ips");
  if (ips == nullptr || !ips->is_array()) return missing("proxy_ips");
  for (const auto& ip : *ips) {
    auto parsed = parse_ip_value(ip, std::nullopt, "proxy_ips");
    if (!parsed) return parsed.error();
    out.proxy_ips.push_back(*parsed);
  }
  return out;
}

// Missing or null gives nullopt.
Result<std::optional<ResolveRequest>> decode_optional_resolve_request(const Json& object,
                                                                      const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || v->is_null()) return std::optional<ResolveRequest>();
  auto r = decode_resolve_request(*v, key);
  if (!r) return r.error();
  return std::optional<ResolveRequest>(std::move(*r));
}

OJson encode_resolve_request(const std::optional<ResolveRequest>& r) {
  if (!r) return nullptr;
  OJson ips = OJson::array();
  for (const auto& ip : r->proxy_ips)
    ips.push_back(ip.to_string());
  return OJson{{"name", r->name}, {"proxy_ips", std::move(ips)}};
}

OJson encode_ice_credentials(const IceCredentials& c) {
  return OJson{{"username", c.username}, {"password", c.password}};
}

OJson encode_ids(const std::vector<Uuid>& ids) {
  OJson out = OJson::array();
  for (const auto& id : ids)
    out.push_back(id.to_string());
  return out;
}

Result<std::vector<Uuid>> decode_ids_strict(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_array()) return missing(key);
  std::vector<Uuid> out;
  for (const auto& e : *v) {
    if (!e.is_string()) return missing(key);
    auto id = parse_uuid_any(e.get_ref<const std::string&>());
    if (!id) return missing(key);
    out.push_back(*id);
  }
  return out;
}

Result<std::vector<std::string>> decode_strings_strict(const Json& object, const char* key) {
  const Json* v = find(object, key);
  if (v == nullptr || !v->is_array()) return missing(key);
  std::vector<std::string> out;
  for (const auto& e : *v) {
    if (!e.is_string()) return missing(key);
    out.push_back(e.get_ref<const std::string&>());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ingress messages, in the order of §4.1

Result<IngressMessage> decode_init(const Json& p) {
  Init init;
  const Json* iface = find(p, "interface");
  if (iface == nullptr || !iface->is_object()) return missing("interface");
  PORTAL_TRY(init.interface.ipv4, get_ip(*iface, "ipv4", net::IpFamily::v4));
  PORTAL_TRY(init.interface.ipv6, get_ip(*iface, "ipv6", net::IpFamily::v6));

  // Unused by the gateway; the reference rejects an `init` without it, we do not.
  if (const Json* config = find(p, "config")) {
    const Json* v4 = find(*config, "ipv4_masquerade_enabled");
    const Json* v6 = find(*config, "ipv6_masquerade_enabled");
    if (v4 != nullptr && v6 != nullptr && v4->is_boolean() && v6->is_boolean()) {
      init.config = MasqueradeConfig{v4->get<bool>(), v6->get<bool>()};
    }
  }
  if (const Json* relays = find(p, "relays")) init.relays = decode_relays(*relays);
  if (const Json* slug = find(p, "account_slug"); slug != nullptr && slug->is_string()) {
    init.account_slug = slug->get<std::string>();
  }
  if (const Json* auths = find(p, "authorizations"); auths != nullptr && auths->is_array()) {
    for (const auto& a : *auths) {
      auto client = get_uuid(a, "client_id");
      auto resource = get_uuid(a, "resource_id");
      auto expires = get_time(a, "expires_at");
      if (!client || !resource || !expires) {
        FZ_WARN("portal", "init: skipping a malformed authorization");
        continue;
      }
      init.authorizations.push_back(Authorization{*client, *resource, *expires});
    }
  }
  return IngressMessage(std::move(init));
}

OJson encode_init(const Init& init) {
  OJson out;
  out["interface"] =
      OJson{{"ipv4", init.interface.ipv4.to_string()}, {"ipv6", init.interface.ipv6.to_string()}};
  if (init.config) {
    out["config"] = OJson{{"ipv4_masquerade_enabled", init.config->ipv4_masquerade_enabled},
                          {"ipv6_masquerade_enabled", init.config->ipv6_masquerade_enabled}};
  }
  out["relays"] = encode_relays(init.relays);
  if (init.account_slug) out["account_slug"] = *init.account_slug;
  OJson auths = OJson::array();
  for (const auto& a : init.authorizations) {
    auths.push_back(OJson{{"client_id", a.client_id.to_string()},
                          {"resource_id", a.resource_id.to_string()},
                          {"expires_at", unix_seconds(a.expires_at)}});
  }
  out["authorizations"] = std::move(auths);
  return out;
}

Result<IngressMessage> decode_authorize_flow(const Json& p) {
  AuthorizeFlow m;
  PORTAL_TRY(m.ref, get_string(p, "ref"));
  const Json* resource = find(p, "resource");
  if (resource == nullptr) return missing("resource");
  PORTAL_TRY(m.resource, decode_resource(*resource));
  PORTAL_TRY(m.gateway_ice_credentials, get_ice_credentials(p, "gateway_ice_credentials"));
  PORTAL_TRY(m.client_ice_credentials, get_ice_credentials(p, "client_ice_credentials"));
  const Json* client = find(p, "client");
  if (client == nullptr || !client->is_object()) return missing("client");
  PORTAL_TRY(m.client.id, get_uuid(*client, "id"));
  PORTAL_TRY(m.client.public_key, get_public_key(*client, "public_key"));
  PORTAL_TRY(m.client.preshared_key, get_preshared_key(*client, "preshared_key"));
  PORTAL_TRY(m.client.ipv4, get_ip(*client, "ipv4", net::IpFamily::v4));
  PORTAL_TRY(m.client.ipv6, get_ip(*client, "ipv6", net::IpFamily::v6));
  PORTAL_TRY(m.expires_at, get_nullable_time(p, "expires_at"));
  return IngressMessage(std::move(m));
}

OJson encode_authorize_flow(const AuthorizeFlow& m) {
  return OJson{
      {"ref", m.ref},
      {"resource", encode_resource(m.resource)},
      {"gateway_ice_credentials", encode_ice_credentials(m.gateway_ice_credentials)},
      {"client_ice_credentials", encode_ice_credentials(m.client_ice_credentials)},
      {"client", OJson{{"id", m.client.id.to_string()},
                       {"public_key", key_to_base64(m.client.public_key)},
                       {"preshared_key", key_to_base64(m.client.preshared_key.expose_secret())},
                       {"ipv4", m.client.ipv4.to_string()},
                       {"ipv6", m.client.ipv6.to_string()}}},
      {"expires_at", nullable_time(m.expires_at)}};
}

Result<IngressMessage> decode_reject_access(const Json& p) {
  RejectAccess m;
  PORTAL_TRY(m.client_id, get_uuid(p, "client_id"));
  PORTAL_TRY(m.resource_id, get_uuid(p, "resource_id"));
  return IngressMessage(m);
}

Result<IngressMessage> decode_expiry_updated(const Json& p) {
  AccessAuthorizationExpiryUpdated m;
  PORTAL_TRY(m.client_id, get_uuid(p, "client_id"));
  PORTAL_TRY(m.resource_id, get_uuid(p, "resource_id"));
  PORTAL_TRY(m.expires_at, get_time(p, "expires_at"));
  return IngressMessage(m);
}

Result<IngressMessage> decode_relays_presence(const Json& p) {
  RelaysPresence m;
  const Json* ids = find(p, "disconnected_ids");
  if (ids == nullptr || !ids->is_array()) return missing("disconnected_ids");
  for (const auto& e : *ids) {
    auto id = e.is_string() ? parse_uuid_any(e.get_ref<const std::string&>())
                            : Result<Uuid>(missing("disconnected_ids"));
    if (id) {
      m.disconnected_ids.push_back(*id);
    } else {
      FZ_WARN("portal", "relays_presence: skipping a malformed relay id");
    }
  }
  const Json* connected = find(p, "connected");
  if (connected == nullptr || !connected->is_array()) return missing("connected");
  m.connected = decode_relays(*connected);
  return IngressMessage(std::move(m));
}

template <class T>
Result<IngressMessage> decode_candidates_message(const Json& p) {
  T m;
  PORTAL_TRY(m.client_id, get_uuid(p, "client_id"));
  PORTAL_TRY(m.candidates, decode_candidates(p));
  return IngressMessage(std::move(m));
}

Result<IngressMessage> decode_request_connection(const Json& p) {
  RequestConnection m;
  PORTAL_TRY(m.ref, get_string(p, "ref"));
  const Json* resource = find(p, "resource");
  if (resource == nullptr) return missing("resource");
  PORTAL_TRY(m.resource, decode_resource(*resource));
  const Json* client = find(p, "client");
  if (client == nullptr || !client->is_object()) return missing("client");
  PORTAL_TRY(m.client.id, get_uuid(*client, "id"));
  const Json* payload = find(*client, "payload");
  if (payload == nullptr || !payload->is_object()) return missing("client.payload");
  PORTAL_TRY(m.client.ice_parameters, get_ice_credentials(*payload, "ice_parameters"));
  PORTAL_TRY(m.client.domain, decode_optional_resolve_request(*payload, "domain"));
  const Json* peer = find(*client, "peer");
  if (peer == nullptr || !peer->is_object()) return missing("client.peer");
  if (const Json* ka = find(*peer, "persistent_keepalive"); ka != nullptr && !ka->is_null()) {
    PORTAL_TRY(m.client.peer.persistent_keepalive, parse_u16(*ka, "persistent_keepalive"));
  }
  PORTAL_TRY(m.client.peer.public_key, get_public_key(*peer, "public_key"));
  PORTAL_TRY(m.client.peer.preshared_key, get_preshared_key(*peer, "preshared_key"));
  PORTAL_TRY(m.client.peer.ipv4, get_ip(*peer, "ipv4", net::IpFamily::v4));
  PORTAL_TRY(m.client.peer.ipv6, get_ip(*peer, "ipv6", net::IpFamily::v6));
  PORTAL_TRY(m.expires_at, get_nullable_time(p, "expires_at"));
  return IngressMessage(std::move(m));
}

OJson encode_request_connection(const RequestConnection& m) {
  OJson payload{{"ice_parameters", encode_ice_credentials(m.client.ice_parameters)}};
  if (m.client.domain) payload["domain"] = encode_resolve_request(m.client.domain);
  const auto& peer = m.client.peer;
  OJson peer_json{{"persistent_keepalive",
                   peer.persistent_keepalive ? OJson(*peer.persistent_keepalive) : OJson(nullptr)},
                  {"public_key", key_to_base64(peer.public_key)},
                  {"preshared_key", key_to_base64(peer.preshared_key.expose_secret())},
                  {"ipv4", peer.ipv4.to_string()},
                  {"ipv6", peer.ipv6.to_string()}};
  return OJson{{"ref", m.ref},
               {"resource", encode_resource(m.resource)},
               {"client", OJson{{"id", m.client.id.to_string()},
                                {"payload", std::move(payload)},
                                {"peer", std::move(peer_json)}}},
               {"expires_at", nullable_time(m.expires_at)}};
}

Result<IngressMessage> decode_allow_access(const Json& p) {
  AllowAccess m;
  PORTAL_TRY(m.ref, get_string(p, "ref"));
  PORTAL_TRY(m.client_id, get_uuid(p, "client_id"));
  const Json* resource = find(p, "resource");
  if (resource == nullptr) return missing("resource");
  PORTAL_TRY(m.resource, decode_resource(*resource));
  PORTAL_TRY(m.expires_at, get_nullable_time(p, "expires_at"));
  PORTAL_TRY(m.payload, decode_optional_resolve_request(p, "payload"));
  PORTAL_TRY(m.client_ipv4, get_ip(p, "client_ipv4", net::IpFamily::v4));
  PORTAL_TRY(m.client_ipv6, get_ip(p, "client_ipv6", net::IpFamily::v6));
  return IngressMessage(std::move(m));
}

OJson encode_allow_access(const AllowAccess& m) {
  return OJson{{"ref", m.ref},
               {"client_id", m.client_id.to_string()},
               {"resource", encode_resource(m.resource)},
               {"expires_at", nullable_time(m.expires_at)},
               {"payload", encode_resolve_request(m.payload)},
               {"client_ipv4", m.client_ipv4.to_string()},
               {"client_ipv6", m.client_ipv6.to_string()}};
}

template <class T>
Result<EgressMessage> decode_broadcast(const Json& p) {
  T m;
  PORTAL_TRY(m.client_ids, decode_ids_strict(p, "client_ids"));
  PORTAL_TRY(m.candidates, decode_strings_strict(p, "candidates"));
  return EgressMessage(std::move(m));
}

template <class T>
OJson encode_broadcast(const T& m) {
  OJson candidates = OJson::array();
  for (const auto& c : m.candidates)
    candidates.push_back(c);
  return OJson{{"client_ids", encode_ids(m.client_ids)}, {"candidates", std::move(candidates)}};
}

// ---------------------------------------------------------------------------------------------
// Candidate grammar (str0m's `Candidate::from_sdp_string`)

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool eat(std::string_view literal) {
    if (s_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }
  // One or more characters other than SP, CR and LF.
  std::string_view token() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '\r' && s_[pos_] != '\n')
      ++pos_;
    return s_.substr(start, pos_ - start);
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

// Rust's `str::parse` for unsigned integers: an optional leading '+', then one or more digits.
bool parse_rust_unsigned(std::string_view t, std::uint64_t max) {
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  if (t.empty()) return false;
  std::uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
    if (v > max) return false;
  }
  return true;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// Matches " <keyword> <token>" if the keyword is there; a keyword without its value is an error.
enum class Optional { absent, present, error };
Optional optional_token(Cursor& c, std::string_view keyword_with_spaces) {
  if (!c.eat(keyword_with_spaces)) return Optional::absent;
  return c.token().empty() ? Optional::error : Optional::present;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public helpers

Result<Uuid> parse_uuid_any(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
    return Uuid::parse(text.substr(1, 36));
  }
  if (text.size() == 45 && text.substr(0, 9) == "urn:uuid:") return Uuid::parse(text.substr(9));
  if (text.size() == 32) {
    std::string hyphenated;
    hyphenated.reserve(36);
    for (std::size_t i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) hyphenated += '-';
      hyphenated += text[i];
    }
    return Uuid::parse(hyphenated);
  }
  return Uuid::parse(text);
}

bool is_valid_candidate(std::string_view text) {
  Cursor c(text);
  if (!c.eat("candidate:")) return false;
  if (c.token().empty()) return false;                                      // foundation: opaque
  if (!c.eat(" ") || !parse_rust_unsigned(c.token(), 65535)) return false;  // component
  if (!c.eat(" ")) return false;
  const auto proto = c.token();
  if (!equals_ignore_case(proto, "udp") && !equals_ignore_case(proto, "tcp") &&
      !equals_ignore_case(proto, "ssltcp") && !equals_ignore_case(proto, "tls")) {
    return false;
  }
  if (!c.eat(" ") || !parse_rust_unsigned(c.token(), 0xffffffffu)) return false;  // priority
  if (!c.eat(" ") || !net::IpAddr::parse(c.token())) return false;
  if (!c.eat(" ") || !parse_rust_unsigned(c.token(), 65535)) return false;  // port
  if (!c.eat(" typ ")) return false;
  // The kind is matched as a prefix: "typ hostile" is a host candidate.
  if (!c.eat("host") && !c.eat("srflx") && !c.eat("prflx") && !c.eat("relay")) return false;

  // Optional fields, in this order; anything after them (or out of order) is ignored.
  if (optional_token(c, " tcptype ") == Optional::error) return false;
  if (c.eat(" raddr ")) {
    if (!net::IpAddr::parse(c.token())) return false;
    if (!c.eat(" rport ") || !parse_rust_unsigned(c.token(), 65535)) return false;
  }
  for (std::string_view keyword : {" generation ", " network-id ", " ufrag ", " network-cost "}) {
    if (optional_token(c, keyword) == Optional::error) return false;
  }
  return true;
}

ResourceId resource_id(const ResourceDescription& resource) {
  return std::visit([](const auto& r) { return r.id; }, resource);
}

const Filters& resource_filters(const ResourceDescription& resource) {
  static const Filters kNone;
  if (const auto* cidr = std::get_if<CidrResource>(&resource)) return cidr->filters;
  if (const auto* dns = std::get_if<DnsResource>(&resource)) return dns->filters;
  return kNone;
}

std::vector<RelayServer> merge_turn_relays(const std::vector<Relay>& relays) {
  std::vector<RelayServer> out;
  for (const auto& relay : relays) {
    const auto* turn = std::get_if<TurnRelay>(&relay);
    if (turn == nullptr) continue;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const RelayServer& s) { return s.id == turn->id; });
    if (it == out.end()) {
      out.push_back(RelayServer{turn->id, std::nullopt, std::nullopt, {}, {}, turn->expires_at});
      it = std::prev(out.end());
    }
    auto& slot = turn->addr.ip.is_v4() ? it->v4 : it->v6;
    if (slot) {
      FZ_WARN("portal", "relay {} has a duplicate IPv{} address; keeping the first",
              turn->id.to_string(), turn->addr.ip.is_v4() ? 4 : 6);
    } else {
      slot = turn->addr;
    }
    it->username = turn->username;
    it->password = turn->password;
    it->expires_at = turn->expires_at;
  }
  return out;
}

Result<Filter> decode_filter(const nlohmann::json& value) {
  if (!value.is_object()) return missing("filter");
  const Json* protocol = find(value, "protocol");
  if (protocol == nullptr || !protocol->is_string()) return missing("protocol");
  const auto& p = protocol->get_ref<const std::string&>();
  Filter f;
  if (p == "icmp") {
    f.protocol = FilterProtocol::icmp;
    return f;
  }
  if (p != "tcp" && p != "udp") return Error(Errc::unsupported, "unknown filter protocol", p);
  f.protocol = p == "tcp" ? FilterProtocol::tcp : FilterProtocol::udp;
  if (const Json* start = find(value, "port_range_start"); start != nullptr && !start->is_null()) {
    PORTAL_TRY(f.port_range_start, parse_u16(*start, "port_range_start"));
  }
  if (const Json* end = find(value, "port_range_end"); end != nullptr && !end->is_null()) {
    PORTAL_TRY(f.port_range_end, parse_u16(*end, "port_range_end"));
  }
  return f;
}

Result<Filters> decode_filters(const nlohmann::json& value) {
  if (!value.is_array()) return missing("filters");
  Filters out;
  out.reserve(value.size());
  for (const auto& element : value) {
    auto f = decode_filter(element);
    if (f) {
      out.push_back(*f);
    } else if (f.error().code() == Errc::unsupported) {
      FZ_WARN("portal", "skipping a filter: {}", f.error().to_string());
    } else {
      return f.error();
    }
  }
  // Every entry was unknown: an empty list would mean "permit everything".
  if (out.empty() && !value.empty()) {
    return Error(Errc::unsupported, "every filter of the resource has an unknown protocol");
  }
  return out;
}

Result<ResourceDescription> decode_resource(const nlohmann::json& value) {
  if (!value.is_object()) return missing("resource");
  const Json* type = find(value, "type");
  if (type == nullptr || !type->is_string()) return missing("type");
  const auto& t = type->get_ref<const std::string&>();
  if (t == "cidr") {
    CidrResource r;
    PORTAL_TRY(r.id, get_uuid(value, "id"));
    const Json* address = find(value, "address");
    if (address == nullptr || !address->is_string()) return missing("address");
    auto cidr = net::Cidr::parse(address->get_ref<const std::string&>());
    if (!cidr) return missing("address");
    r.address = *cidr;
    r.name = get_optional_string(value, "name");
    const Json* filters = find(value, "filters");
    if (filters == nullptr) return missing("filters");
    PORTAL_TRY(r.filters, decode_filters(*filters));
    return ResourceDescription(std::move(r));
  }
  if (t == "dns") {
    DnsResource r;
    PORTAL_TRY(r.id, get_uuid(value, "id"));
    PORTAL_TRY(r.address, get_string(value, "address"));
    r.name = get_optional_string(value, "name");
    const Json* filters = find(value, "filters");
    if (filters == nullptr) return missing("filters");
    PORTAL_TRY(r.filters, decode_filters(*filters));
    return ResourceDescription(std::move(r));
  }
  if (t == "internet") {
    InternetResource r;
    PORTAL_TRY(r.id, get_uuid(value, "id"));
    return ResourceDescription(r);
  }
  return Error(Errc::unsupported, "unknown resource type", t);
}

Result<std::vector<ResourceDescription>> decode_resources(const nlohmann::json& value) {
  if (!value.is_array()) return missing("resources");
  std::vector<ResourceDescription> out;
  for (const auto& element : value) {
    auto r = decode_resource(element);
    if (r) {
      out.push_back(std::move(*r));
    } else if (r.error().code() == Errc::unsupported) {
      FZ_WARN("portal", "skipping a resource: {}", r.error().to_string());
    } else {
      return r.error();
    }
  }
  return out;
}

std::vector<Relay> decode_relays(const nlohmann::json& value) {
  std::vector<Relay> out;
  if (!value.is_array()) {
    if (!value.is_null()) FZ_WARN("portal", "ignoring a relay list that is not an array");
    return out;
  }
  for (const auto& element : value) {
    auto r = decode_relay(element);
    if (r) {
      out.push_back(std::move(*r));
    } else {
      FZ_WARN("portal", "skipping a relay: {}", r.error().to_string());
    }
  }
  return out;
}

nlohmann::ordered_json encode_filter(const Filter& f) {
  if (f.protocol == FilterProtocol::icmp) return OJson{{"protocol", "icmp"}};
  return OJson{{"protocol", f.protocol == FilterProtocol::tcp ? "tcp" : "udp"},
               {"port_range_start", f.port_range_start},
               {"port_range_end", f.port_range_end}};
}

namespace {
OJson encode_filters(const Filters& filters) {
  OJson out = OJson::array();
  for (const auto& f : filters)
    out.push_back(encode_filter(f));
  return out;
}
}  // namespace

nlohmann::ordered_json encode_resource(const ResourceDescription& resource) {
  if (const auto* cidr = std::get_if<CidrResource>(&resource)) {
    return OJson{{"id", cidr->id.to_string()},
                 {"type", "cidr"},
                 {"address", cidr->address.to_string()},
                 {"name", cidr->name},
                 {"filters", encode_filters(cidr->filters)}};
  }
  if (const auto* dns = std::get_if<DnsResource>(&resource)) {
    return OJson{{"id", dns->id.to_string()},
                 {"type", "dns"},
                 {"address", dns->address},
                 {"name", dns->name},
                 {"filters", encode_filters(dns->filters)}};
  }
  return OJson{{"id", std::get<InternetResource>(resource).id.to_string()}, {"type", "internet"}};
}

// ---------------------------------------------------------------------------------------------
// Event names and dispatch

namespace {
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;
}  // namespace

std::string_view event_name(const IngressMessage& message) {
  return std::visit(
      Overloaded{
          [](const Init&) { return std::string_view("init"); },
          [](const AuthorizeFlow&) { return std::string_view("authorize_flow"); },
          [](const RejectAccess&) { return std::string_view("reject_access"); },
          [](const AccessAuthorizationExpiryUpdated&) {
            return std::string_view("access_authorization_expiry_updated");
          },
          [](const ResourceUpdated&) { return std::string_view("resource_updated"); },
          [](const RelaysPresence&) { return std::string_view("relays_presence"); },
          [](const IceCandidates&) { return std::string_view("ice_candidates"); },
          [](const InvalidateIceCandidates&) {
            return std::string_view("invalidate_ice_candidates");
          },
          [](const RequestConnection&) { return std::string_view("request_connection"); },
          [](const AllowAccess&) { return std::string_view("allow_access"); },
      },
      message);
}

std::string_view event_name(const EgressMessage& message) {
  return std::visit(Overloaded{
                        [](const FlowAuthorized&) { return std::string_view("flow_authorized"); },
                        [](const BroadcastIceCandidates&) {
                          return std::string_view("broadcast_ice_candidates");
                        },
                        [](const BroadcastInvalidatedIceCandidates&) {
                          return std::string_view("broadcast_invalidated_ice_candidates");
                        },
                        [](const ConnectionReady&) { return std::string_view("connection_ready"); },
                    },
                    message);
}

bool is_ingress_event(std::string_view event) {
  for (std::string_view known :
       {"init", "authorize_flow", "reject_access", "access_authorization_expiry_updated",
        "resource_updated", "relays_presence", "ice_candidates", "invalidate_ice_candidates",
        "request_connection", "allow_access"}) {
    if (event == known) return true;
  }
  return false;
}

Result<IngressMessage> decode_ingress(std::string_view event, const nlohmann::json& payload) {
  if (event == "init") return decode_init(payload);
  if (event == "authorize_flow") return decode_authorize_flow(payload);
  if (event == "reject_access") return decode_reject_access(payload);
  if (event == "access_authorization_expiry_updated") return decode_expiry_updated(payload);
  if (event == "resource_updated") {
    auto r = decode_resource(payload);
    if (!r) return r.error();
    return IngressMessage(ResourceUpdated{std::move(*r)});
  }
  if (event == "relays_presence") return decode_relays_presence(payload);
  if (event == "ice_candidates") return decode_candidates_message<IceCandidates>(payload);
  if (event == "invalidate_ice_candidates") {
    return decode_candidates_message<InvalidateIceCandidates>(payload);
  }
  if (event == "request_connection") return decode_request_connection(payload);
  if (event == "allow_access") return decode_allow_access(payload);
  return Error(Errc::unsupported, "unknown event", std::string(event));
}

Result<EgressMessage> decode_egress(std::string_view event, const nlohmann::json& p) {
  if (event == "flow_authorized") {
    FlowAuthorized m;
    PORTAL_TRY(m.ref, get_string(p, "ref"));
    return EgressMessage(std::move(m));
  }
  if (event == "broadcast_ice_candidates") return decode_broadcast<BroadcastIceCandidates>(p);
  if (event == "broadcast_invalidated_ice_candidates") {
    return decode_broadcast<BroadcastInvalidatedIceCandidates>(p);
  }
  if (event == "connection_ready") {
    ConnectionReady m;
    PORTAL_TRY(m.ref, get_string(p, "ref"));
    const Json* gateway_payload = find(p, "gateway_payload");
    const Json* accepted = gateway_payload ? find(*gateway_payload, "ConnectionAccepted") : nullptr;
    if (accepted == nullptr) return missing("gateway_payload.ConnectionAccepted");
    PORTAL_TRY(m.ice_parameters, get_ice_credentials(*accepted, "ice_parameters"));
    return EgressMessage(std::move(m));
  }
  return Error(Errc::unsupported, "unknown event", std::string(event));
}

nlohmann::ordered_json encode_payload(const IngressMessage& message) {
  return std::visit(
      Overloaded{
          [](const Init& m) { return encode_init(m); },
          [](const AuthorizeFlow& m) { return encode_authorize_flow(m); },
          [](const RejectAccess& m) {
            return OJson{{"client_id", m.client_id.to_string()},
                         {"resource_id", m.resource_id.to_string()}};
          },
          [](const AccessAuthorizationExpiryUpdated& m) {
            return OJson{{"client_id", m.client_id.to_string()},
                         {"resource_id", m.resource_id.to_string()},
                         {"expires_at", unix_seconds(m.expires_at)}};
          },
          [](const ResourceUpdated& m) { return encode_resource(m.resource); },
          [](const RelaysPresence& m) {
            return OJson{{"disconnected_ids", encode_ids(m.disconnected_ids)},
                         {"connected", encode_relays(m.connected)}};
          },
          [](const IceCandidates& m) {
            return OJson{{"client_id", m.client_id.to_string()}, {"candidates", m.candidates}};
          },
          [](const InvalidateIceCandidates& m) {
            return OJson{{"client_id", m.client_id.to_string()}, {"candidates", m.candidates}};
          },
          [](const RequestConnection& m) { return encode_request_connection(m); },
          [](const AllowAccess& m) { return encode_allow_access(m); },
      },
      message);
}

nlohmann::ordered_json encode_payload(const EgressMessage& message) {
  return std::visit(
      Overloaded{
          [](const FlowAuthorized& m) {
            return OJson{{"ref", m.ref}};
          },
          [](const BroadcastIceCandidates& m) { return encode_broadcast(m); },
          [](const BroadcastInvalidatedIceCandidates& m) { return encode_broadcast(m); },
          [](const ConnectionReady& m) {
            return OJson{
                {"ref", m.ref},
                {"gateway_payload",
                 OJson{{"ConnectionAccepted",
                        OJson{{"ice_parameters", encode_ice_credentials(m.ice_parameters)}}}}}};
          },
      },
      message);
}

}  // namespace fz::portal
