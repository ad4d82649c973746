// Route-netlink configuration of the TUN link, its addresses, its routes and the policy rule that
// steers unmarked traffic into Firezone's routing table (spec/gateway-dataplane.md §9.4).
//
// Everything goes through libnl (libnl-3 + libnl-route-3); nothing runs `ip`. Each operation is
// written as "make the kernel state equal to this", not "add this": it reads the current state
// first and sends only the differences, so re-applying an unchanged configuration sends no change
// at all and a changed one replaces exactly what changed.
//
// The one rule the gateway needs, `not fwmark 0xfd002021 lookup 0x2021fd00`, has the FIB rule
// INVERT flag, which libnl-route's rule object cannot express; it is built and dumped with the
// libnl core message API instead.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::io {

// SO_MARK of every socket the gateway opens; the rule below sends everything *without* it into
// the Firezone table, so the gateway's own traffic never loops into the tunnel.
inline constexpr std::uint32_t kFirezoneMark = 0xfd002021;
inline constexpr std::uint32_t kFirezoneTable = 0x2021fd00;

// Sets SO_MARK on a socket (needs CAP_NET_ADMIN). Every socket the runtime opens calls this.
Status set_fwmark(int fd, std::uint32_t mark = kFirezoneMark);

struct LinkState {
  int index = 0;
  std::uint32_t mtu = 0;
  std::uint32_t txqueuelen = 0;
  bool up = false;
};

// An address on an interface: the address with its host bits plus a prefix length (net::Cidr
// would mask the host bits away).
struct InterfaceAddress {
  net::IpAddr address;
  unsigned prefix_len = 0;
  bool operator==(const InterfaceAddress&) const = default;
};

// A policy rule as the kernel reports it (only the fields we compare).
struct FwmarkRule {
  net::IpFamily family = net::IpFamily::v4;
  std::uint32_t mark = 0;
  std::uint32_t mask = 0;
  std::uint32_t table = 0;
  bool invert = false;
  bool operator==(const FwmarkRule&) const = default;
};

// Counts of what the last sync_* call changed (for logs and idempotency tests).
struct SyncResult {
  unsigned added = 0;
  unsigned removed = 0;
};

class Netlink {
 public:
  // Opens and connects a NETLINK_ROUTE socket.
  static Result<Netlink> open();

  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  Result<LinkState> link(std::string_view name);

  // Changes MTU, txqueuelen and the up flag where given and different from the kernel's values.
  Status set_link(int ifindex, std::optional<std::uint32_t> mtu,
                  std::optional<std::uint32_t> txqueuelen, std::optional<bool> up);

  // All addresses on the link (both families).
  Result<std::vector<InterfaceAddress>> addresses(int ifindex);
  // Makes the link's addresses exactly `wanted`, except that IPv6 link-local addresses the kernel
  // assigned are left alone.
  Result<SyncResult> sync_addresses(int ifindex, std::span<const InterfaceAddress> wanted);

  // Routes in `table` whose output interface is `ifindex`.
  Result<std::vector<net::Cidr>> routes(int ifindex, std::uint32_t table);
  // Makes those routes exactly `wanted` (protocol static, scope universe).
  Result<SyncResult> sync_routes(int ifindex, std::uint32_t table,
                                 std::span<const net::Cidr> wanted);

  // Every rule of the family that matches on a fwmark.
  Result<std::vector<FwmarkRule>> fwmark_rules(net::IpFamily family);
  // Adds `not fwmark <mark> lookup <table>` for the family unless an identical rule exists.
  // Returns whether a rule was added.
  Result<bool> ensure_fwmark_rule(net::IpFamily family, std::uint32_t mark, std::uint32_t table);

 private:
  struct Impl;
  explicit Netlink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fz::io
