// Every timer of spec p2p-connections §4.3 on the virtual clock, at exact times. Jitter is off
// (max 0) except in the jitter tests, so timer-driven initiations go out exactly at their
// deadline. A is the initiator unless a test says otherwise.
#include <gtest/gtest.h>

#include "sim.hpp"

namespace fz::wireguard::test {
namespace {

using Times = std::vector<Instant>;

std::vector<Instant> offsets(Instant t0, std::initializer_list<Duration> ds) {
  std::vector<Instant> out;
  for (auto d : ds)
    out.push_back(t0 + d);
  return out;
}

bool has_expired_event(const Peer& p, ExpiryReason reason) {
  for (const auto& e : p.events) {
    if (const auto* x = std::get_if<ConnectionExpired>(&e); x && x->reason == reason) return true;
  }
  return false;
}

TEST(Timers, NoDeadlineWithoutCauseOtherThanSessionExpiry) {
  Sim sim;
  sim.handshake();
  EXPECT_EQ(sim.a.tunnel->poll_timeout(), sim.t0 + 180s);
  EXPECT_EQ(sim.b.tunnel->poll_timeout(), sim.t0 + 180s);
  // A fresh tunnel only has the 540 s wipe.
  Sim fresh;
  EXPECT_EQ(fresh.a.tunnel->poll_timeout(), fresh.t0 + 540s);
}

TEST(Timers, UnansweredInitiationIsRetransmittedEveryRekeyTimeoutAndGivesUpAt15s) {
  Sim sim;
  sim.b.receives = false;
  sim.handshake();
  sim.run_until(sim.t0 + 15s - 1ns);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 5s, 10s}));
  EXPECT_FALSE(sim.a.tunnel->expired());
  EXPECT_EQ(sim.a.tunnel->poll_timeout(), sim.t0 + 15s);
  sim.run_until(sim.t0 + 15s);
  EXPECT_TRUE(sim.a.tunnel->expired());
  EXPECT_TRUE(has_expired_event(sim.a, ExpiryReason::handshake_attempts_exhausted));
  EXPECT_EQ(sim.a.tunnel->poll_timeout(), std::nullopt);
  sim.run_for(600s);
  EXPECT_EQ(sim.count('A', Kind::initiation), 3u);
  EXPECT_EQ(sim.a.events.size(), 1u);
}

TEST(Timers, RekeyAttemptTimeIsConfigurable) {
  Sim sim(SimOptions{.rekey_attempt_time = 8s});
  sim.b.receives = false;
  sim.handshake();
  sim.run_until(sim.t0 + 8s - 1ns);
  EXPECT_FALSE(sim.a.tunnel->expired());
  sim.run_until(sim.t0 + 8s);
  EXPECT_TRUE(sim.a.tunnel->expired());
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 5s}));
}

TEST(Timers, QueuedPacketsAreDroppedWhenTheAttemptExpires) {
  Sim sim;
  sim.b.receives = false;
  ASSERT_EQ(sim.send(sim.a, ipv4_packet(60)).value(), Encapsulated::queued);
  sim.run_for(15s);
  EXPECT_TRUE(sim.a.tunnel->expired());
  EXPECT_EQ(sim.a.tunnel->queued_packets(), 0u);
  EXPECT_EQ(sim.a.tunnel->heap_bytes(), 0u);
}

TEST(Timers, ExpiredTunnelStartsOverOnTheNextPacket) {
  Sim sim;
  sim.b.receives = false;
  sim.handshake();
  sim.run_for(15s);
  ASSERT_TRUE(sim.a.tunnel->expired());
  sim.b.receives = true;
  sim.run_for(100s);
  ASSERT_EQ(sim.send(sim.a, ipv4_packet(60, 1)).value(), Encapsulated::queued);
  EXPECT_FALSE(sim.a.tunnel->expired());
  EXPECT_EQ(sim.b.inbox.size(), 1u);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation).back(), sim.t0 + 115s);
  sim.expect_connectivity();
}

TEST(Timers, RetransmissionsAreJitteredBy0To333ms) {
  for (std::uint8_t s = 0; s < 8; ++s) {
    SimOptions options;
    options.jitter = kMaxHandshakeJitter;
    Sim sim(options);
    sim.b.receives = false;
    sim.handshake();
    sim.run_until(sim.t0 + 5s);  // the retransmission is due; it waits out the jitter
    const auto due = sim.a.tunnel->poll_timeout().value();
    EXPECT_GE(due, sim.t0 + 5s);
    EXPECT_LE(due, sim.t0 + 5s + 333ms);
    sim.run_until(due);
    const auto inits = sim.sent_at('A', Kind::initiation);
    ASSERT_EQ(inits.size(), 2u);
    EXPECT_EQ(inits[1], due);
    // The next retransmission counts from when this one was sent.
    const auto next = sim.a.tunnel->poll_timeout().value();
    EXPECT_EQ(next, due + 5s);
  }
}

TEST(Timers, InitiationsTriggeredByPacketsAreNotJittered) {
  SimOptions options;
  options.jitter = kMaxHandshakeJitter;
  Sim sim(options);
  sim.b.receives = false;
  sim.now += 3s;
  ASSERT_EQ(sim.send(sim.a, ipv4_packet(60)).value(), Encapsulated::queued);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {3s}));
}

