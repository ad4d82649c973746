// Two of our agents, controlling and controlled, on a simulated network with a virtual clock:
// convergence host↔host, srflx↔host (behind a NAT), relay↔relay, re-nomination when a better pair
// appears or the nominated one dies, and the exact check schedules and dead-peer times of
// spec/ice-str0m-details.md §4.3/§4.5 (traces S1, S2, S7, S8).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <queue>
#include <set>

#include "ice_test_support.hpp"

namespace fz::ice {
namespace {

using test::addr;
using test::at_ms;
using test::Buf;
using test::ms_of;

struct CheckRecord {
  std::int64_t ms;
  net::SocketAddr from;
  net::SocketAddr to;
  bool use_candidate;
};

struct EventRecord {
  std::int64_t ms;
  Event event;
};

struct Node {
  std::string name;
  std::unique_ptr<crypto::ChaChaRng> rng;
  std::unique_ptr<Agent> agent;
  std::vector<CheckRecord> checks;
  std::vector<EventRecord> events;
  std::size_t rejected = 0;

  std::vector<std::pair<std::int64_t, event::NominatedSend>> sends() const {
    std::vector<std::pair<std::int64_t, event::NominatedSend>> out;
    for (const auto& e : events) {
      if (auto* s = std::get_if<event::NominatedSend>(&e.event)) out.emplace_back(e.ms, *s);
    }
    return out;
  }
  std::vector<std::pair<std::int64_t, ConnectionState>> states() const {
    std::vector<std::pair<std::int64_t, ConnectionState>> out;
    for (const auto& e : events) {
      if (auto* s = std::get_if<event::StateChanged>(&e.event)) out.emplace_back(e.ms, s->state);
    }
    return out;
  }
  std::vector<std::int64_t> check_times(std::int64_t from_ms = 0,
                                        std::int64_t to_ms = INT64_MAX) const {
    std::vector<std::int64_t> out;
    for (const auto& c : checks) {
      if (c.ms >= from_ms && c.ms < to_ms) out.push_back(c.ms);
    }
    return out;
  }
  std::vector<Candidate> signalled() const {
    std::vector<Candidate> out;
    for (const auto& e : events) {
      if (auto* c = std::get_if<event::CandidateToSignal>(&e.event)) out.push_back(c->candidate);
    }
    return out;
  }
};

// Addresses live in realms: 0 is the public internet, every other realm is a private network
// that can only reach out through a NAT (endpoint-independent mapping, address-and-port-dependent
// filtering). Relayed addresses are ordinary public addresses owned by the node that allocated
// them: TURN framing is the layer above's business, the agent only sees addresses.
class Sim {
 public:
  Duration latency = std::chrono::milliseconds(10);
  // Whether a datagram (after NAT translation) gets through, decided when it is sent.
  std::function<bool(const net::SocketAddr& from, const net::SocketAddr& to, Instant now)> link =
      [](const net::SocketAddr&, const net::SocketAddr&, Instant) { return true; };

  std::size_t add_node(std::string name, Role role, Credentials local, Credentials remote,
                       std::uint8_t seed) {
    auto n = std::make_unique<Node>();
    n->name = std::move(name);
    std::array<std::uint8_t, 32> s{};
    s[0] = seed;
    n->rng = std::make_unique<crypto::ChaChaRng>(s);
    n->agent = std::make_unique<Agent>(role, std::move(local), *n->rng);
    n->agent->set_remote_credentials(std::move(remote));
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
  }
  Node& node(std::size_t i) { return *nodes_[i]; }
  Agent& agent(std::size_t i) { return *nodes_[i]->agent; }

  void own(std::size_t node, const net::SocketAddr& a, int realm = 0) { owner_[a] = {node, realm}; }
  void nat(const net::SocketAddr& inside, const net::SocketAddr& outside) {
    nats_.push_back(Nat{inside, outside, {}});
  }

  // Host or relayed candidate: added to `node` and signalled to `peer` (if given).
  void add_local(std::size_t node, const Candidate& c, std::optional<std::size_t> peer) {
    agent(node).add_local_candidate(c);
    drain(node);
    if (!peer) return;
    for (const Candidate& s : pending_signal_[node])
      agent(*peer).add_remote_candidate(*Candidate::parse(s.to_sdp_string()));
    pending_signal_[node].clear();
    drain(*peer);
  }

