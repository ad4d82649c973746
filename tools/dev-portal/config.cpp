#include "dev-portal/config.hpp"

#include <charconv>
#include <set>

#include "base/encoding.hpp"

namespace fz::devportal {
namespace {

using Json = nlohmann::json;

Error fail(const std::string& path, std::string_view problem) {
  return Error(Errc::config, "invalid configuration", path + ": " + std::string(problem));
}

#define DP_TRY(var, expr)                         \
  auto var##_result = (expr);                     \
  if (!var##_result) return var##_result.error(); \
  auto var = std::move(*var##_result)

Status check_keys(const Json& object, const std::string& path,
                  std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) return fail(path, "must be an object");
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto a : allowed)
      known = known || a == key;
    if (!known) return fail(path.empty() ? key : path + "." + key, "unknown key");
  }
  return {};
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

Result<std::string> get_string(const Json& object, const std::string& path, const char* key,
                               bool required = true, std::string fallback = {}) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) return fail(child(path, key), "missing");
    return fallback;
  }
  if (!it->is_string()) return fail(child(path, key), "must be a string");
  return it->get<std::string>();
}

Result<std::string> get_nonempty(const Json& object, const std::string& path, const char* key) {
  DP_TRY(value, get_string(object, path, key));
  if (value.empty()) return fail(child(path, key), "must not be empty");
  return value;
}

Result<Uuid> get_uuid(const Json& object, const std::string& path, const char* key) {
  DP_TRY(text, get_string(object, path, key));
  auto id = Uuid::parse(text);
  if (!id || text.size() != 36) return fail(child(path, key), "not a hyphenated UUID");
  return *id;
}

Result<const Json*> get_array(const Json& object, const std::string& path, const char* key,
                              bool required) {
  static const Json kEmpty = Json::array();
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) return fail(child(path, key), "missing");
    return &kEmpty;
  }
  if (!it->is_array()) return fail(child(path, key), "must be an array");
  return &*it;
}

Result<std::optional<std::int64_t>> get_optional_int(const Json& object, const std::string& path,
                                                     const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::int64_t>();
  if (!it->is_number_integer()) return fail(child(path, key), "must be an integer");
  return std::optional<std::int64_t>(it->get<std::int64_t>());
}

Result<std::uint16_t> parse_port(std::string_view text, const std::string& path) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value > 65535)
    return fail(path, "not a port number (0-65535)");
  return static_cast<std::uint16_t>(value);
}

Result<net::Cidr> parse_cidr_normalised(const std::string& text, const std::string& path) {
  if (text.find('/') == std::string::npos) {
    auto ip = net::IpAddr::parse(text);
    if (!ip) return fail(path, "not an IP address or CIDR");
    return net::Cidr::host(*ip);
  }
  auto cidr = net::Cidr::parse(text);
  if (!cidr) return fail(path, "not a CIDR");
  return *cidr;  // Cidr masks the host bits, as the portal normalises them
}

Result<Site> parse_site(const Json& j, const std::string& path) {
  FZ_TRY_STATUS(check_keys(j, path, {"id", "name", "tokens"}));
  Site site;
  DP_TRY(id, get_uuid(j, path, "id"));
  site.id = id;
  DP_TRY(name, get_nonempty(j, path, "name"));
  site.name = name;
  DP_TRY(tokens, get_array(j, path, "tokens", true));
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    const auto& t = (*tokens)[i];
    if (!t.is_string() || t.get<std::string>().empty())
      return fail(index(child(path, "tokens"), i), "must be a non-empty string");
    site.tokens.push_back(t.get<std::string>());
  }
  return site;
}

Result<net::IpAddr> get_tunnel_ip(const Json& j, const std::string& path, const char* key,
                                  const net::Cidr& range) {
  DP_TRY(text, get_string(j, path, key));
  auto ip = net::IpAddr::parse(text);
  if (!ip || ip->family() != range.family())
    return fail(child(path, key), range.family() == net::IpFamily::v4 ? "not an IPv4 address"
                                                                      : "not an IPv6 address");
  if (!range.contains(*ip)) return fail(child(path, key), "not inside " + range.to_string());
  return *ip;
}

