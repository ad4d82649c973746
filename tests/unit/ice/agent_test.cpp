// The agent on its own: the exact bytes it sends (fixtures F1–F6 as real agent output), which
// requests and responses it accepts and what it does with them (spec/ice-str0m-details.md §1.6,
// §5.3), candidate and pair rules (§2.2, §3.3), nomination (§5.1, §5.2), the request queue.
#include "ice/agent.hpp"

#include <gtest/gtest.h>

#include "crypto/hash.hpp"
#include "ice_test_support.hpp"
#include "stun/credentials.hpp"

namespace fz::ice {
namespace {

using test::addr;
using test::at_ms;
using test::Buf;
using test::client_creds;
using test::drain_events;
using test::drain_transmits;
using test::gateway_creds;
using test::hex;
using test::kFixtureTieBreaker;
using test::kFixtureTransaction;
using test::ScriptedRng;
using test::to_hex;

const net::SocketAddr kGatewayHost = addr("198.51.100.20:52625");
const net::SocketAddr kClientHost = addr("192.0.2.10:52625");

Candidate host(std::string_view a) {
  return *Candidate::host(addr(a));
}
Candidate remote(std::string_view sdp) {
  auto c = Candidate::parse(sdp);
  EXPECT_TRUE(c.ok()) << sdp;
  return *c;
}
Candidate remote_host(const net::SocketAddr& a, std::uint32_t priority = 2130706175) {
  return remote("candidate:1 1 udp " + std::to_string(priority) + " " + a.ip.to_string() + " " +
                std::to_string(a.port) + " typ host");
}

BindingMessage binding(const Buf& b) {
  auto m = BindingMessage::parse(b);
  EXPECT_TRUE(m.has_value());
  return *m;
}

// A request as the client (controlling, ufrag hgwh) sends it to the gateway.
Buf client_request(bool use_candidate, std::uint32_t priority = 1862270719,
                   const stun::TransactionId& id = kFixtureTransaction) {
  return *build_binding_request(id, "ejqt:hgwh", true, kFixtureTieBreaker, priority, use_candidate,
                                gateway_creds().pwd);
}
// A request as the gateway (controlled, ufrag ejqt) sends it to the client.
Buf gateway_request(bool use_candidate, const stun::TransactionId& id = kFixtureTransaction) {
  return *build_binding_request(id, "hgwh:ejqt", false, kFixtureTieBreaker, 1862270719,
                                use_candidate, client_creds().pwd);
}

// The success response a peer with password `pwd` sends for one of our checks.
Buf answer(const Transmit& check, std::string_view pwd,
           std::optional<net::SocketAddr> mapped = std::nullopt) {
  const auto m = binding(check.payload);
  return build_binding_success(m.transaction_id(), mapped.value_or(check.source), pwd);
}

template <class E>
std::vector<E> events_of(const std::vector<Event>& events) {
  std::vector<E> out;
  for (const auto& e : events) {
    if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
  }
  return out;
}

struct Gateway {
  ScriptedRng rng;
  Agent agent;
  Gateway() : agent(make()) {}
  Agent make() {
    rng.push_u64(kFixtureTieBreaker);
    Agent a(Role::controlled, gateway_creds(), rng);
    a.set_remote_credentials(client_creds());
    return a;
  }
};

struct Client {
  ScriptedRng rng;
  Agent agent;
  Client() : agent(make()) {}
  Agent make() {
    rng.push_u64(kFixtureTieBreaker);
    Agent a(Role::controlling, client_creds(), rng);
    a.set_remote_credentials(gateway_creds());
    return a;
  }
};

// --- Exact bytes --------------------------------------------------------------------------------

// The client's F1 arrives from 198.51.100.7:52625; our answer is F3, sent from the host socket it
// arrived on to where it came from.
TEST(AgentBytes, ControlledAnswersF1WithF3) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  drain_events(g.agent);
  ASSERT_TRUE(g.agent.handle_input(addr("198.51.100.7:52625"), kGatewayHost,
                                   binding(client_request(false)), at_ms(0)));
  const auto out = drain_transmits(g.agent);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].source, kGatewayHost);
  EXPECT_EQ(out[0].destination, addr("198.51.100.7:52625"));
  EXPECT_EQ(to_hex(out[0].payload),
            "0101002c2112a4420102030405060708090a0b0c002000080001ec83e721c045000800142acc23d33a1cdc"
            "996a1c9c0a750c96c3ce15062880280004bfda651b");
  // The unknown source became a peer-reflexive remote candidate with the check's priority, paired.
  ASSERT_EQ(g.agent.remote_candidates().size(), 1u);
  const Candidate& prflx = g.agent.remote_candidates()[0];
  EXPECT_EQ(prflx.kind(), CandidateKind::peer_reflexive);
  EXPECT_EQ(prflx.priority(), 1862270719u);
  EXPECT_EQ(prflx.to_sdp_string(),
            "candidate:tmp_prflx 1 udp 1862270719 198.51.100.7 52625 typ prflx ufrag ejqt");
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  // client prflx (from PRIORITY) x host4, G = client's priority.
  EXPECT_EQ(g.agent.pairs()[0].priority(), 7998391838664818174ull);
  // A brand-new pair is due at once.
  EXPECT_EQ(g.agent.poll_timeout(), at_ms(0));
}

