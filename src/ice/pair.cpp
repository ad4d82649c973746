#include "ice/pair.hpp"

#include <algorithm>

namespace fz::ice {

std::uint64_t pair_priority(bool controlling, std::uint32_t local, std::uint32_t remote) {
  const std::uint64_t g = controlling ? local : remote;
  const std::uint64_t d = controlling ? remote : local;
  return (std::min(g, d) << 32) + 2 * std::max(g, d) + (g > d ? 1 : 0);
}

void CandidatePair::inherit_nomination(const CandidatePair& replaced) {
  if (replaced.nomination_ == NominationState::nominated ||
      replaced.nomination_ == NominationState::success) {
    nomination_ = replaced.nomination_;
  }
}

const stun::TransactionId& CandidatePair::new_attempt(Instant now, const Timing& timing, Rng& rng) {
  next_check_.reset();
  if (nomination_ == NominationState::nominated) nomination_ = NominationState::attempt;

  if (attempts_.capacity() == 0)
    attempts_.reserve(std::max<std::size_t>(timing.max_retransmits, 1));
  Attempt attempt;
  rng.fill(attempt.transaction_id);
  attempt.sent = now;
  attempt.nominated = is_nominated();
  attempts_.push_back(attempt);
  const std::size_t keep = std::max<std::size_t>(timing.max_retransmits, 1);
  if (attempts_.size() > keep) {
    attempts_.erase(attempts_.begin(), attempts_.begin() + (attempts_.size() - keep));
  }
  if (state_ == CheckState::waiting) state_ = CheckState::in_progress;
  return attempts_.back().transaction_id;
}

bool CandidatePair::has_attempt(const stun::TransactionId& transaction_id) const {
  return std::any_of(attempts_.begin(), attempts_.end(),
                     [&](const Attempt& a) { return a.transaction_id == transaction_id; });
}

void CandidatePair::record_response(Instant now, const stun::TransactionId& transaction_id,
                                    std::size_t valid_local) {
  next_check_.reset();
  valid_local_ = valid_local;
  for (Attempt& a : attempts_) {
    if (a.transaction_id != transaction_id) continue;
    a.answered = now;
    if (a.nominated && nomination_ == NominationState::attempt) {
      nomination_ = NominationState::success;
    }
    break;
  }
  if (state_ == CheckState::in_progress) state_ = CheckState::succeeded;
}

std::size_t CandidatePair::unanswered(Instant* since) const {
  std::size_t count = 0;
  for (auto it = attempts_.rbegin(); it != attempts_.rend() && !it->answered; ++it) {
    ++count;
    if (since != nullptr) *since = it->sent;
  }
  return count;
}

Instant CandidatePair::next_check(Instant now, const Timing& timing) {
  if (next_check_) return *next_check_;
  Instant next;
  if (nomination_ == NominationState::nominated) {
    // A fresh nomination jumps the queue.
    next = now - std::chrono::seconds(60);
  } else if (!attempts_.empty()) {
    // Once the oldest unanswered attempt is older than max_rto/2, retry on the short schedule
    // again, counted from the start of the outage.
    Instant since{};
    const std::size_t u = unanswered(&since);
    const std::size_t k = (u > 0 && now - since > timing.max_rto / 2) ? u : attempts_.size();
    next = attempts_.back().sent + timing.delay(static_cast<std::uint32_t>(k));
  } else {
    next = now;
  }
  next = std::min(next, now + timing.max_rto);
  next_check_ = next;
  return next;
}

bool CandidatePair::is_still_possible(Instant now, const Timing& timing) const {
  const std::size_t limit = std::max<std::size_t>(timing.max_retransmits, 1);
  if (attempts_.empty() || attempts_.size() < limit || unanswered(nullptr) < limit) return true;
  return now < attempts_.back().sent + timing.last_resend_delay();
}

}  // namespace fz::ice
