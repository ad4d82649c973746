// Loads (and on first start creates) the gateway's persistent id, then derives `external_id`
// (portal/firezone_id.hpp has the rules and why they differ from the reference).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "base/rng.hpp"
#include "portal/firezone_id.hpp"

namespace fz::io {

struct GatewayIdentity {
  std::string id;           // the source id
  std::string external_id;  // what goes into the login URL
  bool created = false;     // a new id was written to the file
};

// `env_id` is FIREZONE_ID. Reads `path`; if a new id is needed, creates the directory (mode 0770)
// and writes the file atomically (mode 0640). Errors (Errc::config) carry the path and errno text.
Result<GatewayIdentity> load_gateway_identity(
    std::optional<std::string> env_id, Rng& rng,
    const std::filesystem::path& path = std::filesystem::path(portal::kGatewayIdPath));

}  // namespace fz::io