TEST(AgentBytes, ControlledCheckIsF4) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  g.agent.add_remote_candidate(remote_host(kClientHost));
  g.rng.push_transaction(kFixtureTransaction);
  g.agent.handle_timeout(at_ms(0));
  const auto out = drain_transmits(g.agent);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].source, kGatewayHost);
  EXPECT_EQ(out[0].destination, kClientHost);
  EXPECT_EQ(to_hex(out[0].payload),
            "000100442112a4420102030405060708090a0b0c00060009686777683a656a7174000000802900080123"
            "456789abcdef002400046efffeff0008001497ed27c9e64f04b56f448a68b9a30f765ab43604802800049d"
            "72fcbc");
}

TEST(AgentBytes, ControlledCheckFromRelayIsF6) {
  Gateway g;
  g.agent.add_local_candidate(
      *Candidate::relayed(addr("198.51.100.50:61234"), addr("198.51.100.20:52625")));
  g.agent.add_remote_candidate(remote_host(kClientHost));
  g.rng.push_transaction(kFixtureTransaction);
  g.agent.handle_timeout(at_ms(0));
  const auto out = drain_transmits(g.agent);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].source, addr("198.51.100.50:61234"));  // sent from the relayed address
  EXPECT_EQ(to_hex(out[0].payload),
            "000100442112a4420102030405060708090a0b0c00060009686777683a656a7174000000802900080123"
            "456789abcdef002400046e3ffeff00080014545de91bf2bfd3fdc3f2be5d5a0653d7cb495207802800044b"
            "c95bf9");
}

// The controlling side: F1, then on the answer an immediate NominatedSend and an F2 check.
TEST(AgentBytes, ControllingChecksF1ThenNominatesWithF2) {
  Client c;
  c.agent.add_local_candidate(host("192.0.2.10:52625"));
  c.agent.add_remote_candidate(remote_host(kGatewayHost));
  drain_events(c.agent);
  c.rng.push_transaction(kFixtureTransaction);
  c.agent.handle_timeout(at_ms(0));
  auto out = drain_transmits(c.agent);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0].payload),
            "000100442112a4420102030405060708090a0b0c00060009656a71743a68677768000000802a00080123"
            "456789abcdef002400046efffeff000800140d55e05967f09014f83f1865f4b8c8d9c25995dd8028000490"
            "44baf5");

  ASSERT_TRUE(c.agent.handle_input(kGatewayHost, kClientHost,
                                   binding(answer(out[0], gateway_creds().pwd)), at_ms(20)));
  const auto events = drain_events(c.agent);
  const auto sends = events_of<event::NominatedSend>(events);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].source, kClientHost);
  EXPECT_EQ(sends[0].destination, kGatewayHost);
  const auto states = events_of<event::StateChanged>(events);
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back().state, ConnectionState::completed);  // one pair, nominated

  EXPECT_EQ(c.agent.poll_timeout(), at_ms(20));  // the USE-CANDIDATE check goes out at once
  c.rng.push_transaction(kFixtureTransaction);
  c.agent.handle_timeout(at_ms(20));
  out = drain_transmits(c.agent);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0].payload),
            "000100482112a4420102030405060708090a0b0c00060009656a71743a68677768000000802a00080123"
            "456789abcdef002400046efffeff002500000008001477c0f69fd5c37e92ad68e8f4cb36739d094c373b80"
            "280004be45c0c9");
}

