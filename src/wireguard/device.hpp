// What all WireGuard peers of one node share (the Linux module's wg_device): the static key pair,
// the handshake rate limiter and cookie checker, the connection id allocator, the random number
// generator and the transport cipher context. One Tunnel per peer refers to it.
//
// Device::route() is the first step for every received datagram. It tells which tunnel the
// datagram is for without the layer above knowing any Noise:
//   * responses, cookie replies and transport data by the receiver index we handed out
//     (connection_id() = receiver index >> 8);
//   * handshake initiations by the initiator's static public key, which it decrypts with our
//     static key after checking mac1 and the rate limit;
// or answers with a cookie reply when the node is under load. The result, an Incoming, is then
// passed to that Tunnel's decapsulate(), which continues where route() stopped (an initiation is
// not decrypted twice).
//
// The layer above (p2p) keeps the maps from connection id and from static key to its connections.
// Single-threaded, like the rest of the sans-IO core.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/rng.hpp"
#include "base/time.hpp"
#include "crypto/x25519.hpp"
#include "net/ip_addr.hpp"
#include "wireguard/constants.hpp"
#include "wireguard/cookie.hpp"
#include "wireguard/index.hpp"
#include "wireguard/messages.hpp"
#include "wireguard/noise.hpp"
#include "wireguard/ratelimiter.hpp"
#include "wireguard/transport_cipher.hpp"

namespace fz::wireguard {

class Tunnel;

struct DeviceConfig {
  std::uint32_t handshake_rate_limit = kHandshakeRateLimit;
};

// A received datagram after Device::route(): parsed, handshake messages mac1-checked and admitted
// by the rate limiter. It refers to the caller's buffer, which must outlive it; decapsulation
// happens in that buffer.
class Incoming {
 public:
  enum class Kind : std::uint8_t {
    handshake_initiation,  // for the tunnel with initiator_static()
    handshake_response,    // for the tunnel with connection_id()
    cookie_reply,          // for the tunnel with connection_id()
    transport_data,        // for the tunnel with connection_id()
    send_cookie_reply,     // for nobody: send cookie_reply_message() back to the source
  };

  Kind kind() const { return kind_; }
  bool routed_by_index() const {
    return kind_ == Kind::handshake_response || kind_ == Kind::cookie_reply ||
           kind_ == Kind::transport_data;
  }
  std::uint32_t receiver_index() const { return receiver_index_; }
  std::uint32_t connection_id() const { return connection_id_of(receiver_index_); }
  const crypto::PublicKey& initiator_static() const { return initiation_->initiator_static; }
  Bytes cookie_reply_message() const { return cookie_reply_; }

 private:
  friend class Device;
  friend class Tunnel;
  Incoming(Kind kind, MutBytes datagram) : kind_(kind), datagram_(datagram) {}

  Kind kind_;
  MutBytes datagram_;
  std::uint32_t receiver_index_ = 0;
  std::optional<noise::InitiationReceived> initiation_;
  std::array<std::uint8_t, kCookieReplySize> cookie_reply_{};
};

class Device {
 public:
  // `rng` must outlive the Device; it draws ephemeral keys, cookie secrets and nonces, connection
  // ids and handshake jitter from it.
  Device(crypto::SecretKey static_key, Rng& rng, Instant now, DeviceConfig config = {});
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const crypto::PublicKey& public_key() const { return public_key_; }

  // A 24-bit id for a new Tunnel. Ids are never reused.
  Result<std::uint32_t> allocate_connection_id() { return connection_ids_.allocate(); }

  // Classifies and admits a datagram from `source` (the IP is what cookies are bound to; without
  // it, handshake messages over the limit are refused). Errors: not WireGuard (malformed), bad
  // mac1 (checksum), over the limit without a source (exhausted), an initiation that does not
  // decrypt with our key (crypto).
  Result<Incoming> route(std::optional<net::IpAddr> source, MutBytes datagram, Instant now);

 private:
  friend class Tunnel;

  crypto::SecretKey static_key_;
  crypto::PublicKey public_key_;
  noise::SymmetricState initiation_initial_;  // initial_state(public_key_)
  Rng& rng_;
  CookieChecker cookies_;
  RateLimiter rate_limiter_;
  ConnectionIdAllocator connection_ids_;
  TransportCipher cipher_;
};

}  // namespace fz::wireguard
