// The secrets the real portal derives for a flow and for relays (client-protocol.md §6.3,
// portal-protocol.md §5.6), computed exactly as the Elixir portal does, so that every flow
// between the same client and gateway gets the same ICE credentials and PSK and the two sides
// reuse one connection.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "portal/messages.hpp"

namespace fz::devportal {

using PskBase = std::array<std::uint8_t, 32>;

// RFC 4648 base32 without padding, lowercase (a–z, 2–7).
std::string base32_lower_nopad(Bytes data);

struct FlowIceCredentials {
  portal::IceCredentials client;   // the client's local ufrag (4) / pwd (22)
  portal::IceCredentials gateway;  // the gateway's local ufrag (4) / pwd (22)
};

// h = base32_lower_nopad(SHA-256("cid:cpk:gid:gpk")); client = h[0,4) h[4,26);
// gateway = h[26,30) h[30,52). Inputs are the strings exactly as stored (ids lowercase hyphenated,
// keys as the 44-character base64 from the query string).
FlowIceCredentials derive_ice_credentials(std::string_view client_id,
                                          std::string_view client_public_key,
                                          std::string_view gateway_id,
                                          std::string_view gateway_public_key);

// PBKDF2-HMAC-SHA256(password = client_psk_base ‖ gateway_psk_base,
// salt = "WG_PSK|C_ID:<cid>|G_ID:<gid>|C_PK:<cpk>|G_PK:<gpk>", 1 iteration, 32 bytes),
// as standard padded base64 (44 characters). A secret: never log it.
std::string derive_psk(const PskBase& client_psk_base, const PskBase& gateway_psk_base,
                       std::string_view client_id, std::string_view client_public_key,
                       std::string_view gateway_id, std::string_view gateway_public_key);

struct RelayCredentials {
  std::string username;  // "<expires_at>:<salt>"
  std::string password;  // secret
};

// Firezone relay credentials: salt = base64_nopad(SHA-256(public_key)),
// username = "<expires_at>:<salt>", password =
// base64_nopad(SHA-256("<expires_at>:<secret>:<salt>")).
RelayCredentials relay_credentials(std::string_view public_key, std::string_view stamp_secret,
                                   std::int64_t expires_at);
// The password half alone, for a given salt (the relay's own test vector uses an arbitrary salt).
std::string relay_password(std::string_view stamp_secret, std::string_view salt,
                           std::int64_t expires_at);

}  // namespace fz::devportal
