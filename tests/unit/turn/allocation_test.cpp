// The TURN client against the relay model on a virtual clock: the allocation life cycle, every
// error and timer of spec p2p-connections.md §3.5-§3.7 with exact times, channels and the data
// path.
#include <gtest/gtest.h>

#include <string>

#include "base/encoding.hpp"
#include "base/log.hpp"
#include "turn_sim.hpp"

namespace fz::turn::test {
namespace {

using stun::Class;

template <class T>
std::vector<std::pair<Instant, T>> events_of(const std::vector<TimedEvent>& events) {
  std::vector<std::pair<Instant, T>> out;
  for (const auto& e : events) {
    if (auto* v = std::get_if<T>(&e.event)) out.emplace_back(e.time, *v);
  }
  return out;
}

std::vector<Candidate> new_candidates(const std::vector<TimedEvent>& events) {
  std::vector<Candidate> out;
  for (auto& [t, e] : events_of<CandidateNew>(events))
    out.push_back(e.candidate);
  return out;
}
std::vector<Candidate> invalidated(const std::vector<TimedEvent>& events) {
  std::vector<Candidate> out;
  for (auto& [t, e] : events_of<CandidateInvalidated>(events))
    out.push_back(e.candidate);
  return out;
}
std::optional<std::pair<Instant, FailureReason>> failure(const std::vector<TimedEvent>& events) {
  auto failed = events_of<RelayFailed>(events);
  if (failed.empty()) return std::nullopt;
  return std::make_pair(failed.front().first, failed.front().second.reason);
}

RelayModel::Config v4_only_relay() {
  auto config = relay_config();
  config.public_v6.reset();
  return config;
}

// Sim with an established IPv4 allocation at t=0, on an IPv4-only relay.
class Allocated : public ::testing::Test {
 protected:
  Allocated() : sim(v4_only_relay()) {}
  void SetUp() override {
    sim.start(RelaySocket{kRelay4, std::nullopt});
    ASSERT_TRUE(sim.allocation->has_allocation());
    relay4 = sim.allocation->relay_candidate(net::IpFamily::v4)->addr;
    sim.take_events();
    sim.sent.clear();
  }
  Sim sim;
  net::SocketAddr relay4;
};

// --- Gathering ----------------------------------------------------------------------------------

TEST(Gathering, BindingThenChallengedAllocateDualStack) {
  Sim sim;
  sim.start();
  const auto& sent = sim.sent;
  ASSERT_GE(sent.size(), 4u);
  // BINDING to both relay addresses at once: SOFTWARE only, unauthenticated.
  EXPECT_EQ(sent[0].transmit.dst, kRelay4);
  EXPECT_EQ(sent[1].transmit.dst, kRelay6);
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(sent[i].transmit.src.has_value());
    const auto m = sent[i].message();
    EXPECT_EQ(m.type(), 0x0001);
    EXPECT_EQ(attribute_types(m), (std::vector<std::uint16_t>{stun::attr::software}));
    EXPECT_EQ(m.text(stun::attr::software), "snownet; session=TEST");
  }
  // The first answer (v4) fixes the relay address; ALLOCATE goes there, first unauthenticated.
  auto allocates = sim.requests(stun::Method::allocate);
  ASSERT_EQ(allocates.size(), 2u);
  EXPECT_EQ(allocates[0].transmit.dst, kRelay4);
  EXPECT_EQ(
      attribute_types(allocates[0].message()),
      (std::vector<std::uint16_t>{stun::attr::requested_transport,
                                  stun::attr::additional_address_family, stun::attr::software}));
  const auto signed_allocate = allocates[1].message();
  EXPECT_EQ(attribute_types(signed_allocate),
            (std::vector<std::uint16_t>{stun::attr::requested_transport,
                                        stun::attr::additional_address_family, stun::attr::software,
                                        stun::attr::username, stun::attr::realm, stun::attr::nonce,
                                        stun::attr::message_integrity}));
  EXPECT_EQ(signed_allocate.requested_transport(), 17);
  EXPECT_EQ(signed_allocate.address_family(stun::attr::additional_address_family),
            net::IpFamily::v6);
  EXPECT_EQ(signed_allocate.text(stun::attr::realm), "firezone");
  EXPECT_TRUE(signed_allocate.verify_integrity(credentials().key_bytes()));
  EXPECT_NE(allocates[0].message().transaction_id(), signed_allocate.transaction_id());

