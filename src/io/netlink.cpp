#include "io/netlink.hpp"

#include <linux/if_addr.h>

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/log.hpp"

namespace fz::io {
namespace {

constexpr const char* kLog = "io::netlink";

Error nl_error(std::string_view what, int err) {
  return Error(Errc::state, what, nl_geterror(err < 0 ? -err : err));
}

int to_af(net::IpFamily family) {
  return family == net::IpFamily::v4 ? AF_INET : AF_INET6;
}

// RAII for libnl's reference-counted objects.
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct AddrDeleter {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct RouteDeleter {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct MsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrDeleter>;
using CachePtr = std::unique_ptr<nl_cache, CacheDeleter>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrDeleter>;
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;
using RoutePtr = std::unique_ptr<rtnl_route, RouteDeleter>;
using MsgPtr = std::unique_ptr<nl_msg, MsgDeleter>;

NlAddrPtr make_nl_addr(const net::IpAddr& ip, unsigned prefix_len) {
  NlAddrPtr addr(nl_addr_build(to_af(ip.family()), ip.raw().data(), ip.size()));
  if (addr) nl_addr_set_prefixlen(addr.get(), static_cast<int>(prefix_len));
  return addr;
}

std::optional<net::IpAddr> from_nl_addr(nl_addr* addr) {
  if (addr == nullptr) return std::nullopt;
  const int family = nl_addr_get_family(addr);
  const auto* bytes = static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(addr));
  const unsigned len = nl_addr_get_len(addr);
  if (family == AF_INET && len == 4) return net::IpAddr::v4(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (family == AF_INET6 && len == 16) {
    std::array<std::uint8_t, 16> raw{};
    std::memcpy(raw.data(), bytes, 16);
    return net::IpAddr::v6(raw);
  }
  // A default route's destination may be reported without address bytes.
  if (family == AF_INET && len == 0) return net::IpAddr::unspecified(net::IpFamily::v4);
  if (family == AF_INET6 && len == 0) return net::IpAddr::unspecified(net::IpFamily::v6);
  return std::nullopt;
}

bool is_ipv6_link_local(const net::IpAddr& ip) {
  return ip.is_v6() && ip.raw()[0] == 0xfe && (ip.raw()[1] & 0xc0) == 0x80;
}

int route_oif(rtnl_route* route) {
  if (rtnl_route_get_nnexthops(route) < 1) return 0;
  return rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0));
}

}  // namespace

Status set_fwmark(int fd, std::uint32_t mark) {
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
    return Error(Errc::state, "setsockopt(SO_MARK)", std::strerror(errno));
  }
  return {};
}

struct Netlink::Impl {
  nl_sock* sock = nullptr;
  ~Impl() {
    if (sock != nullptr) nl_socket_free(sock);
  }
};

Netlink::Netlink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Netlink::Netlink(Netlink&&) noexcept = default;
Netlink& Netlink::operator=(Netlink&&) noexcept = default;
Netlink::~Netlink() = default;

Result<Netlink> Netlink::open() {
  auto impl = std::make_unique<Impl>();
  impl->sock = nl_socket_alloc();
  if (impl->sock == nullptr) return Error(Errc::exhausted, "nl_socket_alloc failed");
  if (int err = nl_connect(impl->sock, NETLINK_ROUTE); err < 0) {
    return nl_error("netlink connect", err);
  }
  return Netlink(std::move(impl));
}

Result<LinkState> Netlink::link(std::string_view name) {
  rtnl_link* raw = nullptr;
  const std::string name_z(name);
  if (int err = rtnl_link_get_kernel(impl_->sock, 0, name_z.c_str(), &raw); err < 0) {
    return nl_error("netlink get link", err);
  }
  LinkPtr link(raw);
  LinkState state;
  state.index = rtnl_link_get_ifindex(link.get());
  state.mtu = rtnl_link_get_mtu(link.get());
  state.txqueuelen = rtnl_link_get_txqlen(link.get());
  state.up = (rtnl_link_get_flags(link.get()) & IFF_UP) != 0;
  return state;
}

