#include "dev-portal/portal.hpp"

#include <algorithm>
#include <charconv>

#include "base/encoding.hpp"
#include "base/log.hpp"
#include "crypto/hash.hpp"
#include "portal/frame.hpp"
#include "portal/user_agent.hpp"

namespace fz::devportal {
namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

// init.authorizations[].expires_at must be an integer; flows without an expiry are listed with
// this one (2100-01-01T00:00:00Z).
constexpr std::int64_t kFarFuture = 4102444800;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding as Plug does it: `+` is a space, %XX a byte. A
// malformed escape is kept literally.
std::string form_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

struct Target {
  std::string path;
  std::map<std::string, std::string> query;  // the first occurrence of each key wins
};

Target parse_target(std::string_view target) {
  Target out;
  const auto q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key = form_decode(pair.substr(0, eq));
    std::string value =
        eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
    out.query.emplace(std::move(key), std::move(value));
  }
  return out;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool is_valid_public_key(std::string_view key) {
  if (key.size() != 44) return false;
  auto bytes = base64_decode(key);
  return bytes.ok();
}

std::string frame_text(std::string_view topic, std::string_view event, const OJson& payload,
                       const Json& ref) {
  // Key order as our own frames use it; Phoenix's order is not significant.
  return portal::dump_json(
      OJson{{"topic", topic}, {"event", event}, {"payload", payload}, {"ref", ref}});
}

OJson ice_json(const portal::IceCredentials& c) {
  return OJson{{"username", c.username}, {"password", c.password}};
}

}  // namespace

std::string_view to_string(PeerKind kind) {
  return kind == PeerKind::gateway ? "gateway" : "client";
}

std::optional<Version> parse_version(std::string_view text) {
  if (!portal::validate_protocol_version(text)) return std::nullopt;
  Version v;
  int* parts[3] = {&v.major, &v.minor, &v.patch};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    auto [next, ec] = std::from_chars(p, end, *parts[i]);
    if (ec != std::errc()) return std::nullopt;
    p = next;
    if (i < 2) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
  }
  return v;
}

std::optional<std::string> connlib_version(std::string_view user_agent) {
  std::size_t pos = 0;
  while (pos <= user_agent.size()) {
    const auto space = user_agent.find(' ', pos);
    const std::string_view token = user_agent.substr(
        pos, space == std::string_view::npos ? std::string_view::npos : space - pos);
    if (token.starts_with("connlib/")) return std::string(token.substr(8));
    if (space == std::string_view::npos) break;
    pos = space + 1;
  }
  return std::nullopt;
}

DevPortal::DevPortal(Config config, Rng& rng, Instant start, UnixTime start_wall)
    : config_(std::move(config)), rng_(rng), start_(start), start_wall_(start_wall) {
  for (const auto& c : config_.clients) {
    used_tunnel_ips_.insert(c.ipv4);
    used_tunnel_ips_.insert(c.ipv6);
  }
}

UnixTime DevPortal::wall(Instant now) const {
  return start_wall_ + std::chrono::duration_cast<std::chrono::seconds>(now - start_);
}
std::int64_t DevPortal::wall_seconds(Instant now) const {
  return wall(now).time_since_epoch().count();
}

// ---------------------------------------------------------------------------------------------
// Upgrade (portal-protocol.md §1.6, client-protocol.md §1.4)

UpgradeOutcome DevPortal::reject(int status, std::string body, std::string_view path,
                                 std::string_view why, Instant now) {
  log_.append(Json{{"level", "info"},
                   {"at_ms", to_millis(now - start_)},
                   {"what", "upgrade_rejected"},
                   {"path", path},
                   {"status", status},
                   {"reason", why}});
  return UpgradeRejected{status, std::move(body)};
}