  EXPECT_EQ(sim.allocation->active_socket(), kRelay4);
  const auto port = sim.allocation->relay_candidate(net::IpFamily::v4)->addr.port;
  const auto news = new_candidates(sim.events);
  EXPECT_EQ(news, (std::vector<Candidate>{
                      {CandidateKind::host, kLocal4, kLocal4},
                      {CandidateKind::server_reflexive, kPublic4, kLocal4},
                      {CandidateKind::host, kLocal6, kLocal6},
                      {CandidateKind::server_reflexive, kLocal6, kLocal6},
                      {CandidateKind::relayed, {ip("203.0.113.10"), port}, kLocal4},
                      {CandidateKind::relayed, {ip("2001:db8::10"), port}, kLocal4},
                  }));
  EXPECT_TRUE(invalidated(sim.events).empty());
  EXPECT_TRUE(sim.relay.has_allocation(kPublic4));
  EXPECT_EQ(sim.relay.requests(stun::Method::allocate), 2u);
}

TEST(Gathering, FirstBindingAnswerWinsEvenIfV6) {
  Sim sim;
  // Hold the v4 answer back: v6 answers first.
  sim.drop = [](const Transmit& t) { return t.dst == kRelay4; };
  sim.start();
  EXPECT_EQ(sim.allocation->active_socket(), kRelay6);
  EXPECT_EQ(sim.requests(stun::Method::allocate).back().transmit.dst, kRelay6);
  EXPECT_TRUE(sim.allocation->has_allocation());
}

TEST(Gathering, SingleStackRelayGivesOnlyItsFamily) {
  auto config = relay_config();
  config.public_v6.reset();
  Sim sim(config);
  sim.start(RelaySocket{kRelay4, std::nullopt});
  EXPECT_TRUE(sim.allocation->relay_candidate(net::IpFamily::v4).has_value());
  EXPECT_FALSE(sim.allocation->relay_candidate(net::IpFamily::v6).has_value());
  EXPECT_EQ(sim.allocation->relay_candidates().size(), 1u);
  // No relay address of the peer's family: nothing to bind.
  sim.sent.clear();
  sim.allocation->bind_channel(kPeer6, sim.now);
  sim.pump();
  EXPECT_TRUE(sim.sent.empty());
}

TEST(Gathering, DualStackAttributeCodePoints) {
  for (auto [option, expected] :
       {std::pair{DualStackAttribute::rfc8656, std::optional<std::uint16_t>(0x8000)},
        std::pair{DualStackAttribute::draft, std::optional<std::uint16_t>(0x8032)},
        std::pair{DualStackAttribute::none, std::optional<std::uint16_t>()}}) {
    Sim sim;
    sim.start(RelaySocket{kRelay4, std::nullopt}, credentials(), {"", option});
    const auto m = sim.requests(stun::Method::allocate).back().message();
    EXPECT_EQ(m.has(0x8000), expected == 0x8000);
    EXPECT_EQ(m.has(0x8032), expected == 0x8032);
    if (expected) {
      EXPECT_EQ(m.address_family(*expected), net::IpFamily::v6);
    }
    // The Firezone relay knows only 0x8000: with the draft code point it allocates IPv4 only.
    EXPECT_EQ(sim.allocation->relay_candidate(net::IpFamily::v6).has_value(),
              option == DualStackAttribute::rfc8656);
    EXPECT_TRUE(sim.allocation->relay_candidate(net::IpFamily::v4).has_value());
  }
}

TEST(Gathering, HostCandidateChangeEmitsNewThenInvalid) {
  Sim sim;
  sim.start(RelaySocket{kRelay4, std::nullopt});
  sim.take_events();
  sim.local4 = addr("198.51.100.3:52625");
  sim.run_until(at(25s));  // keepalive answer arrives on the new local address
  const auto events = sim.take_events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(std::get<CandidateNew>(events[0].event).candidate,
            (Candidate{CandidateKind::host, sim.local4, sim.local4}));
  EXPECT_EQ(std::get<CandidateInvalidated>(events[1].event).candidate,
            (Candidate{CandidateKind::host, kLocal4, kLocal4}));
  // The server-reflexive address is the same, but its base moved.
  EXPECT_EQ(std::get<CandidateNew>(events[2].event).candidate,
            (Candidate{CandidateKind::server_reflexive, kPublic4, sim.local4}));
  EXPECT_EQ(std::get<CandidateInvalidated>(events[3].event).candidate,
            (Candidate{CandidateKind::server_reflexive, kPublic4, kLocal4}));
}

// --- Timers -------------------------------------------------------------------------------------

TEST(Timers, RetransmitScheduleThenNoResponse) {
  Sim sim;
  sim.relay_reachable = false;
  sim.start(RelaySocket{kRelay4, std::nullopt});
  sim.run_until(at(60s));
  EXPECT_EQ(sim.request_times(stun::Method::binding),
            (std::vector<Instant>{at(0ms), at(1000ms), at(2500ms), at(4750ms)}));
  // BINDING keeps its transaction id across retransmits.
  const auto bindings = sim.requests(stun::Method::binding);
  for (const auto& b : bindings) {
    EXPECT_EQ(b.message().transaction_id(), bindings[0].message().transaction_id());
  }
  EXPECT_EQ(failure(sim.events), std::make_pair(at(8125ms), FailureReason::no_response));
  EXPECT_TRUE(sim.allocation->finished());
  EXPECT_FALSE(sim.allocation->poll_timeout().has_value());
}

TEST(Timers, AuthenticatedRetransmitsAreResignedWithFreshIds) {
  Sim sim;
  sim.drop = [](const Transmit& t) {
    auto m = stun::Message::parse(t.payload);
    return m->method() == stun::Method::allocate && m->has(stun::attr::nonce);
  };
  sim.start(RelaySocket{kRelay4, std::nullopt});
  sim.run_until(at(60s));
  const auto allocates = sim.requests(stun::Method::allocate);
  ASSERT_EQ(allocates.size(), 5u);  // the unauthenticated one, then four signed sends
  std::vector<Instant> times;
  std::vector<stun::TransactionId> ids;
  for (std::size_t i = 1; i < allocates.size(); ++i) {
    times.push_back(allocates[i].time);
    const auto m = allocates[i].message();
    EXPECT_TRUE(m.verify_integrity(credentials().key_bytes()));
    EXPECT_EQ(std::count(ids.begin(), ids.end(), m.transaction_id()), 0);
    ids.push_back(m.transaction_id());
  }
  EXPECT_EQ(times, (std::vector<Instant>{at(0ms), at(1000ms), at(2500ms), at(4750ms)}));
  // Abandoned towards the relay address family in use: the relay counts as gone.
  EXPECT_EQ(failure(sim.events), std::make_pair(at(8125ms), FailureReason::no_response));
}

TEST(Timers, SecondFamilyBindingGivesUpQuietly) {
  Sim sim;
  sim.drop = [](const Transmit& t) { return t.dst == kRelay6; };
  sim.start();
  sim.run_until(at(20s));
  EXPECT_EQ(sim.request_times(stun::Method::binding),
            (std::vector<Instant>{at(0ms), at(0ms), at(1000ms), at(2500ms), at(4750ms)}));
  EXPECT_FALSE(failure(sim.events).has_value());
  EXPECT_TRUE(sim.allocation->has_allocation());
}

TEST_F(Allocated, RefreshAtHalfLifetime) {
  sim.run_until(at(1000s));
  EXPECT_EQ(sim.request_times(stun::Method::refresh),
            (std::vector<Instant>{at(300s), at(600s), at(900s)}));
  const auto m = sim.requests(stun::Method::refresh)[0].message();
  // No REQUESTED-TRANSPORT/ADDITIONAL-ADDRESS-FAMILY on REFRESH (see allocation.cpp).
  EXPECT_EQ(attribute_types(m), (std::vector<std::uint16_t>{
                                    stun::attr::software, stun::attr::username, stun::attr::realm,
                                    stun::attr::nonce, stun::attr::message_integrity}));
  EXPECT_EQ(sim.relay.allocation_expiry(kPublic4), at(1500s));
  EXPECT_TRUE(sim.events.empty());
}

TEST_F(Allocated, KeepaliveEvery25Seconds) {
  sim.run_until(at(101s));
  EXPECT_EQ(sim.request_times(stun::Method::binding),
            (std::vector<Instant>{at(25s), at(50s), at(75s), at(100s)}));
  for (const auto& b : sim.requests(stun::Method::binding)) {
    EXPECT_EQ(b.transmit.dst, kRelay4);
    EXPECT_FALSE(b.message().has_integrity());
  }
}

TEST_F(Allocated, LostRelayIsDetectedByKeepalive) {
  sim.run_until(at(30s));
  sim.relay_reachable = false;
  sim.run_until(at(120s));
  EXPECT_EQ(sim.request_times(stun::Method::binding),
            (std::vector<Instant>{at(25s), at(50s), at(51s), at(52500ms), at(54750ms)}));
  EXPECT_EQ(invalidated(sim.events),
            (std::vector<Candidate>{{CandidateKind::relayed, relay4, kLocal4}}));
  EXPECT_EQ(failure(sim.events), std::make_pair(at(58125ms), FailureReason::no_response));
}

TEST(Timers, ExpiryInvalidatesRelayCandidates) {
  auto config = v4_only_relay();
  config.default_lifetime = 10;
  Sim sim(config);
  sim.start(RelaySocket{kRelay4, std::nullopt});
  const auto relay4 = *sim.allocation->relay_candidate(net::IpFamily::v4);
  sim.take_events();
  sim.run_until(at(4s));
  sim.relay_reachable = false;
  sim.run_until(at(30s));
  EXPECT_EQ(sim.request_times(stun::Method::refresh),
            (std::vector<Instant>{at(5s), at(6s), at(7500ms), at(9750ms)}));
  ASSERT_EQ(sim.events.size(), 1u);
  EXPECT_EQ(sim.events[0].time, at(10s));
  EXPECT_EQ(std::get<CandidateInvalidated>(sim.events[0].event).candidate, relay4);
  EXPECT_FALSE(sim.allocation->has_allocation());
}

TEST_F(Allocated, ProactiveRefreshIsASingleOneSecondAttempt) {
  sim.run_until(at(100s));
  sim.relay_reachable = false;
  sim.allocation->refresh(sim.now);
  sim.pump();
  sim.run_until(at(110s));
  EXPECT_EQ(sim.request_times(stun::Method::refresh), (std::vector<Instant>{at(100s)}));
  EXPECT_EQ(failure(sim.events), std::make_pair(at(101s), FailureReason::no_response));
}

TEST_F(Allocated, ProactiveRefreshSucceeds) {
  sim.run_until(at(100s));
  sim.allocation->refresh(sim.now);
  sim.pump();
  EXPECT_EQ(sim.relay.allocation_expiry(kPublic4), at(700s));
  sim.run_until(at(451s));
  EXPECT_EQ(sim.request_times(stun::Method::refresh), (std::vector<Instant>{at(100s), at(400s)}));
}

// --- Errors -------------------------------------------------------------------------------------

TEST_F(Allocated, StaleNonceIsRetriedWithTheNewNonce) {
  sim.relay.forget_nonces();
  sim.run_until(at(300s));
  const auto refreshes = sim.requests(stun::Method::refresh);
  ASSERT_EQ(refreshes.size(), 2u);
  EXPECT_EQ(refreshes[1].time, at(300s));
  EXPECT_NE(refreshes[0].message().text(stun::attr::nonce),
            refreshes[1].message().text(stun::attr::nonce));
  EXPECT_EQ(sim.relay.allocation_expiry(kPublic4), at(900s));
  EXPECT_TRUE(sim.events.empty());
}

TEST(Errors, NonceIsGoodFor10000RequestsThen438) {
  auto config = relay_config();
  config.nonce_uses = 2;  // the model's default is the relay's 10 000 (see relay_model_test)
  Sim sim(config);
  sim.start(RelaySocket{kRelay4, std::nullopt});  // ALLOCATE: use 1
  sim.allocation->bind_channel(kPeer4, sim.now);  // use 2
  sim.pump();
  EXPECT_TRUE(sim.relay.bound_channel(kPublic4, kPeer4).has_value());
  const auto issued = sim.relay.nonces_issued();
  sim.run_until(at(300s));  // REFRESH: 438, then again with a fresh nonce
  EXPECT_EQ(sim.requests(stun::Method::refresh).size(), 2u);
  EXPECT_EQ(sim.relay.nonces_issued(), issued + 1);
  EXPECT_EQ(sim.relay.allocation_expiry(kPublic4), at(900s));
}

TEST(Errors, UnauthorizedWithNonceGivesUpOnTheRelay) {
  Sim sim(v4_only_relay());
  // The credentials expire at 400 s: the 600 s refresh is refused with a (verifiable) 401.
  sim.start(RelaySocket{kRelay4, std::nullopt}, credentials("salt1", 400s));
  const auto relay4 = *sim.allocation->relay_candidate(net::IpFamily::v4);
  sim.take_events();
  sim.run_until(at(700s));
  EXPECT_EQ(sim.request_times(stun::Method::refresh), (std::vector<Instant>{at(300s), at(600s)}));
  EXPECT_EQ(invalidated(sim.events), std::vector<Candidate>{relay4});
  EXPECT_EQ(failure(sim.events), std::make_pair(at(600s), FailureReason::authentication));
  EXPECT_FALSE(sim.allocation->has_credentials());
}

TEST(Errors, WrongPasswordAgainstASigningRelayTimesOut) {
  // The relay signs its 401 with the real password, which we cannot verify: it is ignored and
  // the request runs out of retransmits.
  Sim sim;
  sim.start(RelaySocket{kRelay4, std::nullopt},
            Credentials(credentials().username(), "not-the-password"));
  sim.run_until(at(20s));
  EXPECT_EQ(sim.requests(stun::Method::allocate).size(), 5u);
  EXPECT_EQ(failure(sim.events), std::make_pair(at(8125ms), FailureReason::no_response));
}

TEST(Errors, UnsignedChallengesAreAccepted) {
  auto config = relay_config();
  config.sign_challenges = false;  // coturn's behaviour
  Sim sim(config);
  sim.start(RelaySocket{kRelay4, std::nullopt});
  EXPECT_TRUE(sim.allocation->has_allocation());
}

TEST(Errors, UnsignedUnauthorizedToANonceGivesUp) {
  auto config = relay_config();
  config.sign_challenges = false;
  Sim sim(config);
  sim.start(RelaySocket{kRelay4, std::nullopt},
            Credentials(credentials().username(), "not-the-password"));
  EXPECT_EQ(sim.requests(stun::Method::allocate).size(), 2u);
  EXPECT_EQ(failure(sim.events), std::make_pair(at(0s), FailureReason::authentication));
}

TEST(Errors, ForeignRealmIsRefused) {
  Sim sim;
  const auto good = credentials();
  sim.start(RelaySocket{kRelay4, std::nullopt},
            Credentials(good.username(),
                        fz::test::firezone_password(kSecret, kUnixOrigin + 86400 * 30, "salt1"),
                        "example.org"));
  EXPECT_EQ(sim.requests(stun::Method::allocate).size(), 1u);  // no authenticated retry
  EXPECT_FALSE(sim.allocation->has_allocation());
  EXPECT_FALSE(failure(sim.events).has_value());
  EXPECT_FALSE(sim.allocation->poll_timeout().has_value());
}

TEST(Errors, AllocationMismatchOnAllocateDeletesThenReallocates) {
  // Credential rotation: a new allocation with new credentials on the same 5-tuple.
  Sim sim;
  sim.start(RelaySocket{kRelay4, std::nullopt}, credentials("salt1"));
  const auto old_port = sim.relay.allocation_expiry(kPublic4);
  ASSERT_TRUE(old_port.has_value());
  sim.run_until(at(10s));
  sim.sent.clear();
  sim.take_events();
  sim.start(RelaySocket{kRelay4, std::nullopt}, credentials("salt2"));
  std::vector<std::pair<stun::Method, bool>> sequence;
  for (const auto& s : sim.sent) {
    const auto m = s.message();
    sequence.emplace_back(m.method(), m.has(stun::attr::lifetime));
  }
  EXPECT_EQ(sequence, (std::vector<std::pair<stun::Method, bool>>{
                          {stun::Method::binding, false},
                          {stun::Method::allocate, false},     // unauthenticated, 401
                          {stun::Method::allocate, false},     // 437
                          {stun::Method::refresh, true},       // LIFETIME 0
                          {stun::Method::allocate, false}}));  // success
  const auto del = sim.requests(stun::Method::refresh)[0].message();
  EXPECT_EQ(del.u32(stun::attr::lifetime), 0u);
  EXPECT_EQ(attribute_types(del),
            (std::vector<std::uint16_t>{stun::attr::software, stun::attr::lifetime,
                                        stun::attr::username, stun::attr::realm, stun::attr::nonce,
                                        stun::attr::message_integrity}));
  EXPECT_TRUE(sim.allocation->has_allocation());
  EXPECT_EQ(sim.relay.allocation_count(), 1u);
  EXPECT_EQ(sim.relay.allocation_expiry(kPublic4), at(610s));
  EXPECT_EQ(new_candidates(sim.events).back().kind, CandidateKind::relayed);
}

TEST_F(Allocated, AllocationMismatchOnRefreshReallocates) {
  sim.relay.restart();  // the relay lost everything, nonces included
  sim.run_until(at(300s));
  // REFRESH (438: unknown nonce) -> REFRESH (437) -> ALLOCATE -> success, all at 300 s.
  EXPECT_EQ(sim.request_times(stun::Method::refresh), (std::vector<Instant>{at(300s), at(300s)}));
  EXPECT_EQ(sim.request_times(stun::Method::allocate), (std::vector<Instant>{at(300s)}));
  const auto events = sim.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(std::get<CandidateInvalidated>(events[0].event).candidate,
            (Candidate{CandidateKind::relayed, relay4, kLocal4}));
  EXPECT_EQ(std::get<CandidateNew>(events[1].event).candidate.kind, CandidateKind::relayed);
  EXPECT_TRUE(sim.relay.has_allocation(kPublic4));
}

TEST_F(Allocated, AllocationMismatchOnChannelBindReallocatesAndRebinds) {
  sim.relay.restart();
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  std::vector<stun::Method> methods;
  for (const auto& s : sim.sent)
    methods.push_back(s.message().method());
  EXPECT_EQ(methods,
            (std::vector<stun::Method>{stun::Method::channel_bind, stun::Method::channel_bind,
                                       stun::Method::allocate, stun::Method::channel_bind}));
  // Channel numbers keep counting after the reset, as in snownet.
  EXPECT_EQ(sim.relay.bound_channel(kPublic4, kPeer4), 0x4001);
  EXPECT_EQ(invalidated(sim.events).size(), 1u);
  EXPECT_EQ(new_candidates(sim.events).size(), 1u);
}

TEST_F(Allocated, UnknownAttributeFailsTheRelay) {
  sim.relay.fail_next(stun::Method::refresh, 420);
  sim.run_until(at(400s));
  EXPECT_EQ(invalidated(sim.events),
            (std::vector<Candidate>{{CandidateKind::relayed, relay4, kLocal4}}));
  EXPECT_EQ(failure(sim.events), std::make_pair(at(300s), FailureReason::protocol));
  EXPECT_TRUE(sim.allocation->finished());
}

TEST(Errors, OtherErrorOnAllocateDropsBufferedBinds) {
  Sim sim;
  sim.relay.fail_next(stun::Method::allocate, 508);
  sim.drop = [](const Transmit&) { return true; };
  sim.start(RelaySocket{kRelay4, std::nullopt});
  sim.allocation->bind_channel(kPeer4, sim.now);  // buffered: no allocation yet
  sim.drop = nullptr;
  sim.run_until(at(1s));  // the BINDING retransmit gets through; ALLOCATE -> 401 -> 508
  EXPECT_FALSE(sim.allocation->has_allocation());
  EXPECT_TRUE(sim.requests(stun::Method::channel_bind).empty());
  EXPECT_FALSE(sim.allocation->poll_timeout().has_value());  // suspended, not failed
  EXPECT_FALSE(failure(sim.events).has_value());
  // A proactive refresh starts over from BINDING; the dropped bind is not replayed.
  sim.allocation->refresh(sim.now);
  sim.pump();
  EXPECT_TRUE(sim.allocation->has_allocation());
  EXPECT_EQ(sim.request_times(stun::Method::binding).back(), at(1s));
  EXPECT_TRUE(sim.requests(stun::Method::channel_bind).empty());
}

TEST_F(Allocated, OtherErrorOnChannelBindForgetsTheChannel) {
  sim.relay.fail_next(stun::Method::channel_bind, 400);
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  EXPECT_FALSE(sim.allocation->channel_to_peer(kPeer4, sim.now).has_value());
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  const auto binds = sim.requests(stun::Method::channel_bind);
  ASSERT_EQ(binds.size(), 2u);
  EXPECT_EQ(binds[0].message().channel_number(), 0x4000);
  EXPECT_EQ(binds[1].message().channel_number(), 0x4001);
  EXPECT_EQ(sim.relay.bound_channel(kPublic4, kPeer4), 0x4001);
}

TEST_F(Allocated, OtherErrorOnRefreshIsOnlyLogged) {
  sim.relay.fail_next(stun::Method::refresh, 500);
  sim.run_until(at(300s));
  // The refresh is still due, so it is sent again at once (as snownet does).
  EXPECT_EQ(sim.request_times(stun::Method::refresh), (std::vector<Instant>{at(300s), at(300s)}));
  EXPECT_TRUE(sim.events.empty());
  EXPECT_EQ(sim.relay.allocation_expiry(kPublic4), at(900s));
}

TEST_F(Allocated, ForgedAndMisdirectedResponsesAreIgnored) {
  sim.drop = [](const Transmit&) { return true; };
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  const auto request = sim.requests(stun::Method::channel_bind).back().message();
  const auto id = request.transaction_id();
  auto answer = [&](bool sign, std::optional<stun::TransactionId> tid = std::nullopt) {
    stun::MessageBuilder b(stun::Method::channel_bind, Class::success, tid.value_or(id));
    b.add_text(stun::attr::software, "x");
    if (sign) b.add_message_integrity(credentials().key_bytes());
    return std::move(b).finish();
  };
  // Unsigned, signed with another key, from elsewhere, unknown transaction: nothing changes.
  EXPECT_TRUE(sim.allocation->handle_input(kRelay4, kLocal4, answer(false), sim.now));
  auto wrong_key = [&] {
    stun::MessageBuilder b(stun::Method::channel_bind, Class::success, id);
    b.add_message_integrity(credentials("other").key_bytes());
    return std::move(b).finish();
  }();
  EXPECT_TRUE(sim.allocation->handle_input(kRelay4, kLocal4, wrong_key, sim.now));
  EXPECT_FALSE(
      sim.allocation->handle_input(addr("203.0.113.11:3478"), kLocal4, answer(true), sim.now));
  EXPECT_FALSE(
      sim.allocation->handle_input(kRelay4, kLocal4, answer(true, stun::TransactionId{}), sim.now));
  EXPECT_FALSE(sim.allocation->handle_input(kRelay4, kLocal4, Buf{1, 2, 3}, sim.now));
  // Still pending: retransmitted on schedule.
  sim.run_until(at(1s));
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).size(), 2u);
  // A genuine answer to the current transmission binds it.
  const auto current = sim.requests(stun::Method::channel_bind).back().message().transaction_id();
  EXPECT_TRUE(sim.allocation->handle_input(kRelay4, kLocal4, answer(true, current), sim.now));
  // The bound channel now accepts data from the relay.
  Buf data = {0x40, 0x00, 0x00, 0x02, 0xAB, 0xCD};
  auto d = sim.allocation->decapsulate(kRelay4, data, sim.now);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->peer, kPeer4);
}