// A controlling agent answers a request too: F5 for a check from [2001:db8::7]:52625.
TEST(AgentBytes, ControllingAnswersWithF5) {
  Client c;
  c.agent.add_local_candidate(host("[2001:db8::10]:52625"));
  ASSERT_TRUE(c.agent.handle_input(addr("[2001:db8::7]:52625"), addr("[2001:db8::10]:52625"),
                                   binding(gateway_request(false)), at_ms(0)));
  const auto out = drain_transmits(c.agent);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0].payload),
            "010100382112a4420102030405060708090a0b0c002000140002ec830113a9fa0102030405060708090a0b"
            "0b0008001452c97085f12103872a0036e196070cdd3c3a989080280004818ba3d1");
}

// --- Requests (§1.6 Q1–Q17, §5.3) ---------------------------------------------------------------

TEST(AgentRequests, ControllingDropsUseCandidate) {  // Q2
  Client c;
  c.agent.add_local_candidate(host("192.0.2.10:52625"));
  EXPECT_TRUE(
      c.agent.handle_input(kGatewayHost, kClientHost, binding(gateway_request(true)), at_ms(0)));
  EXPECT_TRUE(drain_transmits(c.agent).empty());
  EXPECT_TRUE(c.agent.remote_candidates().empty());  // no prflx
  EXPECT_TRUE(c.agent.pairs().empty());
}

TEST(AgentRequests, RoleConflictIsAnsweredNormally) {  // Q4, Q5
  Client c;
  c.agent.add_local_candidate(host("192.0.2.10:52625"));
  const Buf controlling = *build_binding_request(kFixtureTransaction, "hgwh:ejqt", true, 1,
                                                 1862270719, false, client_creds().pwd);
  EXPECT_TRUE(c.agent.handle_input(kGatewayHost, kClientHost, binding(controlling), at_ms(0)));
  EXPECT_EQ(drain_transmits(c.agent).size(), 1u);
  // No ICE-CONTROLLED/CONTROLLING at all.
  stun::MessageBuilder b(stun::Method::binding, stun::Class::request, kFixtureTransaction);
  b.add_text(stun::attr::username, "hgwh:ejqt").add_u32(stun::attr::priority, 1);
  b.add_message_integrity(stun::short_term_key(client_creds().pwd)).add_fingerprint();
  const Buf plain(b.bytes().begin(), b.bytes().end());
  EXPECT_TRUE(c.agent.handle_input(kGatewayHost, kClientHost, binding(plain), at_ms(0)));
  EXPECT_EQ(drain_transmits(c.agent).size(), 1u);
}