  void start(Instant t) {
    now_ = t;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      agent(i).handle_timeout(now_);
      drain(i);
    }
  }

  void run_until(Instant end) {
    for (long guard = 0; guard < 10'000'000; ++guard) {
      Instant next = Instant::max();
      if (!queue_.empty()) next = queue_.top().at;
      for (auto& n : nodes_) {
        if (auto t = n->agent->poll_timeout()) next = std::min(next, *t);
      }
      if (next > end) {
        now_ = end;
        return;
      }
      // An agent that was given candidates between runs reports a deadline at its own last
      // time, which may be before the simulation's: that means "now".
      now_ = std::max(now_, next);
      while (!queue_.empty() && queue_.top().at <= now_) {
        InFlight d = queue_.top();
        queue_.pop();
        Node& n = node(d.node);
        auto m = BindingMessage::parse(d.payload);
        if (!m || !n.agent->handle_input(d.from, d.to, *m, now_)) ++n.rejected;
        drain(d.node);
      }
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        auto t = agent(i).poll_timeout();
        if (t && *t <= now_) {
          agent(i).handle_timeout(now_);
          drain(i);
        }
      }
    }
    ADD_FAILURE() << "simulation did not settle";
  }

  Instant now() const { return now_; }

 private:
  struct Nat {
    net::SocketAddr inside;
    net::SocketAddr outside;
    std::set<net::SocketAddr> permissions;
  };
  struct InFlight {
    Instant at;
    std::uint64_t seq;
    std::size_t node;
    net::SocketAddr from;
    net::SocketAddr to;
    Buf payload;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void drain(std::size_t i) {
    Node& n = node(i);
    while (auto t = n.agent->poll_transmit()) {
      if (auto m = BindingMessage::parse(t->payload); m && m->is_request()) {
        n.checks.push_back(CheckRecord{ms_of(now_), t->source, t->destination, m->use_candidate()});
      }
      route(*t);
    }
    while (auto e = n.agent->poll_event()) {
      if (auto* c = std::get_if<event::CandidateToSignal>(&*e))
        pending_signal_[i].push_back(c->candidate);
      n.events.push_back(EventRecord{ms_of(now_), std::move(*e)});
    }
  }

  void route(const Transmit& t) {
    net::SocketAddr from = t.source;
    const net::SocketAddr to = t.destination;
    const auto src = owner_.find(from);
    if (src == owner_.end()) return;
    const int from_realm = src->second.second;
    // Outbound through a NAT?
    if (from_realm != 0) {
      const auto dst = owner_.find(to);
      const bool same_realm = dst != owner_.end() && dst->second.second == from_realm;
      if (!same_realm) {
        Nat* nat = nat_inside(from);
        if (nat == nullptr) return;  // firewalled private network
        nat->permissions.insert(to);
        from = nat->outside;
      }
    }
    if (!link(from, to, now_)) return;
    // Inbound through a NAT?
    net::SocketAddr deliver_to = to;
    if (Nat* nat = nat_outside(to)) {
      if (!nat->permissions.contains(from)) return;
      deliver_to = nat->inside;
    }
    const auto dst = owner_.find(deliver_to);
    if (dst == owner_.end()) return;
    const int to_realm = dst->second.second;
    if (to_realm != 0 && deliver_to == to && from_realm != to_realm) return;  // private, no NAT
    queue_.push(InFlight{now_ + latency, seq_++, dst->second.first, from, deliver_to,
                         Buf(t.payload.begin(), t.payload.end())});
  }

