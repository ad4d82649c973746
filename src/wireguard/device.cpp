#include "wireguard/device.hpp"

#include "base/log.hpp"

namespace fz::wireguard {

Device::Device(crypto::SecretKey static_key, Rng& rng, Instant now, DeviceConfig config)
    : static_key_(std::move(static_key)),
      public_key_(crypto::public_key(static_key_)),
      initiation_initial_(noise::initial_state(public_key_)),
      rng_(rng),
      cookies_(public_key_, rng, now),
      rate_limiter_(config.handshake_rate_limit, now),
      connection_ids_(rng) {}

Result<Incoming> Device::route(std::optional<net::IpAddr> source, MutBytes datagram, Instant now) {
  const auto type = classify(datagram);
  if (!type) return Error(Errc::malformed, "not a WireGuard message");

  switch (*type) {
    case MessageType::cookie_reply: {
      Incoming in(Incoming::Kind::cookie_reply, datagram);
      in.receiver_index_ = receiver_index(*type, datagram);
      return in;
    }
    case MessageType::transport_data: {
      Incoming in(Incoming::Kind::transport_data, datagram);
      in.receiver_index_ = receiver_index(*type, datagram);
      return in;
    }
    case MessageType::handshake_initiation:
    case MessageType::handshake_response:
      break;
  }

  // Handshake messages: mac1 first (cheap, and it proves the sender knows our public key), then
  // the rate limit, and only then any Diffie-Hellman.
  if (!cookies_.mac1_valid(datagram)) {
    return Error(Errc::checksum, "handshake message with an invalid mac1");
  }
  if (rate_limiter_.under_load(now)) {
    if (!source) return Error(Errc::exhausted, "handshake rate limit reached (no source address)");
    if (!cookies_.mac2_valid(datagram, *source, now)) {
      FZ_DEBUG("wireguard", "under load: answering a handshake message with a cookie reply");
      Incoming in(Incoming::Kind::send_cookie_reply, datagram);
      in.cookie_reply_ = cookies_.make_reply(datagram, *source, now, rng_);
      return in;
    }
  }

  if (*type == MessageType::handshake_response) {
    Incoming in(Incoming::Kind::handshake_response, datagram);
    in.receiver_index_ = receiver_index(*type, datagram);
    return in;
  }
  auto initiation = noise::read_initiation_static(datagram, static_key_, initiation_initial_);
  if (!initiation) return initiation.error();
  Incoming in(Incoming::Kind::handshake_initiation, datagram);
  in.initiation_ = std::move(*initiation);
  return in;
}

}  // namespace fz::wireguard
