// DevPortal's control operations and listings: what tests trigger through the control API.
#include <algorithm>

#include "base/encoding.hpp"
#include "dev-portal/portal.hpp"
#include "portal/frame.hpp"

namespace fz::devportal {
namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

Error control_error(std::string detail) {
  return Error(Errc::state, "control", std::move(detail));
}

std::optional<std::int64_t> optional_int(const Json& body, const char* key, bool& bad) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) {
    bad = true;
    return std::nullopt;
  }
  return it->get<std::int64_t>();
}

Result<Uuid> body_uuid(const Json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || !it->is_string()) return control_error(std::string(key) + ": missing");
  auto id = Uuid::parse(it->get<std::string>());
  if (!id) return control_error(std::string(key) + ": not a UUID");
  return *id;
}

std::string random_text(Rng& rng, std::size_t length) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out;
  for (std::size_t i = 0; i < length; ++i)
    out.push_back(kAlphabet[rng.uniform(sizeof(kAlphabet) - 1)]);
  return out;
}

}  // namespace

Status DevPortal::push_to_gateway(const Uuid& gateway_id, std::string_view event,
                                  const OJson& payload, Instant now) {
  GatewayRecord* g = find_gateway(gateway_id);
  if (g == nullptr) return control_error("no gateway " + gateway_id.to_string());
  Socket* s = joined_socket_of(g->socket);
  if (s == nullptr) return control_error("gateway " + gateway_id.to_string() + " is not joined");
  push(*s, event, payload, now);
  return {};
}

Status DevPortal::push_to_client(const Uuid& client_id, std::string_view event,
                                 const OJson& payload, Instant now) {
  ClientRecord* c = find_client(client_id);
  if (c == nullptr) return control_error("no client " + client_id.to_string());
  Socket* s = joined_socket_of(c->socket);
  if (s == nullptr) return control_error("client " + client_id.to_string() + " is not joined");
  push(*s, event, payload, now);
  return {};
}

Result<Json> DevPortal::reject_access(std::optional<Uuid> gateway_id, const Uuid& client_id,
                                      const Uuid& resource_id, Instant now) {
  std::vector<GatewayRecord*> targets;
  if (gateway_id) {
    GatewayRecord* g = find_gateway(*gateway_id);
    if (g == nullptr) return control_error("no gateway " + gateway_id->to_string());
    targets.push_back(g);
  } else {
    for (auto& [id, g] : gateways_)
      if (g.authorizations.contains({client_id, resource_id}) && joined_socket_of(g.socket))
        targets.push_back(&g);
    if (targets.empty()) {
      const ResourceEntry* r = resource_entry(resource_id);
      for (auto& [id, g] : gateways_) {
        if (r != nullptr && joined_socket_of(g.socket) &&
            std::find(r->site_ids.begin(), r->site_ids.end(), g.site_id) != r->site_ids.end())
          targets.push_back(&g);
      }
    }
  }
  Json sent = Json::array();
  for (GatewayRecord* g : targets) {
    g->authorizations.erase({client_id, resource_id});
    FZ_TRY_STATUS(push_to_gateway(
        g->id, "reject_access",
        OJson{{"client_id", client_id.to_string()}, {"resource_id", resource_id.to_string()}},
        now));
    sent.push_back(g->id.to_string());
  }
  if (sent.empty()) return control_error("no connected gateway to send reject_access to");
  return Json{{"sent_to", sent}};
}

Result<Json> DevPortal::update_expiry(std::optional<Uuid> gateway_id, const Uuid& client_id,
                                      const Uuid& resource_id, std::int64_t expires_at,
                                      Instant now) {
  Json sent = Json::array();
  for (auto& [id, g] : gateways_) {
    if (gateway_id
            ? id != *gateway_id
            : (!g.authorizations.contains({client_id, resource_id}) || !joined_socket_of(g.socket)))
      continue;
    if (g.authorizations.contains({client_id, resource_id}))
      g.authorizations[{client_id, resource_id}] = expires_at;
    FZ_TRY_STATUS(push_to_gateway(id, "access_authorization_expiry_updated",
                                  OJson{{"client_id", client_id.to_string()},
                                        {"resource_id", resource_id.to_string()},
                                        {"expires_at", expires_at}},
                                  now));
    sent.push_back(id.to_string());
  }
  if (sent.empty()) return control_error("no connected gateway holds this authorization");
  return Json{{"sent_to", sent}};
}

