// Property tests of the net module: builders round-trip through the parser, every rewrite leaves
// checksums that verify and equal a full recomputation, and arbitrary bytes never crash anything.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "net/icmp.hpp"
#include "net/ip_addr.hpp"
#include "net/ip_packet.hpp"
#include "net/p2p_control.hpp"
#include "net/prefix_table.hpp"

namespace fz::net {
namespace {

using Buf = std::vector<std::uint8_t>;

rc::Gen<IpAddr> gen_ip(IpFamily family) {
  if (family == IpFamily::v4) {
    return rc::gen::map(rc::gen::arbitrary<std::uint32_t>(),
                        [](std::uint32_t v) { return IpAddr::v4_from_u32(v); });
  }
  return rc::gen::map(
      rc::gen::container<std::vector<std::uint8_t>>(16, rc::gen::arbitrary<std::uint8_t>()),
      [](const std::vector<std::uint8_t>& v) { return *IpAddr::from_bytes(v); });
}

rc::Gen<IpAddr> gen_any_ip() {
  return rc::gen::mapcat(rc::gen::element(IpFamily::v4, IpFamily::v6), gen_ip);
}

IpFields gen_fields(IpFamily family) {
  IpFields f;
  f.src = *gen_ip(family);
  f.dst = *gen_ip(family);
  f.ttl = *rc::gen::arbitrary<std::uint8_t>();
  f.ecn = static_cast<Ecn>(*rc::gen::inRange(0, 4));
  f.dscp = static_cast<std::uint8_t>(*rc::gen::inRange(0, 64));
  if (family == IpFamily::v4) {
    f.identification = *rc::gen::arbitrary<std::uint16_t>();
    f.dont_fragment = *rc::gen::arbitrary<bool>();
  } else {
    f.flow_label = static_cast<std::uint32_t>(*rc::gen::inRange(0, 1 << 20));
  }
  return f;
}

void check_ip_fields(const IpPacketView& p, const IpFields& f) {
  RC_ASSERT(p.src() == f.src);
  RC_ASSERT(p.dst() == f.dst);
  RC_ASSERT(p.ttl() == f.ttl);
  RC_ASSERT(p.ecn() == f.ecn);
  RC_ASSERT(p.dscp() == f.dscp);
  RC_ASSERT(!p.is_fragment());
  RC_ASSERT(p.verify_checksums().ok());
  if (p.is_v4()) {
    RC_ASSERT(load_be16(p.bytes().data() + 4) == f.identification);
    RC_ASSERT(((load_be16(p.bytes().data() + 6) & 0x4000) != 0) == f.dont_fragment);
  } else {
    RC_ASSERT((load_be32(p.bytes().data()) & 0xfffff) == f.flow_label);
  }
}

Buf gen_payload(std::size_t max) {
  const auto len = *rc::gen::inRange<std::size_t>(0, max);
  return *rc::gen::container<Buf>(len, rc::gen::arbitrary<std::uint8_t>());
}

RC_GTEST_PROP(NetProperty, UdpBuildParseRoundTrip, ()) {
  const auto family = *rc::gen::element(IpFamily::v4, IpFamily::v6);
  const IpFields f = gen_fields(family);
  const auto sport = *rc::gen::arbitrary<std::uint16_t>();
  const auto dport = *rc::gen::arbitrary<std::uint16_t>();
  const Buf payload = gen_payload(1300);
  Buf out(1400);
  auto n = build_udp(out, f, sport, dport, payload);
  RC_ASSERT(n.ok());
  auto p = IpPacketView::parse(Bytes(out.data(), *n));
  RC_ASSERT(p.ok());
  check_ip_fields(*p, f);
  RC_ASSERT(p->transport() == Transport::udp);
  RC_ASSERT(p->src_port() == std::optional<std::uint16_t>(sport));
  RC_ASSERT(p->dst_port() == std::optional<std::uint16_t>(dport));
  RC_ASSERT(Buf(p->l4_payload().begin(), p->l4_payload().end()) == payload);
}

RC_GTEST_PROP(NetProperty, TcpBuildParseRoundTrip, ()) {
  const auto family = *rc::gen::element(IpFamily::v4, IpFamily::v6);
  const IpFields f = gen_fields(family);
  TcpFields t;
  t.src_port = *rc::gen::arbitrary<std::uint16_t>();
  t.dst_port = *rc::gen::arbitrary<std::uint16_t>();
  t.seq = *rc::gen::arbitrary<std::uint32_t>();
  t.ack = *rc::gen::arbitrary<std::uint32_t>();
  t.flags = *rc::gen::arbitrary<std::uint8_t>();
  t.window = *rc::gen::arbitrary<std::uint16_t>();
  const Buf payload = gen_payload(200);
  Buf out(400);
  auto n = build_tcp(out, f, t, payload);
  RC_ASSERT(n.ok());
  auto p = IpPacketView::parse(Bytes(out.data(), *n));
  RC_ASSERT(p.ok());
  check_ip_fields(*p, f);
  RC_ASSERT(p->transport() == Transport::tcp);
  RC_ASSERT(*p->src_port() == t.src_port);
  RC_ASSERT(*p->dst_port() == t.dst_port);
  RC_ASSERT(*p->tcp_flags() == t.flags);
  RC_ASSERT(p->is_tcp_rst() == ((t.flags & tcp_flag::rst) != 0));
  RC_ASSERT(load_be32(p->l4().data() + 4) == t.seq);
  RC_ASSERT(load_be32(p->l4().data() + 8) == t.ack);
  RC_ASSERT(Buf(p->l4_payload().begin(), p->l4_payload().end()) == payload);
}

RC_GTEST_PROP(NetProperty, EchoBuildParseRoundTrip, ()) {
  const auto family = *rc::gen::element(IpFamily::v4, IpFamily::v6);
  const IpFields f = gen_fields(family);
  const IcmpEcho echo{*rc::gen::arbitrary<bool>(), *rc::gen::arbitrary<std::uint16_t>(),
                      *rc::gen::arbitrary<std::uint16_t>()};
  const Buf payload = gen_payload(100);
  Buf out(200);
  auto n = build_icmp_echo(out, f, echo, payload);
  RC_ASSERT(n.ok());
  auto p = IpPacketView::parse(Bytes(out.data(), *n));
  RC_ASSERT(p.ok());
  check_ip_fields(*p, f);
  RC_ASSERT(p->transport() == (family == IpFamily::v4 ? Transport::icmpv4 : Transport::icmpv6));
  RC_ASSERT(p->icmp_echo() == std::optional<IcmpEcho>(echo));
  RC_ASSERT(!p->is_icmp_error());
  RC_ASSERT(p->five_tuple()->src_id == echo.identifier);
}

// A random valid packet, sometimes with IPv4 options or an IPv6 hop-by-hop header, sometimes with
// a zero ("none") UDP checksum over IPv4.
Buf gen_packet() {
  const auto family = *rc::gen::element(IpFamily::v4, IpFamily::v6);
  const IpFields f = gen_fields(family);
  const Buf payload = gen_payload(200);
  Buf out(600);
  std::size_t n = 0;
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      n = *build_udp(out, f, *rc::gen::arbitrary<std::uint16_t>(),
                     *rc::gen::arbitrary<std::uint16_t>(), payload);
      break;
    case 1: {
      TcpFields t{*rc::gen::arbitrary<std::uint16_t>(), *rc::gen::arbitrary<std::uint16_t>(),
                  *rc::gen::arbitrary<std::uint32_t>(), *rc::gen::arbitrary<std::uint32_t>(),
                  *rc::gen::arbitrary<std::uint8_t>()};
      n = *build_tcp(out, f, t, payload);
      break;
    }
    default:
      n = *build_icmp_echo(
          out, f,
          IcmpEcho{*rc::gen::arbitrary<bool>(), *rc::gen::arbitrary<std::uint16_t>(),
                   *rc::gen::arbitrary<std::uint16_t>()},
          payload);
  }
  out.resize(n);
  if (*rc::gen::arbitrary<bool>()) {
    if (family == IpFamily::v4) {
      const std::size_t words = *rc::gen::inRange<std::size_t>(1, 11);
      out.insert(out.begin() + 20, words * 4, 0x01);  // NOP options
      out[0] = static_cast<std::uint8_t>(0x40 | (5 + words));
      store_be16(out.data() + 2, static_cast<std::uint16_t>(out.size()));
    } else {
      const std::uint8_t hop_by_hop[8] = {out[6], 0, 1, 4, 0, 0, 0, 0};
      out.insert(out.begin() + 40, std::begin(hop_by_hop), std::end(hop_by_hop));
      out[6] = ip_proto::hop_by_hop;
      store_be16(out.data() + 4, static_cast<std::uint16_t>(out.size() - 40));
    }
    IpPacket::parse(out)->recompute_checksums();
  }
  auto p = IpPacketView::parse(out);
  if (p->is_v4() && p->transport() == Transport::udp && *rc::gen::arbitrary<bool>()) {
    out[p->header_len() + 6] = out[p->header_len() + 7] = 0;
  }
  return out;
}

// `incremental` equals a full recomputation, allowing for the two encodings of ones'-complement
// zero and for the IPv4 "no UDP checksum" that incremental updates keep.
void check_against_full(const Buf& incremental) {
  auto p = IpPacketView::parse(incremental);
  RC_ASSERT(p.ok());
  RC_ASSERT(p->verify_checksums().ok());
  Buf full = incremental;
  IpPacket::parse(full)->recompute_checksums();
  const std::size_t field = p->header_len() + (p->transport() == Transport::udp   ? 6
                                               : p->transport() == Transport::tcp ? 16
                                                                                  : 2);
  const std::uint16_t a = load_be16(&incremental[field]);
  const std::uint16_t b = load_be16(&full[field]);
  if (p->is_v4() && p->transport() == Transport::udp && a == 0) {
    // kept "no checksum"
  } else {
    RC_ASSERT(a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0));
  }
  Buf x = incremental, y = full;
  x[field] = x[field + 1] = y[field] = y[field + 1] = 0;
  RC_ASSERT(x == y);
}

