// The ICE agent of one connection, in either role, behaving like str0m's IceAgent with Firezone's
// settings (spec/p2p-connections.md §1.4–§1.7, spec/ice-str0m-details.md).
//
// Full ICE, trickle always on, one component over UDP. The agent does not gather: the layer above
// adds host and relayed candidates from its TURN allocations (and server-reflexive ones, which are
// only signalled, because we always send from the base). Every pair is checked on str0m's schedule
// for the life of the connection; those checks are the NAT keepalive. A pair whose last
// `max_retransmits` checks went unanswered is removed; when no pair is left the state becomes
// Disconnected (there is no Failed state: a new candidate can always bring it back).
//
// Nomination is continuous. The controlling agent nominates the best succeeded pair and
// re-nominates whenever a better one succeeds, marking its checks with USE-CANDIDATE. The
// controlled agent takes USE-CANDIDATE as nomination and never sends it (str0m drops such
// requests). Either side reports the pair to send on with a NominatedSend event; the last one
// counts.
//
// Driving it (sans-IO, DESIGN.md §3):
//   - every STUN datagram for this connection: BindingMessage::parse once, then handle_input()
//     (which returns false if this agent does not accept it, so the next agent can be tried);
//   - handle_timeout(now) whenever poll_timeout() says so, and after adding or removing
//     candidates; the first handle_timeout() starts the agent (nothing is sent before);
//   - after each call, drain poll_transmit() and poll_event().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/rng.hpp"
#include "base/time.hpp"
#include "ice/binding.hpp"
#include "ice/candidate.hpp"
#include "ice/pair.hpp"
#include "ice/timing.hpp"
#include "net/ip_addr.hpp"

namespace fz::ice {

struct Credentials {
  std::string ufrag;
  std::string pwd;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

enum class Role : std::uint8_t { controlling, controlled };

// str0m's IceConnectionState. `created` is its New (before the first handle_timeout).
enum class ConnectionState : std::uint8_t { created, checking, connected, completed, disconnected };
std::string_view to_string(ConnectionState state);

// A datagram to send: from `source` (a host socket, or a relayed address that the layer above
// must wrap in ChannelData on the allocation it belongs to) to `destination`.
struct Transmit {
  net::SocketAddr source;
  net::SocketAddr destination;
  std::vector<std::uint8_t> payload;
};

namespace event {
struct StateChanged {
  ConnectionState state;
};
// Send data from `source` (the local candidate's base) to `destination` (the remote candidate's
// address) from now on.
struct NominatedSend {
  net::SocketAddr source;
  net::SocketAddr destination;
};
// A local candidate to signal to the peer (candidate.to_sdp_string()).
struct CandidateToSignal {
  Candidate candidate;
};
// A local candidate the peer should forget.
struct CandidateInvalidated {
  Candidate candidate;
};
}  // namespace event
using Event = std::variant<event::StateChanged, event::NominatedSend, event::CandidateToSignal,
                           event::CandidateInvalidated>;

class Agent {
 public:
  static constexpr std::size_t kMaxPairs = 100;
  static constexpr std::size_t kMaxQueuedRequests = 100;

  // `rng` must outlive the agent; it supplies the tie-breaker and the transaction ids.
  Agent(Role role, Credentials local, Rng& rng, Timing timing = Timing::firezone_default());

  Role role() const { return role_; }
  bool controlling() const { return role_ == Role::controlling; }
  ConnectionState state() const { return state_; }
  const Credentials& local_credentials() const { return local_; }
  const std::optional<Credentials>& remote_credentials() const { return remote_; }
  std::uint64_t tie_breaker() const { return tie_breaker_; }
  const Timing& timing() const { return timing_; }
  // How long a never-answered pair lives: 15.25 s by default, 100 s idle.
  Duration ice_timeout() const { return timing_.ice_timeout(); }

  // Until these are set, incoming requests are queued (at most 100) and no check is sent.
  void set_remote_credentials(Credentials remote);
  // Switches the profile (Firezone: default while connecting/connected, idle after 20 s without
  // traffic). Every pair's next check is recomputed.
  void set_timing(const Timing& timing);

