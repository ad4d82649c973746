// Candidate strings and priorities: str0m's emitted strings (spec/ice-str0m-details.md §2.1, incl.
// foundations), its parser's accept/reject table (§2.2), the priority table (§3.1), and what an
// agent does with local and remote candidates (§2.2 "add_remote_candidate", §3.3).
#include "ice/candidate.hpp"

#include <gtest/gtest.h>

#include "ice/agent.hpp"
#include "ice_test_support.hpp"

namespace fz::ice {
namespace {

using test::addr;

// Collects the strings of every CandidateToSignal the agent emitted.
std::vector<std::string> signalled(Agent& agent) {
  std::vector<std::string> out;
  for (auto& e : test::drain_events(agent)) {
    if (auto* c = std::get_if<event::CandidateToSignal>(&e))
      out.push_back(c->candidate.to_sdp_string());
  }
  return out;
}

TEST(CandidatePriority, TypePreferences) {
  EXPECT_EQ(type_preference(CandidateKind::host, Protocol::udp), 126u);
  EXPECT_EQ(type_preference(CandidateKind::peer_reflexive, Protocol::udp), 110u);
  EXPECT_EQ(type_preference(CandidateKind::server_reflexive, Protocol::udp), 100u);
  EXPECT_EQ(type_preference(CandidateKind::relayed, Protocol::udp), 2u);
  EXPECT_EQ(type_preference(CandidateKind::host, Protocol::tcp), 90u);
  EXPECT_EQ(type_preference(CandidateKind::peer_reflexive, Protocol::tcp), 80u);
  EXPECT_EQ(type_preference(CandidateKind::relayed, Protocol::tcp), 1u);
  EXPECT_EQ(type_preference(CandidateKind::relayed, Protocol::tls), 0u);
}

// §3.1 worked examples and §3.2 PRIORITY values, through an agent (local_pref counts same kind and
// family, relay penalty by allocation-socket family).
TEST(CandidatePriority, TableThroughAgent) {
  crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{});
  Agent agent(Role::controlled, test::gateway_creds(), rng);
  ASSERT_TRUE(agent.add_local_candidate(*Candidate::host(addr("10.0.0.5:52625"))));
  ASSERT_TRUE(agent.add_local_candidate(*Candidate::host(addr("[2001:db8::5]:52625"))));
  ASSERT_TRUE(agent.add_local_candidate(*Candidate::host(addr("192.168.1.5:52625"))));
  ASSERT_TRUE(agent.add_local_candidate(
      *Candidate::relayed(addr("198.51.100.50:61234"), addr("10.0.0.5:52625"))));
  ASSERT_TRUE(agent.add_local_candidate(
      *Candidate::relayed(addr("[2001:db8:1::50]:61235"), addr("[2001:db8::5]:52625"))));
  const auto c = agent.local_candidates();
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0].priority(), 2130706175u);
  EXPECT_EQ(c[1].priority(), 2130706431u);
  EXPECT_EQ(c[2].priority(), 2130705663u);
  EXPECT_EQ(c[3].priority(), 37748479u);
  EXPECT_EQ(c[4].priority(), 37748735u);
  EXPECT_EQ(c[0].priority_as_prflx(), 1862270719u);
  EXPECT_EQ(c[1].priority_as_prflx(), 1862270975u);
  EXPECT_EQ(c[2].priority_as_prflx(), 1862270207u);
  EXPECT_EQ(c[3].priority_as_prflx(), 1849687807u);
  EXPECT_EQ(c[4].priority_as_prflx(), 1849688063u);

  // Relays across families (first of their kind and family in a fresh agent).
  Agent other(Role::controlled, test::gateway_creds(), rng);
  ASSERT_TRUE(other.add_local_candidate(
      *Candidate::relayed(addr("198.51.100.50:61234"), addr("[2001:db8::5]:52625"))));
  ASSERT_TRUE(other.add_local_candidate(
      *Candidate::relayed(addr("[2001:db8:1::50]:61235"), addr("10.0.0.5:52625"))));
  EXPECT_EQ(other.local_candidates()[0].priority(), 37492479u);
  EXPECT_EQ(other.local_candidates()[1].priority(), 37492735u);
  EXPECT_EQ(other.local_candidates()[0].priority_as_prflx(), 1849431807u);
  EXPECT_EQ(other.local_candidates()[1].priority_as_prflx(), 1849432063u);

  // Not added to an agent: local_pref 65534 (v4) / 65535 (v6).
  EXPECT_EQ(
      Candidate::server_reflexive(addr("203.0.113.9:52625"), addr("10.0.0.5:52625"))->priority(),
      1694498559u);
  EXPECT_EQ(
      Candidate::server_reflexive(addr("[2001:db8:ffff::9]:52625"), addr("[2001:db8::5]:52625"))
          ->priority(),
      1694498815u);
}