Result<Json> DevPortal::update_resource(const Uuid& resource_id,
                                        std::optional<portal::Filters> filters, Instant now) {
  ResourceEntry* resource = nullptr;
  for (auto& r : config_.resources)
    if (r.id == resource_id) resource = &r;
  if (resource == nullptr) return control_error("no resource " + resource_id.to_string());
  if (filters) {
    if (resource->type == ResourceType::internet)
      return control_error("internet resources have no filters");
    resource->filters = std::move(*filters);
  }
  Json gateways = Json::array(), clients = Json::array();
  for (auto& [id, g] : gateways_) {
    Socket* s = joined_socket_of(g.socket);
    if (s == nullptr || std::find(resource->site_ids.begin(), resource->site_ids.end(),
                                  g.site_id) == resource->site_ids.end())
      continue;
    push(*s, "resource_updated", gateway_resource(*resource), now);
    gateways.push_back(id.to_string());
  }
  for (auto& [id, c] : clients_) {
    Socket* s = joined_socket_of(c.socket);
    if (s == nullptr || !policy_expiry(id, resource_id, now)) continue;
    push(*s, "resource_created_or_updated", client_resource(*resource), now);
    clients.push_back(id.to_string());
  }
  return Json{{"gateways", gateways}, {"clients", clients}};
}

Result<Json> DevPortal::relays_presence(const std::vector<Uuid>& disconnected,
                                        const std::vector<Uuid>& connected, Instant now) {
  auto known = [&](const Uuid& id) {
    return std::any_of(config_.relays.begin(), config_.relays.end(),
                       [&](const RelayEntry& r) { return r.id == id; });
  };
  for (const auto& id : disconnected)
    if (!known(id)) return control_error("no relay " + id.to_string());
  for (const auto& id : connected)
    if (!known(id)) return control_error("no relay " + id.to_string());
  for (const auto& id : disconnected)
    offline_relays_.insert(id);
  for (const auto& id : connected)
    offline_relays_.erase(id);
  OJson ids = OJson::array();
  for (const auto& id : disconnected)
    ids.push_back(id.to_string());
  Json sent = Json::array();
  for (auto& [id, g] : gateways_) {
    Socket* s = joined_socket_of(g.socket);
    if (s == nullptr) continue;
    push(*s, "relays_presence",
         OJson{{"disconnected_ids", ids},
               {"connected",
                relays_for(g.public_key, wall_seconds(now) + config_.relay_credentials_lifetime)}},
         now);
    sent.push_back(id.to_string());
  }
  for (auto& [id, c] : clients_) {
    Socket* s = joined_socket_of(c.socket);
    const ClientEntry* entry = client_entry(id);
    if (s == nullptr || entry == nullptr) continue;
    push(*s, "relays_presence",
         OJson{{"disconnected_ids", ids},
               {"connected", relays_for(c.public_key, client_relay_expiry(*entry))}},
         now);
    sent.push_back(id.to_string());
  }
  return Json{{"sent_to", sent}};
}

Result<Json> DevPortal::disconnect(PeerKind kind, const Uuid& id, DisconnectMode mode,
                                   Instant now) {
  std::optional<SocketId> socket_id;
  if (kind == PeerKind::gateway) {
    if (GatewayRecord* g = find_gateway(id)) socket_id = g->socket;
  } else {
    if (ClientRecord* c = find_client(id)) socket_id = c->socket;
  }
  Socket* s = socket_id ? find_socket(*socket_id) : nullptr;
  if (s == nullptr)
    return control_error(std::string(to_string(kind)) + " " + id.to_string() + " is not connected");
  const SocketId sid = s->id;
  if (mode == DisconnectMode::phx_close) {
    // The channel process stops (e.g. the gateway was deleted): phx_close, socket stays up.
    push(*s, "phx_close", OJson::object(), now);
    s->joined = false;
  } else {
    close_socket(*s, "control: disconnect", now);
  }
  return Json{{"socket", sid}};
}

Result<Json> DevPortal::revoke_token(std::string_view token, Instant now) {
  bool known = false;
  for (const auto& s : config_.sites)
    known = known || std::find(s.tokens.begin(), s.tokens.end(), token) != s.tokens.end();
  for (const auto& c : config_.clients)
    known = known || c.token == token;
  if (!known) return control_error("no such token");
  revoked_tokens_.insert(std::string(token));
  std::vector<SocketId> affected;
  for (const auto& [id, s] : sockets_)
    if (s.token == token) affected.push_back(id);
  for (const SocketId id : affected)
    if (Socket* s = find_socket(id)) close_socket(*s, "token revoked", now);
  return Json{{"closed", affected.size()}};
}