RC_GTEST_PROP(NetProperty, RewritesKeepChecksumsValid, ()) {
  Buf b = gen_packet();
  auto p = IpPacket::parse(b);
  RC_ASSERT(p.ok());
  const int steps = *rc::gen::inRange(1, 8);
  for (int i = 0; i < steps; ++i) {
    switch (*rc::gen::inRange(0, 8)) {
      case 0:
        RC_ASSERT(p->set_src(*gen_ip(p->family())).ok());
        break;
      case 1:
        RC_ASSERT(p->set_dst(*gen_ip(p->family())).ok());
        break;
      case 2: {
        const auto port = *rc::gen::arbitrary<std::uint16_t>();
        RC_ASSERT(p->set_src_port(port).ok() == p->src_port().has_value());
        if (p->src_port()) RC_ASSERT(*p->src_port() == port);
        break;
      }
      case 3: {
        const auto port = *rc::gen::arbitrary<std::uint16_t>();
        RC_ASSERT(p->set_dst_port(port).ok() == p->dst_port().has_value());
        break;
      }
      case 4: {
        const auto id = *rc::gen::arbitrary<std::uint16_t>();
        RC_ASSERT(p->set_icmp_echo_id(id).ok() == p->icmp_echo().has_value());
        if (p->icmp_echo()) RC_ASSERT(p->icmp_echo()->identifier == id);
        break;
      }
      case 5:
        p->set_ecn(static_cast<Ecn>(*rc::gen::inRange(0, 4)));
        break;
      case 6: {
        const IpAddr dst = *gen_ip(p->family());
        const auto id = *rc::gen::arbitrary<std::uint16_t>();
        RC_ASSERT(p->translate_destination(dst, id).ok());
        RC_ASSERT(p->dst() == dst);
        RC_ASSERT(p->five_tuple()->src_id == id);
        break;
      }
      default: {
        const IpAddr src = *gen_ip(p->family());
        const auto id = *rc::gen::arbitrary<std::uint16_t>();
        RC_ASSERT(p->translate_source(src, id).ok());
        RC_ASSERT(p->src() == src);
        RC_ASSERT(p->five_tuple()->dst_id == id);
        break;
      }
    }
    check_against_full(b);
  }
}