Result<ClientEntry> parse_client(const Json& j, const std::string& path) {
  FZ_TRY_STATUS(
      check_keys(j, path, {"id", "name", "token", "ipv4", "ipv6", "token_expires_at", "psk_base"}));
  ClientEntry c;
  DP_TRY(id, get_uuid(j, path, "id"));
  c.id = id;
  DP_TRY(name, get_string(j, path, "name", false, "client"));
  c.name = name;
  DP_TRY(token, get_nonempty(j, path, "token"));
  c.token = token;
  DP_TRY(v4, get_tunnel_ip(j, path, "ipv4", tunnel_v4_range()));
  c.ipv4 = v4;
  DP_TRY(v6, get_tunnel_ip(j, path, "ipv6", tunnel_v6_range()));
  c.ipv6 = v6;
  DP_TRY(expiry, get_optional_int(j, path, "token_expires_at"));
  c.token_expires_at = expiry;
  DP_TRY(psk_hex, get_string(j, path, "psk_base", false));
  if (!psk_hex.empty()) {
    auto bytes = hex_decode(psk_hex);
    if (!bytes || bytes->size() != 32)
      return fail(child(path, "psk_base"), "must be 64 hex digits");
    std::array<std::uint8_t, 32> base{};
    std::copy(bytes->begin(), bytes->end(), base.begin());
    c.psk_base = base;
  }
  return c;
}

Result<ResourceEntry> parse_resource(const Json& j, const std::string& path,
                                     const std::set<Uuid>& site_ids) {
  FZ_TRY_STATUS(check_keys(
      j, path,
      {"id", "type", "address", "name", "address_description", "site_ids", "filters", "ip_stack"}));
  ResourceEntry r;
  DP_TRY(id, get_uuid(j, path, "id"));
  r.id = id;
  DP_TRY(type, get_string(j, path, "type"));
  if (type == "cidr" || type == "ip") {
    r.type = ResourceType::cidr;
    DP_TRY(address, get_nonempty(j, path, "address"));
    DP_TRY(cidr, parse_cidr_normalised(address, child(path, "address")));
    r.address = cidr.to_string();
    DP_TRY(name, get_string(j, path, "name", false, address));
    r.name = name;
  } else if (type == "dns") {
    r.type = ResourceType::dns;
    DP_TRY(address, get_nonempty(j, path, "address"));
    if (address.find_first_of(" /:") != std::string::npos)
      return fail(child(path, "address"), "not a domain pattern");
    r.address = address;
    DP_TRY(name, get_string(j, path, "name", false, address));
    r.name = name;
    DP_TRY(stack, get_string(j, path, "ip_stack", false, "dual"));
    if (stack != "dual" && stack != "ipv4_only" && stack != "ipv6_only")
      return fail(child(path, "ip_stack"), "must be dual, ipv4_only or ipv6_only");
    r.ip_stack = stack;
  } else if (type == "internet") {
    r.type = ResourceType::internet;
    if (j.contains("address")) return fail(child(path, "address"), "internet resources have none");
    if (j.contains("filters")) return fail(child(path, "filters"), "internet resources have none");
    DP_TRY(name, get_string(j, path, "name", false, "Internet Resource"));
    r.name = name;
  } else {
    return fail(child(path, "type"), "must be cidr, ip, dns or internet");
  }
  if (r.type != ResourceType::dns && j.contains("ip_stack"))
    return fail(child(path, "ip_stack"), "only dns resources have one");
  if (j.contains("address_description") && !j["address_description"].is_null()) {
    DP_TRY(description, get_string(j, path, "address_description"));
    r.address_description = description;
  }
  DP_TRY(sites, get_array(j, path, "site_ids", true));
  if (sites->empty()) return fail(child(path, "site_ids"), "must name at least one site");
  for (std::size_t i = 0; i < sites->size(); ++i) {
    const auto& s = (*sites)[i];
    const std::string p = index(child(path, "site_ids"), i);
    auto sid = s.is_string() ? Uuid::parse(s.get<std::string>())
                             : Result<Uuid>(Error(Errc::malformed, "x"));
    if (!sid) return fail(p, "not a UUID");
    if (!site_ids.contains(*sid)) return fail(p, "no site with this id");
    r.site_ids.push_back(*sid);
  }
  if (const auto it = j.find("filters"); it != j.end()) {
    DP_TRY(filters, parse_filters(*it, child(path, "filters")));
    r.filters = std::move(filters);
  }
  return r;
}