// --- Channels and data ---------------------------------------------------------------------------

TEST(Channels, BindsAreBufferedUntilTheAllocationExists) {
  Sim sim;
  sim.drop = [](const Transmit&) { return true; };
  sim.start(RelaySocket{kRelay4, std::nullopt});
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.allocation->bind_channel(kPeer4, sim.now);  // not buffered twice
  sim.allocation->bind_channel(kPeer6, sim.now);
  sim.drop = nullptr;
  sim.run_until(at(1s));
  const auto binds = sim.requests(stun::Method::channel_bind);
  ASSERT_EQ(binds.size(), 2u);
  const auto m = binds[0].message();
  EXPECT_EQ(attribute_types(m), (std::vector<std::uint16_t>{
                                    stun::attr::xor_peer_address, stun::attr::channel_number,
                                    stun::attr::software, stun::attr::username, stun::attr::realm,
                                    stun::attr::nonce, stun::attr::message_integrity}));
  EXPECT_EQ(m.xor_address(stun::attr::xor_peer_address), kPeer4);
  EXPECT_EQ(m.channel_number(), 0x4000);
  EXPECT_EQ(binds[1].message().xor_address(stun::attr::xor_peer_address), kPeer6);
  EXPECT_EQ(binds[1].message().channel_number(), 0x4001);
  EXPECT_EQ(sim.relay.bound_channel(kPublic4, kPeer6), 0x4001);
}

