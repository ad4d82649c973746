// One WireGuard peer: the handshake, up to three sessions, the timers and the packets waiting for
// a session. A sans-IO state machine (DESIGN.md §3) on a virtual clock, with Firezone's boringtun
// fork as the behaviour to match (spec p2p-connections §4).
//
// How the layer above drives it:
//   * outgoing IP packet  -> encapsulate(buffer, now): `ready` means the buffer now holds the data
//     message (encrypted in place) to send on the connection's path; `queued` means there is no
//     session yet, a copy waits here and a handshake initiation may be in poll_transmit();
//   * received datagram   -> Device::route(), then decapsulate(incoming, now) on the tunnel it
//     names: the result is the IP packet (decrypted in place, trimmed to its IP length) or empty
//     when the message was consumed (handshake, cookie reply, keepalive);
//   * after every call    -> drain poll_transmit() (handshake messages, keepalives, queued packets
//     once a session exists) to the peer, drain poll_event(), re-arm the timer at poll_timeout();
//   * at the deadline     -> handle_timeout(now).
// The data path (a usable session) allocates nothing and does O(1) work per packet.
//
// Which side starts a handshake (fork behaviour): encapsulate() without a usable session starts
// one at once; the timers start one, after 0-333 ms of jitter, when the initiator's session gets
// old, when 15 s pass without any reply to the first unanswered data packet (either role), when an
// initiation goes unanswered for REKEY_TIMEOUT, and when the initiator's session expires. A
// responder never re-handshakes just because its session expired. The gateway does not initiate
// proactively; initiate_handshake() exists for tests and clients.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <variant>

#include "base/buffer.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "crypto/x25519.hpp"
#include "wireguard/constants.hpp"
#include "wireguard/cookie.hpp"
#include "wireguard/device.hpp"
#include "wireguard/noise.hpp"
#include "wireguard/session.hpp"
#include "wireguard/timers.hpp"

namespace fz::wireguard {

struct TunnelConfig {
  crypto::PublicKey peer_static{};
  SymmetricKey preshared_key;       // Firezone always has one; all zeros means none
  std::uint32_t connection_id = 0;  // from Device::allocate_connection_id()
  // Wall-clock time at the `now` the tunnel is created. Initiation timestamps are this plus the
  // virtual time elapsed since, so they increase strictly without the core reading a clock.
  noise::WallClock wall_clock{};
  Duration rekey_attempt_time = kDefaultRekeyAttemptTime;
  Duration max_handshake_jitter = kMaxHandshakeJitter;
};

// A session became usable for sending: as initiator when the response arrived, as responder when
// the initiator's first data or keepalive confirmed it.
struct SessionEstablished {
  bool we_initiated;
  std::uint32_t local_index;
};

enum class ExpiryReason : std::uint8_t {
  handshake_attempts_exhausted,  // REKEY_ATTEMPT_TIME passed without a response
  no_session_for_too_long,       // 3 x REJECT_AFTER_TIME without a new session
};

// The tunnel gave up; everything was wiped. Firezone fails the connection on this.
struct ConnectionExpired {
  ExpiryReason reason;
};

using Event = std::variant<SessionEstablished, ConnectionExpired>;

enum class Encapsulated : std::uint8_t {
  ready,   // the buffer holds the data message
  queued,  // copied into the queue until a session exists
};

// A datagram for the peer, to be sent on the connection's current path.
class Transmit {
 public:
  Bytes payload() const;
  // Queued packets flushed after a handshake come in their own buffer, with headroom for further
  // framing (TURN ChannelData); null for handshake messages, cookie replies and keepalives.
  PacketBuffer* buffer() { return std::get_if<PacketBuffer>(&data_); }

 private:
  friend class Tunnel;
  struct Small {
    std::array<std::uint8_t, kMaxHandshakeMessageSize> bytes{};
    std::uint8_t size = 0;
  };
  explicit Transmit(Small small) : data_(small) {}
  explicit Transmit(PacketBuffer buffer) : data_(std::move(buffer)) {}

  std::variant<Small, PacketBuffer> data_;
};

class Tunnel {
 public:
  // Headroom of the buffers that flushed queued packets come in.
  static constexpr std::size_t kTransmitHeadroom = 32;

  // Fails only for a peer public key that is a low-order point.
  static Result<Tunnel> create(Device& device, TunnelConfig config, Instant now);

  Tunnel(Tunnel&&) noexcept = default;
  Tunnel& operator=(Tunnel&&) noexcept = default;