UpgradeOutcome DevPortal::handle_upgrade(std::string_view target_text, std::string_view user_agent,
                                         Instant now) {
  const Target target = parse_target(target_text);
  PeerKind kind;
  if (target.path == "/gateway/websocket") {
    kind = PeerKind::gateway;
  } else if (target.path == "/client/websocket") {
    kind = PeerKind::client;
  } else {
    return reject(404, "Not Found", target.path, "unknown path", now);
  }
  if (const auto vsn = target.query.find("vsn");
      vsn != target.query.end() && !vsn->second.starts_with("1.")) {
    return reject(403, "", target.path, "unsupported vsn", now);  // we speak V1 only
  }
  const auto token_it = target.query.find("token");
  if (token_it == target.query.end()) {
    return reject(401, "Missing token", target.path, "missing token", now);
  }
  const std::string& token = token_it->second;
  const Site* site = nullptr;
  const ClientEntry* client = nullptr;
  if (!revoked_tokens_.contains(token)) {
    if (kind == PeerKind::gateway) {
      for (const auto& s : config_.sites)
        if (std::find(s.tokens.begin(), s.tokens.end(), token) != s.tokens.end()) site = &s;
    } else {
      for (const auto& c : config_.clients)
        if (c.token == token) client = &c;
    }
  }
  if (site == nullptr && client == nullptr) {
    return reject(401, "Invalid token", target.path,
                  revoked_tokens_.contains(token) ? "revoked token" : "invalid token", now);
  }

  // The changeset checks: every failing field is listed, one per line.
  std::vector<std::string> problems;
  auto param = [&](const char* key) -> std::string {
    const auto it = target.query.find(key);
    return it == target.query.end() ? std::string() : trim(it->second);
  };
  const std::string external_id = param("external_id");
  std::string name = param("name");
  const std::string public_key = param("public_key");
  if (external_id.empty()) problems.push_back("external_id: can't be blank");
  if (name.empty()) {
    // The real portal generates a short random name.
    name = kind == PeerKind::gateway ? "gateway-" : "client-";
    std::array<std::uint8_t, 3> random{};
    rng_.fill(random);
    name += hex_encode(Bytes(random.data(), random.size()));
  } else if (name.size() > 255) {
    problems.push_back("name: should be at most 255 character(s)");
  }
  if (public_key.empty()) {
    problems.push_back("public_key: can't be blank");
  } else if (!is_valid_public_key(public_key)) {
    problems.push_back(public_key.size() != 44 ? "public_key: should be 44 character(s)"
                                               : "public_key: must be a base64-encoded string");
  }
  const auto version = connlib_version(user_agent);
  if (!version || !parse_version(*version)) {
    problems.push_back("last_seen_user_agent: is invalid");
  }

  Uuid peer_id;
  if (kind == PeerKind::gateway && problems.empty()) {
    // Upserted on (site, external_id); the public key is unique per account.
    const Uuid id = *gateway_id_for(site->id, external_id);
    for (const auto& [gid, g] : gateways_) {
      if (gid != id && g.public_key == public_key)
        problems.push_back("public_key: has already been taken");
    }
    if (problems.empty()) {
      auto [it, inserted] = gateways_.try_emplace(id);
      GatewayRecord& g = it->second;
      if (inserted) {
        g.id = id;
        g.site_id = site->id;
        g.external_id = external_id;
        std::tie(g.ipv4, g.ipv6) = allocate_gateway_ips(site->id, external_id);
        rng_.fill(g.psk_base);
      }
      g.name = name;
      g.public_key = public_key;
      g.version = *version;
      peer_id = id;
    }
  } else if (kind == PeerKind::client && problems.empty()) {
    auto [it, inserted] = clients_.try_emplace(client->id);
    ClientRecord& c = it->second;
    if (inserted) {
      c.id = client->id;
      c.name = name;  // the real portal does not update a client's name on conflict
      if (client->psk_base) {
        c.psk_base = *client->psk_base;
      } else {
        rng_.fill(c.psk_base);
      }
    }
    c.external_id = external_id;
    c.public_key = public_key;
    c.version = *version;
    peer_id = client->id;
  }
  if (!problems.empty()) {
    std::string body = "Invalid or missing connection parameters:";
    for (std::size_t i = 0; i < problems.size(); ++i)
      body += (i == 0 ? " " : "\n") + problems[i];
    return reject(422, std::move(body), target.path, problems.front(), now);
  }

  const SocketId id = next_socket_++;
  Socket& socket = sockets_[id];
  socket.id = id;
  socket.kind = kind;
  socket.peer = peer_id;
  socket.token = token;
  socket.topic = std::string(to_string(kind));
  socket.last_frame = now;
  if (kind == PeerKind::gateway) {
    gateways_[peer_id].socket = id;
  } else {
    clients_[peer_id].socket = id;
  }
  log_.append(Json{{"level", "info"},
                   {"at_ms", to_millis(now - start_)},
                   {"what", "connected"},
                   {"peer", to_string(kind)},
                   {"peer_id", peer_id.to_string()},
                   {"socket", id},
                   {"external_id", external_id},
                   {"name", name},
                   {"public_key", public_key},
                   {"version", *version}});
  return id;
}

std::optional<Uuid> DevPortal::gateway_id_for(const Uuid& site_id,
                                              std::string_view external_id) const {
  // A stable id per (site, external_id): the first 16 bytes of SHA-256, marked as UUIDv4.
  std::string seed = "gateway:" + site_id.to_string() + ":" + std::string(external_id);
  const auto digest =
      crypto::sha256(Bytes(reinterpret_cast<const std::uint8_t*>(seed.data()), seed.size()));
  std::array<std::uint8_t, 16> bytes{};
  std::copy_n(digest.begin(), 16, bytes.begin());
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);
  return Uuid(bytes);
}

