// The client's login URL (client-protocol.md §1.1): the API URL's path + `client/websocket`, and
// the query `token`, `external_id`, `name`, `public_key` in that order, form-urlencoded like the
// gateway's (portal/login_url.hpp). The URL holds the token: log only `redacted`.
#pragma once

#include <string>
#include <string_view>

#include "base/result.hpp"
#include "crypto/x25519.hpp"

namespace fz::client {

// The version the test client claims in its User-Agent (the reference headless client's).
inline constexpr std::string_view kClientVersion = "1.5.3";

struct ClientLogin {
  std::string url;       // secret
  std::string redacted;  // token replaced by <redacted>
};

// `api_url`: http, https, ws or wss. Errc::config on anything else.
Result<ClientLogin> client_login_url(std::string_view api_url, std::string_view token,
                                     std::string_view external_id, std::string_view name,
                                     const crypto::PublicKey& public_key);

}  // namespace fz::client
