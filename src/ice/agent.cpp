#include "ice/agent.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace fz::ice {

namespace {

// The foundation str0m gives a remote peer-reflexive candidate learnt from a check; a signalled
// candidate with the same address replaces it in place.
constexpr std::string_view kTemporaryPrflxFoundation = "tmp_prflx";

bool same_family(const net::SocketAddr& a, const net::SocketAddr& b) {
  return a.ip.is_v4() == b.ip.is_v4();
}

// What str0m matches a candidate to invalidate on.
bool matches_for_removal(const Candidate& stored, const Candidate& wanted) {
  return stored.addr() == wanted.addr() && stored.base() == wanted.base() &&
         stored.raddr() == wanted.raddr() && stored.kind() == wanted.kind();
}

}  // namespace

std::string_view to_string(ConnectionState state) {
  switch (state) {
    case ConnectionState::created:
      return "new";
    case ConnectionState::checking:
      return "checking";
    case ConnectionState::connected:
      return "connected";
    case ConnectionState::completed:
      return "completed";
    case ConnectionState::disconnected:
      return "disconnected";
  }
  return "new";
}

Agent::Agent(Role role, Credentials local, Rng& rng, Timing timing)
    : role_(role), local_(std::move(local)), rng_(&rng), tie_breaker_(rng.next_u64()) {
  set_timing(timing);
}

void Agent::set_remote_credentials(Credentials remote) {
  if (remote_ && *remote_ == remote) return;
  request_username_ = remote.ufrag + ":" + local_.ufrag;
  remote_ = std::move(remote);
  FZ_DEBUG("ice", "remote credentials set (ufrag {})", remote_->ufrag);
}

void Agent::set_timing(const Timing& timing) {
  timing_ = timing;
  if (timing_.max_retransmits == 0) timing_.max_retransmits = 1;
  for (CandidatePair& pair : pairs_)
    pair.invalidate_schedule();
  refresh_schedule();
}

// --- Candidates ---------------------------------------------------------------------------------

bool Agent::add_local_candidate(Candidate candidate) {
  if (candidate.kind() == CandidateKind::server_reflexive) {
    // We always send from the base, so a server-reflexive candidate is only for the peer.
    events_.push_back(event::CandidateToSignal{std::move(candidate)});
    return true;
  }
  if (candidate.kind() != CandidateKind::host && candidate.kind() != CandidateKind::relayed) {
    return false;
  }

  const bool v6 = candidate.addr().ip.is_v6();
  const auto same_kind = static_cast<std::size_t>(
      std::count_if(local_candidates_.begin(), local_candidates_.end(), [&](const Candidate& c) {
        return c.kind() == candidate.kind() && c.addr().ip.is_v6() == v6;
      }));
  const auto preference = default_local_preference(candidate, same_kind);
  if (!preference) return false;
  candidate.set_local_preference(*preference);
  candidate.set_ufrag(local_.ufrag);

  // Redundant: same address, base and protocol as a candidate we have. The better one stays.
  const auto redundant =
      std::find_if(local_candidates_.begin(), local_candidates_.end(), [&](const Candidate& c) {
        return c.addr() == candidate.addr() && c.base() == candidate.base() &&
               c.protocol() == candidate.protocol();
      });
  std::size_t index;
  if (redundant != local_candidates_.end()) {
    const auto other = static_cast<std::size_t>(redundant - local_candidates_.begin());
    if (redundant->discarded() && redundant->kind() == candidate.kind() &&
        redundant->raddr() == candidate.raddr()) {
      redundant->set_discarded(false);
      index = other;
    } else if (candidate.priority() < redundant->priority()) {
      FZ_DEBUG("ice", "reject redundant local candidate {}", candidate.to_sdp_string());
      return false;
    } else {
      redundant->set_discarded(true);
      std::erase_if(pairs_, [other](const CandidatePair& p) { return p.local() == other; });
      local_candidates_.push_back(std::move(candidate));
      index = local_candidates_.size() - 1;
    }
  } else {
    local_candidates_.push_back(std::move(candidate));
    index = local_candidates_.size() - 1;
  }
  FZ_DEBUG("ice", "add local candidate {}", local_candidates_[index].to_sdp_string());

  std::vector<std::size_t> remotes;
  for (std::size_t i = 0; i < remote_candidates_.size(); ++i) {
    const Candidate& r = remote_candidates_[i];
    if (!r.discarded() && same_family(r.addr(), local_candidates_[index].addr())) {
      remotes.push_back(i);
    }
  }
  const std::size_t locals[] = {index};
  form_pairs(locals, remotes);
  events_.push_back(event::CandidateToSignal{local_candidates_[index]});
  refresh_schedule();
  return true;
}