  Nat* nat_inside(const net::SocketAddr& a) {
    for (auto& n : nats_) {
      if (n.inside == a) return &n;
    }
    return nullptr;
  }
  Nat* nat_outside(const net::SocketAddr& a) {
    for (auto& n : nats_) {
      if (n.outside == a) return &n;
    }
    return nullptr;
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<net::SocketAddr, std::pair<std::size_t, int>> owner_;
  std::vector<Nat> nats_;
  std::map<std::size_t, std::vector<Candidate>> pending_signal_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
  Instant now_{};
};

const net::SocketAddr kC = addr("192.0.2.10:52625");
const net::SocketAddr kG = addr("198.51.100.20:52625");

struct TwoPeers {
  Sim sim;
  std::size_t c;
  std::size_t g;
  TwoPeers() {
    c = sim.add_node("client", Role::controlling, test::client_creds(), test::gateway_creds(), 1);
    g = sim.add_node("gateway", Role::controlled, test::gateway_creds(), test::client_creds(), 2);
  }
  Node& client() { return sim.node(c); }
  Node& gateway() { return sim.node(g); }
};

void expect_send(const std::pair<std::int64_t, event::NominatedSend>& s, std::int64_t ms,
                 const net::SocketAddr& from, const net::SocketAddr& to) {
  EXPECT_EQ(s.first, ms);
  EXPECT_EQ(s.second.source, from);
  EXPECT_EQ(s.second.destination, to);
}

std::vector<std::int64_t> every(std::int64_t first, std::int64_t step, std::int64_t until) {
  std::vector<std::int64_t> out;
  for (std::int64_t t = first; t < until; t += step)
    out.push_back(t);
  return out;
}

std::vector<std::int64_t> concat(std::vector<std::int64_t> a, const std::vector<std::int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// S1: host↔host with 10 ms one-way latency, total outage from t = 10 s.
TEST(IceSim, S1HostToHostAndDeadPeer) {
  TwoPeers p;
  p.sim.own(p.c, kC);
  p.sim.own(p.g, kG);
  p.sim.link = [](const net::SocketAddr&, const net::SocketAddr&, Instant now) {
    return now < at_ms(10000);
  };
  p.sim.add_local(p.c, *Candidate::host(kC), p.g);
  p.sim.add_local(p.g, *Candidate::host(kG), p.c);
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(40000));

  // Client: answer at 20 ms → NominatedSend and Completed at once, USE-CANDIDATE check at 20 ms.
  const auto c_sends = p.client().sends();
  ASSERT_EQ(c_sends.size(), 1u);
  expect_send(c_sends[0], 20, kC, kG);
  // Gateway: nominated by the USE-CANDIDATE request arriving at 30 ms.
  const auto g_sends = p.gateway().sends();
  ASSERT_EQ(g_sends.size(), 1u);
  expect_send(g_sends[0], 30, kG, kC);

  using S = ConnectionState;
  const std::vector<std::pair<std::int64_t, S>> c_states = {
      {0, S::checking}, {20, S::completed}, {27020, S::disconnected}};
  const std::vector<std::pair<std::int64_t, S>> g_states = {
      {0, S::checking}, {30, S::completed}, {27250, S::disconnected}};
  EXPECT_EQ(p.client().states(), c_states);
  EXPECT_EQ(p.gateway().states(), g_states);

  // Client checks: 0, 0.02 (nomination), 0.52, 1.52, 3.02, then every 1.5 s; after the outage
  // (first lost at 10.52): 12.02, 12.52, 13.52, then every 1.5 s up to 25.52; pruned at 27.02.
  const auto c_expected =
      concat({0, 20, 520, 1520},
             concat(every(3020, 1500, 10521), concat({12020, 12520}, every(13520, 1500, 25521))));
  EXPECT_EQ(p.client().check_times(), c_expected);
  for (const auto& check : p.client().checks)
    EXPECT_EQ(check.use_candidate, check.ms >= 20) << check.ms;
  // Gateway checks: 0, 0.25, 0.75, 1.75, 3.25, every 1.5 s; after the outage (first lost at
  // 10.75): 12.25, 12.75, 13.75, ... 25.75; pruned at 27.25. Never USE-CANDIDATE.
  const auto g_expected =
      concat({0, 250, 750, 1750},
             concat(every(3250, 1500, 10751), concat({12250, 12750}, every(13750, 1500, 25751))));
  EXPECT_EQ(p.gateway().check_times(), g_expected);
  for (const auto& check : p.gateway().checks)
    EXPECT_FALSE(check.use_candidate);
  // 12 unanswered checks each after the outage.
  EXPECT_EQ(p.client().check_times(10000).size(), 12u);
  EXPECT_EQ(p.gateway().check_times(10000).size(), 12u);
  EXPECT_TRUE(p.sim.agent(p.c).pairs().empty());
  EXPECT_TRUE(p.sim.agent(p.g).pairs().empty());
  EXPECT_EQ(p.client().rejected, 0u);
  EXPECT_EQ(p.gateway().rejected, 0u);
}

// S2: no path at all. Fresh-pair schedule, pruned at 15.25 s.
TEST(IceSim, S2NeverAnswered) {
  TwoPeers p;
  p.sim.own(p.c, kC);
  p.sim.own(p.g, kG);
  p.sim.link = [](const net::SocketAddr&, const net::SocketAddr&, Instant) { return false; };
  p.sim.add_local(p.c, *Candidate::host(kC), p.g);
  p.sim.add_local(p.g, *Candidate::host(kG), p.c);
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(30000));
  const std::vector<std::int64_t> fresh = {0,    250,  750,  1750,  3250,  4750,
                                           6250, 7750, 9250, 10750, 12250, 13750};
  EXPECT_EQ(p.client().check_times(), fresh);
  EXPECT_EQ(p.gateway().check_times(), fresh);
  using S = ConnectionState;
  const std::vector<std::pair<std::int64_t, S>> states = {{0, S::checking},
                                                          {15250, S::disconnected}};
  EXPECT_EQ(p.client().states(), states);
  EXPECT_EQ(p.gateway().states(), states);
  EXPECT_TRUE(p.client().sends().empty());
  EXPECT_TRUE(p.gateway().sends().empty());
}

// srflx↔host: the client sits behind a NAT and signals its server-reflexive address; the
// gateway's checks only pass once the client has opened the mapping.
TEST(IceSim, ServerReflexiveToHost) {
  TwoPeers p;
  const auto outside = addr("203.0.113.5:40000");
  p.sim.own(p.c, kC, 1);
  p.sim.nat(kC, outside);
  p.sim.own(p.g, kG);
  p.sim.add_local(p.c, *Candidate::host(kC), p.g);
  p.sim.add_local(p.c, *Candidate::server_reflexive(outside, kC), p.g);
  p.sim.add_local(p.g, *Candidate::host(kG), p.c);
  // Only the host candidate is a sending base; the srflx one was just signalled.
  ASSERT_EQ(p.sim.agent(p.c).local_candidates().size(), 1u);
  ASSERT_EQ(p.sim.agent(p.g).remote_candidates().size(), 2u);
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(20000));