Result<RelayEntry> parse_relay(const Json& j, const std::string& path) {
  FZ_TRY_STATUS(
      check_keys(j, path, {"id", "addresses", "address", "username", "password", "secret"}));
  RelayEntry r;
  DP_TRY(id, get_uuid(j, path, "id"));
  r.id = id;
  std::vector<std::pair<std::string, std::string>> texts;  // (path, text)
  if (j.contains("address")) {
    DP_TRY(a, get_string(j, path, "address"));
    texts.emplace_back(child(path, "address"), a);
  }
  if (j.contains("addresses")) {
    DP_TRY(list, get_array(j, path, "addresses", true));
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string p = index(child(path, "addresses"), i);
      if (!(*list)[i].is_string()) return fail(p, "must be a string");
      texts.emplace_back(p, (*list)[i].get<std::string>());
    }
  }
  if (texts.empty()) return fail(child(path, "addresses"), "missing");
  std::optional<net::SocketAddr> v4, v6;
  for (const auto& [p, text] : texts) {
    auto addr = net::SocketAddr::parse(text);
    if (!addr) return fail(p, "not an ip:port or [ipv6]:port address");
    auto& slot = addr->ip.is_v4() ? v4 : v6;
    if (slot) return fail(p, "a second address of the same family");
    slot = *addr;
  }
  if (v4) r.addresses.push_back(*v4);
  if (v6) r.addresses.push_back(*v6);
  const bool has_user = j.contains("username"), has_pass = j.contains("password"),
             has_secret = j.contains("secret");
  if (has_secret && (has_user || has_pass))
    return fail(child(path, "secret"), "give either username/password or secret, not both");
  if (has_secret) {
    DP_TRY(secret, get_nonempty(j, path, "secret"));
    r.secret = secret;
  } else {
    DP_TRY(user, get_nonempty(j, path, "username"));
    DP_TRY(pass, get_nonempty(j, path, "password"));
    r.username = user;
    r.password = pass;
  }
  return r;
}

}  // namespace

std::string_view to_string(ResourceType type) {
  switch (type) {
    case ResourceType::cidr:
      return "cidr";
    case ResourceType::dns:
      return "dns";
    case ResourceType::internet:
      return "internet";
  }
  return "?";
}

const net::Cidr& tunnel_v4_range() {
  static const net::Cidr range(net::IpAddr::v4(100, 64, 0, 0), 11);
  return range;
}
const net::Cidr& tunnel_v6_range() {
  static const net::Cidr range(net::IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 0), 107);
  return range;
}

Result<portal::Filters> parse_filters(const Json& json, const std::string& path) {
  if (!json.is_array()) return fail(path, "must be an array");
  portal::Filters out;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const std::string p = index(path, i);
    const auto& f = json[i];
    FZ_TRY_STATUS(check_keys(f, p, {"protocol", "ports"}));
    DP_TRY(protocol, get_string(f, p, "protocol"));
    portal::Filter base;
    if (protocol == "tcp") {
      base.protocol = portal::FilterProtocol::tcp;
    } else if (protocol == "udp") {
      base.protocol = portal::FilterProtocol::udp;
    } else if (protocol == "icmp") {
      base.protocol = portal::FilterProtocol::icmp;
      if (f.contains("ports")) return fail(child(p, "ports"), "icmp filters have no ports");
      out.push_back(base);
      continue;
    } else {
      return fail(child(p, "protocol"), "must be tcp, udp or icmp");
    }
    DP_TRY(ports, get_array(f, p, "ports", false));
    if (ports->empty()) {
      out.push_back(base);  // all ports
      continue;
    }
    for (std::size_t k = 0; k < ports->size(); ++k) {
      const std::string pp = index(child(p, "ports"), k);
      if (!(*ports)[k].is_string()) return fail(pp, "must be a string like \"80\" or \"100-200\"");
      const std::string text = (*ports)[k].get<std::string>();
      const auto dash = text.find('-');
      portal::Filter range = base;
      if (dash == std::string::npos) {
        DP_TRY(port, parse_port(text, pp));
        range.port_range_start = range.port_range_end = port;
      } else {
        DP_TRY(lo, parse_port(std::string_view(text).substr(0, dash), pp));
        DP_TRY(hi, parse_port(std::string_view(text).substr(dash + 1), pp));
        if (lo > hi) return fail(pp, "range start is above its end");
        range.port_range_start = lo;
        range.port_range_end = hi;
      }
      out.push_back(range);
    }
  }
  return out;
}