// §2.1: the strings a str0m agent with local ufrag `ejqt` emits, foundations included.
TEST(CandidateString, Str0mEmittedStrings) {
  crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{});
  Agent agent(Role::controlled, test::gateway_creds(), rng);
  agent.add_local_candidate(*Candidate::host(addr("10.0.0.5:52625")));
  agent.add_local_candidate(*Candidate::host(addr("[2001:db8::5]:52625")));
  agent.add_local_candidate(*Candidate::host(addr("192.168.1.5:52625")));
  agent.add_local_candidate(
      *Candidate::relayed(addr("198.51.100.50:61234"), addr("10.0.0.5:52625")));
  agent.add_local_candidate(
      *Candidate::relayed(addr("[2001:db8:1::50]:61235"), addr("[2001:db8::5]:52625")));
  agent.add_local_candidate(
      *Candidate::relayed(addr("[2001:db8:1::51]:61236"), addr("10.0.0.5:52625")));
  agent.add_local_candidate(
      *Candidate::relayed(addr("198.51.100.51:61237"), addr("[2001:db8::5]:52625")));
  agent.add_local_candidate(
      *Candidate::server_reflexive(addr("203.0.113.9:52625"), addr("10.0.0.5:52625")));
  agent.add_local_candidate(
      *Candidate::server_reflexive(addr("[2001:db8:ffff::9]:52625"), addr("[2001:db8::5]:52625")));
  agent.add_local_candidate(*Candidate::host(addr("[::ffff:10.1.2.3]:52625")));

  const std::vector<std::string> expected = {
      "candidate:fffeff7eba9f32d1e7c95ebe 1 udp 2130706175 10.0.0.5 52625 typ host ufrag ejqt",
      "candidate:ffffff7e9cb59598502bca8e 1 udp 2130706431 2001:db8::5 52625 typ host ufrag ejqt",
      "candidate:fffcff7eb4ae972d426287e 1 udp 2130705663 192.168.1.5 52625 typ host ufrag ejqt",
      "candidate:fffe3f0240ab76a6633c3233 1 udp 37748479 198.51.100.50 61234 typ relay raddr "
      "0.0.0.0 rport 0 ufrag ejqt",
      "candidate:ffff3f02cda587240a6de228 1 udp 37748735 2001:db8:1::50 61235 typ relay raddr :: "
      "rport 0 ufrag ejqt",
      "candidate:ff153c02ff71f98b35d99266 1 udp 37492223 2001:db8:1::51 61236 typ relay raddr :: "
      "rport 0 ufrag ejqt",
      "candidate:ff143c0256c9c68005c5f00a 1 udp 37491967 198.51.100.51 61237 typ relay raddr "
      "0.0.0.0 rport 0 ufrag ejqt",
      "candidate:fffeff645f9a30b0ac4977cf 1 udp 1694498559 203.0.113.9 52625 typ srflx raddr "
      "0.0.0.0 rport 0",
      "candidate:ffffff644dbd00fb43488fd6 1 udp 1694498815 2001:db8:ffff::9 52625 typ srflx raddr "
      ":: rport 0",
      "candidate:fffdff7ef49a1568d249463c 1 udp 2130705919 ::ffff:10.1.2.3 52625 typ host ufrag "
      "ejqt",
  };
  EXPECT_EQ(signalled(agent), expected);
}

TEST(CandidateString, PeerReflexiveStrings) {
  // A remote prflx learnt from a check carries the local ufrag and the placeholder foundation.
  const auto remote = Candidate::peer_reflexive(
      addr("203.0.113.5:40000"), addr("203.0.113.5:40000"), 1862270719, "tmp_prflx", "ejqt");
  EXPECT_EQ(remote.to_sdp_string(),
            "candidate:tmp_prflx 1 udp 1862270719 203.0.113.5 40000 typ prflx ufrag ejqt");
  // A local prflx from a response (never signalled) computes str0m's foundation.
  const auto local = Candidate::peer_reflexive(addr("203.0.113.5:40000"), addr("192.0.2.10:52625"),
                                               1862270719, "", "hgwh");
  EXPECT_EQ(local.to_sdp_string(),
            "candidate:fffeff6e29c36234b23bf282 1 udp 1862270719 203.0.113.5 40000 typ prflx "
            "ufrag hgwh");
}