std::pair<net::IpAddr, net::IpAddr> DevPortal::allocate_gateway_ips(const Uuid& site_id,
                                                                    std::string_view external_id) {
  // Stable across portal restarts: derived from (site, external_id), probing past collisions.
  std::string seed = "tunnel:" + site_id.to_string() + ":" + std::string(external_id);
  const auto digest =
      crypto::sha256(Bytes(reinterpret_cast<const std::uint8_t*>(seed.data()), seed.size()));
  const std::uint32_t base4 = tunnel_v4_range().network().to_u32();
  std::uint32_t offset =
      (std::uint32_t{digest[0]} << 16 | std::uint32_t{digest[1]} << 8 | digest[2]) & 0x1fffff;
  net::IpAddr v4;
  for (;; offset = (offset + 1) & 0x1fffff) {
    if (offset == 0 || offset == 0x1fffff) continue;
    v4 = net::IpAddr::v4_from_u32(base4 + offset);
    if (!used_tunnel_ips_.contains(v4)) break;
  }
  std::array<std::uint8_t, 16> raw = tunnel_v6_range().network().raw();
  std::uint32_t offset6 = (std::uint32_t{digest[3]} << 24 | std::uint32_t{digest[4]} << 16 |
                           std::uint32_t{digest[5]} << 8 | digest[6]);
  net::IpAddr v6;
  for (;; ++offset6) {
    if (offset6 == 0) continue;
    // The low 21 bits of the /107 are free; keep the top bits of byte 13 from the range.
    raw[13] = static_cast<std::uint8_t>((offset6 >> 16) & 0x1f);
    raw[14] = static_cast<std::uint8_t>(offset6 >> 8);
    raw[15] = static_cast<std::uint8_t>(offset6);
    v6 = net::IpAddr::v6(raw);
    if (!used_tunnel_ips_.contains(v6)) break;
  }
  used_tunnel_ips_.insert(v4);
  used_tunnel_ips_.insert(v6);
  return {v4, v6};
}

// ---------------------------------------------------------------------------------------------
// Frames

void DevPortal::log_frame(const Socket& socket, std::string_view direction, std::string_view text,
                          Instant now) {
  Json entry{{"level", "info"},
             {"at_ms", to_millis(now - start_)},
             {"what", "frame"},
             {"dir", direction},
             {"peer", to_string(socket.kind)},
             {"peer_id", socket.peer.to_string()},
             {"socket", socket.id}};
  Json parsed = Json::parse(text, nullptr, false);
  if (parsed.is_object()) {
    if (auto e = parsed.find("event"); e != parsed.end()) entry["event"] = *e;
    if (auto t = parsed.find("topic"); t != parsed.end()) entry["topic"] = *t;
    entry["frame"] = redact(parsed);
  } else {
    entry["raw"] = std::string(text.substr(0, 512));
  }
  log_.append(std::move(entry));
}

void DevPortal::error(std::string message, const Socket* socket, Instant now) {
  Json entry{{"level", "error"},
             {"at_ms", to_millis(now - start_)},
             {"what", "error"},
             {"message", message}};
  if (socket != nullptr) {
    entry["peer"] = to_string(socket->kind);
    entry["peer_id"] = socket->peer.to_string();
    entry["socket"] = socket->id;
  }
  log_.append(std::move(entry));
}

void DevPortal::send(Socket& socket, std::string text, Instant now) {
  log_frame(socket, "out", text, now);
  outputs_.push_back(SendFrame{socket.id, std::move(text)});
}

void DevPortal::push(Socket& socket, std::string_view event, const OJson& payload, Instant now) {
  send(socket, frame_text(socket.topic, event, payload, Json(nullptr)), now);
}

void DevPortal::reply(Socket& socket, std::string_view topic, const Json& ref, bool ok,
                      const OJson& response, Instant now) {
  const OJson payload{{"status", ok ? "ok" : "error"}, {"response", response}};
  send(socket, frame_text(topic, "phx_reply", payload, ref), now);
}

void DevPortal::close_socket(Socket& socket, std::string_view reason, Instant now) {
  log_.append(Json{{"level", "info"},
                   {"at_ms", to_millis(now - start_)},
                   {"what", "closing"},
                   {"peer", to_string(socket.kind)},
                   {"peer_id", socket.peer.to_string()},
                   {"socket", socket.id},
                   {"reason", reason}});
  outputs_.push_back(CloseSocket{socket.id});
  // Forget it now: frames that still arrive are ignored.
  handle_closed(socket.id, now);
}