  const auto c_sends = p.client().sends();
  ASSERT_EQ(c_sends.size(), 1u);
  expect_send(c_sends[0], 20, kC, kG);
  const auto g_sends = p.gateway().sends();
  ASSERT_EQ(g_sends.size(), 1u);
  EXPECT_EQ(g_sends[0].second.source, kG);
  EXPECT_EQ(g_sends[0].second.destination, outside);  // the srflx candidate, not a prflx
  EXPECT_EQ(p.sim.agent(p.c).state(), ConnectionState::completed);
  EXPECT_EQ(p.sim.agent(p.g).state(), ConnectionState::completed);  // host pair pruned
  // The client learnt its mapped address as a local prflx (never signalled).
  EXPECT_EQ(p.sim.agent(p.c).local_candidates().size(), 2u);
  EXPECT_EQ(p.client().signalled().size(), 2u);
}

// S7: the gateway never got the client's candidates; a check creates the remote prflx.
TEST(IceSim, S7PeerReflexiveFromCheck) {
  TwoPeers p;
  const auto outside = addr("203.0.113.5:40000");
  p.sim.own(p.c, kC, 1);
  p.sim.nat(kC, outside);
  p.sim.own(p.g, kG);
  p.sim.add_local(p.c, *Candidate::host(kC), std::nullopt);
  p.sim.add_local(p.g, *Candidate::host(kG), p.c);
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(5000));

  expect_send(p.client().sends().at(0), 20, kC, kG);
  const auto g_sends = p.gateway().sends();
  ASSERT_EQ(g_sends.size(), 1u);
  expect_send(g_sends[0], 30, kG, outside);
  // The gateway's check on the new pair went out at once, at 10 ms.
  ASSERT_FALSE(p.gateway().checks.empty());
  EXPECT_EQ(p.gateway().checks[0].ms, 10);
  EXPECT_EQ(p.gateway().checks[0].to, outside);
  ASSERT_EQ(p.sim.agent(p.g).remote_candidates().size(), 1u);
  const auto& prflx = p.sim.agent(p.g).remote_candidates()[0];
  EXPECT_EQ(prflx.kind(), CandidateKind::peer_reflexive);
  EXPECT_EQ(prflx.priority(), 1862270719u);
  // The client's local prflx for its mapped address.
  const auto& local = p.sim.agent(p.c).local_candidates();
  ASSERT_EQ(local.size(), 2u);
  EXPECT_EQ(local[1].addr(), outside);
  EXPECT_EQ(local[1].base(), kC);
}