Result<PolicyEntry> parse_policy(const Json& j, const Config& config, const std::string& path) {
  FZ_TRY_STATUS(
      check_keys(j, path, {"id", "client_id", "resource_id", "expires_at", "expires_in"}));
  PolicyEntry p;
  DP_TRY(id, get_uuid(j, path, "id"));
  p.id = id;
  DP_TRY(client, get_uuid(j, path, "client_id"));
  p.client_id = client;
  DP_TRY(resource, get_uuid(j, path, "resource_id"));
  p.resource_id = resource;
  bool client_known = false, resource_known = false;
  for (const auto& c : config.clients)
    client_known = client_known || c.id == client;
  for (const auto& r : config.resources)
    resource_known = resource_known || r.id == resource;
  if (!client_known) return fail(child(path, "client_id"), "no client with this id");
  if (!resource_known) return fail(child(path, "resource_id"), "no resource with this id");
  DP_TRY(at, get_optional_int(j, path, "expires_at"));
  DP_TRY(in, get_optional_int(j, path, "expires_in"));
  if (at && in) return fail(child(path, "expires_in"), "give expires_at or expires_in, not both");
  if (in && *in < 0) return fail(child(path, "expires_in"), "must not be negative");
  p.expires_at = at;
  p.expires_in = in;
  return p;
}

Result<Config> parse_config(const Json& j) {
  FZ_TRY_STATUS(check_keys(j, "",
                           {"account", "sites", "clients", "resources", "policies", "relays",
                            "relay_credentials_lifetime"}));
  Config config;
  const auto account = j.find("account");
  if (account == j.end()) return fail("account", "missing");
  FZ_TRY_STATUS(check_keys(*account, "account", {"id", "slug"}));
  DP_TRY(account_id, get_uuid(*account, "account", "id"));
  config.account_id = account_id;
  DP_TRY(slug, get_string(*account, "account", "slug", false, "dev"));
  config.account_slug = slug;
  DP_TRY(lifetime, get_optional_int(j, "", "relay_credentials_lifetime"));
  if (lifetime) {
    if (*lifetime <= 0) return fail("relay_credentials_lifetime", "must be positive");
    config.relay_credentials_lifetime = *lifetime;
  }

  std::set<Uuid> ids;
  std::set<std::string> tokens;
  auto unique_id = [&](const Uuid& id, const std::string& path) -> Status {
    if (!ids.insert(id).second) return fail(child(path, "id"), "duplicate id");
    return {};
  };
  auto unique_token = [&](const std::string& token, const std::string& path) -> Status {
    if (!tokens.insert(token).second) return fail(path, "duplicate token");
    return {};
  };

  DP_TRY(sites, get_array(j, "", "sites", true));
  std::set<Uuid> site_ids;
  for (std::size_t i = 0; i < sites->size(); ++i) {
    const std::string p = index("sites", i);
    DP_TRY(site, parse_site((*sites)[i], p));
    FZ_TRY_STATUS(unique_id(site.id, p));
    for (std::size_t k = 0; k < site.tokens.size(); ++k)
      FZ_TRY_STATUS(unique_token(site.tokens[k], index(child(p, "tokens"), k)));
    site_ids.insert(site.id);
    config.sites.push_back(std::move(site));
  }

  DP_TRY(clients, get_array(j, "", "clients", false));
  std::set<net::IpAddr> tunnel_ips;
  for (std::size_t i = 0; i < clients->size(); ++i) {
    const std::string p = index("clients", i);
    DP_TRY(client, parse_client((*clients)[i], p));
    FZ_TRY_STATUS(unique_id(client.id, p));
    FZ_TRY_STATUS(unique_token(client.token, child(p, "token")));
    if (!tunnel_ips.insert(client.ipv4).second) return fail(child(p, "ipv4"), "used twice");
    if (!tunnel_ips.insert(client.ipv6).second) return fail(child(p, "ipv6"), "used twice");
    config.clients.push_back(std::move(client));
  }

  DP_TRY(resources, get_array(j, "", "resources", false));
  for (std::size_t i = 0; i < resources->size(); ++i) {
    const std::string p = index("resources", i);
    DP_TRY(resource, parse_resource((*resources)[i], p, site_ids));
    FZ_TRY_STATUS(unique_id(resource.id, p));
    config.resources.push_back(std::move(resource));
  }

  DP_TRY(policies, get_array(j, "", "policies", false));
  for (std::size_t i = 0; i < policies->size(); ++i) {
    const std::string p = index("policies", i);
    DP_TRY(policy, parse_policy((*policies)[i], config, p));
    FZ_TRY_STATUS(unique_id(policy.id, p));
    config.policies.push_back(policy);
  }

  DP_TRY(relays, get_array(j, "", "relays", false));
  for (std::size_t i = 0; i < relays->size(); ++i) {
    const std::string p = index("relays", i);
    DP_TRY(relay, parse_relay((*relays)[i], p));
    FZ_TRY_STATUS(unique_id(relay.id, p));
    config.relays.push_back(std::move(relay));
  }
  return config;
}

Result<Config> parse_config_text(std::string_view text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail("(file)", "not valid JSON");
  return parse_config(json);
}

}  // namespace fz::devportal
