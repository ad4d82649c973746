#include "dev-portal/control.hpp"

#include <fstream>
#include <sstream>

#include "portal/frame.hpp"

namespace fz::devportal {
namespace {

using Json = nlohmann::json;

ControlResponse ok(const Json& body) {
  return {200, portal::dump_json(body)};
}
ControlResponse fail(int status, std::string_view message) {
  return {status, portal::dump_json(Json{{"error", message}})};
}
ControlResponse from(const Result<Json>& result) {
  if (result) return ok(*result);
  const auto& e = result.error();
  return fail(e.detail().find("not joined") != std::string::npos ||
                      e.detail().find("not connected") != std::string::npos ||
                      e.detail().find("no connected") != std::string::npos
                  ? 409
                  : 400,
              e.detail().empty() ? std::string(e.message()) : e.detail());
}
ControlResponse from(const Status& status) {
  if (status) return ok(Json{{"ok", true}});
  return from(Result<Json>(status.error()));
}

std::optional<Uuid> uuid_field(const Json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || !it->is_string()) return std::nullopt;
  auto id = Uuid::parse(it->get<std::string>());
  if (!id) return std::nullopt;
  return *id;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key)
      return std::string(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::vector<Uuid> uuid_list(const Json& body, const char* key, bool& bad) {
  std::vector<Uuid> out;
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_array()) {
    bad = true;
    return out;
  }
  for (const auto& v : *it) {
    auto id = v.is_string() ? Uuid::parse(v.get<std::string>())
                            : Result<Uuid>(Error(Errc::malformed, ""));
    if (!id) {
      bad = true;
      return out;
    }
    out.push_back(*id);
  }
  return out;
}

}  // namespace

ControlResponse handle_control(DevPortal& portal, std::string_view method, std::string_view target,
                               std::string_view body_text, Instant now) {
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  if (method == "GET") {
    if (path == "/gateways") return ok(portal.gateways_json());
    if (path == "/clients") return ok(portal.clients_json());
    if (path == "/flows") return ok(portal.flows_json());
    if (path == "/policies") return ok(portal.policies_json(now));
    if (path == "/legacy_replies") return ok(portal.legacy_replies_json());
    if (path == "/errors") return ok(portal.log().errors());
    if (path == "/frames") {
      std::uint64_t since = 0;
      if (auto s = query_param(query, "since")) since = std::strtoull(s->c_str(), nullptr, 10);
      return ok(portal.log().entries_since(since));
    }
    return fail(404, "unknown route");
  }

  if (method == "POST" && path == "/replay") {
    if (auto gid = query_param(query, "gateway_id")) {
      auto id = Uuid::parse(*gid);
      if (!id) return fail(400, "gateway_id: not a UUID");
      return from(portal.replay(*id, std::string(body_text), now));
    }
  }

  Json body = body_text.empty() ? Json::object() : Json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return fail(400, "the body must be a JSON object");

  if (method == "DELETE" && path.starts_with("/policies/")) {
    auto id = Uuid::parse(path.substr(10));
    if (!id) return fail(400, "not a policy id");
    return from(portal.remove_policy(*id, now));
  }
  if (method != "POST") return fail(404, "unknown route");

  const auto gateway_id = uuid_field(body, "gateway_id");
  const auto client_id = uuid_field(body, "client_id");
  const auto resource_id = uuid_field(body, "resource_id");
  if (body.contains("gateway_id") && !gateway_id) return fail(400, "gateway_id: not a UUID");

  if (path == "/reject_access") {
    if (!client_id || !resource_id) return fail(400, "client_id and resource_id are required");
    return from(portal.reject_access(gateway_id, *client_id, *resource_id, now));
  }
  if (path == "/access_authorization_expiry_updated") {
    if (!client_id || !resource_id) return fail(400, "client_id and resource_id are required");
    const auto e = body.find("expires_at");
    if (e == body.end() || !e->is_number_integer())
      return fail(400, "expires_at: must be an integer (Unix seconds)");
    return from(
        portal.update_expiry(gateway_id, *client_id, *resource_id, e->get<std::int64_t>(), now));
  }
  if (path == "/resource_updated") {
    if (!resource_id) return fail(400, "resource_id is required");
    std::optional<portal::Filters> filters;
    if (auto f = body.find("filters"); f != body.end()) {
      auto parsed = parse_filters(*f, "filters");
      if (!parsed) return fail(400, parsed.error().detail());
      filters = std::move(*parsed);
    }
    return from(portal.update_resource(*resource_id, std::move(filters), now));
  }
  if (path == "/relays_presence") {
    bool bad = false;
    const auto disconnected = uuid_list(body, "disconnected_ids", bad);
    const auto connected = uuid_list(body, "connected_ids", bad);
    if (bad) return fail(400, "disconnected_ids/connected_ids: arrays of relay ids");
    return from(portal.relays_presence(disconnected, connected, now));
  }
  if (path == "/disconnect") {
    const std::string mode = body.value("mode", std::string("close"));
    DevPortal::DisconnectMode m;
    if (mode == "phx_close") {
      m = DevPortal::DisconnectMode::phx_close;
    } else if (mode == "close") {
      m = DevPortal::DisconnectMode::close;
    } else {
      return fail(400, "mode: phx_close or close");
    }
    if (gateway_id) return from(portal.disconnect(PeerKind::gateway, *gateway_id, m, now));
    if (client_id) return from(portal.disconnect(PeerKind::client, *client_id, m, now));
    return fail(400, "gateway_id or client_id is required");
  }
  if (path == "/revoke_token") {
    const auto t = body.find("token");
    if (t == body.end() || !t->is_string()) return fail(400, "token is required");
    return from(portal.revoke_token(t->get<std::string>(), now));
  }
  if (path == "/request_connection" || path == "/allow_access") {
    if (!gateway_id) return fail(400, "gateway_id is required");
    return from(path == "/request_connection" ? portal.request_connection(*gateway_id, body, now)
                                              : portal.allow_access(*gateway_id, body, now));
  }
  if (path == "/policies") return from(portal.add_policy(body, now));
  if (path == "/push") {
    const auto event = body.find("event");
    if (event == body.end() || !event->is_string()) return fail(400, "event is required");
    const nlohmann::ordered_json payload = body.contains("payload")
                                               ? nlohmann::ordered_json(body["payload"])
                                               : nlohmann::ordered_json::object();
    if (gateway_id)
      return from(portal.push_to_gateway(*gateway_id, event->get<std::string>(), payload, now));
    if (client_id)
      return from(portal.push_to_client(*client_id, event->get<std::string>(), payload, now));
    return fail(400, "gateway_id or client_id is required");
  }
  if (path == "/replay") {
    if (!gateway_id) return fail(400, "gateway_id is required");
    std::string text;
    if (auto f = body.find("file"); f != body.end() && f->is_string()) {
      std::ifstream in(f->get<std::string>(), std::ios::binary);
      if (!in) return fail(400, "file: cannot be read");
      std::ostringstream content;
      content << in.rdbuf();
      text = content.str();
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    } else if (auto fr = body.find("frame"); fr != body.end()) {
      text = fr->is_string() ? fr->get<std::string>() : portal::dump_json(*fr);
    } else {
      return fail(400, "file or frame is required");
    }
    return from(portal.replay(*gateway_id, std::move(text), now));
  }
  return fail(404, "unknown route");
}

}  // namespace fz::devportal