bool Agent::remove_local_candidate(const Candidate& candidate) {
  if (candidate.kind() == CandidateKind::server_reflexive) {
    events_.push_back(event::CandidateInvalidated{candidate});
    return true;
  }
  for (std::size_t i = 0; i < local_candidates_.size(); ++i) {
    Candidate& c = local_candidates_[i];
    if (c.discarded() || !matches_for_removal(c, candidate)) continue;
    FZ_DEBUG("ice", "discard local candidate {}", c.to_sdp_string());
    c.set_discarded(true);
    std::erase_if(pairs_, [i](const CandidatePair& p) { return p.local() == i; });
    events_.push_back(event::CandidateInvalidated{c});
    evaluation_pending_ = true;
    return true;
  }
  return false;
}

void Agent::add_remote_candidate(Candidate candidate) {
  if (candidate.component() != 1) {
    FZ_DEBUG("ice", "reject remote candidate for component {}", candidate.component());
    return;
  }
  if (remote_ && candidate.ufrag() && *candidate.ufrag() != remote_->ufrag) {
    FZ_DEBUG("ice", "reject remote candidate with ufrag {}", *candidate.ufrag());
    return;
  }
  candidate.clear_ufrag();

  // Already known and in a pair: nothing to do.
  for (const CandidatePair& p : pairs_) {
    const Candidate& o = remote_candidates_[p.remote()];
    if (o.same_identity(candidate) && !o.discarded()) return;
  }

  std::size_t index = remote_candidates_.size();
  for (std::size_t i = 0; i < remote_candidates_.size(); ++i) {
    Candidate& o = remote_candidates_[i];
    if (o.kind() == CandidateKind::peer_reflexive && o.addr() == candidate.addr() &&
        o.foundation() == kTemporaryPrflxFoundation) {
      // The peer has now signalled the address we learnt from its check. Keeping the index keeps
      // the pairs (and their nomination) that use it.
      FZ_DEBUG("ice", "replace peer-reflexive remote candidate with {}", candidate.to_sdp_string());
      o = std::move(candidate);
      index = i;
      break;
    }
  }
  if (index == remote_candidates_.size()) {
    // A candidate the peer withdrew and now signals again is re-enabled rather than appended, so
    // the list does not grow with every remove/add cycle.
    for (std::size_t i = 0; i < remote_candidates_.size(); ++i) {
      Candidate& o = remote_candidates_[i];
      if (o.discarded() && o.same_identity(candidate)) {
        o = std::move(candidate);
        index = i;
        FZ_DEBUG("ice", "re-enable remote candidate {}", o.to_sdp_string());
        break;
      }
    }
  }
  if (index == remote_candidates_.size()) {
    FZ_DEBUG("ice", "add remote candidate {}", candidate.to_sdp_string());
    remote_candidates_.push_back(std::move(candidate));
  }

  std::vector<std::size_t> locals;
  for (std::size_t i = 0; i < local_candidates_.size(); ++i) {
    const Candidate& l = local_candidates_[i];
    if (!l.discarded() && same_family(l.addr(), remote_candidates_[index].addr())) {
      locals.push_back(i);
    }
  }
  const std::size_t remotes[] = {index};
  form_pairs(locals, remotes);
  refresh_schedule();
}

