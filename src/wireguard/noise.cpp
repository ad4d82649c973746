#include "wireguard/noise.hpp"

#include <algorithm>

#include "crypto/aead.hpp"
#include "crypto/hash.hpp"
#include "wireguard/constants.hpp"

namespace fz::wireguard::noise {

namespace {

Bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// AEAD(k, 0, plaintext, H) in place, as the handshake fields use it.
void seal_field(const SymmetricKey& key, const Hash& aad, MutBytes data,
                std::span<std::uint8_t, kTagSize> tag) {
  crypto::ChaCha20Poly1305 aead(key.expose_secret());
  // Cannot fail for these sizes.
  (void)aead.seal(0, aad, data, tag);
}

bool open_field(const SymmetricKey& key, const Hash& aad, MutBytes data,
                std::span<const std::uint8_t, kTagSize> tag) {
  crypto::ChaCha20Poly1305 aead(key.expose_secret());
  return aead.open(0, aad, data, tag);
}

const SymmetricState& construction_state() {
  static const SymmetricState state = [] {
    SymmetricState s;
    const crypto::Blake2sDigest c = crypto::blake2s(as_bytes(kConstruction));
    std::copy(c.begin(), c.end(), s.chaining_key.expose_secret_mut().begin());
    s.hash = c;
    s.mix_hash(as_bytes(kIdentifier));
    return s;
  }();
  return state;
}

TransportKeys split(const SymmetricState& state, bool initiator) {
  auto [first, second] = crypto::kdf<2>(state.chaining_key.expose_secret(), {});
  if (initiator) return {std::move(first), std::move(second)};
  return {std::move(second), std::move(first)};
}

}  // namespace

Tai64n tai64n(WallClock time) {
  const auto since_epoch = std::max(time.time_since_epoch(), std::chrono::nanoseconds(0));
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto nanos = (since_epoch - seconds).count();
  Tai64n out;
  store_be64(out.data(),
             (std::uint64_t{1} << 62) + 10 + static_cast<std::uint64_t>(seconds.count()));
  store_be32(out.data() + 8, static_cast<std::uint32_t>(nanos));
  return out;
}

void SymmetricState::mix_hash(Bytes data) {
  crypto::Blake2s h;
  hash = h.update(hash).update(data).finish();
}

void SymmetricState::mix_key(Bytes input) {
  auto [c] = crypto::kdf<1>(chaining_key.expose_secret(), input);
  chaining_key = std::move(c);
}

SymmetricKey SymmetricState::mix_key_and_derive(Bytes input) {
  auto [c, k] = crypto::kdf<2>(chaining_key.expose_secret(), input);
  chaining_key = std::move(c);
  return std::move(k);
}

SymmetricKey SymmetricState::mix_preshared_key(const SymmetricKey& psk) {
  auto [c, tau, k] = crypto::kdf<3>(chaining_key.expose_secret(), psk.expose_secret());
  chaining_key = std::move(c);
  mix_hash(tau.expose_secret());
  return std::move(k);
}

SymmetricState initial_state(const crypto::PublicKey& responder_static) {
  SymmetricState s = construction_state();
  s.mix_hash(responder_static);
  return s;
}

Result<InitiationSent> write_initiation(std::span<std::uint8_t, kInitiationSize> message,
                                        std::uint32_t sender_index,
                                        const crypto::PublicKey& our_static,
                                        const crypto::PublicKey& peer_static,
                                        const crypto::SharedSecret& static_static,
                                        const Tai64n& timestamp, Rng& rng) {
  InitiationSent sent{sender_index, initial_state(peer_static), crypto::generate_secret_key(rng)};
  SymmetricState& s = sent.state;
  std::uint8_t* m = message.data();
  std::fill(message.begin(), message.end(), std::uint8_t{0});
  write_type(m, MessageType::handshake_initiation);
  store_le32(m + initiation::sender, sender_index);

  const crypto::PublicKey ephemeral = crypto::public_key(sent.ephemeral);
  std::copy(ephemeral.begin(), ephemeral.end(), m + initiation::ephemeral);
  s.mix_hash(ephemeral);
  s.mix_key(ephemeral);

  auto es = crypto::dh(sent.ephemeral, peer_static);
  if (!es) return es.error();
  const SymmetricKey k1 = s.mix_key_and_derive(es->expose_secret());
  std::uint8_t* encrypted_static = m + initiation::encrypted_static;
  std::copy(our_static.begin(), our_static.end(), encrypted_static);
  seal_field(k1, s.hash, MutBytes(encrypted_static, kKeySize),
             std::span<std::uint8_t, kTagSize>(encrypted_static + kKeySize, kTagSize));
  s.mix_hash(Bytes(encrypted_static, kKeySize + kTagSize));

  const SymmetricKey k2 = s.mix_key_and_derive(static_static.expose_secret());
  std::uint8_t* encrypted_timestamp = m + initiation::encrypted_timestamp;
  std::copy(timestamp.begin(), timestamp.end(), encrypted_timestamp);
  seal_field(k2, s.hash, MutBytes(encrypted_timestamp, kTimestampSize),
             std::span<std::uint8_t, kTagSize>(encrypted_timestamp + kTimestampSize, kTagSize));
  s.mix_hash(Bytes(encrypted_timestamp, kTimestampSize + kTagSize));
  return sent;
}

Result<InitiationReceived> read_initiation_static(Bytes message,
                                                  const crypto::SecretKey& our_static,
                                                  const SymmetricState& our_initial) {
  InitiationReceived in{load_le32(message.data() + initiation::sender), {}, {}, our_initial, {}};
  SymmetricState& s = in.state;
  std::copy_n(message.data() + initiation::ephemeral, kKeySize, in.initiator_ephemeral.begin());
  s.mix_hash(in.initiator_ephemeral);
  s.mix_key(in.initiator_ephemeral);

  auto es = crypto::dh(our_static, in.initiator_ephemeral);
  if (!es) return es.error();
  const SymmetricKey k1 = s.mix_key_and_derive(es->expose_secret());
  const std::uint8_t* encrypted_static = message.data() + initiation::encrypted_static;
  std::copy_n(encrypted_static, kKeySize, in.initiator_static.begin());
  if (!open_field(k1, s.hash, in.initiator_static,
                  std::span<const std::uint8_t, kTagSize>(encrypted_static + kKeySize, kTagSize))) {
    return Error(Errc::crypto, "handshake initiation: static key does not decrypt");
  }
  s.mix_hash(Bytes(encrypted_static, kKeySize + kTagSize));
  std::copy_n(message.data() + initiation::encrypted_timestamp, in.encrypted_timestamp.size(),
              in.encrypted_timestamp.begin());
  return in;
}

Result<Tai64n> read_initiation_timestamp(InitiationReceived& in,
                                         const crypto::SharedSecret& static_static) {
  SymmetricState& s = in.state;
  const SymmetricKey k2 = s.mix_key_and_derive(static_static.expose_secret());
  Tai64n timestamp;
  std::copy_n(in.encrypted_timestamp.begin(), kTimestampSize, timestamp.begin());
  if (!open_field(k2, s.hash, timestamp,
                  std::span<const std::uint8_t, kTagSize>(
                      in.encrypted_timestamp.data() + kTimestampSize, kTagSize))) {
    return Error(Errc::crypto, "handshake initiation: timestamp does not decrypt");
  }
  s.mix_hash(in.encrypted_timestamp);
  return timestamp;
}

Result<TransportKeys> write_response(std::span<std::uint8_t, kResponseSize> message,
                                     std::uint32_t sender_index, InitiationReceived& in,
                                     const SymmetricKey& preshared_key, Rng& rng) {
  SymmetricState& s = in.state;
  std::uint8_t* m = message.data();
  std::fill(message.begin(), message.end(), std::uint8_t{0});
  write_type(m, MessageType::handshake_response);
  store_le32(m + response::sender, sender_index);
  store_le32(m + response::receiver, in.sender_index);

  const crypto::SecretKey ephemeral_secret = crypto::generate_secret_key(rng);
  const crypto::PublicKey ephemeral = crypto::public_key(ephemeral_secret);
  std::copy(ephemeral.begin(), ephemeral.end(), m + response::ephemeral);
  s.mix_hash(ephemeral);
  s.mix_key(ephemeral);

  auto ee = crypto::dh(ephemeral_secret, in.initiator_ephemeral);
  if (!ee) return ee.error();
  s.mix_key(ee->expose_secret());
  auto se = crypto::dh(ephemeral_secret, in.initiator_static);
  if (!se) return se.error();
  s.mix_key(se->expose_secret());

  const SymmetricKey k = s.mix_preshared_key(preshared_key);
  std::uint8_t* encrypted_nothing = m + response::encrypted_nothing;
  seal_field(k, s.hash, MutBytes(), std::span<std::uint8_t, kTagSize>(encrypted_nothing, kTagSize));
  s.mix_hash(Bytes(encrypted_nothing, kTagSize));
  return split(s, /*initiator=*/false);
}

Result<TransportKeys> read_response(Bytes message, const InitiationSent& sent,
                                    const crypto::SecretKey& our_static,
                                    const SymmetricKey& preshared_key) {
  SymmetricState s = sent.state;
  crypto::PublicKey ephemeral;
  std::copy_n(message.data() + response::ephemeral, kKeySize, ephemeral.begin());
  s.mix_hash(ephemeral);
  s.mix_key(ephemeral);

  auto ee = crypto::dh(sent.ephemeral, ephemeral);
  if (!ee) return ee.error();
  s.mix_key(ee->expose_secret());
  auto se = crypto::dh(our_static, ephemeral);
  if (!se) return se.error();
  s.mix_key(se->expose_secret());

  const SymmetricKey k = s.mix_preshared_key(preshared_key);
  const std::uint8_t* encrypted_nothing = message.data() + response::encrypted_nothing;
  if (!open_field(k, s.hash, MutBytes(),
                  std::span<const std::uint8_t, kTagSize>(encrypted_nothing, kTagSize))) {
    return Error(Errc::crypto, "handshake response does not decrypt (pre-shared key mismatch?)");
  }
  s.mix_hash(Bytes(encrypted_nothing, kTagSize));
  return split(s, /*initiator=*/true);
}

}  // namespace fz::wireguard::noise