TEST(AgentRequests, RejectedByUsernameOrIntegrity) {  // Q6, Q7
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  const Buf reversed = *build_binding_request(kFixtureTransaction, "hgwh:ejqt", true, 1, 1, false,
                                              gateway_creds().pwd);
  EXPECT_FALSE(g.agent.handle_input(kClientHost, kGatewayHost, binding(reversed), at_ms(0)));
  const Buf wrong_key = *build_binding_request(kFixtureTransaction, "ejqt:hgwh", true, 1, 1, false,
                                               client_creds().pwd);
  EXPECT_FALSE(g.agent.handle_input(kClientHost, kGatewayHost, binding(wrong_key), at_ms(0)));
  const Buf other_peer = *build_binding_request(kFixtureTransaction, "ejqt:zzzz", true, 1, 1, false,
                                                gateway_creds().pwd);
  EXPECT_FALSE(g.agent.handle_input(kClientHost, kGatewayHost, binding(other_peer), at_ms(0)));
  EXPECT_TRUE(drain_transmits(g.agent).empty());
  EXPECT_TRUE(g.agent.remote_candidates().empty());
}

TEST(AgentRequests, UnknownDestinationIsNotAnswered) {  // Q13
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  EXPECT_TRUE(g.agent.handle_input(addr("203.0.113.5:40000"), addr("198.51.100.99:52625"),
                                   binding(client_request(false)), at_ms(0)));
  EXPECT_TRUE(drain_transmits(g.agent).empty());
  // The prflx is created first and left unpaired.
  ASSERT_EQ(g.agent.remote_candidates().size(), 1u);
  EXPECT_TRUE(g.agent.pairs().empty());
}

TEST(AgentRequests, IndicationsAreAcceptedAndIgnored) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  stun::MessageBuilder with(stun::Method::binding, stun::Class::indication, kFixtureTransaction);
  with.add_text(stun::attr::username, "ejqt:hgwh");
  with.add_message_integrity(stun::short_term_key(gateway_creds().pwd));
  const Buf a(with.bytes().begin(), with.bytes().end());
  EXPECT_TRUE(g.agent.handle_input(kClientHost, kGatewayHost, binding(a), at_ms(0)));
  stun::MessageBuilder without(stun::Method::binding, stun::Class::indication, kFixtureTransaction);
  const Buf b(without.bytes().begin(), without.bytes().end());
  EXPECT_FALSE(g.agent.handle_input(kClientHost, kGatewayHost, binding(b), at_ms(0)));
  EXPECT_TRUE(drain_transmits(g.agent).empty());
  EXPECT_TRUE(g.agent.pairs().empty());
}

// The controlled side never sends USE-CANDIDATE, also on the pair the peer nominated, and reports
// the highest-priority nominated pair.
TEST(AgentRequests, ControlledNominationAndNoUseCandidate) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  g.agent.handle_timeout(at_ms(0));
  drain_events(g.agent);
  ASSERT_TRUE(
      g.agent.handle_input(kClientHost, kGatewayHost, binding(client_request(true)), at_ms(5)));
  ASSERT_EQ(drain_transmits(g.agent).size(), 1u);  // the answer
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  EXPECT_TRUE(g.agent.pairs()[0].is_nominated());
  // NominatedSend comes from handle_timeout, which poll_timeout asks for right away.
  EXPECT_TRUE(events_of<event::NominatedSend>(drain_events(g.agent)).empty());
  EXPECT_EQ(g.agent.poll_timeout(), at_ms(5));
  g.agent.handle_timeout(at_ms(5));
  auto events = drain_events(g.agent);
  auto sends = events_of<event::NominatedSend>(events);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].source, kGatewayHost);
  EXPECT_EQ(sends[0].destination, kClientHost);
  EXPECT_EQ(events_of<event::StateChanged>(events).back().state, ConnectionState::completed);

  // A lower-priority pair nominated later does not take over (§5.2, S8).
  g.agent.add_local_candidate(
      *Candidate::relayed(addr("198.51.100.50:61234"), addr("198.51.100.20:52625")));
  stun::TransactionId other = kFixtureTransaction;
  other[0] = 0x77;
  ASSERT_TRUE(g.agent.handle_input(kClientHost, addr("198.51.100.50:61234"),
                                   binding(client_request(true, 1862270719, other)), at_ms(10)));
  for (int t = 10; t < 5000; t += 10) {
    g.agent.handle_timeout(at_ms(t));
    for (const auto& check : drain_transmits(g.agent)) {
      const auto m = binding(check.payload);
      if (m.is_request()) {
        EXPECT_FALSE(m.use_candidate());
      }
    }
    EXPECT_TRUE(events_of<event::NominatedSend>(drain_events(g.agent)).empty());
  }
}