bool Agent::remove_remote_candidate(const Candidate& candidate) {
  for (std::size_t i = 0; i < remote_candidates_.size(); ++i) {
    Candidate& c = remote_candidates_[i];
    if (c.discarded() || !matches_for_removal(c, candidate)) continue;
    FZ_DEBUG("ice", "discard remote candidate {}", c.to_sdp_string());
    c.set_discarded(true);
    std::erase_if(pairs_, [i](const CandidatePair& p) { return p.remote() == i; });
    evaluation_pending_ = true;
    return true;
  }
  return false;
}

// --- Pairs --------------------------------------------------------------------------------------

void Agent::form_pairs(std::span<const std::size_t> locals, std::span<const std::size_t> remotes) {
  for (const std::size_t l : locals) {
    for (const std::size_t r : remotes) {
      const Candidate& local = local_candidates_[l];
      const Candidate& remote = remote_candidates_[r];
      if (local.protocol() != remote.protocol()) continue;

      CandidatePair pair(next_pair_id_++, l, r,
                         pair_priority(controlling(), local.priority(), remote.priority()));
      // Two pairs are redundant when they send from the same base to the same address; only the
      // higher-priority one is kept.
      bool handled = false;
      for (CandidatePair& existing : pairs_) {
        const Candidate& el = local_candidates_[existing.local()];
        const Candidate& er = remote_candidates_[existing.remote()];
        if (local.base() != el.base() || remote.addr() != er.addr() ||
            local.protocol() != el.protocol() || remote.protocol() != er.protocol()) {
          continue;
        }
        if (existing.priority() < pair.priority()) {
          pair.inherit_nomination(existing);
          existing = std::move(pair);
        }
        handled = true;
        break;
      }
      if (!handled) pairs_.push_back(std::move(pair));
    }
  }
  sort_and_truncate_pairs();
}

void Agent::sort_and_truncate_pairs() {
  std::stable_sort(
      pairs_.begin(), pairs_.end(),
      [](const CandidatePair& a, const CandidatePair& b) { return a.priority() > b.priority(); });
  if (pairs_.size() > kMaxPairs) {
    FZ_DEBUG("ice", "dropping {} lowest-priority pairs over the limit", pairs_.size() - kMaxPairs);
    pairs_.erase(pairs_.begin() + kMaxPairs, pairs_.end());
  }
}

CandidatePair* Agent::find_pair(std::size_t local, std::size_t remote) {
  for (CandidatePair& p : pairs_) {
    if (p.local() == local && p.remote() == remote) return &p;
  }
  return nullptr;
}

CandidatePair* Agent::find_pair_by_transaction(const stun::TransactionId& transaction_id) {
  for (CandidatePair& p : pairs_) {
    if (p.has_attempt(transaction_id)) return &p;
  }
  return nullptr;
}

const CandidatePair* Agent::find_pair_by_transaction(
    const stun::TransactionId& transaction_id) const {
  for (const CandidatePair& p : pairs_) {
    if (p.has_attempt(transaction_id)) return &p;
  }
  return nullptr;
}

const CandidatePair* Agent::nominated_pair() const {
  if (!nominated_send_) return nullptr;
  for (const CandidatePair& p : pairs_) {
    if (p.id() == *nominated_send_) return &p;
  }
  return nullptr;
}

// --- Incoming messages --------------------------------------------------------------------------

bool Agent::accepts_message(const BindingMessage& message) const {
  switch (message.message_class()) {
    case stun::Class::request:
    case stun::Class::indication:
      if (!message.has_username()) return false;
      if (message.username_receiver() != local_.ufrag) return false;
      if (remote_ && message.username_sender() != remote_->ufrag) return false;
      return message.verify_integrity(local_.pwd);
    case stun::Class::success:
    case stun::Class::error:
      if (!remote_ || find_pair_by_transaction(message.transaction_id()) == nullptr) return false;
      return message.verify_integrity(remote_->pwd);
  }
  return false;
}