TEST_F(Allocated, NoDuplicateBindWhileInFlightOrBound) {
  sim.drop = [](const Transmit&) { return true; };
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).size(), 1u);
  sim.drop = nullptr;
  sim.run_until(at(1s));  // the retransmit binds it
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).size(), 2u);
  EXPECT_EQ(sim.relay.bound_channel(kPublic4, kPeer4), 0x4000);
}

TEST_F(Allocated, DataFlowsThroughABoundChannel) {
  const Buf payload = {1, 2, 3, 4, 5};
  // No channel yet: the packet is dropped and a bind starts.
  EXPECT_FALSE(sim.send_to_peer(kPeer4, payload));
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).size(), 1u);
  ASSERT_TRUE(sim.send_to_peer(kPeer4, payload));
  // Unpadded ChannelData with the exact length, sent to the relay with no source set.
  const auto& framed = sim.sent.back().transmit;
  EXPECT_EQ(framed.dst, kRelay4);
  EXPECT_FALSE(framed.src.has_value());
  EXPECT_EQ(framed.payload, (Buf{0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5}));
  ASSERT_EQ(sim.at_peers.size(), 1u);
  EXPECT_EQ(sim.at_peers[0].src, relay4);
  EXPECT_EQ(sim.at_peers[0].dst, kPeer4);
  EXPECT_EQ(sim.at_peers[0].payload, payload);
  // And back.
  sim.peer_sends(kPeer4, relay4, Buf{9, 8, 7});
  ASSERT_EQ(sim.at_client.size(), 1u);
  EXPECT_EQ(sim.at_client[0].peer, kPeer4);
  EXPECT_EQ(sim.at_client[0].payload, (Buf{9, 8, 7}));
  EXPECT_EQ(sim.at_client[0].relay, relay4);
  // The relay forwards only from exactly the bound peer address.
  sim.peer_sends(addr("198.51.100.50:52626"), relay4, Buf{1});
  EXPECT_EQ(sim.at_client.size(), 1u);
}