// Requests before the remote credentials are queued, then handled one per handle_timeout.
TEST(AgentRequests, QueuedUntilRemoteCredentials) {
  ScriptedRng rng;
  Agent g(Role::controlled, gateway_creds(), rng);
  g.add_local_candidate(host("198.51.100.20:52625"));
  g.handle_timeout(at_ms(0));
  for (std::uint8_t i = 0; i < 3; ++i) {
    stun::TransactionId id = kFixtureTransaction;
    id[11] = i;
    EXPECT_TRUE(
        g.handle_input(kClientHost, kGatewayHost, binding(client_request(false, 1, id)), at_ms(1)));
  }
  EXPECT_TRUE(drain_transmits(g).empty());
  g.handle_timeout(at_ms(2));
  EXPECT_TRUE(drain_transmits(g).empty());  // no remote credentials yet
  g.set_remote_credentials(client_creds());
  EXPECT_EQ(g.poll_timeout(), at_ms(2));
  for (int i = 0; i < 3; ++i) {
    g.handle_timeout(at_ms(3));
    const auto out = drain_transmits(g);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(binding(out[0].payload).is_success());
  }
  // Queue drained: now the agent's own check goes out.
  g.handle_timeout(at_ms(3));
  const auto out = drain_transmits(g);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(binding(out[0].payload).is_request());
}

// --- Responses (§1.6 R1–R16) --------------------------------------------------------------------

struct ClientWithCheck {
  Client c;
  Transmit check;
  ClientWithCheck() {
    c.agent.add_local_candidate(host("192.0.2.10:52625"));
    c.agent.add_remote_candidate(remote_host(kGatewayHost));
    c.agent.handle_timeout(at_ms(0));
    auto out = drain_transmits(c.agent);
    EXPECT_EQ(out.size(), 1u);
    check = out.at(0);
    drain_events(c.agent);
  }
  stun::TransactionId id() const { return binding(check.payload).transaction_id(); }
  bool offer(const Buf& b) {
    auto m = BindingMessage::parse(b);
    return m && c.agent.handle_input(kGatewayHost, kClientHost, *m, at_ms(20));
  }
};