bool Agent::handle_input(const net::SocketAddr& source, const net::SocketAddr& destination,
                         const BindingMessage& message, Instant now) {
  if (!accepts_message(message)) return false;
  now_ = now;
  if (message.is_request()) {
    if (remote_) {
      handle_request(source, destination, message.transaction_id(), message.priority(),
                     message.use_candidate(), message.username_sender());
    } else {
      // The peer's checks can arrive before its credentials reach us through the portal.
      queued_requests_.push_back(Request{now, source, destination, message.transaction_id(),
                                         message.priority(), message.use_candidate(),
                                         std::string(message.username_sender())});
      while (queued_requests_.size() > kMaxQueuedRequests)
        queued_requests_.pop_front();
    }
  } else if (message.is_success()) {
    handle_success(message, now);
  }
  // Error responses and indications are accepted and have no effect, as in str0m.
  refresh_schedule();
  return true;
}

void Agent::handle_request(const net::SocketAddr& source, const net::SocketAddr& destination,
                           const stun::TransactionId& transaction_id, std::uint32_t priority,
                           bool use_candidate, std::string_view remote_ufrag) {
  if (remote_ufrag != remote_->ufrag) return;
  if (use_candidate && controlling()) {
    // Only the controlling side nominates; str0m silently drops such a request, and so do we.
    FZ_DEBUG("ice", "drop USE-CANDIDATE request from {}: we are controlling", source.to_string());
    return;
  }

  // The remote candidate is the one with the source address (the best, if several share it).
  std::optional<std::size_t> remote;
  for (std::size_t i = 0; i < remote_candidates_.size(); ++i) {
    const Candidate& c = remote_candidates_[i];
    if (c.discarded() || c.protocol() != Protocol::udp || c.addr() != source) continue;
    if (!remote || c.priority() >= remote_candidates_[*remote].priority()) remote = i;
  }
  if (!remote) {
    const bool discarded =
        std::any_of(remote_candidates_.begin(), remote_candidates_.end(), [&](const Candidate& c) {
          return c.discarded() && c.protocol() == Protocol::udp && c.addr() == source;
        });
    if (discarded) return;  // the peer withdrew this address; do not resurrect it
    // A new peer-reflexive candidate with the priority the check carries.
    remote_candidates_.push_back(Candidate::peer_reflexive(
        source, source, priority, std::string(kTemporaryPrflxFoundation), local_.ufrag));
    remote = remote_candidates_.size() - 1;
    FZ_DEBUG("ice", "peer-reflexive remote candidate {}", source.to_string());
  }

  // The local candidate is the host or relayed one the request arrived on.
  std::optional<std::size_t> local;
  for (std::size_t i = 0; i < local_candidates_.size(); ++i) {
    const Candidate& c = local_candidates_[i];
    if ((c.kind() == CandidateKind::host || c.kind() == CandidateKind::relayed) &&
        c.addr() == destination && c.protocol() == Protocol::udp) {
      local = i;
      break;
    }
  }
  if (!local) {
    FZ_DEBUG("ice", "drop request to {}: not a local candidate", destination.to_string());
    return;
  }

  CandidatePair* pair = find_pair(*local, *remote);
  if (pair == nullptr) {
    const Candidate& l = local_candidates_[*local];
    if (l.discarded()) return;
    pairs_.emplace_back(
        next_pair_id_++, *local, *remote,
        pair_priority(controlling(), l.priority(), remote_candidates_[*remote].priority()));
    sort_and_truncate_pairs();
    pair = find_pair(*local, *remote);
  }
  if (pair != nullptr) {
    if (!controlling() && use_candidate && !pair->is_nominated()) {
      FZ_DEBUG("ice", "nominated by peer: {} -> {}", local_candidates_[*local].base().to_string(),
               remote_candidates_[*remote].addr().to_string());
      pair->nominate();
      evaluation_pending_ = true;
    }
    if (controlling() && pair->state() == CheckState::succeeded) evaluate_nomination();
  }

  // Answer from where it arrived, to where it came from.
  transmits_.push_back(Transmit{local_candidates_[*local].base(),
                                remote_candidates_[*remote].addr(),
                                build_binding_success(transaction_id, source, local_.pwd)});
}

