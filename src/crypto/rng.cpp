#include "crypto/rng.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "crypto/internal.hpp"
#include "crypto/util.hpp"

namespace fz::crypto {

static_assert(crypto_stream_chacha20_KEYBYTES == 32);

ChaChaRng::ChaChaRng(std::span<const std::uint8_t, 32> seed) noexcept {
  internal::ensure_sodium();
  std::copy(seed.begin(), seed.end(), key_.begin());
  buffer_.fill(0);
  pos_ = buffer_.size();
}

ChaChaRng::ChaChaRng(ChaChaRng&& other) noexcept
    : key_(other.key_), buffer_(other.buffer_), pos_(other.pos_) {
  other.wipe();
}

ChaChaRng& ChaChaRng::operator=(ChaChaRng&& other) noexcept {
  if (this != &other) {
    key_ = other.key_;
    buffer_ = other.buffer_;
    pos_ = other.pos_;
    other.wipe();
  }
  return *this;
}

ChaChaRng::~ChaChaRng() {
  wipe();
}

void ChaChaRng::wipe() noexcept {
  secure_zero(key_);
  secure_zero(buffer_);
  pos_ = buffer_.size();
}

void ChaChaRng::refill() noexcept {
  // Each key is used for exactly one keystream, so a fixed all-zero nonce is safe.
  static constexpr std::uint8_t kNonce[crypto_stream_chacha20_NONCEBYTES] = {};
  crypto_stream_chacha20(buffer_.data(), buffer_.size(), kNonce, key_.data());
  std::memcpy(key_.data(), buffer_.data(), key_.size());
  secure_zero(buffer_.data(), key_.size());
  pos_ = key_.size();
}

void ChaChaRng::fill(std::span<std::uint8_t> out) {
  while (!out.empty()) {
    if (pos_ == buffer_.size()) refill();
    const std::size_t n = std::min(out.size(), buffer_.size() - pos_);
    std::memcpy(out.data(), buffer_.data() + pos_, n);
    secure_zero(buffer_.data() + pos_, n);
    pos_ += n;
    out = out.subspan(n);
  }
}

}  // namespace fz::crypto
