// Fuzzes the ICE candidate parser (str0m's grammar) and what an agent does with a parsed remote
// candidate. Oracles: no crash/UB (sanitizers); a parsed candidate re-emits a string that parses
// back to the same string; adding it to agents of both roles keeps their pair list sorted and
// within the limit.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/rng.hpp"
#include "ice/agent.hpp"
#include "ice/candidate.hpp"

using namespace fz;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void add_to_agent(ice::Role role, const ice::Candidate& candidate) {
  crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{});
  ice::Agent agent(role, {"ejqt", "zfjrrjdkbci42t2axyd45a"}, rng);
  agent.set_remote_credentials({"hgwh", "j2fqufatn7xlrrvv6fsvea"});
  agent.add_local_candidate(*ice::Candidate::host(*net::SocketAddr::parse("198.51.100.20:52625")));
  agent.add_local_candidate(*ice::Candidate::host(*net::SocketAddr::parse("[2001:db8::20]:52625")));
  agent.add_remote_candidate(candidate);
  agent.add_remote_candidate(candidate);
  agent.handle_timeout(Instant(std::chrono::seconds(1)));
  const auto pairs = agent.pairs();
  check(pairs.size() <= ice::Agent::kMaxPairs);
  for (std::size_t i = 1; i < pairs.size(); ++i)
    check(pairs[i - 1].priority() >= pairs[i].priority());
  while (agent.poll_transmit()) {
  }
  agent.remove_remote_candidate(candidate);
  check(agent.pairs().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = ice::Candidate::parse(input);
  if (!parsed) return 0;
  const std::string emitted = parsed->to_sdp_string();
  auto again = ice::Candidate::parse(emitted);
  check(again.ok());
  check(again->to_sdp_string() == emitted);
  check(again->priority() == parsed->priority() && again->addr() == parsed->addr() &&
        again->kind() == parsed->kind() && again->raddr() == parsed->raddr());
  add_to_agent(ice::Role::controlled, *parsed);
  add_to_agent(ice::Role::controlling, *parsed);
  return 0;
}