void Agent::handle_success(const BindingMessage& message, Instant now) {
  CandidatePair* pair = find_pair_by_transaction(message.transaction_id());
  if (pair == nullptr) return;

  // The mapped address proves a local candidate; an unknown one is a new local peer-reflexive
  // candidate (not paired, not signalled).
  const net::SocketAddr& mapped = message.mapped_address();
  std::optional<std::size_t> valid;
  for (std::size_t i = 0; i < local_candidates_.size(); ++i) {
    if (local_candidates_[i].addr() == mapped) {
      valid = i;
      break;
    }
  }
  if (!valid) {
    const Candidate& sent_from = local_candidates_[pair->local()];
    Candidate prflx = Candidate::peer_reflexive(mapped, sent_from.base(),
                                                sent_from.priority_as_prflx(), {}, local_.ufrag);
    FZ_DEBUG("ice", "peer-reflexive local candidate {}", mapped.to_string());
    local_candidates_.push_back(std::move(prflx));
    valid = local_candidates_.size() - 1;
  }
  pair->record_response(now, message.transaction_id(), *valid);

  if (controlling()) evaluate_nomination();
  evaluate_state(now);
}

// --- Time ---------------------------------------------------------------------------------------

void Agent::handle_timeout(Instant now) {
  now_ = now;
  evaluate_state(now);

  if (remote_) {
    while (!queued_requests_.empty() &&
           now - queued_requests_.front().received >= timing_.ice_timeout()) {
      queued_requests_.pop_front();
    }
    if (!queued_requests_.empty()) {
      // One queued request per call, like str0m.
      const Request r = std::move(queued_requests_.front());
      queued_requests_.pop_front();
      handle_request(r.source, r.destination, r.transaction_id, r.priority, r.use_candidate,
                     r.remote_ufrag);
      refresh_schedule();
      return;
    }
  }

  evaluate_nomination();
  evaluation_pending_ = false;

  const std::size_t before = pairs_.size();
  std::erase_if(pairs_, [&](const CandidatePair& p) { return !p.is_still_possible(now, timing_); });
  if (pairs_.size() != before) {
    FZ_DEBUG("ice", "pruned {} failed pairs", before - pairs_.size());
    evaluate_nomination();
    evaluate_state(now);
  }

  if (!remote_) {
    refresh_schedule();
    return;
  }

  // At most one check per call: the pair due first (the higher priority on a tie).
  std::optional<std::size_t> due;
  Instant due_at{};
  for (std::size_t i = 0; i < pairs_.size(); ++i) {
    const Instant at = pairs_[i].next_check(now, timing_);
    if (!due || at < due_at) {
      due = i;
      due_at = at;
    }
  }
  if (due && due_at <= now) send_check(*due, now);
  refresh_schedule();
}

std::optional<Instant> Agent::poll_timeout() const {
  if (!now_) return std::nullopt;
  const Instant now = *now_;
  if (!transmits_.empty() || evaluation_pending_ || (remote_ && !queued_requests_.empty())) {
    return now;
  }
  if (pairs_.empty()) return now + std::chrono::seconds(3);
  Instant next = Instant::max();
  for (const CandidatePair& p : pairs_)
    next = std::min(next, p.cached_next_check().value_or(now));
  return std::max(next, now);
}