TEST(AgentResponses, AcceptanceRules) {
  {  // R1
    ClientWithCheck w;
    EXPECT_TRUE(w.offer(answer(w.check, gateway_creds().pwd)));
    EXPECT_EQ(w.c.agent.pairs()[0].state(), CheckState::succeeded);
  }
  {  // R5: keyed with the client's pwd
    ClientWithCheck w;
    EXPECT_FALSE(w.offer(answer(w.check, client_creds().pwd)));
  }
  {  // R7: MI over the final length
    ClientWithCheck w;
    Buf r = answer(w.check, gateway_creds().pwd);
    Buf input(r.begin(), r.begin() + 32);  // header + XOR-MAPPED
    const auto mac = crypto::hmac_sha1(stun::short_term_key(gateway_creds().pwd), input);
    std::copy(mac.begin(), mac.end(), r.begin() + 36);
    EXPECT_FALSE(w.offer(r));
  }
  {  // R9: unknown transaction id
    ClientWithCheck w;
    stun::TransactionId id = w.id();
    id[0] ^= 1;
    EXPECT_FALSE(w.offer(build_binding_success(id, addr("192.0.2.10:52625"), gateway_creds().pwd)));
  }
  {  // R10: error 487 with valid MI: accepted, ignored
    ClientWithCheck w;
    stun::MessageBuilder b(stun::Method::binding, stun::Class::error, w.id());
    b.add_error_code(487, "Role Conflict")
        .add_message_integrity(stun::short_term_key(gateway_creds().pwd))
        .add_fingerprint();
    EXPECT_TRUE(w.offer(Buf(b.bytes().begin(), b.bytes().end())));
    EXPECT_EQ(w.c.agent.pairs()[0].state(), CheckState::in_progress);
    EXPECT_TRUE(drain_events(w.c.agent).empty());
  }
  {  // R12: an unknown mapped address makes a local prflx, which is not signalled
    ClientWithCheck w;
    EXPECT_TRUE(w.offer(answer(w.check, gateway_creds().pwd, addr("203.0.113.5:40000"))));
    ASSERT_EQ(w.c.agent.local_candidates().size(), 2u);
    const Candidate& prflx = w.c.agent.local_candidates()[1];
    EXPECT_EQ(prflx.kind(), CandidateKind::peer_reflexive);
    EXPECT_EQ(prflx.base(), kClientHost);
    EXPECT_EQ(prflx.priority(), 1862270719u);
    const auto events = drain_events(w.c.agent);
    EXPECT_TRUE(events_of<event::CandidateToSignal>(events).empty());
    // NominatedSend still names the pair's own local candidate.
    const auto sends = events_of<event::NominatedSend>(events);
    ASSERT_EQ(sends.size(), 1u);
    EXPECT_EQ(sends[0].source, kClientHost);
    EXPECT_EQ(w.c.agent.pairs().size(), 1u);  // not paired
  }
  {  // the source address of a response is not checked
    ClientWithCheck w;
    const Buf r = answer(w.check, gateway_creds().pwd);
    auto m = BindingMessage::parse(r);
    EXPECT_TRUE(w.c.agent.handle_input(addr("203.0.113.99:1"), kClientHost, *m, at_ms(20)));
  }
}

// --- Candidates and pairs -----------------------------------------------------------------------

TEST(AgentCandidates, RemoteCandidateRules) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  g.agent.add_remote_candidate(
      remote("candidate:1 2 udp 2130706175 192.0.2.10 52625 typ host"));  // component 2
  g.agent.add_remote_candidate(
      remote("candidate:1 1 udp 2130706175 192.0.2.11 52625 typ host ufrag zzzz"));  // ufrag
  EXPECT_TRUE(g.agent.remote_candidates().empty());
  g.agent.add_remote_candidate(
      remote("candidate:1 1 udp 2130706175 192.0.2.10 52625 typ host ufrag hgwh"));
  ASSERT_EQ(g.agent.remote_candidates().size(), 1u);
  EXPECT_FALSE(g.agent.remote_candidates()[0].ufrag().has_value());  // cleared once added
  // The same candidate again: ignored.
  g.agent.add_remote_candidate(remote("candidate:1 1 udp 2130706175 192.0.2.10 52625 typ host"));
  EXPECT_EQ(g.agent.remote_candidates().size(), 1u);
  EXPECT_EQ(g.agent.pairs().size(), 1u);
  // Another family: no pair with the v4 host.
  g.agent.add_remote_candidate(remote("candidate:1 1 udp 2130706431 2001:db8::10 52625 typ host"));
  EXPECT_EQ(g.agent.pairs().size(), 1u);
  // Parsed remote IPs are not validated.
  g.agent.add_remote_candidate(remote("candidate:1 1 udp 1 0.0.0.0 1 typ host"));
  EXPECT_EQ(g.agent.pairs().size(), 2u);
}

// A signalled candidate replaces the peer-reflexive placeholder in place: pair and nomination
// survive.
TEST(AgentCandidates, SignalledCandidateReplacesPrflx) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  ASSERT_TRUE(g.agent.handle_input(addr("203.0.113.5:40000"), kGatewayHost,
                                   binding(client_request(true)), at_ms(0)));
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  const auto id = g.agent.pairs()[0].id();
  g.agent.add_remote_candidate(remote(
      "candidate:x 1 udp 1694498559 203.0.113.5 40000 typ srflx raddr 0.0.0.0 rport 0 ufrag hgwh"));
  ASSERT_EQ(g.agent.remote_candidates().size(), 1u);
  EXPECT_EQ(g.agent.remote_candidates()[0].kind(), CandidateKind::server_reflexive);
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  EXPECT_EQ(g.agent.pairs()[0].id(), id);
  EXPECT_TRUE(g.agent.pairs()[0].is_nominated());
}

