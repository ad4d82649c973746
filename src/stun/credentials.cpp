#include "stun/credentials.hpp"

#include <string>

#include "crypto/hash.hpp"

namespace fz::stun {

LongTermKey long_term_key(std::string_view username, std::string_view realm,
                          std::string_view password) {
  std::string input;
  input.reserve(username.size() + realm.size() + password.size() + 2);
  input.append(username).append(":").append(realm).append(":").append(password);
  auto digest =
      crypto::md5(Bytes(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
  LongTermKey key(digest);
  // Both hold the password (or what it derives), so neither may linger in freed memory.
  crypto::secure_zero(input.data(), input.size());
  crypto::secure_zero(digest.data(), digest.size());
  return key;
}

}  // namespace fz::stun