TEST_F(Allocated, ChannelInFlightIsUsedForSendingButNotForReceiving) {
  sim.drop = [](const Transmit& t) { return stun::Message::parse(t.payload).ok(); };
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  PacketBuffer buffer(64, 8);
  ASSERT_TRUE(buffer.assign(Buf{7}, 8));
  EXPECT_EQ(sim.allocation->encapsulate(kPeer4, buffer, sim.now), kRelay4);
  EXPECT_EQ(Buf(buffer.span().begin(), buffer.span().end()), (Buf{0x40, 0x00, 0x00, 0x01, 7}));
  EXPECT_FALSE(sim.allocation->decapsulate(kRelay4, Buf{0x40, 0x00, 0x00, 0x01, 7}, sim.now));
  // Too little headroom: not framed, buffer untouched.
  PacketBuffer tight(64, 2);
  ASSERT_TRUE(tight.assign(Buf{7}, 2));
  EXPECT_FALSE(sim.allocation->encapsulate(kPeer4, tight, sim.now).has_value());
  EXPECT_EQ(tight.size(), 1u);
}

TEST_F(Allocated, ChannelsCarryingDataAreRefreshedAtFiveMinutesIdleOnesLapse) {
  const auto busy = kPeer4;
  const auto idle = addr("198.51.100.51:52625");
  sim.allocation->bind_channel(busy, sim.now);
  sim.allocation->bind_channel(idle, sim.now);
  sim.pump();
  sim.run_until(at(60s));
  sim.peer_sends(busy, relay4, Buf{1});
  sim.run_until(at(700s));
  const auto binds = sim.requests(stun::Method::channel_bind);
  ASSERT_EQ(binds.size(), 3u);
  EXPECT_EQ(binds[2].time, at(300s));
  EXPECT_EQ(binds[2].message().xor_address(stun::attr::xor_peer_address), busy);
  EXPECT_EQ(binds[2].message().channel_number(), 0x4000);
  // The busy channel was refreshed at 300 s (no data since): it lapses at 900 s. The idle one
  // lapsed at 600 s.
  EXPECT_TRUE(sim.allocation->channel_to_peer(busy, at(899s)).has_value());
  EXPECT_FALSE(sim.allocation->channel_to_peer(idle, at(600s)).has_value());
  EXPECT_TRUE(sim.allocation->channel_to_peer(idle, at(600s) - 1ns).has_value());
  // Sending to the lapsed peer rebinds it, with the same number (still in the cooldown).
  EXPECT_FALSE(sim.send_to_peer(idle, Buf{1}));
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).back().message().channel_number(), 0x4001);
  EXPECT_EQ(sim.relay.bound_channel(kPublic4, idle), 0x4001);
}

