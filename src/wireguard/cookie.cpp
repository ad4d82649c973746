#include "wireguard/cookie.hpp"

#include <algorithm>

#include "crypto/aead.hpp"
#include "wireguard/constants.hpp"

namespace fz::wireguard {

namespace {

crypto::Blake2sDigest labelled_hash(std::string_view label, const crypto::PublicKey& key) {
  crypto::Blake2s h;
  h.update(Bytes(reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
  return h.update(key).finish();
}

Mac mac16(Bytes key, Bytes data) {
  // Keys here are 16 or 32 bytes, which blake2s_mac16 always accepts.
  return crypto::blake2s_mac16(key, data).value();
}

}  // namespace

crypto::Blake2sDigest mac1_key(const crypto::PublicKey& receiver) {
  return labelled_hash(kLabelMac1, receiver);
}

crypto::Blake2sDigest cookie_key(const crypto::PublicKey& receiver) {
  return labelled_hash(kLabelCookie, receiver);
}

Mac compute_mac1(const crypto::Blake2sDigest& key, Bytes message) {
  return mac16(key, message.first(message.size() - 2 * kMacSize));
}

Mac compute_mac2(const Cookie& cookie, Bytes message) {
  return mac16(cookie, message.first(message.size() - kMacSize));
}

bool mac1_valid(const crypto::Blake2sDigest& key, Bytes message) {
  const Mac expected = compute_mac1(key, message);
  return crypto::constant_time_equal(expected,
                                     message.subspan(message.size() - 2 * kMacSize, kMacSize));
}

CookieChecker::CookieChecker(const crypto::PublicKey& our_public, Rng& rng, Instant now)
    : mac1_key_(mac1_key(our_public)), cookie_key_(cookie_key(our_public)), start_(now) {
  rng.fill(secret_.expose_secret_mut());
}

Cookie CookieChecker::cookie_for(const net::IpAddr& source, Instant now) const {
  const auto period = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - start_).count() / 128);
  std::array<std::uint8_t, 8 + 16> input{};
  store_le64(input.data(), period);
  const auto& ip = source.raw();  // IPv4 in the first four bytes, the rest zero
  std::copy(ip.begin(), ip.end(), input.begin() + 8);
  return mac16(secret_.expose_secret(), input);
}

bool CookieChecker::mac2_valid(Bytes message, const net::IpAddr& source, Instant now) const {
  const Mac expected = compute_mac2(cookie_for(source, now), message);
  return crypto::constant_time_equal(expected, message.last(kMacSize));
}

std::array<std::uint8_t, kCookieReplySize> CookieChecker::make_reply(Bytes message,
                                                                     const net::IpAddr& source,
                                                                     Instant now, Rng& rng) const {
  std::array<std::uint8_t, kCookieReplySize> reply{};
  write_type(reply.data(), MessageType::cookie_reply);
  // Both handshake messages carry their sender index at offset 4.
  store_le32(reply.data() + cookie_reply::receiver, load_le32(message.data() + 4));
  crypto::XNonce nonce;
  rng.fill(nonce);
  std::copy(nonce.begin(), nonce.end(), reply.begin() + cookie_reply::nonce);
  const Cookie cookie = cookie_for(source, now);
  const crypto::XChaCha20Poly1305 aead(cookie_key_);
  (void)aead.seal(nonce, mac1_of(message), cookie,
                  MutBytes(reply.data() + cookie_reply::encrypted_cookie, kCookieSize + kTagSize));
  return reply;
}

void CookieJar::add_macs(MutBytes message, std::uint32_t sender_index,
                         const crypto::Blake2sDigest& mac1_key, Instant now) {
  const Mac mac1 = compute_mac1(mac1_key, message);
  std::copy(mac1.begin(), mac1.end(), message.end() - 2 * kMacSize);
  Mac mac2{};
  if (auto c = cookie(now)) mac2 = compute_mac2(*c, message);
  std::copy(mac2.begin(), mac2.end(), message.end() - kMacSize);
  last_mac1_ = mac1;
  last_sender_index_ = sender_index;
  sent_mac1_ = true;
}

Status CookieJar::consume_reply(Bytes message, Instant now) {
  if (!sent_mac1_ || load_le32(message.data() + cookie_reply::receiver) != last_sender_index_) {
    return Error(Errc::state, "cookie reply for a handshake message we did not send last");
  }
  crypto::XNonce nonce;
  std::copy_n(message.data() + cookie_reply::nonce, nonce.size(), nonce.begin());
  Cookie decrypted;
  const crypto::XChaCha20Poly1305 aead(cookie_key_);
  if (!aead.open(nonce, last_mac1_,
                 message.subspan(cookie_reply::encrypted_cookie, kCookieSize + kTagSize),
                 decrypted)) {
    return Error(Errc::crypto, "cookie reply does not decrypt");
  }
  cookie_ = decrypted;
  received_at_ = now;
  have_cookie_ = true;
  return {};
}

std::optional<Cookie> CookieJar::cookie(Instant now) const {
  if (!have_cookie_ || now - received_at_ >= kCookieLifetime) return std::nullopt;
  return cookie_;
}

}  // namespace fz::wireguard
