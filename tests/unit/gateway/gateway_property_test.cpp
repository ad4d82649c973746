// Properties of the gateway data plane: the NAT table stays a bijection under any sequence of
// operations, client → resource → client translation restores addresses and ids, and the filter
// table does not depend on the order resources arrive in. Also the reference's peer.rs proptests
// (accepts allowed packets, rejects unallowed ones, removed filters stop applying).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "gateway/client.hpp"
#include "gateway/nat_table.hpp"
#include "packets.hpp"

namespace fz::gateway {
namespace {

using net::IpAddr;
using net::IpFamily;

const IpConfig kClientTun{IpAddr::v4(100, 64, 0, 1),
                          IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1)};
const IpConfig kGatewayTun{IpAddr::v4(100, 64, 0, 2),
                           IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 2)};
const ClientId kClient = *Uuid::parse("9d4b79f6-1db7-4cb3-a077-712102204d73");
const Instant kT0 = instant_from_nanos(0);

ResourceId resource_id_of(int n) {
  std::array<std::uint8_t, 16> bytes{};
  bytes[15] = static_cast<std::uint8_t>(n);
  bytes[14] = 0x42;
  return Uuid(bytes);
}

// ---------------------------------------------------------------------------------------------
// NAT table

struct NatOp {
  int kind;  // 0 outgoing, 1 incoming, 2 time passes
  int protocol;
  int id_index;
  int proxy_index;
  int real_index;
  bool rst;
  int seconds;
};

constexpr std::array<std::uint16_t, 5> kIds = {0, 1, 2, 65534, 65535};
const std::array<IpAddr, 3> kProxies = {IpAddr::v4(100, 96, 0, 1), IpAddr::v4(100, 96, 0, 2),
                                        IpAddr::v4(100, 96, 0, 3)};
const std::array<IpAddr, 2> kReals = {IpAddr::v4(10, 0, 0, 1), IpAddr::v4(10, 0, 0, 2)};

rc::Gen<NatOp> gen_nat_op() {
  return rc::gen::build<NatOp>(
      rc::gen::set(&NatOp::kind, rc::gen::inRange(0, 3)),
      rc::gen::set(&NatOp::protocol, rc::gen::inRange(0, 3)),
      rc::gen::set(&NatOp::id_index, rc::gen::inRange(0, static_cast<int>(kIds.size()))),
      rc::gen::set(&NatOp::proxy_index, rc::gen::inRange(0, static_cast<int>(kProxies.size()))),
      rc::gen::set(&NatOp::real_index, rc::gen::inRange(0, static_cast<int>(kReals.size()))),
      rc::gen::set(&NatOp::rst, rc::gen::weightedElement<bool>({{1, true}, {5, false}})),
      rc::gen::set(&NatOp::seconds, rc::gen::inRange(0, 8000)));
}

void check_bijection(const NatTable& table) {
  std::set<std::tuple<int, int, IpAddr>> insides, outsides;
  std::optional<Instant> earliest;
  std::size_t count = 0;
  table.for_each_session([&](const NatKey& inside, const NatKey& outside, Instant last_seen) {
    ++count;
    RC_ASSERT(inside.protocol == outside.protocol);
    RC_ASSERT(insides.emplace(static_cast<int>(inside.protocol), inside.id, inside.ip).second);
    RC_ASSERT(outsides.emplace(static_cast<int>(outside.protocol), outside.id, outside.ip).second);
    RC_ASSERT(table.outside_for(inside) == outside);
    RC_ASSERT(table.inside_for(outside) == inside);
    RC_ASSERT(!table.is_expired(outside));
    const Instant deadline = last_seen + nat_ttl(inside.protocol);
    if (!earliest || deadline < *earliest) earliest = deadline;
  });
  RC_ASSERT(count == table.size());
  RC_ASSERT(table.next_deadline() == earliest);
  for (const auto& proxy : kProxies) {
    const bool any = std::any_of(insides.begin(), insides.end(),
                                 [&](const auto& k) { return std::get<2>(k) == proxy; });
    RC_ASSERT(table.has_session_for_inside_ip(proxy) == any);
  }
}