TEST(CandidateString, LocalAddressValidation) {
  EXPECT_FALSE(Candidate::host(addr("0.0.0.0:1")).ok());
  EXPECT_FALSE(Candidate::host(addr("169.254.1.1:1")).ok());
  EXPECT_FALSE(Candidate::host(addr("255.255.255.255:1")).ok());
  EXPECT_FALSE(Candidate::host(addr("224.0.0.1:1")).ok());
  EXPECT_FALSE(Candidate::host(addr("[::]:1")).ok());
  EXPECT_FALSE(Candidate::host(addr("[ff02::1]:1")).ok());
  EXPECT_TRUE(Candidate::host(addr("[fe80::1]:1")).ok());
  EXPECT_FALSE(Candidate::relayed(addr("0.0.0.0:1"), addr("10.0.0.1:1")).ok());
  EXPECT_FALSE(Candidate::server_reflexive(addr("203.0.113.9:1"), addr("[2001:db8::1]:1")).ok());
}

struct ParseCase {
  std::string input;
  bool ok;
  std::string reemitted;  // empty: do not check
};

// §2.2 accept/reject table. `reemitted` is to_sdp_string() of what was kept.
TEST(CandidateString, Str0mParserTable) {
  const std::string base = "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host";
  const std::vector<ParseCase> cases = {
      {base, true, base},
      {"a=" + base, false, ""},
      {"candidate:1 1 UDP 2130706175 10.0.0.5 52625 typ host", true, base},
      {"candidate:1 1 udp 2130706175 10.0.0.5 52625 typ HOST", false, ""},
      {"Candidate:1 1 udp 2130706175 10.0.0.5 52625 typ host", false, ""},
      {" " + base, false, ""},
      {"candidate:1  1 udp 2130706175 10.0.0.5 52625 typ host", false, ""},
      {"candidate:1\t1 udp 2130706175 10.0.0.5 52625 typ host", false, ""},
      {"candidate: 1 udp 2130706175 10.0.0.5 52625 typ host", false, ""},
      {base + " foo bar", true, base},
      {base + "ile", true, base},
      {base + "\r\n", true, base},
      {base + " ufrag abc", true, base + " ufrag abc"},
      {base + " ufrag abc generation 0", true, base + " ufrag abc"},
      {base + " generation 0 network-id 1 ufrag abc network-cost 10", true, base + " ufrag abc"},
      {base + " network-cost 10 ufrag abc", true, base},
      {base + " ufrag", true, base},
      {base + " ufrag ", false, ""},
      {"candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx raddr 0.0.0.0 rport 0", true,
       "candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx raddr 0.0.0.0 rport 0"},
      {"candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx", true,
       "candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx"},
      {"candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx raddr 0.0.0.0", false, ""},
      {"candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx rport 0 raddr 0.0.0.0", true,
       "candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx"},
      {"candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx ufrag abc raddr 0.0.0.0 rport 0",
       true, "candidate:1 1 udp 1694498559 10.0.0.5 52625 typ srflx ufrag abc"},
      {"candidate:1 1 udp 2130706175 2001:db8::5 52625 typ host", true,
       "candidate:1 1 udp 2130706175 2001:db8::5 52625 typ host"},
      {"candidate:1 1 udp 2130706175 [2001:db8::5] 52625 typ host", false, ""},
      {"candidate:1 1 udp 2130706175 fe80::1%eth0 52625 typ host", false, ""},
      {"candidate:1 1 udp 2130706175 10.0.0.5:52625 typ host", false, ""},
      {"candidate:1 1 udp 2130706175 2001:0DB8:0000::5 52625 typ host", true,
       "candidate:1 1 udp 2130706175 2001:db8::5 52625 typ host"},
      {"candidate:1 1 udp 2130706175 010.0.0.5 52625 typ host", false, ""},
      {"candidate:1 1 udp 2130706175 0.0.0.0 52625 typ host", true,
       "candidate:1 1 udp 2130706175 0.0.0.0 52625 typ host"},
      {"candidate:1 1 udp 2130706175 224.0.0.1 52625 typ host", true,
       "candidate:1 1 udp 2130706175 224.0.0.1 52625 typ host"},
      {"candidate:1 2 udp 2130706175 10.0.0.5 52625 typ host", true,
       "candidate:1 2 udp 2130706175 10.0.0.5 52625 typ host"},
      {"candidate:1 +1 udp +2130706175 10.0.0.5 +52625 typ host", true, base},
      {"candidate:1 1 udp 4294967296 10.0.0.5 52625 typ host", false, ""},
      {"candidate:1 1 udp 2130706175 10.0.0.5 65536 typ host", false, ""},
      {"candidate:1 1 sctp 2130706175 10.0.0.5 52625 typ host", false, ""},
      {"candidate:1 1 udp 2130706175 10.0.0.5 52625", false, ""},
      {"candidate:1 1 udp 0 10.0.0.5 52625 typ host", true,
       "candidate:1 1 udp 0 10.0.0.5 52625 typ host"},
      {"candidate:1 1 tcp 1518280447 10.0.0.5 9 typ host tcptype active", true,
       "candidate:1 1 tcp 1518280447 10.0.0.5 9 typ host"},
      {base + " raddr 1.2.3.4 rport 5", true, base + " raddr 1.2.3.4 rport 5"},
      {"candidate:a/b+c=d;e 1 udp 1 10.0.0.5 1 typ relay", true,
       "candidate:a/b+c=d;e 1 udp 1 10.0.0.5 1 typ relay"},
      {"candidate:1 1 udp 2130706175 10.0.0.5 52625 typ prflx", true,
       "candidate:1 1 udp 2130706175 10.0.0.5 52625 typ prflx"},
      {"candidate:1 1 udp -1 10.0.0.5 52625 typ host", false, ""},
      {"candidate:1 1 udp 2130706175 10.0.0.5 52625 typ", false, ""},
      {"", false, ""},
      {"candidate:", false, ""},
  };
  for (const auto& c : cases) {
    const auto parsed = Candidate::parse(c.input);
    EXPECT_EQ(parsed.ok(), c.ok) << c.input;
    if (parsed.ok() && !c.reemitted.empty()) {
      EXPECT_EQ(parsed->to_sdp_string(), c.reemitted) << c.input;
    }
  }
}

