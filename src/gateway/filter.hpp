// The filter engine: which L4 traffic a set of resource filter lists lets through
// (gateway-dataplane §2.1, §2.4).
//
// One FilterEngine sits on every prefix of a client's filter table. It is the union of the filter
// lists of every resource that covers the prefix: if any of those lists is empty the engine
// permits everything; otherwise it permits the TCP ports, UDP ports and (as a whole) ICMP that some
// list names, and denies every other IP protocol. Port sets are kept as sorted, merged ranges, so
// two engines built from the same lists in any order compare equal and a lookup is a binary
// search that never allocates.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gateway/resource.hpp"
#include "net/ip_packet.hpp"

namespace fz::gateway {

// §2.4: what the filters look at in a packet.
enum class L4Kind : std::uint8_t {
  tcp,    // with a port
  udp,    // with a port
  icmp,   // ICMPv4 or ICMPv6 of any type (echo or not)
  other,  // any other IP protocol, or an L4 the parser did not validate (fragments)
};

struct L4Protocol {
  L4Kind kind = L4Kind::other;
  std::uint16_t port = 0;  // tcp/udp only
  friend bool operator==(const L4Protocol&, const L4Protocol&) = default;
};

// Client → resource packets are filtered by destination port, resource → client packets by
// source port.
L4Protocol destination_protocol(const net::IpPacketView& packet);
L4Protocol source_protocol(const net::IpPacketView& packet);

// A set of ports as sorted, disjoint, non-adjacent inclusive ranges.
class PortSet {
 public:
  struct Range {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    friend bool operator==(const Range&, const Range&) = default;
  };

  // Adds first..last (inclusive); nothing if first > last.
  void insert(std::uint16_t first, std::uint16_t last);
  bool contains(std::uint16_t port) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<Range>& ranges() const { return ranges_; }

  friend bool operator==(const PortSet&, const PortSet&) = default;

 private:
  std::vector<Range> ranges_;
};

class FilterEngine {
 public:
  // Permits nothing.
  FilterEngine() = default;

  static FilterEngine permit_all();
  // The union of `lists`; PermitAll if any list is empty. No lists at all permit nothing.
  static FilterEngine from_lists(std::span<const Filters* const> lists);
  static FilterEngine from_list(const Filters& list) {
    const Filters* one[] = {&list};
    return from_lists(one);
  }

  bool permits(const L4Protocol& protocol) const;

  bool permits_all() const { return permit_all_; }
  const PortSet& tcp() const { return tcp_; }
  const PortSet& udp() const { return udp_; }
  bool icmp() const { return icmp_; }

  friend bool operator==(const FilterEngine&, const FilterEngine&) = default;

 private:
  bool permit_all_ = false;
  bool icmp_ = false;
  PortSet tcp_;
  PortSet udp_;
};

}  // namespace fz::gateway