Status Netlink::set_link(int ifindex, std::optional<std::uint32_t> mtu,
                         std::optional<std::uint32_t> txqueuelen, std::optional<bool> up) {
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(impl_->sock, ifindex, nullptr, &raw); err < 0) {
    return nl_error("netlink get link", err);
  }
  LinkPtr current(raw);
  LinkPtr change(rtnl_link_alloc());
  if (!change) return Error(Errc::exhausted, "rtnl_link_alloc failed");
  bool changed = false;
  if (mtu && rtnl_link_get_mtu(current.get()) != *mtu) {
    rtnl_link_set_mtu(change.get(), *mtu);
    changed = true;
  }
  if (txqueuelen && rtnl_link_get_txqlen(current.get()) != *txqueuelen) {
    rtnl_link_set_txqlen(change.get(), *txqueuelen);
    changed = true;
  }
  const bool is_up = (rtnl_link_get_flags(current.get()) & IFF_UP) != 0;
  if (up && *up && !is_up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
    changed = true;
  } else if (up && !*up && is_up) {
    rtnl_link_unset_flags(change.get(), IFF_UP);
    changed = true;
  }
  if (!changed) return {};
  if (int err = rtnl_link_change(impl_->sock, current.get(), change.get(), 0); err < 0) {
    return nl_error("netlink change link", err);
  }
  FZ_DEBUG(kLog, "link {} changed (mtu {}, txqueuelen {}, up {})", ifindex, mtu.value_or(0),
           txqueuelen.value_or(0), up.value_or(is_up));
  return {};
}

Result<std::vector<InterfaceAddress>> Netlink::addresses(int ifindex) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(impl_->sock, &raw); err < 0) {
    return nl_error("netlink dump addresses", err);
  }
  CachePtr cache(raw);
  std::vector<InterfaceAddress> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    if (rtnl_addr_get_ifindex(addr) != ifindex) continue;
    auto ip = from_nl_addr(rtnl_addr_get_local(addr));
    if (!ip) continue;
    out.push_back({*ip, static_cast<unsigned>(rtnl_addr_get_prefixlen(addr))});
  }
  return out;
}

Result<SyncResult> Netlink::sync_addresses(int ifindex, std::span<const InterfaceAddress> wanted) {
  auto current = addresses(ifindex);
  if (!current) return current.error();
  SyncResult result;
  for (const auto& have : *current) {
    if (std::find(wanted.begin(), wanted.end(), have) != wanted.end()) continue;
    // The kernel gives the link an fe80:: address when it comes up; it is not ours to manage,
    // and deleting it would make every re-apply a change.
    if (is_ipv6_link_local(have.address)) continue;
    AddrPtr addr(rtnl_addr_alloc());
    NlAddrPtr local = make_nl_addr(have.address, have.prefix_len);
    if (!addr || !local) return Error(Errc::exhausted, "libnl allocation failed");
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), to_af(have.address.family()));
    rtnl_addr_set_local(addr.get(), local.get());
    rtnl_addr_set_prefixlen(addr.get(), static_cast<int>(have.prefix_len));
    int err = rtnl_addr_delete(impl_->sock, addr.get(), 0);
    // Removing the last IPv4 address may have taken others with it (secondary promotion off).
    if (err < 0 && err != -NLE_NOADDR && err != -NLE_OBJ_NOTFOUND) {
      return nl_error("netlink delete address", err);
    }
    ++result.removed;
  }
  for (const auto& want : wanted) {
    if (std::find(current->begin(), current->end(), want) != current->end()) continue;
    AddrPtr addr(rtnl_addr_alloc());
    NlAddrPtr local = make_nl_addr(want.address, want.prefix_len);
    if (!addr || !local) return Error(Errc::exhausted, "libnl allocation failed");
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), to_af(want.address.family()));
    rtnl_addr_set_local(addr.get(), local.get());
    rtnl_addr_set_prefixlen(addr.get(), static_cast<int>(want.prefix_len));
    // Usable at once: without this an IPv6 address added while the link is still coming up stays
    // tentative for a moment, and binding the DNS forwarder on it fails.
    if (want.address.family() == net::IpFamily::v6) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
    if (int err = rtnl_addr_add(impl_->sock, addr.get(), 0); err < 0 && err != -NLE_EXIST) {
      return nl_error("netlink add address", err);
    }
    ++result.added;
  }
  return result;
}

