// The per-client stateful NAT for DNS resources (gateway-dataplane §3.3–§3.5).
//
// A session pairs an inside key (the client's L4 id, proxy IP) with an outside key (the L4 id the
// gateway sends with, real IP). The table is a bijection between the two. The destination port is
// not part of either key: every flow from one client port to one proxy IP shares a session.
//
// The outside id is the client's own id unless another inside key already uses it towards the same
// real IP; then the next free value upwards (wrapping to 1) is taken. A session ends when it has
// been idle for its protocol's TTL, or on a TCP RST in either direction; its outside key is then
// remembered as "expired" so that late inbound packets can be dropped instead of passed on.
//
// Every packet of a session moves it to the back of its protocol's list, so each list is ordered
// by last activity and expiry only ever looks at the fronts. Packets of an existing session touch
// two hash maps and splice one list node: no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>

#include "base/result.hpp"
#include "base/time.hpp"
#include "net/ip_addr.hpp"

namespace fz::gateway {

enum class NatProtocol : std::uint8_t { tcp = 0, udp = 1, icmp = 2 };

inline constexpr Duration kNatTcpTtl = std::chrono::seconds(7200);
inline constexpr Duration kNatUdpTtl = std::chrono::seconds(120);
inline constexpr Duration kNatIcmpTtl = std::chrono::seconds(120);
// How long the outside key of an ended session is remembered as expired. The reference never
// forgets; we bound the memory a long-lived client can pin (see docs/compatibility.md).
inline constexpr Duration kNatExpiredMemory = std::chrono::seconds(7200);

constexpr Duration nat_ttl(NatProtocol protocol) {
  switch (protocol) {
    case NatProtocol::tcp:
      return kNatTcpTtl;
    case NatProtocol::udp:
      return kNatUdpTtl;
    case NatProtocol::icmp:
      return kNatIcmpTtl;
  }
  return kNatUdpTtl;
}

// (protocol, TCP/UDP port or ICMP echo identifier, address).
struct NatKey {
  NatProtocol protocol = NatProtocol::udp;
  std::uint16_t id = 0;
  net::IpAddr ip;
  friend bool operator==(const NatKey&, const NatKey&) = default;
};

struct NatKeyHash {
  std::size_t operator()(const NatKey& key) const noexcept {
    return net::hash_value(key.ip) ^
           ((std::size_t{key.id} << 2 | static_cast<std::size_t>(key.protocol)) *
            0x9e3779b97f4a7c15ull);
  }
};

class NatTable {
 public:
  enum class Lookup : std::uint8_t {
    mapped,      // a live session: `inside` is set
    expired,     // no live session, but this outside key belonged to one that ended
    no_session,  // never seen (CIDR or Internet resource traffic)
  };
  struct Incoming {
    Lookup lookup = Lookup::no_session;
    NatKey inside;
  };

  NatTable() = default;
  NatTable(const NatTable&) = delete;
  NatTable& operator=(const NatTable&) = delete;
  NatTable(NatTable&&) = default;
  NatTable& operator=(NatTable&&) = default;

  // §3.4: the outside key for a client packet with `inside` = (its source id, proxy IP) going to
  // `real_ip`. A TCP RST on a live session ends it (the RST itself is still translated). Fails
  // with Errc::exhausted when every id towards `real_ip` is taken.
  Result<NatKey> translate_outgoing(const NatKey& inside, const net::IpAddr& real_ip, bool tcp_rst,
                                    Instant now);

  // §5.2: the session of a resource packet with `outside` = (its destination id, source IP). A
  // TCP RST ends the session (the RST is still translated); any other packet keeps it alive.
  Incoming translate_incoming(const NatKey& outside, bool tcp_rst, Instant now);

  // The same lookup for the packet quoted in an ICMP error; ICMP errors never refresh a session.
  Incoming lookup(const NatKey& outside) const;

  // Whether any live session has this inside (proxy) IP.
  bool has_session_for_inside_ip(const net::IpAddr& ip) const;

  // §3.5: ends every session idle for at least its TTL and forgets old expired markers.
  void handle_timeout(Instant now);
  // When the next session would expire if nothing else happened.
  std::optional<Instant> next_deadline() const;

  std::size_t size() const { return by_inside_.size(); }
  bool empty() const { return by_inside_.empty(); }
  std::optional<NatKey> outside_for(const NatKey& inside) const;
  std::optional<NatKey> inside_for(const NatKey& outside) const;
  bool is_expired(const NatKey& outside) const { return expired_.contains(outside); }
  std::size_t expired_count() const { return expired_.size(); }

  // Calls fn(inside, outside, last_seen) for every live session.
  template <class Fn>
  void for_each_session(Fn&& fn) const {
    for (const auto& list : by_age_) {
      for (const Session& s : list)
        fn(s.inside, s.outside, s.last_seen);
    }
  }

 private:
  struct Session {
    NatKey inside;
    NatKey outside;
    Instant last_seen;
  };
  using SessionList = std::list<Session>;

  SessionList& list_of(NatProtocol protocol) { return by_age_[static_cast<std::size_t>(protocol)]; }
  std::optional<std::uint16_t> free_outside_id(const NatKey& inside,
                                               const net::IpAddr& real_ip) const;
  void touch(SessionList::iterator session, Instant now);
  void end_session(SessionList::iterator session, Instant now);
  void mark_expired(const NatKey& outside, Instant now);

  // Per protocol, least recently active first.
  std::array<SessionList, 3> by_age_;
  std::unordered_map<NatKey, SessionList::iterator, NatKeyHash> by_inside_;
  std::unordered_map<NatKey, SessionList::iterator, NatKeyHash> by_outside_;
  std::unordered_map<net::IpAddr, std::uint32_t> sessions_per_inside_ip_;

  // Outside keys of ended sessions and when they ended; the deque holds them in the order they
  // were marked (entries whose time no longer matches the map are stale and skipped).
  std::unordered_map<NatKey, Instant, NatKeyHash> expired_;
  std::deque<std::pair<NatKey, Instant>> expired_order_;
};

}  // namespace fz::gateway