RC_GTEST_PROP(NatTableProperty, StaysABijection, ()) {
  const auto ops = *rc::gen::container<std::vector<NatOp>>(gen_nat_op());
  NatTable table;
  Instant now = kT0;
  for (const NatOp& op : ops) {
    const auto protocol = static_cast<NatProtocol>(op.protocol);
    const std::uint16_t id = kIds[static_cast<std::size_t>(op.id_index)];
    const bool rst = op.rst && protocol == NatProtocol::tcp;
    switch (op.kind) {
      case 0: {
        const NatKey inside{protocol, id, kProxies[static_cast<std::size_t>(op.proxy_index)]};
        const IpAddr& real = kReals[static_cast<std::size_t>(op.real_index)];
        const bool had = table.outside_for(inside).has_value();
        auto outside = table.translate_outgoing(inside, real, rst, now);
        RC_ASSERT(outside.ok());  // 5 ids × 3 proxies can never exhaust 65536 values
        RC_ASSERT(outside->ip == real);
        RC_ASSERT(outside->protocol == protocol);
        if (!(rst && had)) {
          RC_ASSERT(table.inside_for(*outside) == inside);
          RC_ASSERT(table.lookup(*outside).lookup == NatTable::Lookup::mapped);
        }
        break;
      }
      case 1: {
        const NatKey outside{protocol, id, kReals[static_cast<std::size_t>(op.real_index)]};
        const auto before = table.inside_for(outside);
        const auto in = table.translate_incoming(outside, rst, now);
        RC_ASSERT((in.lookup == NatTable::Lookup::mapped) == before.has_value());
        if (before) RC_ASSERT(in.inside == *before);
        break;
      }
      default:
        now += std::chrono::seconds(op.seconds);
        table.handle_timeout(now);
        break;
    }
    check_bijection(table);
  }
}