TEST(CandidateString, ParsedFields) {
  const auto c = Candidate::parse(
      "candidate:fffe3f0240ab76a6633c3233 1 udp 37748479 198.51.100.50 61234 typ relay raddr "
      "0.0.0.0 rport 0 ufrag hgwh");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind(), CandidateKind::relayed);
  EXPECT_EQ(c->protocol(), Protocol::udp);
  EXPECT_EQ(c->component(), 1);
  EXPECT_EQ(c->priority(), 37748479u);
  EXPECT_EQ(c->addr(), addr("198.51.100.50:61234"));
  EXPECT_EQ(c->base(), c->addr());
  ASSERT_TRUE(c->raddr().has_value());
  EXPECT_EQ(*c->raddr(), addr("0.0.0.0:0"));
  ASSERT_TRUE(c->ufrag().has_value());
  EXPECT_EQ(*c->ufrag(), "hgwh");
  EXPECT_EQ(c->foundation(), "fffe3f0240ab76a6633c3233");
  // A parsed priority is kept as it is, also for checks.
  EXPECT_EQ(c->priority_as_prflx(), 37748479u);
}

TEST(CandidateString, RoundTripOfEmittedStrings) {
  for (const char* s : {
           "candidate:fffeff7eba9f32d1e7c95ebe 1 udp 2130706175 10.0.0.5 52625 typ host ufrag ejqt",
           "candidate:ffff3f02cda587240a6de228 1 udp 37748735 2001:db8:1::50 61235 typ relay "
           "raddr :: rport 0 ufrag ejqt",
           "candidate:fffeff645f9a30b0ac4977cf 1 udp 1694498559 203.0.113.9 52625 typ srflx raddr "
           "0.0.0.0 rport 0",
       }) {
    const auto c = Candidate::parse(s);
    ASSERT_TRUE(c.ok()) << s;
    EXPECT_EQ(c->to_sdp_string(), s);
  }
}

}  // namespace
}  // namespace fz::ice