struct RelayPeers : TwoPeers {
  const net::SocketAddr c_host = addr("10.0.1.2:52625");
  const net::SocketAddr g_host = addr("10.0.2.2:52625");
  const net::SocketAddr c_relay = addr("203.0.113.10:61000");
  const net::SocketAddr g_relay = addr("203.0.113.11:62000");
  RelayPeers() {
    // Each host is in its own firewalled private network; only the relays are reachable.
    sim.own(c, c_host, 1);
    sim.own(g, g_host, 2);
    sim.own(c, c_relay);
    sim.own(g, g_relay);
    sim.add_local(c, *Candidate::host(c_host), g);
    sim.add_local(c, *Candidate::relayed(c_relay, c_host), g);
    sim.add_local(g, *Candidate::host(g_host), c);
    sim.add_local(g, *Candidate::relayed(g_relay, g_host), c);
  }
};

TEST(IceSim, RelayToRelay) {
  RelayPeers p;
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(20000));
  const auto c_sends = p.client().sends();
  const auto g_sends = p.gateway().sends();
  ASSERT_EQ(c_sends.size(), 1u);
  ASSERT_EQ(g_sends.size(), 1u);
  expect_send(c_sends[0], 20, p.c_relay, p.g_relay);
  expect_send(g_sends[0], 30, p.g_relay, p.c_relay);
  // The relayed checks go out from the relayed address.
  bool relay_checks = false;
  for (const auto& check : p.gateway().checks)
    relay_checks |= check.from == p.g_relay;
  EXPECT_TRUE(relay_checks);
  ASSERT_NE(p.sim.agent(p.c).nominated_pair(), nullptr);
  EXPECT_EQ(p.sim.agent(p.c).nominated_pair()->priority(), 162128482854239742ull);
  // Connected while the host pairs were still possible; Completed once they were pruned.
  using S = ConnectionState;
  const std::vector<std::pair<std::int64_t, S>> c_states = {
      {0, S::checking}, {20, S::connected}, {15250, S::completed}};
  EXPECT_EQ(p.client().states(), c_states);
  EXPECT_EQ(p.sim.agent(p.g).state(), S::completed);
}

// A better pair appears (host addresses become reachable at 5 s): both sides move to it. Then the
// host path dies at 20 s: the controlling side re-nominates the relay pair when its host pair is
// pruned; the controlled side keeps its higher nominated host pair until that is pruned too (S8).
TEST(IceSim, RenominationBothWays) {
  RelayPeers p;
  const net::SocketAddr c_public = addr("192.0.2.10:52625");
  const net::SocketAddr g_public = addr("198.51.100.20:52625");
  p.sim.own(p.c, c_public);
  p.sim.own(p.g, g_public);
  // Public host to public host works until 20 s; relay to relay always; mixed paths never.
  p.sim.link = [&](const net::SocketAddr& from, const net::SocketAddr& to, Instant now) {
    const bool from_host = from == c_public || from == g_public;
    const bool to_host = to == c_public || to == g_public;
    if (from_host != to_host) return false;
    return !from_host || now < at_ms(20000);
  };
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(5000));
  ASSERT_EQ(p.client().sends().size(), 1u);
  ASSERT_EQ(p.gateway().sends().size(), 1u);

  p.sim.add_local(p.c, *Candidate::host(c_public), p.g);
  p.sim.add_local(p.g, *Candidate::host(g_public), p.c);
  p.sim.run_until(at_ms(6000));
  auto c_sends = p.client().sends();
  auto g_sends = p.gateway().sends();
  ASSERT_EQ(c_sends.size(), 2u);
  ASSERT_EQ(g_sends.size(), 2u);
  // New pairs are due at once: the client's check at 5.0, the answer at 5.02 → re-nomination.
  expect_send(c_sends[1], 5020, c_public, g_public);
  expect_send(g_sends[1], 5030, g_public, c_public);

  p.sim.run_until(at_ms(60000));
  c_sends = p.client().sends();
  g_sends = p.gateway().sends();
  ASSERT_EQ(c_sends.size(), 3u);
  ASSERT_EQ(g_sends.size(), 3u);
  EXPECT_EQ(c_sends[2].second.source, p.c_relay);
  EXPECT_EQ(c_sends[2].second.destination, p.g_relay);
  EXPECT_EQ(g_sends[2].second.source, p.g_relay);
  EXPECT_EQ(g_sends[2].second.destination, p.c_relay);
  // Both moved back only when their own host pair was pruned: 16.5 s after its first unanswered
  // check, which went out within 1.5 s after 20 s.
  for (Node* n : {&p.client(), &p.gateway()}) {
    const auto sends = n->sends();
    std::int64_t first_lost = -1;
    for (const auto& check : n->checks) {
      if (check.ms >= 20000 && (check.from == c_public || check.from == g_public)) {
        first_lost = check.ms;
        break;
      }
    }
    ASSERT_GE(first_lost, 20000) << n->name;
    EXPECT_LE(first_lost, 21500) << n->name;
    EXPECT_EQ(sends[2].first, first_lost + 16500) << n->name;
  }
  EXPECT_NE(p.sim.agent(p.c).state(), ConnectionState::disconnected);
  EXPECT_NE(p.sim.agent(p.g).state(), ConnectionState::disconnected);
}