TEST(AgentCandidates, RemovedRemoteCandidateIsNotResurrected) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  const Candidate c = remote_host(kClientHost);
  g.agent.add_remote_candidate(c);
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  EXPECT_TRUE(g.agent.remove_remote_candidate(c));
  EXPECT_TRUE(g.agent.pairs().empty());
  EXPECT_FALSE(g.agent.remove_remote_candidate(c));
  // Checks from that address are accepted but ignored: no prflx, no answer.
  EXPECT_TRUE(
      g.agent.handle_input(kClientHost, kGatewayHost, binding(client_request(false)), at_ms(0)));
  EXPECT_TRUE(drain_transmits(g.agent).empty());
  EXPECT_TRUE(g.agent.pairs().empty());
  // Signalled again: re-enabled (not appended) and paired again.
  g.agent.add_remote_candidate(c);
  EXPECT_EQ(g.agent.pairs().size(), 1u);
  EXPECT_EQ(g.agent.remote_candidates().size(), 1u);
  EXPECT_FALSE(g.agent.remote_candidates()[0].discarded());
}

TEST(AgentCandidates, LocalCandidateRules) {
  Gateway g;
  EXPECT_TRUE(g.agent.add_local_candidate(host("198.51.100.20:52625")));
  // Same address and base again: lower priority (second of its kind), redundant.
  EXPECT_FALSE(g.agent.add_local_candidate(host("198.51.100.20:52625")));
  // Server-reflexive: signalled, not added.
  drain_events(g.agent);
  EXPECT_TRUE(g.agent.add_local_candidate(
      *Candidate::server_reflexive(addr("203.0.113.9:52625"), kGatewayHost)));
  EXPECT_EQ(g.agent.local_candidates().size(), 1u);
  const auto events = drain_events(g.agent);
  const auto signalled = events_of<event::CandidateToSignal>(events);
  ASSERT_EQ(signalled.size(), 1u);
  EXPECT_EQ(signalled[0].candidate.kind(), CandidateKind::server_reflexive);
  // Removing a local candidate discards its pairs and signals the invalidation.
  g.agent.add_remote_candidate(remote_host(kClientHost));
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  const Candidate h = host("198.51.100.20:52625");
  EXPECT_TRUE(g.agent.remove_local_candidate(h));
  EXPECT_TRUE(g.agent.pairs().empty());
  EXPECT_EQ(events_of<event::CandidateInvalidated>(drain_events(g.agent)).size(), 1u);
  // Re-adding re-enables it (same priority) and pairs it again.
  EXPECT_TRUE(g.agent.add_local_candidate(h));
  EXPECT_EQ(g.agent.local_candidates().size(), 1u);
  EXPECT_EQ(g.agent.local_candidates()[0].priority(), 2130706175u);
  EXPECT_EQ(g.agent.pairs().size(), 1u);
}