TEST_F(Allocated, ChannelNumbersAreReusedOnlyAfterLifetimePlusCooldown) {
  // Exhaust 0x4000-0x4FFF.
  for (unsigned i = 0; i < 4096; ++i) {
    const net::SocketAddr peer{net::IpAddr::v4_from_u32(0xC6336400 + i / 60000),
                               static_cast<std::uint16_t>(1024 + i)};
    sim.allocation->bind_channel(peer, sim.now);
    if (i % 64 == 63) sim.pump();
  }
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).size(), 4096u);
  const auto extra = addr("198.51.100.99:1");
  sim.allocation->bind_channel(extra, sim.now);
  sim.pump();
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).size(), 4096u);
  sim.run_until(at(900s) - 1ns);
  sim.allocation->bind_channel(extra, sim.now);
  sim.pump();
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).size(), 4096u);
  sim.run_until(at(900s));
  sim.allocation->bind_channel(extra, sim.now);
  sim.pump();
  ASSERT_EQ(sim.requests(stun::Method::channel_bind).size(), 4097u);
  EXPECT_EQ(sim.requests(stun::Method::channel_bind).back().message().channel_number(), 0x4000);
  EXPECT_EQ(sim.relay.bound_channel(kPublic4, extra), 0x4000);
}

TEST_F(Allocated, DecapsulateRejectsStrangers) {
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  const Buf good = {0x40, 0x00, 0x00, 0x01, 9};
  EXPECT_TRUE(sim.allocation->decapsulate(kRelay4, good, sim.now).has_value());
  EXPECT_FALSE(sim.allocation->decapsulate(addr("203.0.113.11:3478"), good, sim.now));
  EXPECT_FALSE(sim.allocation->decapsulate(kRelay4, Buf{0x40, 0x01, 0x00, 0x01, 9}, sim.now));
  EXPECT_FALSE(
      sim.allocation->decapsulate(kRelay4, Buf{0x40, 0x00, 0x00, 0x01, 9, 0, 0, 0}, sim.now));
}