// Idle profile: a check every 25 s; after an outage the pair is pruned 100 s after its first
// unanswered check (checks at T, T+25, T+50, T+75).
TEST(IceSim, IdleProfileDeadPeer) {
  TwoPeers p;
  p.sim.own(p.c, kC);
  p.sim.own(p.g, kG);
  p.sim.link = [](const net::SocketAddr&, const net::SocketAddr&, Instant now) {
    return now < at_ms(200000);
  };
  p.sim.add_local(p.c, *Candidate::host(kC), p.g);
  p.sim.add_local(p.g, *Candidate::host(kG), p.c);
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(30000));
  p.sim.agent(p.c).set_timing(Timing::firezone_idle());
  p.sim.agent(p.g).set_timing(Timing::firezone_idle());
  EXPECT_EQ(p.sim.agent(p.g).ice_timeout(), std::chrono::seconds(100));
  p.sim.run_until(at_ms(400000));

  for (Node* n : {&p.client(), &p.gateway()}) {
    // Keepalives every 25 s while idle and healthy.
    const auto idle_checks = n->check_times(60000, 200000);
    ASSERT_GE(idle_checks.size(), 4u) << n->name;
    for (std::size_t i = 1; i < idle_checks.size(); ++i)
      EXPECT_EQ(idle_checks[i] - idle_checks[i - 1], 25000) << n->name;
    const auto lost = n->check_times(200000);
    ASSERT_EQ(lost.size(), 4u) << n->name;
    const std::int64_t t = lost[0];
    EXPECT_LT(t - 200000, 25000) << n->name;
    EXPECT_EQ(lost, (std::vector<std::int64_t>{t, t + 25000, t + 50000, t + 75000})) << n->name;
    const auto states = n->states();
    ASSERT_FALSE(states.empty());
    EXPECT_EQ(states.back().second, ConnectionState::disconnected) << n->name;
    EXPECT_EQ(states.back().first, t + 100000) << n->name;
  }
}

// poll_timeout is a pure function of the agent: with 100 pairs it stays cheap and never goes back
// in time.
TEST(IceSim, PollTimeoutNeverBeforeNow) {
  TwoPeers p;
  for (int i = 1; i <= 10; ++i) {
    const auto c = addr("192.0.2." + std::to_string(i) + ":1000");
    const auto g = addr("198.51.100." + std::to_string(i) + ":2000");
    p.sim.own(p.c, c);
    p.sim.own(p.g, g);
    p.sim.add_local(p.c, *Candidate::host(c), p.g);
    p.sim.add_local(p.g, *Candidate::host(g), p.c);
  }
  EXPECT_EQ(p.sim.agent(p.c).pairs().size(), 100u);
  p.sim.start(at_ms(0));
  p.sim.run_until(at_ms(20000));
  EXPECT_EQ(p.client().sends().size(), 1u);  // the best pair succeeded first and stays best
  expect_send(p.client().sends()[0], p.client().sends()[0].first, addr("192.0.2.1:1000"),
              addr("198.51.100.1:2000"));
  EXPECT_EQ(p.sim.agent(p.c).pairs().size(), 100u);  // all answered, none pruned
}

}  // namespace
}  // namespace fz::ice
