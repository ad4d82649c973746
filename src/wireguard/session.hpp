// A session (the Linux module's keypair): the two transport keys one handshake derived, the
// indices both sides chose, the sending counter and the replay window of the receiving side.
//
// Transport data (the WireGuard paper §5.4.6) is
//   type 4 | 3 zero bytes | receiver index (LE32) | counter (LE64) | AEAD(plaintext) | tag
// with the nonce 0^32 || LE64(counter) and no AAD. Plaintext is not padded when sending.
#pragma once

#include <cstdint>

#include "base/buffer.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "wireguard/constants.hpp"
#include "wireguard/noise.hpp"
#include "wireguard/replay.hpp"
#include "wireguard/transport_cipher.hpp"

namespace fz::wireguard {

class Session {
 public:
  // `key_id` comes from TransportCipher::new_key_id().
  Session(std::uint32_t local_index, std::uint32_t remote_index, noise::TransportKeys keys,
          bool we_initiated, Instant now, std::uint64_t key_id)
      : key_id_(key_id),
        local_index_(local_index),
        remote_index_(remote_index),
        we_initiated_(we_initiated),
        established_at_(now),
        keys_(std::move(keys)) {}

  std::uint32_t local_index() const { return local_index_; }
  std::uint32_t remote_index() const { return remote_index_; }
  bool we_initiated() const { return we_initiated_; }
  Instant established_at() const { return established_at_; }
  Instant expires_at() const { return established_at_ + kRejectAfterTime; }
  bool expired(Instant now) const { return now >= expires_at(); }

  // The initiator stops sending at SHOULD_NOT_USE_AFTER_TIME; the responder uses a session until
  // it expires.
  bool usable_for_sending(Instant now) const {
    if (send_counter_ >= kRejectAfterMessages) return false;
    if (we_initiated_) return now < established_at_ + kShouldNotUseAfterTime;
    return !expired(now);
  }

  // Turns the plaintext in `packet` into a data message in place: the header goes into the
  // headroom, the tag into the tailroom. The caller checked usable_for_sending().
  Status seal(TransportCipher& cipher, PacketBuffer& packet);
  // The same over a plain span: `message` is header | plaintext | tag, the plaintext in place.
  void seal(TransportCipher& cipher, MutBytes message);

  // Decrypts the data message `message` (classified as transport data, receiver index matched)
  // in place and returns the plaintext, a subspan of `message` (empty for a keepalive).
  Result<MutBytes> open(TransportCipher& cipher, MutBytes message);

  std::uint64_t messages_sent() const { return send_counter_; }

 private:
  std::uint64_t key_id_;  // names both keys in the TransportCipher's cache
  std::uint32_t local_index_;
  std::uint32_t remote_index_;
  bool we_initiated_;
  Instant established_at_;
  noise::TransportKeys keys_;
  std::uint64_t send_counter_ = 0;
  ReplayWindow replay_;
};

}  // namespace fz::wireguard