RC_GTEST_PROP(NetProperty, IcmpErrorQuotesOffendingPacket, ()) {
  Buf offending = gen_packet();
  auto p = IpPacketView::parse(offending);
  const auto kind = *rc::gen::element(IcmpErrorKind::prohibited, IcmpErrorKind::unreachable);
  Buf out(1300);
  auto n = build_icmp_error(out, *p, kind);
  RC_ASSERT(n.ok());
  auto e = IpPacketView::parse(Bytes(out.data(), *n));
  RC_ASSERT(e.ok());
  RC_ASSERT(e->verify_checksums().ok());
  RC_ASSERT(e->src() == p->dst());
  RC_ASSERT(e->dst() == p->src());
  RC_ASSERT(e->ttl() == 20);
  auto parsed = parse_icmp_error(*e);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(parsed->original.src == p->src());
  RC_ASSERT(parsed->original.dst == p->dst());
  RC_ASSERT(parsed->original.protocol == p->protocol());
  if (auto tuple = p->five_tuple()) RC_ASSERT(parsed->original.source_id() == tuple->src_id);

  // Translating it back keeps the outer checksum valid.
  const IpAddr proxy = *gen_ip(p->family());
  const IpAddr client = *gen_ip(p->family());
  const auto inside = *rc::gen::arbitrary<std::uint16_t>();
  Buf translated(1300);
  auto m = build_translated_icmp_error(translated, *parsed, proxy, client, inside);
  RC_ASSERT(m.ok());
  auto t = IpPacketView::parse(Bytes(translated.data(), *m));
  RC_ASSERT(t.ok());
  RC_ASSERT(t->verify_checksums().ok());
  auto again = parse_icmp_error(*t);
  RC_ASSERT(again.ok());
  RC_ASSERT(again->original.dst == proxy);
  RC_ASSERT(again->original.source_id() == std::optional<std::uint16_t>(inside));
}

