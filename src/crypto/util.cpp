#include "crypto/util.hpp"

#include <sodium.h>

#include <ostream>

#include "crypto/internal.hpp"

namespace fz::crypto {

bool constant_time_equal(Bytes a, Bytes b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  internal::ensure_sodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void secure_zero(MutBytes bytes) noexcept {
  secure_zero(bytes.data(), bytes.size());
}

void secure_zero(void* data, std::size_t size) noexcept {
  if (size != 0) sodium_memzero(data, size);
}

void internal::print_redacted(std::ostream* os, std::size_t n) {
  *os << "SecretBytes<" << n << ">{redacted}";
}

}  // namespace fz::crypto