RC_GTEST_PROP(NatTableProperty, NoLiveSessionOutlivesItsTtl, ()) {
  const auto ops = *rc::gen::container<std::vector<NatOp>>(gen_nat_op());
  NatTable table;
  Instant now = kT0;
  for (const NatOp& op : ops) {
    const auto protocol = static_cast<NatProtocol>(op.protocol);
    const NatKey inside{protocol, kIds[static_cast<std::size_t>(op.id_index)],
                        kProxies[static_cast<std::size_t>(op.proxy_index)]};
    if (op.kind == 2) {
      now += std::chrono::seconds(op.seconds);
      table.handle_timeout(now);
      table.for_each_session([&](const NatKey& in, const NatKey&, Instant last_seen) {
        RC_ASSERT(now - last_seen < nat_ttl(in.protocol));
      });
    } else {
      (void)table.translate_outgoing(inside, kReals[static_cast<std::size_t>(op.real_index)], false,
                                     now);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Translation round trip

struct Flow {
  bool v6;
  int protocol;  // 0 tcp, 1 udp, 2 icmp echo
  std::uint16_t sport;
  std::uint16_t dport;
  int proxy;  // 0..3
};

rc::Gen<Flow> gen_flow() {
  return rc::gen::build<Flow>(
      rc::gen::set(&Flow::v6, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Flow::protocol, rc::gen::inRange(0, 3)),
      // A narrow port range makes collisions (and so remapped outside ids) common.
      rc::gen::set(&Flow::sport, rc::gen::oneOf(rc::gen::inRange<std::uint16_t>(1000, 1004),
                                                rc::gen::arbitrary<std::uint16_t>())),
      rc::gen::set(&Flow::dport, rc::gen::arbitrary<std::uint16_t>()),
      rc::gen::set(&Flow::proxy, rc::gen::inRange(0, 4)));
}

IpAddr proxy_ip(bool v6, int index) {
  if (v6) {
    return IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0,
                      static_cast<std::uint16_t>(index + 1));
  }
  return IpAddr::v4(100, 96, 0, static_cast<std::uint8_t>(index + 1));
}

test::Packet flow_packet(const IpAddr& src, const IpAddr& dst, int protocol, std::uint16_t sport,
                         std::uint16_t dport, bool request) {
  switch (protocol) {
    case 0:
      return test::tcp(src, dst, sport, dport);
    case 1:
      return test::udp(src, dst, sport, dport);
    default:
      return test::icmp_echo(src, dst, sport, request);
  }
}

std::uint16_t source_id(const net::IpPacketView& p) {
  return p.five_tuple()->src_id;
}
std::uint16_t destination_id(const net::IpPacketView& p) {
  return p.five_tuple()->dst_id;
}

RC_GTEST_PROP(TranslationProperty, OutThenInRestoresAddressesAndIds, ()) {
  const auto v4_count = *rc::gen::inRange(1, 4);
  const auto v6_count = *rc::gen::inRange(0, 3);
  std::vector<IpAddr> resolved;
  for (int i = 0; i < v4_count; ++i) {
    resolved.push_back(IpAddr::v4(203, 0, 113, static_cast<std::uint8_t>(*rc::gen::inRange(1, 4))));
  }
  for (int i = 0; i < v6_count; ++i) {
    resolved.push_back(IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0,
                                  static_cast<std::uint16_t>(*rc::gen::inRange(1, 4))));
  }
  std::vector<IpAddr> proxies;
  for (int i = 0; i < 4; ++i) {
    proxies.push_back(proxy_ip(false, i));
    proxies.push_back(proxy_ip(true, i));
  }

  ClientOnGateway peer(kClient, kClientTun, kGatewayTun);
  RC_ASSERT(peer.add_resource(DnsResource{resource_id_of(1), "**.test", {}}, std::nullopt).ok());
  RC_ASSERT(peer.setup_nat("svc.test", resource_id_of(1), resolved, proxies).ok());

  const auto flows = *rc::gen::nonEmpty(rc::gen::container<std::vector<Flow>>(gen_flow()));
  std::array<std::uint8_t, kMaxIcmpReplyLen> buffer{};
  struct Sent {
    Flow flow;
    IpAddr proxy;
    test::Packet translated;
  };
  std::vector<Sent> sent;
  for (const Flow& flow : flows) {
    const IpAddr proxy = proxy_ip(flow.v6, flow.proxy);
    const IpAddr real = *peer.translation_for(proxy);
    auto packet = flow_packet(kClientTun.of_family(proxy.family()), proxy, flow.protocol,
                              flow.sport, flow.dport, true);
    auto ip = packet.ip();
    const auto verdict = peer.translate_outbound(ip, kT0, buffer);
    if (real.family() != proxy.family()) {
      // The domain lacks this family: ICMP unreachable, nothing translated.
      RC_ASSERT(verdict.action == OutboundVerdict::Action::reply);
      RC_ASSERT(verdict.reason == Reason::family_mismatch);
      continue;
    }
    RC_ASSERT(verdict.action == OutboundVerdict::Action::forward);
    const auto view = packet.view();
    RC_ASSERT(view.dst() == real);
    RC_ASSERT(view.src() == kClientTun.of_family(proxy.family()));
    RC_ASSERT(destination_id(view) == (flow.protocol == 2 ? source_id(view) : flow.dport));
    RC_ASSERT(view.verify_checksums().ok());
    sent.push_back({flow, proxy, packet});
  }

  for (auto& s : sent) {
    const auto out = s.translated.view();
    auto response = flow_packet(out.dst(), out.src(), s.flow.protocol, destination_id(out),
                                source_id(out), false);
    auto ip = response.ip();
    const auto verdict = peer.translate_inbound(ip, kT0, buffer);
    RC_ASSERT(verdict.action == InboundVerdict::Action::forward);
    const auto back = response.view();
    RC_ASSERT(back.src() == s.proxy);
    RC_ASSERT(back.dst() == kClientTun.of_family(s.proxy.family()));
    RC_ASSERT(destination_id(back) == s.flow.sport);
    if (s.flow.protocol != 2) RC_ASSERT(source_id(back) == s.flow.dport);
    RC_ASSERT(back.verify_checksums().ok());
  }
}

// ---------------------------------------------------------------------------------------------
// Filters

rc::Gen<Filter> gen_filter() {
  return rc::gen::mapcat(rc::gen::inRange(0, 3), [](int kind) -> rc::Gen<Filter> {
    if (kind == 2) return rc::gen::just(Filter{FilterProtocol::icmp});
    const auto protocol = kind == 0 ? FilterProtocol::tcp : FilterProtocol::udp;
    return rc::gen::mapcat(rc::gen::arbitrary<std::uint16_t>(), [protocol](std::uint16_t start) {
      return rc::gen::map(rc::gen::inRange<std::uint32_t>(start, 65536),
                          [protocol, start](std::uint32_t end) {
                            return Filter{protocol, start, static_cast<std::uint16_t>(end)};
                          });
    });
  });
}

rc::Gen<Filters> gen_filters(std::size_t max) {
  return rc::gen::mapcat(rc::gen::inRange<std::size_t>(0, max + 1), [](std::size_t n) {
    return rc::gen::container<Filters>(n, gen_filter());
  });
}

// Networks drawn from a small nested pool so that resources overlap often.
rc::Gen<net::Cidr> gen_network() {
  return rc::gen::element(*net::Cidr::parse("10.0.0.0/8"), *net::Cidr::parse("10.1.0.0/16"),
                          *net::Cidr::parse("10.1.2.0/24"), *net::Cidr::parse("10.1.2.3/32"),
                          *net::Cidr::parse("10.2.0.0/16"), *net::Cidr::parse("0.0.0.0/0"),
                          *net::Cidr::parse("2001:db8::/32"), *net::Cidr::parse("2001:db8:1::/48"),
                          *net::Cidr::parse("2001:db8:1::1/128"));
}

// A random address inside `network`.
IpAddr host_in(const net::Cidr& network, const std::array<std::uint8_t, 16>& noise) {
  std::array<std::uint8_t, 16> raw = network.network().raw();
  const unsigned size = static_cast<unsigned>(network.network().size());
  for (unsigned bit = network.prefix_len(); bit < size * 8; ++bit) {
    if (noise[bit / 8] & (0x80 >> (bit % 8)))
      raw[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  }
  if (network.family() == IpFamily::v4) return IpAddr::v4(raw[0], raw[1], raw[2], raw[3]);
  return IpAddr::v6(raw);
}

std::array<std::uint8_t, 16> gen_noise() {
  const auto bytes =
      *rc::gen::container<std::vector<std::uint8_t>>(16, rc::gen::arbitrary<std::uint8_t>());
  std::array<std::uint8_t, 16> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

std::vector<std::pair<net::Cidr, FilterEngine>> table_of(const ClientOnGateway& peer) {
  std::vector<std::pair<net::Cidr, FilterEngine>> out;
  peer.filters().for_each(
      [&](const net::Cidr& c, const FilterEngine& f) { out.emplace_back(c, f); });
  return out;
}

RC_GTEST_PROP(FilterProperty, MergingIsOrderIndependent, ()) {
  const auto count = *rc::gen::inRange(1, 8);
  std::vector<ResourceDescription> resources;
  for (int i = 0; i < count; ++i) {
    if (*rc::gen::inRange(0, 8) == 0) {
      resources.push_back(InternetResource{resource_id_of(i)});
    } else {
      resources.push_back(CidrResource{resource_id_of(i), *gen_network(), *gen_filters(4)});
    }
  }
  std::vector<std::size_t> order(resources.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  const auto keys = *rc::gen::container<std::vector<int>>(order.size(), rc::gen::arbitrary<int>());
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });

  ClientOnGateway forward(kClient, kClientTun, kGatewayTun);
  ClientOnGateway shuffled(kClient, kClientTun, kGatewayTun);
  for (const auto& r : resources)
    RC_ASSERT(forward.add_resource(r, std::nullopt).ok());
  for (std::size_t i : order)
    RC_ASSERT(shuffled.add_resource(resources[i], std::nullopt).ok());
  RC_ASSERT(table_of(forward) == table_of(shuffled));
  RC_ASSERT(forward.internet_resource_enabled() == shuffled.internet_resource_enabled());

  // Removing one resource from each gives the same table as never having added it.
  const auto victim = *rc::gen::inRange<std::size_t>(0, resources.size());
  ClientOnGateway without(kClient, kClientTun, kGatewayTun);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    if (i != victim) RC_ASSERT(without.add_resource(resources[i], std::nullopt).ok());
  }
  forward.remove_resource(resource_id(resources[victim]));
  RC_ASSERT(table_of(forward) == table_of(without));
}

RC_GTEST_PROP(FilterProperty, EngineIsOrderIndependent, ()) {
  const auto lists = *rc::gen::container<std::vector<Filters>>(gen_filters(5));
  std::vector<const Filters*> a, b;
  for (const auto& l : lists)
    a.push_back(&l);
  b = a;
  std::reverse(b.begin(), b.end());
  RC_ASSERT(FilterEngine::from_lists(a) == FilterEngine::from_lists(b));
  // And a port is permitted iff some list names it (or some list is empty).
  const bool any_empty =
      std::any_of(lists.begin(), lists.end(), [](const auto& l) { return l.empty(); });
  const auto port = *rc::gen::arbitrary<std::uint16_t>();
  bool named = false;
  for (const auto& l : lists) {
    for (const auto& f : l) {
      named = named || (f.protocol == FilterProtocol::udp && f.port_range_start <= port &&
                        port <= f.port_range_end);
    }
  }
  RC_ASSERT(FilterEngine::from_lists(a).permits({L4Kind::udp, port}) ==
            (!lists.empty() && (any_empty || named)));
}

// A protocol the filters allow: any when they are empty, else one inside a random filter.
L4Protocol allowed_by(const Filters& filters) {
  if (filters.empty()) {
    return *rc::gen::element(L4Protocol{L4Kind::tcp, 1}, L4Protocol{L4Kind::udp, 65535},
                             L4Protocol{L4Kind::icmp, 0}, L4Protocol{L4Kind::other, 0});
  }
  const Filter& f = *rc::gen::elementOf(filters);
  if (f.protocol == FilterProtocol::icmp) return {L4Kind::icmp, 0};
  const auto port = static_cast<std::uint16_t>(
      *rc::gen::inRange<std::uint32_t>(f.port_range_start, std::uint32_t{f.port_range_end} + 1));
  return {f.protocol == FilterProtocol::tcp ? L4Kind::tcp : L4Kind::udp, port};
}

bool named_by(const Filters& filters, const L4Protocol& p) {
  for (const auto& f : filters) {
    if (p.kind == L4Kind::icmp && f.protocol == FilterProtocol::icmp) return true;
    const bool same = (p.kind == L4Kind::tcp && f.protocol == FilterProtocol::tcp) ||
                      (p.kind == L4Kind::udp && f.protocol == FilterProtocol::udp);
    if (same && f.port_range_start <= p.port && p.port <= f.port_range_end) return true;
  }
  return false;
}

// A protocol the (non-empty) filters do not allow.
L4Protocol rejected_by(const Filters& filters) {
  const L4Protocol p =
      *rc::gen::element(L4Protocol{L4Kind::icmp, 0}, L4Protocol{L4Kind::other, 0},
                        L4Protocol{L4Kind::tcp, *rc::gen::arbitrary<std::uint16_t>()},
                        L4Protocol{L4Kind::udp, *rc::gen::arbitrary<std::uint16_t>()});
  RC_PRE(!named_by(filters, p));
  return p;
}

// Ported: peer.rs `gateway_accepts_allowed_packet` (and `..._different_resources_with_same_ip`).
RC_GTEST_PROP(FilterProperty, AcceptsAllowedPackets, ()) {
  ClientOnGateway peer(kClient, kClientTun, kGatewayTun);
  struct Probe {
    IpAddr host;
    L4Protocol protocol;
  };
  std::vector<Probe> probes;
  const auto count = *rc::gen::inRange(1, 6);
  for (int i = 0; i < count; ++i) {
    const auto network = *gen_network();
    const auto filters = *gen_filters(5);
    RC_ASSERT(
        peer.add_resource(CidrResource{resource_id_of(i), network, filters}, std::nullopt).ok());
    probes.push_back({host_in(network, gen_noise()), allowed_by(filters)});
  }
  for (const auto& probe : probes)
    RC_ASSERT(peer.ensure_allowed_resource(probe.host, probe.protocol));
}

// Ported: peer.rs `gateway_reject_unallowed_packet`.
RC_GTEST_PROP(FilterProperty, RejectsUnallowedPackets, ()) {
  const auto network = *gen_network();
  const auto filters = *rc::gen::nonEmpty(gen_filters(5));
  const L4Protocol protocol = rejected_by(filters);
  ClientOnGateway peer(kClient, kClientTun, kGatewayTun);
  RC_ASSERT(
      peer.add_resource(CidrResource{resource_id_of(1), network, filters}, std::nullopt).ok());
  const IpAddr host = host_in(network, gen_noise());
  RC_ASSERT(!peer.ensure_allowed_resource(host, protocol));
}

// Ported: peer.rs `gateway_reject_removed_filter_packet`.
RC_GTEST_PROP(FilterProperty, RemovedFiltersStopApplying, ()) {
  const auto network = *gen_network();
  const auto supernet =
      net::Cidr(network.network(), network.prefix_len() == 0 ? 0 : network.prefix_len() - 1);
  const auto filters_kept = *rc::gen::nonEmpty(gen_filters(5));
  const L4Protocol kept = allowed_by(filters_kept);
  const L4Protocol removed = rejected_by(filters_kept);
  RC_PRE(removed.kind != L4Kind::other);
  Filters filters_removed;
  if (removed.kind == L4Kind::icmp) {
    filters_removed.push_back(Filter{FilterProtocol::icmp});
  } else {
    const auto protocol = removed.kind == L4Kind::tcp ? FilterProtocol::tcp : FilterProtocol::udp;
    filters_removed.push_back(Filter{protocol, removed.port, removed.port});
  }

  ClientOnGateway peer(kClient, kClientTun, kGatewayTun);
  RC_ASSERT(peer.add_resource(CidrResource{resource_id_of(1), supernet, filters_kept}, std::nullopt)
                .ok());
  RC_ASSERT(
      peer.add_resource(CidrResource{resource_id_of(2), network, filters_removed}, std::nullopt)
          .ok());
  const IpAddr host = host_in(network, gen_noise());
  RC_ASSERT(peer.ensure_allowed_resource(host, removed));
  peer.remove_resource(resource_id_of(2));
  RC_ASSERT(peer.ensure_allowed_resource(host, kept));
  RC_ASSERT(!peer.ensure_allowed_resource(host, removed));
}

}  // namespace
}  // namespace fz::gateway
