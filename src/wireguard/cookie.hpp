// MAC1, MAC2 and cookies (the WireGuard paper §5.4.4, §5.4.7).
//
// Every handshake message carries mac1 = MAC(HASH("mac1----" || receiver's static public key),
// message up to mac1), which proves the sender knows whom it talks to, and mac2 = MAC(cookie,
// message up to mac2) or zeros. A responder under load answers handshake messages that lack a
// valid mac2 with a cookie reply; the sender keeps the cookie for 120 s and puts it into mac2.
//
// CookieChecker is the receiving side, one per Device. Its cookies are keyed on the source IP only
// (not the port), as Firezone's are: the cookie is opaque to the peer, so this stays interoperable.
// CookieJar is the sending side, one per Tunnel.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/rng.hpp"
#include "base/time.hpp"
#include "crypto/hash.hpp"
#include "crypto/x25519.hpp"
#include "net/ip_addr.hpp"
#include "wireguard/messages.hpp"

namespace fz::wireguard {

using Mac = std::array<std::uint8_t, kMacSize>;
using Cookie = std::array<std::uint8_t, kCookieSize>;

// HASH(label || public key): the MAC1 key ("mac1----") and the cookie encryption key ("cookie--").
crypto::Blake2sDigest mac1_key(const crypto::PublicKey& receiver);
crypto::Blake2sDigest cookie_key(const crypto::PublicKey& receiver);

// `message` is a whole handshake message; these read or write its last 32 bytes.
Mac compute_mac1(const crypto::Blake2sDigest& key, Bytes message);
Mac compute_mac2(const Cookie& cookie, Bytes message);
bool mac1_valid(const crypto::Blake2sDigest& key, Bytes message);
inline Mac mac1_of(Bytes message) {
  Mac m;
  std::copy_n(message.end() - 2 * kMacSize, kMacSize, m.begin());
  return m;
}

class CookieChecker {
 public:
  CookieChecker(const crypto::PublicKey& our_public, Rng& rng, Instant now);

  bool mac1_valid(Bytes message) const { return wireguard::mac1_valid(mac1_key_, message); }
  bool mac2_valid(Bytes message, const net::IpAddr& source, Instant now) const;

  // The reply to a handshake message without a valid mac2 from `source`.
  std::array<std::uint8_t, kCookieReplySize> make_reply(Bytes message, const net::IpAddr& source,
                                                        Instant now, Rng& rng) const;

 private:
  Cookie cookie_for(const net::IpAddr& source, Instant now) const;

  crypto::Blake2sDigest mac1_key_;
  crypto::Blake2sDigest cookie_key_;
  // The paper's R_m, which must change every two minutes: here a fixed secret MACed with the
  // number of 128 s periods since `start_`.
  crypto::SecretBytes<32> secret_;
  Instant start_;
};

class CookieJar {
 public:
  explicit CookieJar(const crypto::PublicKey& peer) : cookie_key_(cookie_key(peer)) {}

  // Fills in mac1 and mac2 of an outgoing handshake message sent with `sender_index`, and
  // remembers mac1 for the cookie reply that may answer it.
  void add_macs(MutBytes message, std::uint32_t sender_index, const crypto::Blake2sDigest& mac1_key,
                Instant now);

  // A cookie reply for our last handshake message. Fails on a wrong index or if it does not
  // decrypt.
  Status consume_reply(Bytes message, Instant now);

  // The cookie while it is younger than 120 s.
  std::optional<Cookie> cookie(Instant now) const;

 private:
  crypto::Blake2sDigest cookie_key_;
  Mac last_mac1_{};
  std::uint32_t last_sender_index_ = 0;
  bool sent_mac1_ = false;
  bool have_cookie_ = false;
  Cookie cookie_{};
  Instant received_at_{};
};

}  // namespace fz::wireguard