Result<DevPortal::LegacyArgs> DevPortal::legacy_args(const Json& body) const {
  if (!body.is_object()) return control_error("body must be a JSON object");
  auto client_id = body_uuid(body, "client_id");
  if (!client_id) return client_id.error();
  auto resource_id = body_uuid(body, "resource_id");
  if (!resource_id) return resource_id.error();
  const ClientEntry* entry = client_entry(*client_id);
  const ResourceEntry* resource = resource_entry(*resource_id);
  if (entry == nullptr) return control_error("no client " + client_id->to_string());
  if (resource == nullptr) return control_error("no resource " + resource_id->to_string());
  bool bad = false;
  const auto expires_at = optional_int(body, "expires_at", bad);
  if (bad) return control_error("expires_at: must be an integer or null");
  return LegacyArgs{*client_id, *resource_id, entry, resource, expires_at};
}

Result<Json> DevPortal::request_connection(const Uuid& gateway_id, const Json& body, Instant now) {
  auto args = legacy_args(body);
  if (!args) return args.error();
  const auto& [client_id, resource_id, entry, resource, expires_at] = *args;
  std::string public_key;
  if (auto it = body.find("public_key"); it != body.end() && it->is_string()) {
    public_key = it->get<std::string>();
  } else if (const ClientRecord* c = find_client(client_id)) {
    public_key = c->public_key;
  } else {
    return control_error("public_key: missing and the client never connected");
  }
  std::string psk;
  if (auto it = body.find("preshared_key"); it != body.end() && it->is_string()) {
    psk = it->get<std::string>();
  } else {
    std::array<std::uint8_t, 32> random{};
    rng_.fill(random);
    psk = base64_encode(Bytes(random.data(), random.size()));
  }
  OJson ice{{"username", random_text(rng_, 16)}, {"password", random_text(rng_, 32)}};
  if (auto it = body.find("ice_parameters"); it != body.end() && it->is_object()) ice = *it;
  OJson client_payload{{"ice_parameters", ice}};
  if (auto it = body.find("domain"); it != body.end() && it->is_object())
    client_payload["domain"] = *it;
  const std::string ref = new_ref();
  OJson payload{{"ref", ref},
                {"resource", gateway_resource(*resource)},
                {"client", OJson{{"id", client_id.to_string()},
                                 {"payload", client_payload},
                                 {"peer", OJson{{"persistent_keepalive", 25},
                                                {"public_key", public_key},
                                                {"preshared_key", psk},
                                                {"ipv4", entry->ipv4.to_string()},
                                                {"ipv6", entry->ipv6.to_string()}}}}},
                {"expires_at", expires_at ? Json(*expires_at) : Json()}};
  FZ_TRY_STATUS(push_to_gateway(gateway_id, "request_connection", payload, now));
  legacy_pending_[ref] = LegacyPending{gateway_id, client_id, resource_id, expires_at};
  return Json{{"ref", ref}};
}

Result<Json> DevPortal::allow_access(const Uuid& gateway_id, const Json& body, Instant now) {
  auto args = legacy_args(body);
  if (!args) return args.error();
  const auto& [client_id, resource_id, entry, resource, expires_at] = *args;
  OJson resolve = nullptr;
  if (auto it = body.find("payload"); it != body.end() && it->is_object()) resolve = *it;
  const std::string ref = new_ref();
  OJson payload{{"ref", ref},
                {"client_id", client_id.to_string()},
                {"resource", gateway_resource(*resource)},
                {"expires_at", expires_at ? Json(*expires_at) : Json()},
                {"payload", resolve},
                {"client_ipv4", entry->ipv4.to_string()},
                {"client_ipv6", entry->ipv6.to_string()}};
  FZ_TRY_STATUS(push_to_gateway(gateway_id, "allow_access", payload, now));
  if (GatewayRecord* g = find_gateway(gateway_id))
    g->authorizations[{client_id, resource_id}] = expires_at;
  return Json{{"ref", ref}};
}

Result<Json> DevPortal::add_policy(const Json& body, Instant now) {
  auto policy = parse_policy(body, config_, "policy");
  if (!policy) return policy.error();
  for (const auto& p : config_.policies)
    if (p.id == policy->id) return control_error("policy.id: duplicate id");
  const bool was_allowed = policy_expiry(policy->client_id, policy->resource_id, now).has_value();
  config_.policies.push_back(*policy);
  bool pushed = false;
  if (!was_allowed && policy_expiry(policy->client_id, policy->resource_id, now)) {
    if (const ResourceEntry* r = resource_entry(policy->resource_id)) {
      pushed =
          push_to_client(policy->client_id, "resource_created_or_updated", client_resource(*r), now)
              .ok();
    }
  }
  return Json{{"id", policy->id.to_string()}, {"client_notified", pushed}};
}