void exercise(MutBytes bytes) {
  auto p = IpPacket::parse(bytes);
  if (!p) return;
  RC_ASSERT(p->size() <= bytes.size());
  (void)p->src();
  (void)p->dst();
  (void)p->ecn();
  (void)p->five_tuple();
  (void)p->l4_payload();
  (void)p->verify_checksums();
  if (p->is_icmp_error()) {
    auto e = parse_icmp_error(*p);
    if (e) {
      Buf out(2000);
      (void)build_translated_icmp_error(out, *e, p->dst(), p->src(), 1);
    }
  }
  (void)p2p_control::decode(*p);
  (void)p->translate_destination(p->src(), 7);
  p->recompute_checksums();
  RC_ASSERT(p->verify_checksums().ok());
}

RC_GTEST_PROP(NetProperty, RandomBytesNeverCrash, (const std::vector<std::uint8_t>& input)) {
  Buf b = input;
  exercise(b);
}

RC_GTEST_PROP(NetProperty, MutatedPacketsNeverCrash, ()) {
  Buf b = gen_packet();
  const int flips = *rc::gen::inRange(1, 6);
  for (int i = 0; i < flips; ++i) {
    const auto at = *rc::gen::inRange<std::size_t>(0, b.size());
    b[at] = *rc::gen::arbitrary<std::uint8_t>();
  }
  if (*rc::gen::arbitrary<bool>()) b.resize(*rc::gen::inRange<std::size_t>(0, b.size() + 1));
  exercise(b);
}

RC_GTEST_PROP(NetProperty, AddressTextRoundTrip, ()) {
  const IpAddr a = *gen_any_ip();
  auto parsed = IpAddr::parse(a.to_string());
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == a);
  const auto prefix = *rc::gen::inRange<unsigned>(0, a.max_prefix_len() + 1);
  const Cidr c(a, prefix);
  RC_ASSERT(*Cidr::parse(c.to_string()) == c);
  RC_ASSERT(c.contains(a));
  const SocketAddr s{a, *rc::gen::arbitrary<std::uint16_t>()};
  RC_ASSERT(*SocketAddr::parse(s.to_string()) == s);
}