TEST(Timers, InitiatorRekeysAfter120sWhenItSentData) {
  Sim sim;
  sim.handshake();
  sim.run_for(1s);
  sim.post(sim.a, ipv4_packet(60));
  sim.run_until(sim.t0 + 120s - 1ns);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s}));
  sim.run_until(sim.t0 + 120s);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 120s}));
  EXPECT_EQ(sim.count('B', Kind::initiation), 0u);
  sim.expect_connectivity();
}

TEST(Timers, InitiatorWithoutDataDoesNotRekeyAt120s) {
  Sim sim;
  sim.handshake();
  sim.run_until(sim.t0 + 180s - 1ns);
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);
}

TEST(Timers, InitiatorRekeysAt165sWhenItReceivedData) {
  Sim sim;
  sim.handshake();
  sim.run_for(1s);
  sim.post(sim.b, ipv4_packet(60));  // A receives; A's passive keepalive answers at 11 s
  sim.run_until(sim.t0 + 165s - 1ns);
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);
  EXPECT_EQ(sim.sent_at('A', Kind::keepalive), offsets(sim.t0, {0s, 11s}));
  sim.run_until(sim.t0 + 165s);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 165s}));
}

TEST(Timers, ResponderDoesNotRekeyBySessionAge) {
  Sim sim;
  sim.handshake();
  sim.run_for(1s);
  sim.post(sim.b, ipv4_packet(60));
  sim.post(sim.a, ipv4_packet(60));
  sim.run_until(sim.t0 + 179s);
  EXPECT_EQ(sim.count('B', Kind::initiation), 0u);
}

TEST(Timers, PassiveKeepaliveAfter10sOfReceivingWithoutSending) {
  Sim sim;
  sim.handshake();  // A's confirmation keepalive at 0 s
  sim.run_for(1s);
  sim.post(sim.a, ipv4_packet(60));
  sim.run_until(sim.t0 + 11s - 1ns);
  EXPECT_EQ(sim.count('B', Kind::keepalive), 0u);
  sim.run_until(sim.t0 + 11s);
  EXPECT_EQ(sim.sent_at('B', Kind::keepalive), offsets(sim.t0, {11s}));
  sim.run_for(100s);
  // Exactly one: keepalives carry no data, so they do not ask for keepalives in turn.
  EXPECT_EQ(sim.count('B', Kind::keepalive), 1u);
  EXPECT_EQ(sim.count('A', Kind::keepalive), 1u);  // only the handshake confirmation
}

TEST(Timers, NoPassiveKeepaliveWhenWeSentSomething) {
  Sim sim;
  sim.handshake();
  sim.run_for(1s);
  sim.post(sim.a, ipv4_packet(60));
  sim.run_for(4s);
  sim.post(sim.b, ipv4_packet(60));  // B answers with data at 5 s
  sim.run_until(sim.t0 + 14s);
  EXPECT_EQ(sim.count('B', Kind::keepalive), 0u);
  EXPECT_EQ(sim.sent_at('A', Kind::keepalive), offsets(sim.t0, {0s}));
  sim.run_until(sim.t0 + 15s);
  EXPECT_EQ(sim.sent_at('A', Kind::keepalive), offsets(sim.t0, {0s, 15s}));
}

TEST(Timers, NewHandshake15sAfterTheFirstUnansweredSend) {
  Sim sim;
  sim.handshake();
  sim.b.receives = false;  // A's packets vanish from now on
  sim.run_for(1s);
  sim.post(sim.a, ipv4_packet(60, 1));
  sim.run_for(9s);
  sim.post(sim.a, ipv4_packet(60, 2));  // does not move the deadline
  sim.run_until(sim.t0 + 16s - 1ns);
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);
  sim.run_until(sim.t0 + 16s);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 16s}));
  // Unanswered again: retransmissions, then the connection expires 15 s after 16 s.
  sim.run_until(sim.t0 + 31s - 1ns);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 16s, 21s, 26s}));
  EXPECT_FALSE(sim.a.tunnel->expired());
  sim.run_until(sim.t0 + 31s);
  EXPECT_TRUE(has_expired_event(sim.a, ExpiryReason::handshake_attempts_exhausted));
}

TEST(Timers, NewHandshakeWithoutReplyAppliesToTheResponderToo) {
  Sim sim;
  sim.handshake();
  sim.a.receives = false;
  sim.run_for(2s);
  sim.post(sim.b, ipv4_packet(60));
  sim.run_until(sim.t0 + 17s);
  EXPECT_EQ(sim.sent_at('B', Kind::initiation), offsets(sim.t0, {17s}));
}

TEST(Timers, AnyReplyCancelsTheNewHandshakeDeadline) {
  Sim sim;
  sim.handshake();
  sim.run_for(1s);
  sim.post(sim.a, ipv4_packet(60));  // B's keepalive at 11 s answers it
  sim.run_until(sim.t0 + 100s);
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);
  EXPECT_EQ(sim.sent_at('B', Kind::keepalive), offsets(sim.t0, {11s}));
}