Result<Json> DevPortal::remove_policy(const Uuid& policy_id, Instant now) {
  const auto it = std::find_if(config_.policies.begin(), config_.policies.end(),
                               [&](const PolicyEntry& p) { return p.id == policy_id; });
  if (it == config_.policies.end()) return control_error("no policy " + policy_id.to_string());
  const PolicyEntry removed = *it;
  config_.policies.erase(it);
  const std::pair<Uuid, Uuid> pair{removed.client_id, removed.resource_id};
  const auto remaining = policy_expiry(removed.client_id, removed.resource_id, now);
  Json rejected = Json::array(), updated = Json::array();
  bool client_notified = false;
  for (auto& [id, g] : gateways_) {
    if (!g.authorizations.contains(pair)) continue;
    Socket* s = joined_socket_of(g.socket);
    if (!remaining) {
      g.authorizations.erase(pair);
      if (s == nullptr) continue;
      push(*s, "reject_access",
           OJson{{"client_id", pair.first.to_string()}, {"resource_id", pair.second.to_string()}},
           now);
      rejected.push_back(id.to_string());
    } else if (*remaining) {
      // Another policy still covers the pair: the flow's expiry follows it.
      g.authorizations[pair] = **remaining;
      if (s == nullptr) continue;
      push(*s, "access_authorization_expiry_updated",
           OJson{{"client_id", pair.first.to_string()},
                 {"resource_id", pair.second.to_string()},
                 {"expires_at", **remaining}},
           now);
      updated.push_back(id.to_string());
    }
  }
  if (!remaining) {
    client_notified =
        push_to_client(removed.client_id, "resource_deleted", OJson(pair.second.to_string()), now)
            .ok();
  }
  return Json{{"reject_access", rejected},
              {"expiry_updated", updated},
              {"client_notified", client_notified}};
}

Status DevPortal::replay(const Uuid& gateway_id, std::string text, Instant now) {
  GatewayRecord* g = find_gateway(gateway_id);
  if (g == nullptr) return control_error("no gateway " + gateway_id.to_string());
  Socket* s = g->socket ? find_socket(*g->socket) : nullptr;
  if (s == nullptr) return control_error("gateway " + gateway_id.to_string() + " is not connected");
  send(*s, std::move(text), now);
  return {};
}

Json DevPortal::gateways_json() const {
  Json out = Json::array();
  for (const auto& [id, g] : gateways_) {
    Json auths = Json::array();
    for (const auto& [pair, expiry] : g.authorizations) {
      auths.push_back(Json{{"client_id", pair.first.to_string()},
                           {"resource_id", pair.second.to_string()},
                           {"expires_at", expiry ? Json(*expiry) : Json()}});
    }
    const auto s = g.socket ? sockets_.find(*g.socket) : sockets_.end();
    out.push_back(Json{{"id", id.to_string()},
                       {"site_id", g.site_id.to_string()},
                       {"external_id", g.external_id},
                       {"name", g.name},
                       {"public_key", g.public_key},
                       {"version", g.version},
                       {"ipv4", g.ipv4.to_string()},
                       {"ipv6", g.ipv6.to_string()},
                       {"connected", s != sockets_.end()},
                       {"joined", s != sockets_.end() && s->second.joined},
                       {"socket", s != sockets_.end() ? Json(s->first) : Json()},
                       {"authorizations", auths}});
  }
  return out;
}

Json DevPortal::clients_json() const {
  Json out = Json::array();
  for (const auto& [id, c] : clients_) {
    const ClientEntry* entry = client_entry(id);
    const auto s = c.socket ? sockets_.find(*c.socket) : sockets_.end();
    out.push_back(Json{{"id", id.to_string()},
                       {"external_id", c.external_id},
                       {"name", c.name},
                       {"public_key", c.public_key},
                       {"version", c.version},
                       {"ipv4", entry ? entry->ipv4.to_string() : ""},
                       {"ipv6", entry ? entry->ipv6.to_string() : ""},
                       {"connected", s != sockets_.end()},
                       {"joined", s != sockets_.end() && s->second.joined},
                       {"socket", s != sockets_.end() ? Json(s->first) : Json()}});
  }
  return out;
}

Json DevPortal::flows_json() const {
  return Json{{"authorized", flows_}, {"pending", pending_flows_.size()}};
}

Json DevPortal::policies_json(Instant now) const {
  Json out = Json::array();
  for (const auto& p : config_.policies) {
    const auto expiry = policy_absolute_expiry(p);
    out.push_back(Json{{"id", p.id.to_string()},
                       {"client_id", p.client_id.to_string()},
                       {"resource_id", p.resource_id.to_string()},
                       {"expires_at", expiry ? Json(*expiry) : Json()},
                       {"active", !expiry || *expiry > wall_seconds(now)}});
  }
  return out;
}

}  // namespace fz::devportal
