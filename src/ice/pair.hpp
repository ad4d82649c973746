// A candidate pair: one local and one remote candidate, its check history and its nomination
// (spec/ice-str0m-details.md §3.3, §4.2).
//
// There is no Frozen state and no Failed state: every pair is checked, on the schedule that
// next_check() computes from its attempt history, and a pair whose last `max_retransmits` attempts
// all went unanswered is removed by the agent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/rng.hpp"
#include "base/time.hpp"
#include "ice/timing.hpp"
#include "stun/message.hpp"

namespace fz::ice {

enum class CheckState : std::uint8_t { waiting, in_progress, succeeded };

enum class NominationState : std::uint8_t {
  none,
  nominated,  // nominated, the check that carries the nomination not sent yet
  attempt,    // that check went out
  success,    // it was answered
};

// RFC 8445 §6.1.2.3 with G = the controlling side's candidate priority, D = the controlled side's:
// 2^32·min(G,D) + 2·max(G,D) + (G > D ? 1 : 0).
std::uint64_t pair_priority(bool controlling, std::uint32_t local, std::uint32_t remote);

class CandidatePair {
 public:
  struct Attempt {
    stun::TransactionId transaction_id;
    Instant sent;
    std::optional<Instant> answered;
    bool nominated = false;
  };

  CandidatePair(std::uint64_t id, std::size_t local, std::size_t remote, std::uint64_t priority)
      : id_(id), local_(local), remote_(remote), priority_(priority) {}

  std::uint64_t id() const { return id_; }
  std::size_t local() const { return local_; }
  std::size_t remote() const { return remote_; }
  std::uint64_t priority() const { return priority_; }
  CheckState state() const { return state_; }
  NominationState nomination() const { return nomination_; }
  bool is_nominated() const { return nomination_ != NominationState::none; }
  // The local candidate the last answered check proved (may differ from local() after a NAT).
  std::optional<std::size_t> valid_local() const { return valid_local_; }
  const std::vector<Attempt>& attempts() const { return attempts_; }

  void nominate() { nomination_ = NominationState::nominated; }
  // A pair replacing a redundant one keeps its nomination (but not an in-flight attempt).
  void inherit_nomination(const CandidatePair& replaced);

  // Records a check sent now with a fresh transaction id and returns that id. Forgets the
  // oldest attempt beyond max_retransmits.
  const stun::TransactionId& new_attempt(Instant now, const Timing& timing, Rng& rng);
  bool has_attempt(const stun::TransactionId& transaction_id) const;
  void record_response(Instant now, const stun::TransactionId& transaction_id,
                       std::size_t valid_local);

  // When the next check is due. Computed at `now` and cached until a check is sent, a response is
  // recorded or invalidate_schedule() is called; like str0m, nominating does not invalidate it.
  Instant next_check(Instant now, const Timing& timing);
  std::optional<Instant> cached_next_check() const { return next_check_; }
  void invalidate_schedule() { next_check_.reset(); }

  // False once the last max_retransmits attempts are all unanswered and the last one has had
  // delay(max_retransmits) to be answered.
  bool is_still_possible(Instant now, const Timing& timing) const;

 private:
  // The number of unanswered attempts counting back from the newest, and the oldest one's send
  // time.
  std::size_t unanswered(Instant* since) const;

  std::uint64_t id_;
  std::size_t local_;
  std::size_t remote_;
  std::uint64_t priority_;
  CheckState state_ = CheckState::waiting;
  NominationState nomination_ = NominationState::none;
  std::optional<std::size_t> valid_local_;
  std::vector<Attempt> attempts_;  // oldest first
  std::optional<Instant> next_check_;
};

}  // namespace fz::ice
