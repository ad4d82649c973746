// The dev portal's configuration: one JSON file describing the account, its sites (gateway
// groups) and their gateway tokens, clients, resources, policies and relays.
//
// parse_config() validates everything up front and reports the first problem as one line that
// names the field, e.g. `resources[2].site_ids[0]: no site with this id`. Unknown keys are errors
// too, so typos do not pass silently. See tools/dev-portal/example.json.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "base/uuid.hpp"
#include "net/ip_addr.hpp"
#include "portal/messages.hpp"

namespace fz::devportal {

struct Site {
  Uuid id;
  std::string name;
  std::vector<std::string> tokens;  // gateway tokens of this site (secrets)
};

struct ClientEntry {
  Uuid id;
  std::string name;
  std::string token;  // secret
  net::IpAddr ipv4;   // inside 100.64.0.0/11
  net::IpAddr ipv6;   // inside fd00:2021:1111::/107
  // Unix seconds; the real portal uses the token's expiry for client relay credentials and as
  // an upper bound of every flow's expiry.
  std::optional<std::int64_t> token_expires_at;
  // The record's random `psk_base`; drawn from the portal's Rng when absent.
  std::optional<std::array<std::uint8_t, 32>> psk_base;
};

enum class ResourceType { cidr, dns, internet };
std::string_view to_string(ResourceType type);

struct ResourceEntry {
  Uuid id;
  ResourceType type = ResourceType::cidr;
  std::string address;  // cidr: normalised network; dns: the pattern; internet: empty
  std::string name;
  std::optional<std::string> address_description;
  std::vector<Uuid> site_ids;
  portal::Filters filters;        // wire form: one element per port entry
  std::string ip_stack = "dual";  // dns only: dual | ipv4_only | ipv6_only
};

struct PolicyEntry {
  Uuid id;
  Uuid client_id;
  Uuid resource_id;
  std::optional<std::int64_t> expires_at;  // absolute Unix seconds
  std::optional<std::int64_t> expires_in;  // seconds after the portal started
};

struct RelayEntry {
  Uuid id;
  std::vector<net::SocketAddr> addresses;  // at most one per family, IPv4 first
  // Long-term credentials for a plain TURN server (coturn) ...
  std::optional<std::string> username;
  std::optional<std::string> password;
  // ... or a Firezone relay's stamp secret, to mint per-peer credentials.
  std::optional<std::string> secret;
};

struct Config {
  Uuid account_id;
  std::string account_slug;
  std::vector<Site> sites;
  std::vector<ClientEntry> clients;
  std::vector<ResourceEntry> resources;
  std::vector<PolicyEntry> policies;
  std::vector<RelayEntry> relays;
  // Lifetime of gateway relay credentials (the real portal: 90 days).
  std::int64_t relay_credentials_lifetime = 90LL * 24 * 3600;
};

// Validates and converts. The error's detail is `<field path>: <problem>`.
Result<Config> parse_config(const nlohmann::json& json);
Result<Config> parse_config_text(std::string_view text);

// A policy element on its own (the control API adds policies at run time). `path` prefixes the
// field names in errors. Checks the client and resource exist in `config`.
Result<PolicyEntry> parse_policy(const nlohmann::json& json, const Config& config,
                                 const std::string& path);

// Stored filters in the portal's database form, `{"protocol":"tcp","ports":["80","100-200"]}`,
// rendered one element per port entry as the portal sends them.
Result<portal::Filters> parse_filters(const nlohmann::json& json, const std::string& path);

// 100.64.0.0/11 and fd00:2021:1111::/107: where tunnel addresses live.
const net::Cidr& tunnel_v4_range();
const net::Cidr& tunnel_v6_range();

}  // namespace fz::devportal