  // The packet needs 16 bytes of headroom and 16 of tailroom. Errors: no room (out_of_range), the
  // queue already holds 256 packets (exhausted; the packet is dropped).
  Result<Encapsulated> encapsulate(PacketBuffer& packet, Instant now);

  // `incoming` must come from this tunnel's Device and be for this tunnel. Returns the IP packet,
  // or an empty span if there is nothing to deliver. Input that fails authentication (or a
  // replay) leaves the tunnel as it was.
  Result<MutBytes> decapsulate(Incoming& incoming, Instant now);

  // Sends an initiation now unless a handshake is in progress.
  void initiate_handshake(Instant now);

  void handle_timeout(Instant now);
  std::optional<Instant> poll_timeout() const;
  std::optional<Transmit> poll_transmit();
  std::optional<Event> poll_event();

  const crypto::PublicKey& peer_static() const { return peer_static_; }
  std::uint32_t connection_id() const { return connection_id_; }
  // A session we can send on right now.
  bool has_usable_session(Instant now) const { return sending_session(now) != nullptr; }
  bool handshake_in_progress() const { return handshake_.has_value(); }
  bool expired() const { return expired_; }
  std::size_t queued_packets() const { return queue_ ? queue_->packets.size() : 0; }
  // Heap memory this tunnel owns right now (the packet queue only), for measurements.
  std::size_t heap_bytes() const;

 private:
  Tunnel(Device& device, TunnelConfig&& config, crypto::SharedSecret static_static, Instant now);

  // A fixed ring that drops its oldest entry when full: pending outputs stay bounded and inline.
  template <class T, std::size_t N>
  class Ring {
   public:
    void push(T value) {
      if (size_ == N) pop();
      slots_[(head_ + size_++) % N] = std::move(value);
    }
    std::optional<T> pop() {
      if (size_ == 0) return std::nullopt;
      std::optional<T> out(std::move(slots_[head_]));
      head_ = (head_ + 1) % N;
      --size_;
      return out;
    }
    void clear() { head_ = size_ = 0; }

   private:
    std::array<T, N> slots_{};
    std::uint8_t head_ = 0;
    std::uint8_t size_ = 0;
  };

  // Packets waiting for a session; the first `ready` are already encrypted for poll_transmit().
  // Allocated with the first packet and freed when drained: an idle tunnel owns no heap.
  struct PacketQueue {
    std::deque<PacketBuffer> packets;
    std::size_t ready = 0;
  };

  // Sending.
  const Session* sending_session(Instant now) const;
  Session* sending_session(Instant now);
  void send_initiation(Instant now);
  void send_keepalive(Instant now);
  void flush_queue(Instant now);
  std::uint32_t next_local_index();
  // Adds mac1/mac2 to an outgoing handshake message and counts it as sent.
  void finish_handshake_message(MutBytes message, std::uint32_t sender_index, Instant now);

  // Receiving.
  Result<MutBytes> handle_initiation(Incoming& incoming, Instant now);
  Result<MutBytes> handle_response(Incoming& incoming, Instant now);
  Result<MutBytes> handle_cookie_reply(Incoming& incoming, Instant now);
  Result<MutBytes> handle_data(Incoming& incoming, Instant now);
  Session* session_by_index(std::uint32_t local_index);

  // Timers.
  void schedule_handshake(Instant now);
  void expire_sessions(Instant now);
  void wipe(ExpiryReason reason, Instant now);

  Device* device_;
  crypto::PublicKey peer_static_;
  SymmetricKey preshared_key_;
  crypto::SharedSecret static_static_;  // DH(our static, peer static), used by every handshake
  crypto::Blake2sDigest peer_mac1_key_;
  CookieJar cookies_;
  std::uint32_t connection_id_;
  std::uint8_t session_counter_ = 0;
  bool expired_ = false;
  Duration rekey_attempt_time_;
  Duration max_handshake_jitter_;
  noise::WallClock wall_clock_at_creation_;
  Instant created_at_;
  noise::Tai64n greatest_timestamp_{};  // of the initiations we accepted

  std::optional<noise::InitiationSent> handshake_;  // our initiation awaiting its response
  Instant handshake_sent_at_{};
  // The Linux module's keypairs: `current_` sends, all three receive, `next_` is the responder's
  // session until the initiator confirms it with data.
  std::optional<Session> current_;
  std::optional<Session> previous_;
  std::optional<Session> next_;
  Timers timers_;

  std::unique_ptr<PacketQueue> queue_;
  Ring<Transmit::Small, 2> handshake_messages_;  // and keepalives
  Ring<Event, 4> events_;
};

}  // namespace fz::wireguard