void Agent::refresh_schedule() {
  if (!now_) return;
  for (CandidatePair& p : pairs_)
    p.next_check(*now_, timing_);
}

void Agent::send_check(std::size_t pair_index, Instant now) {
  CandidatePair& pair = pairs_[pair_index];
  const Candidate& local = local_candidates_[pair.local()];
  const Candidate& remote = remote_candidates_[pair.remote()];
  // Only the controlling side ever says USE-CANDIDATE: a str0m controlling peer drops requests
  // that carry it.
  const bool use_candidate = controlling() && pair.is_nominated();
  const stun::TransactionId transaction_id = pair.new_attempt(now, timing_, *rng_);
  auto request =
      build_binding_request(transaction_id, request_username_, controlling(), tie_breaker_,
                            local.priority_as_prflx(), use_candidate, remote_->pwd);
  if (!request) {
    FZ_DEBUG("ice", "cannot build a check: {}", request.error().message());
    return;
  }
  transmits_.push_back(Transmit{local.base(), remote.addr(), std::move(*request)});
}

// --- Nomination and state -----------------------------------------------------------------------

void Agent::evaluate_nomination() {
  // Controlling: the best succeeded pair. Controlled: the best pair the peer nominated. On equal
  // priorities the later pair wins, as with Rust's max_by_key.
  CandidatePair* best = nullptr;
  for (CandidatePair& p : pairs_) {
    const bool eligible = controlling() ? p.state() == CheckState::succeeded : p.is_nominated();
    if (eligible && (best == nullptr || p.priority() >= best->priority())) best = &p;
  }
  if (best == nullptr) return;
  const CandidatePair* current = nominated_pair();
  if (current != nullptr && current->priority() == best->priority()) return;

  if (controlling() && !best->is_nominated()) best->nominate();
  nominated_send_ = best->id();
  const net::SocketAddr source = local_candidates_[best->local()].base();
  const net::SocketAddr destination = remote_candidates_[best->remote()].addr();
  FZ_DEBUG("ice", "nominated send {} -> {}", source.to_string(), destination.to_string());
  events_.push_back(event::NominatedSend{source, destination});
}

void Agent::set_state(ConnectionState state) {
  if (state_ == state) return;
  FZ_DEBUG("ice", "state {} -> {}", to_string(state_), to_string(state));
  state_ = state;
  events_.push_back(event::StateChanged{state});
}

void Agent::evaluate_state(Instant now) {
  bool any_nomination = false;
  bool any_possible = false;
  for (const CandidatePair& p : pairs_) {
    if (p.is_nominated()) {
      any_nomination = true;
    } else if (p.is_still_possible(now, timing_)) {
      any_possible = true;
    }
  }
  // Before any candidates are known the agent is still viable.
  if (remote_candidates_.empty() || local_candidates_.empty()) any_possible = true;

  using S = ConnectionState;
  switch (state_) {
    case S::created:
      set_state(S::checking);
      break;
    case S::checking:
    case S::disconnected:
      if (any_nomination) {
        set_state(any_possible ? S::connected : S::completed);
      } else {
        set_state(any_possible ? S::checking : S::disconnected);
      }
      break;
    case S::connected:
      if (any_nomination) {
        if (!any_possible) set_state(S::completed);
      } else {
        set_state(any_possible ? S::checking : S::disconnected);
      }
      break;
    case S::completed:
      if (any_nomination) {
        if (any_possible) set_state(S::connected);
      } else {
        set_state(any_possible ? S::checking : S::disconnected);
      }
      break;
  }
}

// --- Output -------------------------------------------------------------------------------------

std::optional<Transmit> Agent::poll_transmit() {
  if (transmits_.empty()) return std::nullopt;
  Transmit t = std::move(transmits_.front());
  transmits_.pop_front();
  return t;
}

std::optional<Event> Agent::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

}  // namespace fz::ice