void DevPortal::handle_frame(SocketId id, std::string_view text, Instant now) {
  Socket* socket = find_socket(id);
  if (socket == nullptr) return;
  socket->last_frame = now;
  log_frame(*socket, "in", text, now);
  Json frame = Json::parse(text, nullptr, false);
  // Phoenix's Message.from_map! needs all four keys; a miss raises and drops the socket.
  if (!frame.is_object()) {
    error("frame is not a JSON object; Phoenix would drop the socket", socket, now);
    close_socket(*socket, "invalid frame", now);
    return;
  }
  for (const char* key : {"topic", "event", "payload", "ref"}) {
    if (!frame.contains(key)) {
      error(std::string("frame without `") + key + "`; Phoenix would drop the socket", socket, now);
      close_socket(*socket, "invalid frame", now);
      return;
    }
  }
  if (!frame["topic"].is_string() || !frame["event"].is_string()) {
    error("frame topic/event is not a string", socket, now);
    close_socket(*socket, "invalid frame", now);
    return;
  }
  const std::string topic = frame["topic"].get<std::string>();
  const std::string event = frame["event"].get<std::string>();
  const Json& ref = frame["ref"];
  const Json& payload = frame["payload"];

  if (event == "phx_join") {
    if (topic != socket->topic) {
      reply(*socket, topic, ref, false, OJson{{"reason", "unmatched topic"}}, now);
      return;
    }
    handle_join(*socket, ref, now);
    return;
  }
  if (!socket->joined) {
    // The gateway must not send anything before the join reply (portal-protocol.md §2.3, §8.4).
    error("`" + event + "` on topic `" + topic + "` before the join reply", socket, now);
  }
  if (topic == "phoenix") {
    if (event == "heartbeat") {
      reply(*socket, "phoenix", ref, true, OJson::object(), now);
    } else {
      reply(*socket, "phoenix", ref, false, OJson{{"reason", "unmatched topic"}}, now);
    }
    return;
  }
  if (topic != socket->topic || !socket->joined) {
    reply(*socket, topic, ref, false, OJson{{"reason", "unmatched topic"}}, now);
    return;
  }
  if (event == "phx_leave") {
    socket->joined = false;
    reply(*socket, topic, ref, true, OJson::object(), now);
    return;
  }
  if (socket->kind == PeerKind::gateway) {
    handle_gateway_event(*socket, event, payload, ref, now);
  } else {
    handle_client_event(*socket, event, payload, ref, now);
  }
}

void DevPortal::handle_join(Socket& socket, const Json& ref, Instant now) {
  if (socket.joined) {
    // Phoenix shuts the existing channel down before joining again.
    push(socket, "phx_close", OJson::object(), now);
  }
  socket.joined = true;
  reply(socket, socket.topic, ref, true, OJson::object(), now);
  if (socket.kind == PeerKind::gateway) {
    send_gateway_init(socket, now);
  } else {
    send_client_init(socket, now);
  }
}

void DevPortal::handle_closed(SocketId id, Instant now) {
  const auto it = sockets_.find(id);
  if (it == sockets_.end()) return;
  const Socket& socket = it->second;
  log_.append(Json{{"level", "info"},
                   {"at_ms", to_millis(now - start_)},
                   {"what", "disconnected"},
                   {"peer", to_string(socket.kind)},
                   {"peer_id", socket.peer.to_string()},
                   {"socket", id}});
  if (socket.kind == PeerKind::gateway) {
    if (auto* g = find_gateway(socket.peer); g != nullptr && g->socket == id) g->socket.reset();
  } else {
    if (auto* c = find_client(socket.peer); c != nullptr && c->socket == id) c->socket.reset();
  }
  sockets_.erase(it);
}

void DevPortal::handle_timeout(Instant now) {
  std::vector<SocketId> idle;
  for (const auto& [id, s] : sockets_) {
    const Duration limit = s.kind == PeerKind::gateway ? kGatewayIdleTimeout : kClientIdleTimeout;
    if (now - s.last_frame >= limit) idle.push_back(id);
  }
  for (const SocketId id : idle) {
    if (Socket* s = find_socket(id)) close_socket(*s, "idle timeout", now);
  }
}

std::optional<Instant> DevPortal::poll_timeout() const {
  std::optional<Instant> earliest;
  for (const auto& [id, s] : sockets_) {
    const Duration limit = s.kind == PeerKind::gateway ? kGatewayIdleTimeout : kClientIdleTimeout;
    const Instant deadline = s.last_frame + limit;
    if (!earliest || deadline < *earliest) earliest = deadline;
  }
  return earliest;
}

