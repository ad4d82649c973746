// The per-tunnel timer state (spec p2p-connections §4.3; the Linux module's timers.h). As in the
// Linux module, the protocol reports *events* (a packet was sent, data arrived, a session was
// derived) and each event moves deadlines. Nothing here schedules anything: Tunnel::poll_timeout()
// takes the earliest deadline and Tunnel::handle_timeout() acts on those that are due.
#pragma once

#include <optional>

#include "base/time.hpp"
#include "wireguard/constants.hpp"

namespace fz::wireguard {

struct Timers {
  // When the last session was derived (or the tunnel was created or wiped). REKEY_AFTER_TIME and
  // the 540 s wipe count from here.
  Instant session_established;
  // The first initiation of the handshake attempt in progress; REKEY_ATTEMPT_TIME counts from here.
  Instant handshake_started;
  // A timer-driven initiation waiting out its jitter.
  std::optional<Instant> handshake_due;
  // The first data packet sent since we last received anything (fork #66).
  std::optional<Instant> first_unanswered_send;
  // The last data packet received since we last sent anything (passive keepalive).
  std::optional<Instant> unanswered_receive;
  // Our role in the last session derived: only an initiator rekeys by age (fork #53).
  bool initiator = false;
  bool data_sent_on_session = false;
  bool data_received_on_session = false;

  explicit Timers(Instant now) : session_established(now), handshake_started(now) {}

  void any_authenticated_packet_sent() { unanswered_receive.reset(); }
  void any_authenticated_packet_received() { first_unanswered_send.reset(); }
  void data_sent(Instant now) {
    if (!first_unanswered_send) first_unanswered_send = now;
    data_sent_on_session = true;
  }
  void data_received(Instant now) {
    unanswered_receive = now;
    data_received_on_session = true;
  }
  void handshake_initiated(Instant now) { handshake_started = now; }
  void session_derived(Instant now, bool we_initiated) {
    session_established = now;
    initiator = we_initiated;
    data_sent_on_session = false;
    data_received_on_session = false;
  }
  // Everything starts over from `now` (after a wipe, and when a new attempt follows one).
  void reset(Instant now) { *this = Timers(now); }

  // Deadlines.
  Instant wipe_at() const { return session_established + kWipeAfterTime; }
  std::optional<Instant> rekey_on_send_at() const {
    if (!initiator || !data_sent_on_session) return std::nullopt;
    return session_established + kRekeyAfterTime;
  }
  std::optional<Instant> rekey_on_receive_at() const {
    if (!initiator || !data_received_on_session) return std::nullopt;
    return session_established + kRekeyOnReceiveTime;
  }
  std::optional<Instant> new_handshake_at() const {
    if (!first_unanswered_send) return std::nullopt;
    return *first_unanswered_send + kNewHandshakeTime;
  }
  std::optional<Instant> keepalive_at() const {
    if (!unanswered_receive) return std::nullopt;
    return *unanswered_receive + kKeepaliveTimeout;
  }
};

}  // namespace fz::wireguard