RC_GTEST_PROP(NetProperty, PrefixTableMatchesModel, ()) {
  // Prefixes from a narrow space so that they overlap.
  const auto ops = *rc::gen::container<std::vector<std::pair<std::uint16_t, int>>>(
      rc::gen::pair(rc::gen::arbitrary<std::uint16_t>(), rc::gen::inRange(0, 3)));
  PrefixTable<int> table;
  std::map<Cidr, int> model;
  for (const auto& [bits, op] : ops) {
    const bool v6 = bits & 1;
    const IpAddr a =
        v6 ? IpAddr::v6(0x2001, static_cast<std::uint16_t>(bits & 0xff00), 0, 0, 0, 0, 0, 0)
           : IpAddr::v4(10, static_cast<std::uint8_t>(bits >> 8), 0, 0);
    const Cidr c(a, (bits >> 1) % (v6 ? 33 : 17));
    if (op == 0) {
      RC_ASSERT(table.erase(c) == (model.erase(c) == 1));
    } else {
      RC_ASSERT(table.insert(c, bits) == !model.contains(c));
      model[c] = bits;
    }
  }
  RC_ASSERT(table.size() == model.size());
  for (int i = 0; i < 50; ++i) {
    const IpAddr a = *rc::gen::element(
        IpAddr::v4(10, *rc::gen::arbitrary<std::uint8_t>(), 0, 0),
        IpAddr::v6(0x2001, *rc::gen::arbitrary<std::uint16_t>(), 0, 0, 0, 0, 0, 0));
    const int* expected = nullptr;
    unsigned best = 0;
    for (const auto& [c, v] : model) {
      if (c.contains(a) && (expected == nullptr || c.prefix_len() >= best)) {
        expected = &v;
        best = c.prefix_len();
      }
    }
    const int* got = table.longest_match(a);
    RC_ASSERT((got == nullptr) == (expected == nullptr));
    if (got) RC_ASSERT(*got == *expected);
  }
}

RC_GTEST_PROP(NetProperty, ControlMessagesRoundTrip, ()) {
  const auto label =
      rc::gen::container<std::string>(rc::gen::element('a', 'b', 'z', '0', '9', '-', '_', 'Q'));
  const auto labels = *rc::gen::resize(
      5, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(
             rc::gen::suchThat(label, [](const std::string& s) { return !s.empty(); }))));
  std::string domain;
  for (const auto& l : labels)
    domain += (domain.empty() ? "" : ".") + l;
  std::array<std::uint8_t, 16> id{};
  for (auto& x : id)
    x = *rc::gen::arbitrary<std::uint8_t>();

  p2p_control::AssignedIps assigned{Uuid(id), domain, {}};
  const auto count = *rc::gen::inRange(0, 9);
  for (int i = 0; i < count; ++i)
    assigned.proxy_ips.push_back(*gen_any_ip());
  Buf out(1280);
  auto n = p2p_control::encode_assigned_ips(out, assigned);
  RC_ASSERT(n.ok());
  auto packet = IpPacketView::parse(Bytes(out.data(), *n));
  RC_ASSERT(packet.ok());
  auto msg = p2p_control::decode(*packet);
  RC_ASSERT(msg.has_value());
  RC_ASSERT(msg->event_type == p2p_control::event_type::assigned_ips);
  RC_ASSERT(*p2p_control::parse_assigned_ips(msg->body) == assigned);

  const p2p_control::DomainStatus status{
      Uuid(id), domain,
      *rc::gen::element(p2p_control::ResolutionStatus::active,
                        p2p_control::ResolutionStatus::inactive)};
  n = p2p_control::encode_domain_status(out, status);
  RC_ASSERT(n.ok());
  msg = p2p_control::decode(*IpPacketView::parse(Bytes(out.data(), *n)));
  RC_ASSERT(*p2p_control::parse_domain_status(msg->body) == status);
}

RC_GTEST_PROP(NetProperty, ControlJsonParsersNeverThrow, (const std::string& body)) {
  const Bytes b(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  (void)p2p_control::parse_assigned_ips(b);
  (void)p2p_control::parse_domain_status(b);
}

}  // namespace
}  // namespace fz::net