TEST_F(Allocated, DeallocateDeletesTheAllocation) {
  sim.allocation->bind_channel(kPeer4, sim.now);
  sim.pump();
  sim.take_events();
  sim.run_until(at(10s));
  sim.allocation->deallocate(sim.now);
  sim.pump();
  const auto del = sim.requests(stun::Method::refresh).back().message();
  EXPECT_EQ(del.u32(stun::attr::lifetime), 0u);
  EXPECT_FALSE(sim.relay.has_allocation(kPublic4));
  const auto events = sim.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(std::get<CandidateInvalidated>(events[0].event).candidate.addr, relay4);
  EXPECT_TRUE(std::holds_alternative<Deallocated>(events[1].event));
  EXPECT_TRUE(sim.allocation->finished());
  EXPECT_FALSE(sim.allocation->poll_timeout().has_value());
  EXPECT_FALSE(sim.allocation->channel_to_peer(kPeer4, sim.now).has_value());
}

TEST_F(Allocated, DeallocateGivesUpWhenTheRelayIsGone) {
  sim.relay_reachable = false;
  sim.allocation->deallocate(sim.now);
  sim.pump();
  sim.run_until(at(20s));
  EXPECT_EQ(sim.request_times(stun::Method::refresh),
            (std::vector<Instant>{at(0s), at(1s), at(2500ms), at(4750ms)}));
  const auto done = events_of<Deallocated>(sim.events);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].first, at(8125ms));
  EXPECT_FALSE(failure(sim.events).has_value());
}

// --- Secrets ------------------------------------------------------------------------------------

TEST(Secrets, PasswordAndKeyAreNeverLogged) {
  std::vector<std::string> lines;
  log::set_writer([&](log::Level, std::string_view target, std::string_view message) {
    lines.push_back(std::string(target) + ": " + std::string(message));
  });
  log::set_filter(log::Filter(log::Level::trace));
  {
    Sim sim;
    sim.start();
    sim.allocation->bind_channel(kPeer4, sim.now);
    sim.relay.fail_next(stun::Method::refresh, 500);
    sim.run_until(at(700s));
    sim.allocation->deallocate(sim.now);
    sim.pump();
  }
  log::set_filter(log::Filter());
  log::set_writer(nullptr);
  const auto creds = credentials();
  const std::string password =
      fz::test::firezone_password(kSecret, kUnixOrigin + 86400 * 30, "salt1");
  const std::string key_hex = hex_encode(creds.key_bytes());
  EXPECT_FALSE(lines.empty());
  for (const auto& line : lines) {
    EXPECT_EQ(line.find(password), std::string::npos) << line;
    EXPECT_EQ(line.find(key_hex), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace fz::turn::test
