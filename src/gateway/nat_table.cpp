#include "gateway/nat_table.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace fz::gateway {

namespace {
constexpr std::string_view kLog = "gateway";
}  // namespace

Result<NatKey> NatTable::translate_outgoing(const NatKey& inside, const net::IpAddr& real_ip,
                                            bool tcp_rst, Instant now) {
  auto existing = by_inside_.find(inside);
  if (existing != by_inside_.end() && existing->second->outside.ip == real_ip) {
    const NatKey outside = existing->second->outside;
    if (tcp_rst) {
      FZ_DEBUG(kLog, "Outgoing TCP RST ends NAT session {}:{} -> {}:{}", inside.ip.to_string(),
               inside.id, outside.ip.to_string(), outside.id);
      end_session(existing->second, now);
    } else {
      touch(existing->second, now);
    }
    return outside;
  }

  const auto id = free_outside_id(inside, real_ip);
  if (!id) return Error(Errc::exhausted, "Exhausted NAT");
  const NatKey outside{inside.protocol, *id, real_ip};

  // A session for this inside key towards another real IP (its translation was re-pointed) ends.
  if (existing != by_inside_.end()) end_session(existing->second, now);

  SessionList& list = list_of(inside.protocol);
  // Keep the list ordered by last activity even if `now` went backwards.
  const Instant last_seen = list.empty() ? now : std::max(now, list.back().last_seen);
  list.push_back(Session{inside, outside, last_seen});
  const auto session = std::prev(list.end());
  by_inside_.emplace(inside, session);
  by_outside_.emplace(outside, session);
  ++sessions_per_inside_ip_[inside.ip];
  expired_.erase(outside);
  FZ_DEBUG(kLog, "New NAT session {}:{} -> {}:{}", inside.ip.to_string(), inside.id,
           outside.ip.to_string(), outside.id);
  return outside;
}

// §3.4 step 3: v, v+1, ..., 65535, then 1, ..., v-1 (0 only when v is 0).
std::optional<std::uint16_t> NatTable::free_outside_id(const NatKey& inside,
                                                       const net::IpAddr& real_ip) const {
  NatKey candidate{inside.protocol, inside.id, real_ip};
  for (std::uint32_t value = inside.id; value <= 65535; ++value) {
    candidate.id = static_cast<std::uint16_t>(value);
    if (!by_outside_.contains(candidate)) return candidate.id;
  }
  for (std::uint32_t value = 1; value < inside.id; ++value) {
    candidate.id = static_cast<std::uint16_t>(value);
    if (!by_outside_.contains(candidate)) return candidate.id;
  }
  return std::nullopt;
}

NatTable::Incoming NatTable::translate_incoming(const NatKey& outside, bool tcp_rst, Instant now) {
  auto found = by_outside_.find(outside);
  if (found == by_outside_.end()) return lookup(outside);
  const NatKey inside = found->second->inside;
  if (tcp_rst) {
    FZ_DEBUG(kLog, "Incoming TCP RST ends NAT session {}:{} -> {}:{}", inside.ip.to_string(),
             inside.id, outside.ip.to_string(), outside.id);
    end_session(found->second, now);
  } else {
    touch(found->second, now);
  }
  return Incoming{Lookup::mapped, inside};
}

NatTable::Incoming NatTable::lookup(const NatKey& outside) const {
  auto found = by_outside_.find(outside);
  if (found != by_outside_.end()) return Incoming{Lookup::mapped, found->second->inside};
  if (expired_.contains(outside)) return Incoming{Lookup::expired, {}};
  return Incoming{Lookup::no_session, {}};
}

bool NatTable::has_session_for_inside_ip(const net::IpAddr& ip) const {
  return sessions_per_inside_ip_.contains(ip);
}

void NatTable::touch(SessionList::iterator session, Instant now) {
  SessionList& list = list_of(session->inside.protocol);
  session->last_seen = std::max(now, list.back().last_seen);
  list.splice(list.end(), list, session);
}

void NatTable::end_session(SessionList::iterator session, Instant now) {
  by_inside_.erase(session->inside);
  by_outside_.erase(session->outside);
  auto count = sessions_per_inside_ip_.find(session->inside.ip);
  if (--count->second == 0) sessions_per_inside_ip_.erase(count);
  mark_expired(session->outside, now);
  list_of(session->inside.protocol).erase(session);
}

void NatTable::mark_expired(const NatKey& outside, Instant now) {
  expired_.insert_or_assign(outside, now);
  expired_order_.emplace_back(outside, now);
}

void NatTable::handle_timeout(Instant now) {
  for (std::size_t p = 0; p < by_age_.size(); ++p) {
    SessionList& list = by_age_[p];
    const Duration ttl = nat_ttl(static_cast<NatProtocol>(p));
    while (!list.empty() && now - list.front().last_seen >= ttl) {
      const Session& s = list.front();
      FZ_DEBUG(kLog, "NAT session {}:{} -> {}:{} expired", s.inside.ip.to_string(), s.inside.id,
               s.outside.ip.to_string(), s.outside.id);
      end_session(list.begin(), now);
    }
  }
  while (!expired_order_.empty() && now - expired_order_.front().second >= kNatExpiredMemory) {
    const auto& [key, since] = expired_order_.front();
    auto found = expired_.find(key);
    if (found != expired_.end() && found->second == since) expired_.erase(found);
    expired_order_.pop_front();
  }
}

std::optional<Instant> NatTable::next_deadline() const {
  std::optional<Instant> earliest;
  for (std::size_t p = 0; p < by_age_.size(); ++p) {
    if (by_age_[p].empty()) continue;
    const Instant deadline = by_age_[p].front().last_seen + nat_ttl(static_cast<NatProtocol>(p));
    if (!earliest || deadline < *earliest) earliest = deadline;
  }
  return earliest;
}

std::optional<NatKey> NatTable::outside_for(const NatKey& inside) const {
  auto found = by_inside_.find(inside);
  if (found == by_inside_.end()) return std::nullopt;
  return found->second->outside;
}

std::optional<NatKey> NatTable::inside_for(const NatKey& outside) const {
  auto found = by_outside_.find(outside);
  if (found == by_outside_.end()) return std::nullopt;
  return found->second->inside;
}

}  // namespace fz::gateway