  // Host and relayed candidates are added and paired; server-reflexive ones are only signalled.
  // An accepted candidate comes back as CandidateToSignal. Returns false when it was rejected as
  // redundant (same address, base and protocol as a better one) or is of another kind.
  bool add_local_candidate(Candidate candidate);
  // Discards a local candidate (matched on kind, address, base and raddr) and its pairs, and
  // emits CandidateInvalidated. Server-reflexive ones are only signalled as invalidated.
  bool remove_local_candidate(const Candidate& candidate);
  // A candidate from the peer: dropped for component != 1 or a ufrag other than the remote one;
  // ignored if it is already in a pair; replaces a peer-reflexive placeholder of the same
  // address; paired with every local candidate of its family and protocol.
  void add_remote_candidate(Candidate candidate);
  // Discards a remote candidate and its pairs. Checks from its address are then ignored.
  bool remove_remote_candidate(const Candidate& candidate);

  // Whether a Binding message is for this agent: requests and indications by USERNAME
  // ("<our ufrag>:<their ufrag>") and integrity with our password, responses by transaction id
  // and integrity with theirs.
  bool accepts_message(const BindingMessage& message) const;
  // A Binding message that arrived from `source` on `destination` (our host socket, or our relayed
  // address if it came through a TURN channel). Returns false, changing nothing, if it is not
  // accepted.
  bool handle_input(const net::SocketAddr& source, const net::SocketAddr& destination,
                    const BindingMessage& message, Instant now);
  void handle_timeout(Instant now);
  // Nullopt until the agent has seen a time.
  std::optional<Instant> poll_timeout() const;
  std::optional<Transmit> poll_transmit();
  std::optional<Event> poll_event();

  std::span<const Candidate> local_candidates() const { return local_candidates_; }
  std::span<const Candidate> remote_candidates() const { return remote_candidates_; }
  // Sorted by descending priority.
  std::span<const CandidatePair> pairs() const { return pairs_; }
  // The pair of the last NominatedSend, if it still exists.
  const CandidatePair* nominated_pair() const;

 private:
  struct Request {
    Instant received;
    net::SocketAddr source;
    net::SocketAddr destination;
    stun::TransactionId transaction_id;
    std::uint32_t priority;
    bool use_candidate;
    std::string remote_ufrag;
  };

  void handle_request(const net::SocketAddr& source, const net::SocketAddr& destination,
                      const stun::TransactionId& transaction_id, std::uint32_t priority,
                      bool use_candidate, std::string_view remote_ufrag);
  void handle_success(const BindingMessage& message, Instant now);
  void send_check(std::size_t pair_index, Instant now);

  void form_pairs(std::span<const std::size_t> locals, std::span<const std::size_t> remotes);
  void sort_and_truncate_pairs();
  CandidatePair* find_pair(std::size_t local, std::size_t remote);
  CandidatePair* find_pair_by_transaction(const stun::TransactionId& transaction_id);
  const CandidatePair* find_pair_by_transaction(const stun::TransactionId& transaction_id) const;

  void evaluate_nomination();
  void evaluate_state(Instant now);
  void set_state(ConnectionState state);
  // Fills every pair's cached next-check time at the latest known time.
  void refresh_schedule();

  Role role_;
  Credentials local_;
  std::optional<Credentials> remote_;
  std::string request_username_;  // "<remote ufrag>:<local ufrag>"
  Rng* rng_;
  std::uint64_t tie_breaker_;
  Timing timing_;
  ConnectionState state_ = ConnectionState::created;

  // Candidates are never erased, only discarded, so pairs can refer to them by index.
  std::vector<Candidate> local_candidates_;
  std::vector<Candidate> remote_candidates_;
  std::vector<CandidatePair> pairs_;
  std::uint64_t next_pair_id_ = 1;
  std::optional<std::uint64_t> nominated_send_;  // pair id

  std::deque<Transmit> transmits_;
  std::deque<Event> events_;
  std::deque<Request> queued_requests_;

  // The latest time handed to handle_timeout or handle_input.
  std::optional<Instant> now_;
  // A nomination or a discard happened outside handle_timeout: evaluate at the next one, which
  // poll_timeout() asks for at once.
  bool evaluation_pending_ = false;
};

}  // namespace fz::ice