Result<std::vector<net::Cidr>> Netlink::routes(int ifindex, std::uint32_t table) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(impl_->sock, AF_UNSPEC, 0, &raw); err < 0) {
    return nl_error("netlink dump routes", err);
  }
  CachePtr cache(raw);
  std::vector<net::Cidr> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    auto* route = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(route) != table || route_oif(route) != ifindex) continue;
    nl_addr* dst = rtnl_route_get_dst(route);
    auto ip = from_nl_addr(dst);
    if (!ip) continue;
    auto cidr = net::Cidr::make(*ip, static_cast<unsigned>(nl_addr_get_prefixlen(dst)));
    if (cidr) out.push_back(*cidr);
  }
  return out;
}

namespace {

Result<RoutePtr> make_route(int ifindex, std::uint32_t table, const net::Cidr& cidr) {
  RoutePtr route(rtnl_route_alloc());
  NlAddrPtr dst = make_nl_addr(cidr.network(), cidr.prefix_len());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!route || !dst || nh == nullptr) {
    if (nh != nullptr) rtnl_route_nh_free(nh);
    return Error(Errc::exhausted, "libnl allocation failed");
  }
  rtnl_route_set_family(route.get(), static_cast<std::uint8_t>(to_af(cidr.family())));
  rtnl_route_set_table(route.get(), table);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  rtnl_route_set_dst(route.get(), dst.get());
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns the nexthop now
  return route;
}

}  // namespace

Result<SyncResult> Netlink::sync_routes(int ifindex, std::uint32_t table,
                                        std::span<const net::Cidr> wanted) {
  auto current = routes(ifindex, table);
  if (!current) return current.error();
  SyncResult result;
  for (const auto& have : *current) {
    if (std::find(wanted.begin(), wanted.end(), have) != wanted.end()) continue;
    auto route = make_route(ifindex, table, have);
    if (!route) return route.error();
    int err = rtnl_route_delete(impl_->sock, route->get(), 0);
    if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) {
      return nl_error("netlink delete route", err);
    }
    ++result.removed;
  }
  for (const auto& want : wanted) {
    if (std::find(current->begin(), current->end(), want) != current->end()) continue;
    auto route = make_route(ifindex, table, want);
    if (!route) return route.error();
    int err = rtnl_route_add(impl_->sock, route->get(), NLM_F_EXCL);
    if (err < 0 && err != -NLE_EXIST && err != -NLE_OPNOTSUPP) {
      return nl_error("netlink add route", err);
    }
    ++result.added;
  }
  return result;
}

namespace {

struct RuleDump {
  net::IpFamily family;
  std::vector<FwmarkRule>* out;
};

int on_rule(nl_msg* msg, void* arg) {
  auto* dump = static_cast<RuleDump*>(arg);
  nlmsghdr* header = nlmsg_hdr(msg);
  if (header->nlmsg_type != RTM_NEWRULE) return NL_SKIP;
  if (!nlmsg_valid_hdr(header, sizeof(fib_rule_hdr))) return NL_SKIP;
  const auto* frh = static_cast<const fib_rule_hdr*>(nlmsg_data(header));
  nlattr* attrs[FRA_MAX + 1] = {};
  if (nlmsg_parse(header, sizeof(fib_rule_hdr), attrs, FRA_MAX, nullptr) < 0) return NL_SKIP;
  if (attrs[FRA_FWMARK] == nullptr) return NL_OK;
  FwmarkRule rule;
  rule.family = dump->family;
  rule.mark = nla_get_u32(attrs[FRA_FWMARK]);
  rule.mask = attrs[FRA_FWMASK] != nullptr ? nla_get_u32(attrs[FRA_FWMASK]) : 0xffffffff;
  rule.table = attrs[FRA_TABLE] != nullptr ? nla_get_u32(attrs[FRA_TABLE]) : frh->table;
  rule.invert = (frh->flags & FIB_RULE_INVERT) != 0;
  if (frh->action == FR_ACT_TO_TBL) dump->out->push_back(rule);
  return NL_OK;
}

}  // namespace

