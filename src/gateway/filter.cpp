#include "gateway/filter.hpp"

#include <algorithm>

namespace fz::gateway {

namespace {

L4Protocol protocol_of(const net::IpPacketView& packet, bool destination) {
  switch (packet.transport()) {
    case net::Transport::tcp:
      return {L4Kind::tcp, *(destination ? packet.dst_port() : packet.src_port())};
    case net::Transport::udp:
      return {L4Kind::udp, *(destination ? packet.dst_port() : packet.src_port())};
    case net::Transport::icmpv4:
    case net::Transport::icmpv6:
      return {L4Kind::icmp, 0};
    case net::Transport::none:
      break;
  }
  return {L4Kind::other, 0};
}

}  // namespace

L4Protocol destination_protocol(const net::IpPacketView& packet) {
  return protocol_of(packet, /*destination=*/true);
}

L4Protocol source_protocol(const net::IpPacketView& packet) {
  return protocol_of(packet, /*destination=*/false);
}

// ---------------------------------------------------------------------------------------------

void PortSet::insert(std::uint16_t first, std::uint16_t last) {
  if (first > last) return;
  // Ranges that overlap or touch [first, last] are absorbed into it.
  auto begin = std::lower_bound(ranges_.begin(), ranges_.end(), first, [](const Range& r, auto v) {
    return std::uint32_t{r.last} + 1 < v;
  });
  auto end = begin;
  std::uint16_t lo = first;
  std::uint16_t hi = last;
  while (end != ranges_.end() && end->first <= std::uint32_t{last} + 1) {
    lo = std::min(lo, end->first);
    hi = std::max(hi, end->last);
    ++end;
  }
  if (begin == end) {
    ranges_.insert(begin, Range{lo, hi});
    return;
  }
  *begin = Range{lo, hi};
  ranges_.erase(begin + 1, end);
}

bool PortSet::contains(std::uint16_t port) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), port,
                             [](std::uint16_t v, const Range& r) { return v < r.first; });
  return it != ranges_.begin() && std::prev(it)->last >= port;
}

// ---------------------------------------------------------------------------------------------

FilterEngine FilterEngine::permit_all() {
  FilterEngine engine;
  engine.permit_all_ = true;
  return engine;
}

FilterEngine FilterEngine::from_lists(std::span<const Filters* const> lists) {
  FilterEngine engine;
  for (const Filters* list : lists) {
    if (list->empty()) return permit_all();
  }
  for (const Filters* list : lists) {
    for (const Filter& filter : *list) {
      switch (filter.protocol) {
        case FilterProtocol::tcp:
          engine.tcp_.insert(filter.port_range_start, filter.port_range_end);
          break;
        case FilterProtocol::udp:
          engine.udp_.insert(filter.port_range_start, filter.port_range_end);
          break;
        case FilterProtocol::icmp:
          engine.icmp_ = true;
          break;
      }
    }
  }
  return engine;
}

bool FilterEngine::permits(const L4Protocol& protocol) const {
  if (permit_all_) return true;
  switch (protocol.kind) {
    case L4Kind::tcp:
      return tcp_.contains(protocol.port);
    case L4Kind::udp:
      return udp_.contains(protocol.port);
    case L4Kind::icmp:
      return icmp_;
    case L4Kind::other:
      break;
  }
  return false;
}

}  // namespace fz::gateway