TEST(Timers, InitiatorStopsSendingAt170sResponderAt180s) {
  Sim sim;
  sim.handshake();
  sim.now = sim.t0 + 170s - 1ns;
  EXPECT_TRUE(sim.a.tunnel->has_usable_session(sim.now));
  sim.now = sim.t0 + 170s;
  EXPECT_FALSE(sim.a.tunnel->has_usable_session(sim.now));
  EXPECT_TRUE(sim.b.tunnel->has_usable_session(sim.now));
  sim.now = sim.t0 + 180s - 1ns;
  EXPECT_TRUE(sim.b.tunnel->has_usable_session(sim.now));
  sim.now = sim.t0 + 180s;
  EXPECT_FALSE(sim.b.tunnel->has_usable_session(sim.now));
}

TEST(Timers, SendingOnAnAlmostExpiredInitiatorSessionStartsAHandshake) {
  Sim sim;
  sim.handshake();
  sim.run_until(sim.t0 + 170s);
  ASSERT_EQ(sim.send(sim.a, ipv4_packet(60, 7)).value(), Encapsulated::queued);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 170s}));
  ASSERT_EQ(sim.b.inbox.size(), 1u);  // delivered once the new session was up
  // The responder keeps using its session until 180 s.
  Sim sim2;
  sim2.handshake();
  sim2.run_until(sim2.t0 + 179s);
  EXPECT_EQ(sim2.send(sim2.b, ipv4_packet(60)).value(), Encapsulated::ready);
  EXPECT_EQ(sim2.a.inbox.size(), 1u);
}

TEST(Timers, SessionExpiresAt180sAndOnlyTheInitiatorRehandshakes) {
  Sim sim;
  sim.handshake();
  sim.run_until(sim.t0 + 180s - 1ns);
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);
  sim.run_until(sim.t0 + 180s);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 180s}));
  EXPECT_EQ(sim.count('B', Kind::initiation), 0u);
  EXPECT_TRUE(sim.a.tunnel->has_usable_session(sim.now));
  EXPECT_TRUE(sim.b.tunnel->has_usable_session(sim.now));
  // And so on, every 180 s on an idle tunnel.
  sim.run_until(sim.t0 + 360s);
  EXPECT_EQ(sim.sent_at('A', Kind::initiation), offsets(sim.t0, {0s, 180s, 360s}));
  EXPECT_EQ(sim.count('B', Kind::initiation), 0u);
}

TEST(Timers, EverythingIsWipedAfter540sWithoutANewSession) {
  Sim sim;
  sim.handshake();
  sim.b.events.clear();
  sim.a.receives = false;  // the initiator is gone; B, the responder, never re-handshakes
  sim.b.receives = false;
  sim.run_until(sim.t0 + 540s - 1ns);
  EXPECT_EQ(sim.count('B', Kind::initiation), 0u);
  EXPECT_FALSE(sim.b.tunnel->expired());
  EXPECT_EQ(sim.b.tunnel->poll_timeout(), sim.t0 + 540s);
  sim.run_until(sim.t0 + 540s);
  EXPECT_TRUE(sim.b.tunnel->expired());
  EXPECT_TRUE(has_expired_event(sim.b, ExpiryReason::no_session_for_too_long));
  EXPECT_EQ(sim.b.tunnel->poll_timeout(), std::nullopt);
  // A never-used tunnel expires 540 s after its creation.
  Sim fresh;
  fresh.run_until(fresh.t0 + 540s);
  EXPECT_TRUE(has_expired_event(fresh.a, ExpiryReason::no_session_for_too_long));
  EXPECT_TRUE(has_expired_event(fresh.b, ExpiryReason::no_session_for_too_long));
}

TEST(Timers, NoHandshakeIsScheduledWhileOneIsInProgress) {
  Sim sim;
  sim.b.receives = false;
  sim.handshake();
  for (int i = 0; i < 10; ++i) {
    sim.a.tunnel->initiate_handshake(sim.now);
    sim.post(sim.a, ipv4_packet(40));
  }
  EXPECT_EQ(sim.count('A', Kind::initiation), 1u);
}

TEST(Timers, PollTimeoutIsAlwaysTheExactNextAction) {
  // Run a busy scenario and check that every handle_timeout at poll_timeout() does something or
  // moves the deadline: the clock never spins on one instant.
  Sim sim;
  sim.handshake();
  for (int i = 0; i < 50; ++i) {
    sim.run_for(7s);
    if (i % 3 == 0) sim.post(sim.a, ipv4_packet(60));
    if (i % 5 == 0) sim.post(sim.b, ipv4_packet(60));
  }
  for (Peer* p : {&sim.a, &sim.b}) {
    auto t = p->tunnel->poll_timeout();
    ASSERT_TRUE(t);
    p->tunnel->handle_timeout(*t);
    sim.pump(*p);
    auto after = p->tunnel->poll_timeout();
    if (after) {
      EXPECT_GT(*after, *t);
    }
  }
  sim.expect_connectivity();
}

}  // namespace
}  // namespace fz::wireguard::test