Result<std::vector<FwmarkRule>> Netlink::fwmark_rules(net::IpFamily family) {
  MsgPtr msg(nlmsg_alloc_simple(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP));
  if (!msg) return Error(Errc::exhausted, "nlmsg_alloc failed");
  fib_rule_hdr frh{};
  frh.family = static_cast<std::uint8_t>(to_af(family));
  if (nlmsg_append(msg.get(), &frh, sizeof frh, NLMSG_ALIGNTO) < 0) {
    return Error(Errc::exhausted, "nlmsg_append failed");
  }
  if (int err = nl_send_auto(impl_->sock, msg.get()); err < 0) {
    return nl_error("netlink dump rules", err);
  }
  std::vector<FwmarkRule> out;
  RuleDump dump{family, &out};
  // nl_socket_get_cb takes a reference, and so does the clone.
  nl_cb* socket_cb = nl_socket_get_cb(impl_->sock);
  nl_cb* cb = nl_cb_clone(socket_cb);
  nl_cb_put(socket_cb);
  if (cb == nullptr) return Error(Errc::exhausted, "nl_cb_clone failed");
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_rule, &dump);
  int err = nl_recvmsgs(impl_->sock, cb);
  nl_cb_put(cb);
  if (err < 0) return nl_error("netlink dump rules", err);
  return out;
}

Result<bool> Netlink::ensure_fwmark_rule(net::IpFamily family, std::uint32_t mark,
                                         std::uint32_t table) {
  auto rules = fwmark_rules(family);
  if (!rules) return rules.error();
  const FwmarkRule wanted{family, mark, 0xffffffff, table, true};
  if (std::find(rules->begin(), rules->end(), wanted) != rules->end()) return false;

  MsgPtr msg(nlmsg_alloc_simple(RTM_NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL));
  if (!msg) return Error(Errc::exhausted, "nlmsg_alloc failed");
  fib_rule_hdr frh{};
  frh.family = static_cast<std::uint8_t>(to_af(family));
  frh.action = FR_ACT_TO_TBL;
  frh.flags = FIB_RULE_INVERT;
  frh.table = RT_TABLE_UNSPEC;  // the real table (> 255) goes in FRA_TABLE
  if (nlmsg_append(msg.get(), &frh, sizeof frh, NLMSG_ALIGNTO) < 0 ||
      nla_put_u32(msg.get(), FRA_FWMARK, mark) < 0 ||
      nla_put_u32(msg.get(), FRA_TABLE, table) < 0 ||
      nla_put_u8(msg.get(), FRA_PROTOCOL, RTPROT_KERNEL) < 0) {
    return Error(Errc::exhausted, "building the rule message failed");
  }
  if (int err = nl_send_auto(impl_->sock, msg.get()); err < 0) {
    return nl_error("netlink add rule", err);
  }
  if (int err = nl_wait_for_ack(impl_->sock); err < 0 && err != -NLE_EXIST) {
    return nl_error("netlink add rule", err);
  }
  FZ_DEBUG(kLog, "added rule: not fwmark {:#x} lookup {:#x} (IPv{})", mark, table,
           family == net::IpFamily::v4 ? 4 : 6);
  return true;
}

}  // namespace fz::io
