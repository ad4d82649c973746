#include "wireguard/tunnel.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/log.hpp"

namespace fz::wireguard {

Bytes Transmit::payload() const {
  if (const auto* small = std::get_if<Small>(&data_))
    return Bytes(small->bytes.data(), small->size);
  return std::get<PacketBuffer>(data_).span();
}

Result<Tunnel> Tunnel::create(Device& device, TunnelConfig config, Instant now) {
  auto static_static = crypto::dh(device.static_key_, config.peer_static);
  if (!static_static) return static_static.error();
  return Tunnel(device, std::move(config), std::move(*static_static), now);
}

Tunnel::Tunnel(Device& device, TunnelConfig&& config, crypto::SharedSecret static_static,
               Instant now)
    : device_(&device),
      peer_static_(config.peer_static),
      preshared_key_(std::move(config.preshared_key)),
      static_static_(std::move(static_static)),
      peer_mac1_key_(mac1_key(config.peer_static)),
      cookies_(config.peer_static),
      connection_id_(config.connection_id & kConnectionIdMask),
      rekey_attempt_time_(config.rekey_attempt_time),
      max_handshake_jitter_(config.max_handshake_jitter),
      wall_clock_at_creation_(config.wall_clock),
      created_at_(now),
      timers_(now) {}

std::size_t Tunnel::heap_bytes() const {
  if (!queue_) return 0;
  std::size_t total = sizeof(PacketQueue);
  for (const auto& p : queue_->packets)
    total += sizeof(PacketBuffer) + p.capacity();
  return total;
}

// ---------------------------------------------------------------------------------------------
// Sending

const Session* Tunnel::sending_session(Instant now) const {
  if (current_ && current_->usable_for_sending(now)) return &*current_;
  return nullptr;
}

Session* Tunnel::sending_session(Instant now) {
  return const_cast<Session*>(std::as_const(*this).sending_session(now));
}

Result<Encapsulated> Tunnel::encapsulate(PacketBuffer& packet, Instant now) {
  if (Session* session = sending_session(now)) {
    FZ_TRY_STATUS(session->seal(device_->cipher_, packet));
    timers_.any_authenticated_packet_sent();
    if (packet.size() > kDataOverhead) timers_.data_sent(now);
    return Encapsulated::ready;
  }

  // No session to send on: keep a copy and make sure a handshake is under way.
  if (!handshake_) send_initiation(now);
  if (!queue_) queue_ = std::make_unique<PacketQueue>();
  if (queue_->packets.size() >= kMaxQueuedPackets) {
    return Error(Errc::exhausted, "no WireGuard session and 256 packets already queued");
  }
  PacketBuffer copy(kTransmitHeadroom + packet.size() + kTagSize, kTransmitHeadroom);
  copy.assign(packet.span(), kTransmitHeadroom);
  queue_->packets.push_back(std::move(copy));
  return Encapsulated::queued;
}

void Tunnel::initiate_handshake(Instant now) {
  if (!handshake_) send_initiation(now);
}

void Tunnel::send_initiation(Instant now) {
  if (expired_) {
    // A new attempt after giving up (fork behaviour): all timers start over.
    expired_ = false;
    timers_.reset(now);
  }
  const bool new_attempt = !handshake_;
  const std::uint32_t index = next_local_index();
  const auto elapsed = std::max(now - created_at_, Duration::zero());
  const noise::Tai64n timestamp = noise::tai64n(wall_clock_at_creation_ + elapsed);
  Transmit::Small message;
  message.size = kInitiationSize;
  auto sent = noise::write_initiation(std::span(message.bytes), index, device_->public_key_,
                                      peer_static_, static_static_, timestamp, device_->rng_);
  if (!sent) {
    FZ_WARN("wireguard", "cannot create a handshake initiation: {}", sent.error().message());
    return;
  }
  handshake_ = std::move(*sent);
  handshake_sent_at_ = now;
  timers_.handshake_due.reset();
  if (new_attempt) timers_.handshake_initiated(now);
  FZ_DEBUG("wireguard", "sending handshake initiation, local index {:#010x}", index);
  finish_handshake_message(MutBytes(message.bytes.data(), message.size), index, now);
  handshake_messages_.push(message);
}

void Tunnel::finish_handshake_message(MutBytes message, std::uint32_t sender_index, Instant now) {
  cookies_.add_macs(message, sender_index, peer_mac1_key_, now);
  timers_.any_authenticated_packet_sent();
}

void Tunnel::send_keepalive(Instant now) {
  Session* session = sending_session(now);
  if (session == nullptr) return;
  Transmit::Small message;
  message.size = kDataOverhead;
  session->seal(device_->cipher_, MutBytes(message.bytes.data(), message.size));
  timers_.any_authenticated_packet_sent();
  handshake_messages_.push(message);
}

// Encrypts every queued packet that is not yet, once a session exists.
void Tunnel::flush_queue(Instant now) {
  if (!queue_ || queue_->ready == queue_->packets.size()) return;
  Session* session = sending_session(now);
  if (session == nullptr) return;
  auto& packets = queue_->packets;
  bool sent_data = false;
  for (; queue_->ready < packets.size(); ++queue_->ready) {
    PacketBuffer& packet = packets[queue_->ready];
    sent_data |= !packet.empty();
    (void)session->seal(device_->cipher_, packet);  // queued buffers always have the room
  }
  timers_.any_authenticated_packet_sent();
  if (sent_data) timers_.data_sent(now);
}

std::uint32_t Tunnel::next_local_index() {
  return make_receiver_index(connection_id_, ++session_counter_);
}

// ---------------------------------------------------------------------------------------------
// Receiving

Result<MutBytes> Tunnel::decapsulate(Incoming& incoming, Instant now) {
  switch (incoming.kind()) {
    case Incoming::Kind::handshake_initiation:
      return handle_initiation(incoming, now);
    case Incoming::Kind::handshake_response:
      return handle_response(incoming, now);
    case Incoming::Kind::cookie_reply:
      return handle_cookie_reply(incoming, now);
    case Incoming::Kind::transport_data:
      return handle_data(incoming, now);
    case Incoming::Kind::send_cookie_reply:
      break;
  }
  return Error(Errc::state, "a cookie reply to send is not for a tunnel");
}

Result<MutBytes> Tunnel::handle_initiation(Incoming& incoming, Instant now) {
  noise::InitiationReceived& initiation = *incoming.initiation_;
  if (!crypto::constant_time_equal(initiation.initiator_static, peer_static_)) {
    return Error(Errc::state, "handshake initiation from another peer");
  }
  auto timestamp = noise::read_initiation_timestamp(initiation, static_static_);
  if (!timestamp) return timestamp.error();
  // A replayed initiation must not reset the session, so its timestamp has to be strictly newer.
  if (std::memcmp(timestamp->data(), greatest_timestamp_.data(), kTimestampSize) <= 0) {
    return Error(Errc::state, "handshake initiation is not newer than the last one");
  }

  const std::uint32_t index = next_local_index();
  Transmit::Small message;
  message.size = kResponseSize;
  auto keys = noise::write_response(
      std::span<std::uint8_t, kResponseSize>(message.bytes.data(), kResponseSize), index,
      initiation, preshared_key_, device_->rng_);
  if (!keys) return keys.error();
  greatest_timestamp_ = *timestamp;
  finish_handshake_message(MutBytes(message.bytes.data(), message.size), index, now);
  handshake_messages_.push(message);

  // Unusable for sending until the initiator confirms it; a pending one is superseded.
  next_.emplace(index, initiation.sender_index, std::move(*keys), /*we_initiated=*/false, now,
                device_->cipher_.new_key_id());
  expired_ = false;
  timers_.any_authenticated_packet_received();
  timers_.session_derived(now, /*we_initiated=*/false);
  FZ_DEBUG("wireguard", "answered handshake initiation: local index {:#010x}, remote {:#010x}",
           index, initiation.sender_index);
  return MutBytes();
}

Result<MutBytes> Tunnel::handle_response(Incoming& incoming, Instant now) {
  if (!handshake_ || handshake_->sender_index != incoming.receiver_index()) {
    return Error(Errc::state, "handshake response for no initiation in progress");
  }
  const Bytes message = incoming.datagram_;
  auto keys = noise::read_response(message, *handshake_, device_->static_key_, preshared_key_);
  if (!keys) {
    FZ_DEBUG("wireguard", "rejected handshake response: {}", keys.error().message());
    return keys.error();
  }
  const std::uint32_t local_index = handshake_->sender_index;
  const std::uint32_t remote_index = load_le32(message.data() + response::sender);
  handshake_.reset();
  timers_.handshake_due.reset();

  // As in the Linux module: an unconfirmed responder session becomes the previous one (the peer
  // may already send on it), otherwise the current one does.
  if (next_) {
    previous_ = std::move(next_);
    next_.reset();
  } else {
    previous_ = std::move(current_);
  }
  current_.emplace(local_index, remote_index, std::move(*keys), /*we_initiated=*/true, now,
                   device_->cipher_.new_key_id());
  expired_ = false;
  timers_.any_authenticated_packet_received();
  timers_.session_derived(now, /*we_initiated=*/true);
  events_.push(SessionEstablished{true, local_index});
  FZ_DEBUG("wireguard", "session established as initiator: local index {:#010x}, remote {:#010x}",
           local_index, remote_index);

  // Confirm the session to the responder: with the queued packets if there are any, otherwise
  // with a keepalive.
  if (queue_ && queue_->ready < queue_->packets.size()) {
    flush_queue(now);
  } else {
    send_keepalive(now);
  }
  return MutBytes();
}

Result<MutBytes> Tunnel::handle_cookie_reply(Incoming& incoming, Instant now) {
  FZ_TRY_STATUS(cookies_.consume_reply(incoming.datagram_, now));
  timers_.any_authenticated_packet_received();
  FZ_DEBUG("wireguard", "received a cookie reply for index {:#010x}", incoming.receiver_index());
  return MutBytes();
}

Session* Tunnel::session_by_index(std::uint32_t local_index) {
  for (auto* slot : {&current_, &previous_, &next_}) {
    if (*slot && (*slot)->local_index() == local_index) return &**slot;
  }
  return nullptr;
}

Result<MutBytes> Tunnel::handle_data(Incoming& incoming, Instant now) {
  Session* session = session_by_index(incoming.receiver_index());
  if (session == nullptr) return Error(Errc::not_found, "no session for this receiver index");
  if (session->expired(now)) return Error(Errc::state, "data for an expired session");
  auto opened = session->open(device_->cipher_, incoming.datagram_);
  if (!opened) return opened.error();
  MutBytes plaintext = *opened;

  const bool confirmed = next_ && session == &*next_;
  if (confirmed) {
    previous_ = std::move(current_);
    current_ = std::move(next_);
    next_.reset();
    events_.push(SessionEstablished{false, current_->local_index()});
    FZ_DEBUG("wireguard", "session established as responder: local index {:#010x}",
             current_->local_index());
  }
  timers_.any_authenticated_packet_received();

  if (!plaintext.empty()) {
    // Padding (other implementations pad to 16 bytes) is cut off at the length the IP header
    // states; anything that is not an IP packet is dropped.
    std::size_t length = 0;
    const unsigned version = plaintext[0] >> 4;
    if (version == 4 && plaintext.size() >= 20) {
      length = load_be16(plaintext.data() + 2);
      if (length < 20) length = SIZE_MAX;
    } else if (version == 6 && plaintext.size() >= 40) {
      length = 40 + std::size_t{load_be16(plaintext.data() + 4)};
    } else {
      length = SIZE_MAX;
    }
    if (length > plaintext.size()) {
      if (confirmed) flush_queue(now);
      return Error(Errc::malformed, "decrypted data is not an IP packet");
    }
    plaintext = plaintext.first(length);
    timers_.data_received(now);
  }
  if (confirmed) flush_queue(now);
  return plaintext;
}

// ---------------------------------------------------------------------------------------------
// Timers

void Tunnel::schedule_handshake(Instant now) {
  const auto jitter = Duration(static_cast<Duration::rep>(
      device_->rng_.uniform(static_cast<std::uint64_t>(max_handshake_jitter_.count()) + 1)));
  if (jitter == Duration::zero()) {
    send_initiation(now);
  } else {
    timers_.handshake_due = now + jitter;
  }
}

void Tunnel::expire_sessions(Instant now) {
  for (auto* slot : {&current_, &previous_, &next_}) {
    if (*slot && (*slot)->expired(now)) {
      FZ_DEBUG("wireguard", "session {:#010x} expired", (*slot)->local_index());
      slot->reset();
    }
  }
}

void Tunnel::wipe(ExpiryReason reason, Instant now) {
  FZ_DEBUG("wireguard", "connection {:#08x} expired ({})", connection_id_,
           reason == ExpiryReason::handshake_attempts_exhausted ? "no handshake response"
                                                                : "no session for 540 s");
  handshake_.reset();
  current_.reset();
  previous_.reset();
  next_.reset();
  queue_.reset();
  handshake_messages_.clear();
  timers_.reset(now);
  expired_ = true;
  events_.push(ConnectionExpired{reason});
}

void Tunnel::handle_timeout(Instant now) {
  if (expired_) return;

  // A scheduled initiation is the only thing that matters until it is sent.
  if (timers_.handshake_due) {
    if (now >= *timers_.handshake_due) send_initiation(now);
    return;
  }

  expire_sessions(now);

  // Only the side that initiated a session re-handshakes when it expires (fork #53).
  bool want_handshake = !current_ && !handshake_ && timers_.initiator;

  if (now >= timers_.wipe_at()) {
    wipe(ExpiryReason::no_session_for_too_long, now);
    return;
  }

  bool want_keepalive = false;
  if (handshake_) {
    if (now >= timers_.handshake_started + rekey_attempt_time_) {
      wipe(ExpiryReason::handshake_attempts_exhausted, now);
      return;
    }
    if (now >= handshake_sent_at_ + kRekeyTimeout) want_handshake = true;
  } else {
    const auto due = [now](std::optional<Instant> deadline) {
      return deadline && now >= *deadline;
    };
    if (due(timers_.rekey_on_send_at()) || due(timers_.rekey_on_receive_at()) ||
        due(timers_.new_handshake_at())) {
      want_handshake = true;
    }
    want_keepalive = !want_handshake && due(timers_.keepalive_at());
  }

  if (want_handshake) {
    schedule_handshake(now);
  } else if (want_keepalive) {
    send_keepalive(now);
    // Without a session to send it on, the keepalive is moot; do not ask again.
    timers_.unanswered_receive.reset();
  }
}

std::optional<Instant> Tunnel::poll_timeout() const {
  if (expired_) return std::nullopt;
  if (timers_.handshake_due) return timers_.handshake_due;

  Instant next = timers_.wipe_at();
  const auto consider = [&next](std::optional<Instant> deadline) {
    if (deadline && *deadline < next) next = *deadline;
  };
  for (const auto* slot : {&current_, &previous_, &next_}) {
    if (*slot) consider((*slot)->expires_at());
  }
  if (handshake_) {
    consider(handshake_sent_at_ + kRekeyTimeout);
    consider(timers_.handshake_started + rekey_attempt_time_);
  } else {
    consider(timers_.rekey_on_send_at());
    consider(timers_.rekey_on_receive_at());
    consider(timers_.new_handshake_at());
    consider(timers_.keepalive_at());
  }
  return next;
}

std::optional<Transmit> Tunnel::poll_transmit() {
  if (auto message = handshake_messages_.pop()) return Transmit(*message);
  if (queue_ && queue_->ready > 0) {
    Transmit out(std::move(queue_->packets.front()));
    queue_->packets.pop_front();
    --queue_->ready;
    if (queue_->packets.empty()) queue_.reset();
    return out;
  }
  return std::nullopt;
}

std::optional<Event> Tunnel::poll_event() {
  return events_.pop();
}

}  // namespace fz::wireguard