std::optional<Output> DevPortal::poll_output() {
  if (outputs_.empty()) return std::nullopt;
  Output out = std::move(outputs_.front());
  outputs_.pop_front();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Gateway channel (portal-protocol.md §2.4, §4)

void DevPortal::handle_gateway_event(Socket& socket, std::string_view event, const Json& payload,
                                     const Json& ref, Instant now) {
  GatewayRecord* gateway = find_gateway(socket.peer);
  if (event == "flow_authorized" || event == "connection_ready") {
    if (!payload.is_object() || !payload.contains("ref") ||
        (event == "connection_ready" && !payload.contains("gateway_payload"))) {
      reply(socket, socket.topic, ref, false, OJson{{"reason", "unknown_message"}}, now);
      return;
    }
    const Json& flow_ref = payload["ref"];
    if (!flow_ref.is_string()) {
      // The real portal's channel process crashes here (only :invalid is handled).
      error(std::string(event) + " with a non-string ref", &socket, now);
      reply(socket, socket.topic, ref, false, OJson{{"reason", "invalid_ref"}}, now);
      return;
    }
    const std::string key = flow_ref.get<std::string>();
    if (event == "connection_ready") {
      const auto it = legacy_pending_.find(key);
      if (it == legacy_pending_.end() || it->second.gateway_id != socket.peer) {
        reply(socket, socket.topic, ref, false, OJson{{"reason", "invalid_ref"}}, now);
        return;
      }
      const LegacyPending pending = it->second;
      legacy_pending_.erase(it);
      if (gateway != nullptr) {
        gateway->authorizations[{pending.client_id, pending.resource_id}] = pending.expires_at;
      }
      reply(socket, socket.topic, ref, true, OJson::object(), now);
      legacy_replies_.push_back(Json{{"ref", key},
                                     {"gateway_id", socket.peer.to_string()},
                                     {"client_id", pending.client_id.to_string()},
                                     {"resource_id", pending.resource_id.to_string()},
                                     {"gateway_payload", payload["gateway_payload"]}});
      return;
    }
    const auto it = pending_flows_.find(key);
    if (it == pending_flows_.end() || it->second.gateway_id != socket.peer) {
      reply(socket, socket.topic, ref, false, OJson{{"reason", "invalid_ref"}}, now);
      return;
    }
    const PendingFlow flow = it->second;
    pending_flows_.erase(it);
    if (gateway != nullptr) {
      gateway->authorizations[{flow.client_id, flow.resource_id}] = flow.expires_at;
    }
    reply(socket, socket.topic, ref, true, OJson::object(), now);
    flows_.push_back(Json{{"client_id", flow.client_id.to_string()},
                          {"resource_id", flow.resource_id.to_string()},
                          {"gateway_id", flow.gateway_id.to_string()},
                          {"expires_at", flow.expires_at ? Json(*flow.expires_at) : Json()},
                          {"at_ms", to_millis(now - start_)}});
    // Synchronously, before any later frame of this gateway (its candidates) is handled.
    Socket* client = find_socket(flow.client_socket);
    if (client == nullptr || !client->joined) {
      error("flow_authorized for a client that is gone; flow_created not delivered", &socket, now);
      return;
    }
    push(*client, "flow_created",
         OJson{{"resource_id", flow.resource_id.to_string()},
               {"gateway_id", flow.gateway_id.to_string()},
               {"gateway_group_id", flow.site_id.to_string()},
               {"gateway_public_key", flow.gateway_public_key},
               {"gateway_ipv4", flow.gateway_ipv4.to_string()},
               {"gateway_ipv6", flow.gateway_ipv6.to_string()},
               {"preshared_key", flow.preshared_key},
               {"client_ice_credentials", ice_json(flow.ice.client)},
               {"gateway_ice_credentials", ice_json(flow.ice.gateway)}},
         now);
    return;
  }
  if (event == "broadcast_ice_candidates" || event == "broadcast_invalidated_ice_candidates") {
    if (!payload.is_object() || !payload.contains("client_ids") ||
        !payload.contains("candidates") || !payload["client_ids"].is_array() ||
        !payload["candidates"].is_array()) {
      reply(socket, socket.topic, ref, false, OJson{{"reason", "unknown_message"}}, now);
      return;
    }
    const std::string_view out_event =
        event == "broadcast_ice_candidates" ? "ice_candidates" : "invalidate_ice_candidates";
    for (const auto& id : payload["client_ids"]) {
      if (!id.is_string()) continue;
      auto cid = Uuid::parse(id.get<std::string>());
      if (!cid) continue;
      const ClientRecord* c = find_client(*cid);
      if (c == nullptr) continue;
      Socket* cs = joined_socket_of(c->socket);
      if (cs == nullptr) continue;
      push(*cs, out_event,
           OJson{{"gateway_id", socket.peer.to_string()}, {"candidates", payload["candidates"]}},
           now);
    }
    return;  // no reply
  }
  reply(socket, socket.topic, ref, false, OJson{{"reason", "unknown_message"}}, now);
}

void DevPortal::send_gateway_init(Socket& socket, Instant now) {
  GatewayRecord* g = find_gateway(socket.peer);
  if (g == nullptr) return;
  const std::int64_t expires = wall_seconds(now) + config_.relay_credentials_lifetime;
  OJson authorizations = OJson::array();
  const std::int64_t wall_now = wall_seconds(now);
  for (const auto& [pair, expiry] : g->authorizations) {
    if (expiry && *expiry <= wall_now) continue;
    authorizations.push_back(OJson{{"client_id", pair.first.to_string()},
                                   {"resource_id", pair.second.to_string()},
                                   {"expires_at", expiry ? *expiry : kFarFuture}});
  }
  OJson payload{
      {"interface", OJson{{"ipv4", g->ipv4.to_string()}, {"ipv6", g->ipv6.to_string()}}},
      {"config", OJson{{"ipv4_masquerade_enabled", true}, {"ipv6_masquerade_enabled", true}}},
      {"relays", relays_for(g->public_key, expires)},
      {"account_slug", config_.account_slug},
      {"authorizations", std::move(authorizations)}};
  push(socket, "init", payload, now);
}

// ---------------------------------------------------------------------------------------------
// Client channel (client-protocol.md §6.2)

void DevPortal::handle_client_event(Socket& socket, std::string_view event, const Json& payload,
                                    const Json& ref, Instant now) {
  if (event == "create_flow") {
    if (!payload.is_object() || !payload.contains("resource_id") ||
        !payload.contains("connected_gateway_ids") || !payload["resource_id"].is_string() ||
        !payload["connected_gateway_ids"].is_array()) {
      reply(socket, socket.topic, ref, false, OJson{{"reason", "unknown_message"}}, now);
      return;
    }
    create_flow(socket, payload, now);
    return;  // answered by a push, never by a reply
  }
  if (event == "broadcast_ice_candidates" || event == "broadcast_invalidated_ice_candidates") {
    if (!payload.is_object() || !payload.contains("gateway_ids") ||
        !payload.contains("candidates") || !payload["gateway_ids"].is_array() ||
        !payload["candidates"].is_array()) {
      reply(socket, socket.topic, ref, false, OJson{{"reason", "unknown_message"}}, now);
      return;
    }
    const std::string_view out_event =
        event == "broadcast_ice_candidates" ? "ice_candidates" : "invalidate_ice_candidates";
    for (const auto& id : payload["gateway_ids"]) {
      if (!id.is_string()) continue;
      auto gid = Uuid::parse(id.get<std::string>());
      if (!gid) continue;
      const GatewayRecord* g = find_gateway(*gid);
      if (g == nullptr) continue;
      Socket* gs = joined_socket_of(g->socket);
      if (gs == nullptr) continue;
      push(*gs, out_event,
           OJson{{"client_id", socket.peer.to_string()}, {"candidates", payload["candidates"]}},
           now);
    }
    return;
  }
  reply(socket, socket.topic, ref, false, OJson{{"reason", "unknown_message"}}, now);
}

void DevPortal::flow_creation_failed(Socket& socket, const std::string& resource_id,
                                     std::string_view reason,
                                     const std::vector<std::string>& violated, Instant now) {
  OJson payload{{"resource_id", resource_id}, {"reason", reason}};
  if (!violated.empty()) payload["violated_properties"] = violated;
  push(socket, "flow_creation_failed", payload, now);
}

void DevPortal::create_flow(Socket& socket, const Json& payload, Instant now) {
  const std::string resource_text = payload["resource_id"].get<std::string>();
  ClientRecord* client = find_client(socket.peer);
  const ClientEntry* entry = client_entry(socket.peer);
  auto rid = Uuid::parse(resource_text);
  const ResourceEntry* resource = rid ? resource_entry(*rid) : nullptr;
  if (client == nullptr || entry == nullptr || resource == nullptr) {
    flow_creation_failed(socket, resource_text, "not_found", {}, now);
    return;
  }
  const auto expiry = policy_expiry(client->id, resource->id, now);
  if (!expiry) {
    if (has_expired_policy(client->id, resource->id, now)) {
      flow_creation_failed(socket, resource_text, "forbidden", {"current_utc_datetime"}, now);
    } else {
      flow_creation_failed(socket, resource_text, "not_found", {}, now);
    }
    return;
  }
  // Compatible, connected gateways of the resource's sites (portal-protocol.md §7).
  const auto client_version = parse_version(client->version);
  std::set<Uuid> preferred;
  for (const auto& id : payload["connected_gateway_ids"]) {
    if (!id.is_string()) continue;
    if (auto gid = Uuid::parse(id.get<std::string>())) preferred.insert(*gid);
  }
  std::vector<GatewayRecord*> candidates;
  for (auto& [gid, g] : gateways_) {
    if (joined_socket_of(g.socket) == nullptr) continue;
    if (std::find(resource->site_ids.begin(), resource->site_ids.end(), g.site_id) ==
        resource->site_ids.end())
      continue;
    const auto gv = parse_version(g.version);
    if (!client_version || !gv) continue;
    const Version low{client_version->major, std::max(client_version->minor - 1, 0), 0};
    const Version high{client_version->major, client_version->minor + 2, 0};
    if (*gv < low || !(*gv < high)) continue;
    if (resource->type == ResourceType::internet && *gv < Version{1, 3, 0}) continue;
    candidates.push_back(&g);
  }
  if (candidates.empty()) {
    flow_creation_failed(socket, resource_text, "offline", {}, now);
    return;
  }
  // Prefer gateways the client is already connected to, then the highest version (compared as
  // strings, as the real portal does), then the id, so the choice is deterministic.
  std::sort(candidates.begin(), candidates.end(), [&](GatewayRecord* a, GatewayRecord* b) {
    const bool pa = preferred.contains(a->id), pb = preferred.contains(b->id);
    if (pa != pb) return pa;
    if (a->version != b->version) return a->version > b->version;
    return a->id < b->id;
  });
  GatewayRecord& gateway = *candidates.front();
  Socket* gateway_socket = joined_socket_of(gateway.socket);

  const std::string cid = client->id.to_string();
  const std::string gid = gateway.id.to_string();
  PendingFlow flow;
  flow.client_id = client->id;
  flow.client_socket = socket.id;
  flow.resource_id = resource->id;
  flow.gateway_id = gateway.id;
  flow.gateway_socket = gateway_socket->id;
  flow.gateway_public_key = gateway.public_key;
  flow.gateway_ipv4 = gateway.ipv4;
  flow.gateway_ipv6 = gateway.ipv6;
  flow.site_id = gateway.site_id;
  flow.ice = derive_ice_credentials(cid, client->public_key, gid, gateway.public_key);
  flow.preshared_key = derive_psk(client->psk_base, gateway.psk_base, cid, client->public_key, gid,
                                  gateway.public_key);
  // min(policy expiry, token expiry), as the real portal computes it.
  flow.expires_at = *expiry;
  if (entry->token_expires_at &&
      (!flow.expires_at || *entry->token_expires_at < *flow.expires_at)) {
    flow.expires_at = entry->token_expires_at;
  }
  const std::string flow_ref = new_ref();
  OJson authorize{{"ref", flow_ref},
                  {"resource", gateway_resource(*resource)},
                  {"gateway_ice_credentials", ice_json(flow.ice.gateway)},
                  {"client_ice_credentials", ice_json(flow.ice.client)},
                  {"client", OJson{{"id", cid},
                                   {"public_key", client->public_key},
                                   {"preshared_key", flow.preshared_key},
                                   {"ipv4", entry->ipv4.to_string()},
                                   {"ipv6", entry->ipv6.to_string()}}},
                  {"expires_at", flow.expires_at ? Json(*flow.expires_at) : Json()}};
  pending_flows_.emplace(flow_ref, std::move(flow));
  push(*gateway_socket, "authorize_flow", authorize, now);
}

void DevPortal::send_client_init(Socket& socket, Instant now) {
  const ClientRecord* c = find_client(socket.peer);
  const ClientEntry* entry = client_entry(socket.peer);
  if (c == nullptr || entry == nullptr) return;
  OJson resources = OJson::array();
  for (const auto& r : config_.resources) {
    if (policy_expiry(c->id, r.id, now)) resources.push_back(client_resource(r));
  }
  OJson payload{{"interface", OJson{{"ipv4", entry->ipv4.to_string()},
                                    {"ipv6", entry->ipv6.to_string()},
                                    {"upstream_dns", OJson::array()},
                                    {"search_domain", nullptr}}},
                {"resources", std::move(resources)},
                {"relays", relays_for(c->public_key, client_relay_expiry(*entry))}};
  push(socket, "init", payload, now);
}

// ---------------------------------------------------------------------------------------------
// Rendering

portal::ResourceDescription DevPortal::gateway_resource_description(const ResourceEntry& r) const {
  switch (r.type) {
    case ResourceType::cidr:
      return portal::CidrResource{r.id, *net::Cidr::parse(r.address), r.name, r.filters};
    case ResourceType::dns:
      return portal::DnsResource{r.id, r.address, r.name, r.filters};
    case ResourceType::internet:
      break;
  }
  return portal::InternetResource{r.id};
}

OJson DevPortal::gateway_resource(const ResourceEntry& r) const {
  return portal::encode_resource(gateway_resource_description(r));
}

OJson DevPortal::client_resource(const ResourceEntry& r) const {
  OJson sites = OJson::array();
  for (const auto& sid : r.site_ids) {
    if (const Site* s = site_entry(sid))
      sites.push_back(OJson{{"id", sid.to_string()}, {"name", s->name}});
  }
  OJson filters = OJson::array();
  for (const auto& f : r.filters)
    filters.push_back(portal::encode_filter(f));
  const Json description = r.address_description ? Json(*r.address_description) : Json();
  switch (r.type) {
    case ResourceType::cidr:
      return OJson{{"id", r.id.to_string()},
                   {"type", "cidr"},
                   {"address", r.address},
                   {"address_description", description},
                   {"name", r.name},
                   {"gateway_groups", std::move(sites)},
                   {"filters", std::move(filters)}};
    case ResourceType::dns:
      return OJson{{"id", r.id.to_string()},
                   {"type", "dns"},
                   {"address", r.address},
                   {"address_description", description},
                   {"name", r.name},
                   {"gateway_groups", std::move(sites)},
                   {"filters", std::move(filters)},
                   {"ip_stack", r.ip_stack}};
    case ResourceType::internet:
      break;
  }
  return OJson{{"id", r.id.to_string()},
               {"type", "internet"},
               {"gateway_groups", std::move(sites)},
               {"can_be_disabled", true}};
}

OJson DevPortal::relays_for(std::string_view public_key, std::int64_t expires_at) const {
  OJson out = OJson::array();
  for (const auto& relay : config_.relays) {
    if (offline_relays_.contains(relay.id)) continue;
    std::string username, password;
    if (relay.secret) {
      auto creds = relay_credentials(public_key, *relay.secret, expires_at);
      username = std::move(creds.username);
      password = std::move(creds.password);
    } else {
      username = *relay.username;
      password = *relay.password;
    }
    for (const auto& addr : relay.addresses) {
      out.push_back(OJson{{"id", relay.id.to_string()},
                          {"type", "turn"},
                          {"addr", addr.to_string()},
                          {"username", username},
                          {"password", password},
                          {"expires_at", expires_at}});
    }
  }
  return out;
}

std::int64_t DevPortal::client_relay_expiry(const ClientEntry& client) const {
  // The token's expiry, so the credentials are the same on every reconnect.
  if (client.token_expires_at) return *client.token_expires_at;
  return start_wall_.time_since_epoch().count() + config_.relay_credentials_lifetime;
}

// ---------------------------------------------------------------------------------------------
// Policies

std::optional<std::int64_t> DevPortal::policy_absolute_expiry(const PolicyEntry& p) const {
  if (p.expires_at) return p.expires_at;
  if (p.expires_in) return start_wall_.time_since_epoch().count() + *p.expires_in;
  return std::nullopt;
}

std::optional<std::optional<std::int64_t>> DevPortal::policy_expiry(const Uuid& client_id,
                                                                    const Uuid& resource_id,
                                                                    Instant now) const {
  std::optional<std::optional<std::int64_t>> best;
  const std::int64_t wall_now = wall_seconds(now);
  for (const auto& p : config_.policies) {
    if (p.client_id != client_id || p.resource_id != resource_id) continue;
    const auto expiry = policy_absolute_expiry(p);
    if (expiry && *expiry <= wall_now) continue;
    if (!best) {
      best = expiry;
    } else if (*best && (!expiry || *expiry > **best)) {
      best = expiry;
    }
  }
  return best;
}

bool DevPortal::has_expired_policy(const Uuid& client_id, const Uuid& resource_id,
                                   Instant now) const {
  for (const auto& p : config_.policies) {
    if (p.client_id == client_id && p.resource_id == resource_id) {
      const auto expiry = policy_absolute_expiry(p);
      if (expiry && *expiry <= wall_seconds(now)) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Lookups

DevPortal::Socket* DevPortal::find_socket(SocketId id) {
  const auto it = sockets_.find(id);
  return it == sockets_.end() ? nullptr : &it->second;
}
DevPortal::Socket* DevPortal::joined_socket_of(const std::optional<SocketId>& id) {
  if (!id) return nullptr;
  Socket* s = find_socket(*id);
  return s != nullptr && s->joined ? s : nullptr;
}
DevPortal::GatewayRecord* DevPortal::find_gateway(const Uuid& id) {
  const auto it = gateways_.find(id);
  return it == gateways_.end() ? nullptr : &it->second;
}
DevPortal::ClientRecord* DevPortal::find_client(const Uuid& id) {
  const auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second;
}
const ClientEntry* DevPortal::client_entry(const Uuid& id) const {
  for (const auto& c : config_.clients)
    if (c.id == id) return &c;
  return nullptr;
}
const ResourceEntry* DevPortal::resource_entry(const Uuid& id) const {
  for (const auto& r : config_.resources)
    if (r.id == id) return &r;
  return nullptr;
}
const Site* DevPortal::site_entry(const Uuid& id) const {
  for (const auto& s : config_.sites)
    if (s.id == id) return &s;
  return nullptr;
}

std::string DevPortal::new_ref() {
  // Opaque to the peers, like the real portal's signed refs; unguessable so a stale or forged
  // ref is answered with invalid_ref.
  std::array<std::uint8_t, 12> random{};
  rng_.fill(random);
  return "DEVPORTAL." + std::to_string(next_ref_++) + "." +
         base64_encode(Bytes(random.data(), random.size()), Base64Padding::unpadded);
}

}  // namespace fz::devportal
