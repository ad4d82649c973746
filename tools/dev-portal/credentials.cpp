#include "dev-portal/credentials.hpp"

#include <string>

#include "base/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/util.hpp"

namespace fz::devportal {
namespace {

Bytes as_bytes(std::string_view text) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

}  // namespace

std::string base32_lower_nopad(Bytes data) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const std::uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 0x1f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1f]);
  return out;
}

FlowIceCredentials derive_ice_credentials(std::string_view client_id,
                                          std::string_view client_public_key,
                                          std::string_view gateway_id,
                                          std::string_view gateway_public_key) {
  std::string seed;
  seed.append(client_id).append(":").append(client_public_key).append(":");
  seed.append(gateway_id).append(":").append(gateway_public_key);
  const auto digest = crypto::sha256(as_bytes(seed));
  const std::string h = base32_lower_nopad(Bytes(digest.data(), digest.size()));  // 52 chars
  FlowIceCredentials out;
  out.client = {h.substr(0, 4), h.substr(4, 22)};
  out.gateway = {h.substr(26, 4), h.substr(30, 22)};
  return out;
}

std::string derive_psk(const PskBase& client_psk_base, const PskBase& gateway_psk_base,
                       std::string_view client_id, std::string_view client_public_key,
                       std::string_view gateway_id, std::string_view gateway_public_key) {
  std::array<std::uint8_t, 64> password{};
  std::copy(client_psk_base.begin(), client_psk_base.end(), password.begin());
  std::copy(gateway_psk_base.begin(), gateway_psk_base.end(), password.begin() + 32);
  std::string salt = "WG_PSK|C_ID:";
  salt.append(client_id).append("|G_ID:").append(gateway_id);
  salt.append("|C_PK:").append(client_public_key).append("|G_PK:").append(gateway_public_key);
  // PBKDF2 with one iteration and one output block: T1 = HMAC(P, S ‖ INT_32_BE(1)).
  salt.append(std::string_view("\0\0\0\1", 4));
  auto block = crypto::hmac_sha256(Bytes(password.data(), password.size()), as_bytes(salt));
  std::string out = base64_encode(Bytes(block.data(), block.size()));
  crypto::secure_zero(block.data(), block.size());
  crypto::secure_zero(password.data(), password.size());
  return out;
}

std::string relay_password(std::string_view stamp_secret, std::string_view salt,
                           std::int64_t expires_at) {
  std::string input = std::to_string(expires_at);
  input.append(":").append(stamp_secret).append(":").append(salt);
  const auto digest = crypto::sha256(as_bytes(input));
  return base64_encode(Bytes(digest.data(), digest.size()), Base64Padding::unpadded);
}

RelayCredentials relay_credentials(std::string_view public_key, std::string_view stamp_secret,
                                   std::int64_t expires_at) {
  const auto key_hash = crypto::sha256(as_bytes(public_key));
  const std::string salt =
      base64_encode(Bytes(key_hash.data(), key_hash.size()), Base64Padding::unpadded);
  return {std::to_string(expires_at) + ":" + salt, relay_password(stamp_secret, salt, expires_at)};
}

}  // namespace fz::devportal
