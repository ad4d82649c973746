// Keys for STUN MESSAGE-INTEGRITY (RFC 8489 §9).
//
// Short-term credentials (ICE) key the HMAC with the password bytes as they are. Long-term
// credentials (TURN) key it with MD5(username ":" realm ":" password). We do not apply SASLprep:
// every credential we meet (Firezone relay usernames and base64 passwords, ICE ufrag/pwd) is
// ASCII, for which SASLprep is the identity.
#pragma once

#include <string_view>

#include "base/bytes.hpp"
#include "crypto/util.hpp"

namespace fz::stun {

using LongTermKey = crypto::SecretBytes<16>;

LongTermKey long_term_key(std::string_view username, std::string_view realm,
                          std::string_view password);

inline Bytes short_term_key(std::string_view password) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(password.data()), password.size());
}

}  // namespace fz::stun
