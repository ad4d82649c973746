// The Noise_IKpsk2 handshake as WireGuard specifies it (the WireGuard paper §5.4.2-§5.4.5): the
// initiation, the response and the derivation of the transport keys. These functions write and
// read the message bodies only; MAC1/MAC2 (cookie.hpp), indices and timers belong to the caller.
//
// Consuming an initiation is split in two because the two halves need different state: the first
// half (up to the initiator's static key) needs only the local static key, so the Device does it to
// find out which peer sent the message; the second half (timestamp, response) needs the peer.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/rng.hpp"
#include "crypto/util.hpp"
#include "crypto/x25519.hpp"
#include "wireguard/messages.hpp"
#include "wireguard/transport_cipher.hpp"

namespace fz::wireguard::noise {

using Hash = std::array<std::uint8_t, 32>;
using Tai64n = std::array<std::uint8_t, kTimestampSize>;
using WallClock = std::chrono::sys_time<std::chrono::nanoseconds>;

// TAI64N: big-endian seconds with the TAI64 label 2^62 + 10, then big-endian nanoseconds. Compared
// bytewise it orders like the time it encodes.
Tai64n tai64n(WallClock time);

// The chaining key C and hash H of one handshake in progress.
struct SymmetricState {
  crypto::SecretBytes<32> chaining_key;
  Hash hash{};

  // H = HASH(H || data)
  void mix_hash(Bytes data);
  // C = KDF1(C, input)
  void mix_key(Bytes input);
  // (C, k) = KDF2(C, input); returns k
  SymmetricKey mix_key_and_derive(Bytes input);
  // (C, tau, k) = KDF3(C, psk); H = HASH(H || tau); returns k
  SymmetricKey mix_preshared_key(const SymmetricKey& psk);
};

// C = HASH(CONSTRUCTION), H = HASH(HASH(C || IDENTIFIER) || responder's static public key).
SymmetricState initial_state(const crypto::PublicKey& responder_static);

// The transport keys a completed handshake yields.
struct TransportKeys {
  SymmetricKey sending;
  SymmetricKey receiving;
};

// What the initiator keeps between sending an initiation and receiving the response.
struct InitiationSent {
  std::uint32_t sender_index;
  SymmetricState state;
  crypto::SecretKey ephemeral;
};

// Writes an initiation without its MACs into `message` (148 bytes). `static_static` is
// DH(our static, peer static).
Result<InitiationSent> write_initiation(std::span<std::uint8_t, kInitiationSize> message,
                                        std::uint32_t sender_index,
                                        const crypto::PublicKey& our_static,
                                        const crypto::PublicKey& peer_static,
                                        const crypto::SharedSecret& static_static,
                                        const Tai64n& timestamp, Rng& rng);

// The initiation after its first half: the sender's static key is known, the timestamp is not.
struct InitiationReceived {
  std::uint32_t sender_index = 0;
  crypto::PublicKey initiator_ephemeral{};
  crypto::PublicKey initiator_static{};
  SymmetricState state;
  std::array<std::uint8_t, kTimestampSize + kTagSize> encrypted_timestamp{};
};

// First half, with the local static key only. `our_initial` is initial_state(our public key).
Result<InitiationReceived> read_initiation_static(Bytes message,
                                                  const crypto::SecretKey& our_static,
                                                  const SymmetricState& our_initial);

// Second half: decrypts the timestamp, which the caller must check for freshness.
Result<Tai64n> read_initiation_timestamp(InitiationReceived& initiation,
                                         const crypto::SharedSecret& static_static);

// Writes a response without its MACs into `message` (92 bytes) and derives the responder's keys.
Result<TransportKeys> write_response(std::span<std::uint8_t, kResponseSize> message,
                                     std::uint32_t sender_index, InitiationReceived& initiation,
                                     const SymmetricKey& preshared_key, Rng& rng);

// Reads a response to `sent` (the receiver index already matched) and derives the initiator's
// keys. Fails when the peer used another pre-shared key.
Result<TransportKeys> read_response(Bytes message, const InitiationSent& sent,
                                    const crypto::SecretKey& our_static,
                                    const SymmetricKey& preshared_key);

}  // namespace fz::wireguard::noise