// Removing the nominated pair's candidate moves the controlling side to the next best succeeded
// pair at the next handle_timeout, which poll_timeout asks for at once.
TEST(AgentCandidates, RemovingTheNominatedPairRenominates) {
  Client c;
  const Candidate first = host("192.0.2.10:52625");
  const Candidate second = host("192.0.2.11:52625");
  c.agent.add_local_candidate(first);
  c.agent.add_local_candidate(second);
  c.agent.add_remote_candidate(remote_host(kGatewayHost));
  ASSERT_EQ(c.agent.pairs().size(), 2u);
  c.agent.handle_timeout(at_ms(0));
  c.agent.handle_timeout(at_ms(0));
  const auto checks = drain_transmits(c.agent);
  ASSERT_EQ(checks.size(), 2u);
  for (const auto& check : checks) {
    ASSERT_TRUE(c.agent.handle_input(kGatewayHost, check.source,
                                     binding(answer(check, gateway_creds().pwd)), at_ms(20)));
  }
  auto sends = events_of<event::NominatedSend>(drain_events(c.agent));
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].source, first.addr());

  EXPECT_TRUE(c.agent.remove_local_candidate(first));
  EXPECT_EQ(c.agent.poll_timeout(), at_ms(20));
  c.agent.handle_timeout(at_ms(21));
  const auto events = drain_events(c.agent);
  EXPECT_EQ(events_of<event::CandidateInvalidated>(events).size(), 1u);
  sends = events_of<event::NominatedSend>(events);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].source, second.addr());
  EXPECT_EQ(sends[0].destination, kGatewayHost);
}

TEST(AgentPairs, PriorityFormulaTable) {  // §3.3, client x gateway
  EXPECT_EQ(pair_priority(true, 2130706175, 2130706175), 9151313343271665150ull);
  EXPECT_EQ(pair_priority(true, 2130706431, 2130706431), 9151314442783293438ull);
  EXPECT_EQ(pair_priority(true, 2130706175, 37748479), 162128487040155135ull);
  EXPECT_EQ(pair_priority(true, 37748479, 2130706175), 162128487040155134ull);
  EXPECT_EQ(pair_priority(true, 37748479, 37748479), 162128482854239742ull);
  // The controlled side computes the same with G = remote.
  EXPECT_EQ(pair_priority(false, 2130706175, 1694498559), 7277815898285538814ull);
  EXPECT_EQ(pair_priority(false, 2130706175, 1862270719), 7998391838664818174ull);
}

TEST(AgentPairs, AtMostOneHundredSortedByPriority) {
  Gateway g;
  for (int i = 1; i <= 11; ++i)
    g.agent.add_local_candidate(host("198.51.100." + std::to_string(i) + ":52625"));
  for (int i = 1; i <= 10; ++i) {
    g.agent.add_remote_candidate(remote("candidate:1 1 udp " + std::to_string(2000000000 - i) +
                                        " 192.0.2." + std::to_string(i) + " 52625 typ host"));
  }
  ASSERT_EQ(g.agent.pairs().size(), Agent::kMaxPairs);
  for (std::size_t i = 1; i < g.agent.pairs().size(); ++i) {
    EXPECT_GE(g.agent.pairs()[i - 1].priority(), g.agent.pairs()[i].priority());
  }
  // Pairs order by the lower (remote) priority first: the lowest remote keeps only its pair with
  // the best local.
  const auto& last = g.agent.pairs().back();
  EXPECT_EQ(last.remote(), 9u);
  EXPECT_EQ(last.local(), 0u);
}

// A redundant pair (same base, same remote address) keeps only the higher priority.
TEST(AgentPairs, RedundantPairsKeepTheBetter) {
  Gateway g;
  g.agent.add_local_candidate(host("198.51.100.20:52625"));
  g.agent.add_remote_candidate(remote("candidate:1 1 udp 100 192.0.2.10 52625 typ host"));
  // Same address as another kind with a higher priority: replaces the pair.
  g.agent.add_remote_candidate(
      remote("candidate:2 1 udp 2130706175 192.0.2.10 52625 typ srflx raddr 0.0.0.0 rport 0"));
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  EXPECT_EQ(g.agent.pairs()[0].remote(), 1u);
  // A lower one is rejected.
  g.agent.add_remote_candidate(
      remote("candidate:3 1 udp 50 192.0.2.10 52625 typ relay raddr 0.0.0.0 rport 0"));
  ASSERT_EQ(g.agent.pairs().size(), 1u);
  EXPECT_EQ(g.agent.pairs()[0].remote(), 1u);
}

}  // namespace
}  // namespace fz::ice
