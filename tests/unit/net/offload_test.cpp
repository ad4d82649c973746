// TUN offloads: the virtio-net header, splitting TSO/USO super-packets into exact single packets,
// and GRO-style coalescing of consecutive TCP segments (each rule that prevents a merge).
#include "net/offload.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "net/checksum.hpp"
#include "net/ip_packet.hpp"

namespace fz::net {
namespace {

using Buf = std::vector<std::uint8_t>;

Buf pattern(std::size_t n, std::uint8_t seed = 1) {
  Buf b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
  return b;
}

IpFields v4_fields() {
  IpFields f;
  f.src = IpAddr::v4(198, 51, 100, 1);
  f.dst = IpAddr::v4(203, 0, 113, 9);
  f.ttl = 63;
  f.identification = 0xfffe;  // wraps while splitting
  f.dont_fragment = true;
  return f;
}

IpFields v6_fields() {
  IpFields f;
  f.src = IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  f.dst = IpAddr::v6(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
  f.ttl = 64;
  f.flow_label = 0x12345;
  return f;
}

TcpFields tcp_fields(std::uint32_t seq, std::uint8_t flags) {
  TcpFields t;
  t.src_port = 443;
  t.dst_port = 50000;
  t.seq = seq;
  t.ack = 0x01020304;
  t.flags = flags;
  t.window = 512;
  return t;
}

Buf tcp_packet(const IpFields& ip, const TcpFields& tcp, Bytes payload) {
  Buf out(70000);
  auto n = build_tcp(out, ip, tcp, payload);
  EXPECT_TRUE(n.ok());
  out.resize(*n);
  return out;
}

Buf udp_packet(const IpFields& ip, Bytes payload) {
  Buf out(70000);
  auto n = build_udp(out, ip, 5000, 6000, payload);
  EXPECT_TRUE(n.ok());
  out.resize(*n);
  return out;
}

std::uint16_t pseudo_field(const Buf& packet, std::size_t l4, std::uint8_t protocol) {
  auto view = IpPacketView::parse(packet);
  EXPECT_TRUE(view.ok());
  return static_cast<std::uint16_t>(checksum_fold(pseudo_header_sum(
      view->src(), view->dst(), protocol, static_cast<std::uint32_t>(packet.size() - l4))));
}

// What the kernel hands us: a virtio header and a packet whose L4 checksum field holds the
// pseudo-header sum.
Buf super_packet(Buf packet, std::uint8_t gso_type, std::uint16_t gso_size, std::size_t l4,
                 bool tcp) {
  const std::size_t field = l4 + (tcp ? 16 : 6);
  store_be16(packet.data() + field, pseudo_field(packet, l4, tcp ? ip_proto::tcp : ip_proto::udp));
  VirtioNetHdr h;
  h.flags = virtio::kFlagNeedsCsum;
  h.gso_type = gso_type;
  h.hdr_len = static_cast<std::uint16_t>(l4 + (tcp ? 20 : 8));
  h.gso_size = gso_size;
  h.csum_start = static_cast<std::uint16_t>(l4);
  h.csum_offset = tcp ? 16 : 6;
  Buf out(kVirtioNetHdrLen);
  h.serialize(out);
  out.insert(out.end(), packet.begin(), packet.end());
  return out;
}

std::vector<Buf> split_all(GsoSplitter& splitter, Bytes read, std::size_t batch = 8) {
  std::vector<Buf> out;
  if (!splitter.load(read)) return out;
  std::vector<PacketBuffer> storage;
  for (std::size_t i = 0; i < batch; ++i)
    storage.emplace_back(2048, 20);
  std::vector<PacketBuffer*> pointers;
  for (auto& b : storage)
    pointers.push_back(&b);
  while (splitter.pending()) {
    const std::size_t n = splitter.next(pointers);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(storage[i].headroom(), 20u);
      out.emplace_back(storage[i].span().begin(), storage[i].span().end());
    }
    if (n == 0) break;
  }
  return out;
}

TEST(VirtioNetHdr, RoundTripsInHostByteOrder) {
  VirtioNetHdr h{virtio::kFlagNeedsCsum, virtio::kGsoTcpV4, 0x0034, 0x04d8, 0x0014, 0x0010};
  std::uint8_t bytes[kVirtioNetHdrLen];
  h.serialize(bytes);
  const std::uint8_t expected[] = {0x01, 0x01, 0x34, 0x00, 0xd8, 0x04, 0x14, 0x00, 0x10, 0x00};
  EXPECT_EQ(0, std::memcmp(bytes, expected, sizeof expected));
  EXPECT_EQ(VirtioNetHdr::parse(bytes), h);
  EXPECT_FALSE(VirtioNetHdr::parse(Bytes(bytes, 9)).has_value());
}

// --- splitting ---

TEST(GsoSplitter, SplitsTcpV4WithExactHeaders) {
  const Buf payload = pattern(3000);
  const std::uint8_t all = tcp_flag::ack | tcp_flag::psh | tcp_flag::fin | tcp_flag::cwr;
  const Buf read = super_packet(tcp_packet(v4_fields(), tcp_fields(0xfffffc00, all), payload),
                                virtio::kGsoTcpV4 | virtio::kGsoEcn, 1000, 20, true);
  GsoSplitter splitter;
  const auto segments = split_all(splitter, read);
  ASSERT_EQ(segments.size(), 3u);
  const std::uint8_t flags[] = {tcp_flag::ack | tcp_flag::cwr, tcp_flag::ack,
                                tcp_flag::ack | tcp_flag::psh | tcp_flag::fin};
  for (std::size_t i = 0; i < 3; ++i) {
    IpFields ip = v4_fields();
    ip.identification = static_cast<std::uint16_t>(0xfffe + i);
    const Buf expected =
        tcp_packet(ip, tcp_fields(static_cast<std::uint32_t>(0xfffffc00 + i * 1000), flags[i]),
                   Bytes(payload).subspan(i * 1000, 1000));
    EXPECT_EQ(segments[i], expected) << "segment " << i;
    auto view = IpPacketView::parse(segments[i]);
    ASSERT_TRUE(view.ok());
    EXPECT_TRUE(view->verify_checksums().ok());
  }
  EXPECT_EQ(splitter.stats().super_packets, 1u);
  EXPECT_EQ(splitter.stats().segments, 3u);
}

TEST(GsoSplitter, SplitsTcpV6WithShortLastSegment) {
  const Buf payload = pattern(2500, 9);
  const Buf read =
      super_packet(tcp_packet(v6_fields(), tcp_fields(100, tcp_flag::ack | tcp_flag::psh), payload),
                   virtio::kGsoTcpV6, 1000, 40, true);
  GsoSplitter splitter;
  const auto segments = split_all(splitter, read);
  ASSERT_EQ(segments.size(), 3u);
  const std::size_t sizes[] = {1000, 1000, 500};
  for (std::size_t i = 0; i < 3; ++i) {
    const std::uint8_t flags = i == 2 ? tcp_flag::ack | tcp_flag::psh : tcp_flag::ack;
    const Buf expected =
        tcp_packet(v6_fields(), tcp_fields(static_cast<std::uint32_t>(100 + i * 1000), flags),
                   Bytes(payload).subspan(i * 1000, sizes[i]));
    EXPECT_EQ(segments[i], expected) << "segment " << i;
    EXPECT_EQ(load_be16(segments[i].data() + 4), 20 + sizes[i]);
  }
}

TEST(GsoSplitter, SplitsUdpL4ForBothFamilies) {
  const Buf payload = pattern(4800, 3);
  for (const IpFields& ip : {v4_fields(), v6_fields()}) {
    const std::size_t l4 = ip.src.is_v4() ? 20 : 40;
    const Buf read = super_packet(udp_packet(ip, payload), virtio::kGsoUdpL4, 1200, l4, false);
    GsoSplitter splitter;
    const auto segments = split_all(splitter, read);
    ASSERT_EQ(segments.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
      IpFields expected_ip = ip;
      if (ip.src.is_v4()) expected_ip.identification = static_cast<std::uint16_t>(0xfffe + i);
      EXPECT_EQ(segments[i], udp_packet(expected_ip, Bytes(payload).subspan(i * 1200, 1200)))
          << "segment " << i;
      EXPECT_EQ(load_be16(segments[i].data() + l4 + 4), 1208u);
    }
  }
}

TEST(GsoSplitter, CompletesTheChecksumOfAPlainPacket) {
  const Buf packet = udp_packet(v4_fields(), pattern(33));
  Buf read = super_packet(packet, virtio::kGsoNone, 0, 20, false);
  GsoSplitter splitter;
  auto out = split_all(splitter, read);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], packet);
  EXPECT_EQ(splitter.stats().checksums_completed, 1u);
  EXPECT_EQ(splitter.stats().super_packets, 0u);

  // Without NEEDS_CSUM the packet passes unchanged, even with a wrong checksum.
  read[0] = 0;
  out = split_all(splitter, read);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0], packet);
  EXPECT_TRUE(std::equal(out[0].begin(), out[0].end(), read.begin() + kVirtioNetHdrLen));
}

TEST(GsoSplitter, ResumesWhenTheCallerHasFewerBuffers) {
  const Buf payload = pattern(3000);
  const Buf read = super_packet(tcp_packet(v4_fields(), tcp_fields(1, tcp_flag::ack), payload),
                                virtio::kGsoTcpV4, 1000, 20, true);
  GsoSplitter reference;
  const auto all = split_all(reference, read);
  GsoSplitter splitter;
  ASSERT_TRUE(splitter.load(read));
  PacketBuffer a(2048, 16), b(2048, 16);
  PacketBuffer* two[] = {&a, &b};
  ASSERT_EQ(splitter.next(two), 2u);
  EXPECT_EQ(Buf(a.span().begin(), a.span().end()), all[0]);
  EXPECT_EQ(Buf(b.span().begin(), b.span().end()), all[1]);
  EXPECT_TRUE(splitter.pending());
  EXPECT_EQ(splitter.remaining(), 1u);
  ASSERT_EQ(splitter.next(two), 1u);
  EXPECT_EQ(Buf(a.span().begin(), a.span().end()), all[2]);
  EXPECT_FALSE(splitter.pending());
  EXPECT_EQ(splitter.next(two), 0u);
}

TEST(GsoSplitter, DropsOversizedSegments) {
  const Buf read =
      super_packet(tcp_packet(v4_fields(), tcp_fields(1, tcp_flag::ack), pattern(3000)),
                   virtio::kGsoTcpV4, 1000, 20, true);
  GsoSplitter splitter(1000);
  EXPECT_TRUE(split_all(splitter, read).empty());
  EXPECT_EQ(splitter.stats().oversized, 3u);
  // A buffer too small for a segment is the same as the limit.
  GsoSplitter big;
  ASSERT_TRUE(big.load(read));
  PacketBuffer small(1000, 0);
  PacketBuffer* one[] = {&small};
  EXPECT_EQ(big.next(one), 0u);
  EXPECT_EQ(big.stats().oversized, 3u);
}

TEST(GsoSplitter, DropsMalformedReads) {
  const Buf good =
      super_packet(tcp_packet(v4_fields(), tcp_fields(1, tcp_flag::ack), pattern(3000)),
                   virtio::kGsoTcpV4, 1000, 20, true);
  const Buf good6 =
      super_packet(tcp_packet(v6_fields(), tcp_fields(1, tcp_flag::ack), pattern(3000)),
                   virtio::kGsoTcpV6, 1000, 40, true);
  struct Case {
    const char* name;
    Buf read;
  };
  std::vector<Case> cases;
  cases.push_back({"short header", Buf(good.begin(), good.begin() + 9)});
  cases.push_back({"header only", Buf(good.begin(), good.begin() + 10)});
  auto with = [&](const char* name, const Buf& base, auto&& edit) {
    Buf b = base;
    edit(b);
    cases.push_back({name, std::move(b)});
  };
  with("gso_size 0", good, [](Buf& b) { b[4] = b[5] = 0; });
  with("legacy UFO", good, [](Buf& b) { b[1] = virtio::kGsoUdp; });
  with("unknown gso type", good, [](Buf& b) { b[1] = 9; });
  with("ECN without GSO", good, [](Buf& b) { b[1] = virtio::kGsoEcn; });
  with("csum_start not L4", good, [](Buf& b) { b[6] = 24; });
  with("TCPV6 on IPv4", good, [](Buf& b) { b[1] = virtio::kGsoTcpV6; });
  with("TCPV4 on IPv6", good6, [](Buf& b) { b[1] = virtio::kGsoTcpV4; });
  with("UDP GSO on TCP", good, [](Buf& b) { b[1] = virtio::kGsoUdpL4; });
  with("IPv4 fragment", good, [](Buf& b) { b[10 + 6] |= 0x20; });
  with("IHL below 5", good, [](Buf& b) { b[10] = 0x44; });
  with("TCP data offset 4", good, [](Buf& b) { b[10 + 20 + 12] = 0x40; });
  with("TCP header beyond packet", good, [](Buf& b) { b.resize(10 + 20 + 19); });
  with("no payload", good, [](Buf& b) { b.resize(10 + 40); });
  with("IPv6 extension header", good6, [](Buf& b) { b[10 + 6] = ip_proto::hop_by_hop; });
  with("not IP", good, [](Buf& b) { b[10] = 0x55; });
  with("plain csum beyond end", good, [](Buf& b) {
    b[1] = virtio::kGsoNone;
    store_be16(b.data() + 6, 0);
    b[6] = 0xff;
    b[7] = 0x0b;
  });
  GsoSplitter splitter;
  std::uint64_t malformed = 0;
  for (const auto& c : cases) {
    EXPECT_FALSE(splitter.load(c.read)) << c.name;
    EXPECT_FALSE(splitter.pending()) << c.name;
    EXPECT_EQ(splitter.stats().malformed, ++malformed) << c.name;
  }
  // A malformed read also discards what was pending from the previous one.
  ASSERT_TRUE(splitter.load(good));
  EXPECT_FALSE(splitter.load(cases[0].read));
  EXPECT_FALSE(splitter.pending());
}

// --- coalescing ---

struct Flow {
  IpFields ip = v4_fields();
  TcpFields tcp = tcp_fields(1000, tcp_flag::ack);
  std::uint16_t id = 0x1000;

  // The next in-order segment of `size` bytes.
  Buf next(std::size_t size, std::uint8_t flags = tcp_flag::ack) {
    IpFields f = ip;
    f.identification = id++;
    TcpFields t = tcp;
    t.flags = flags;
    tcp.seq += static_cast<std::uint32_t>(size);
    return tcp_packet(f, t, pattern(size, static_cast<std::uint8_t>(t.seq)));
  }
};

struct Coalesced {
  Buf scratch = Buf(1 << 18);
  std::vector<OffloadWrite> writes;
  std::size_t consumed = 0;
  GroCoalescer coalescer;

  Coalesced(const std::vector<Buf>& packets, std::size_t scratch_size = 1 << 18)
      : scratch(scratch_size) {
    std::vector<Bytes> views(packets.begin(), packets.end());
    consumed = coalescer.coalesce(views, scratch, writes);
  }
  Bytes write(std::size_t i) const {
    return Bytes(scratch).subspan(writes[i].offset, writes[i].length);
  }
  VirtioNetHdr header(std::size_t i) const { return *VirtioNetHdr::parse(write(i)); }
  std::vector<std::size_t> segments() const {
    std::vector<std::size_t> s;
    for (const auto& w : writes)
      s.push_back(w.segments);
    return s;
  }
  std::vector<Buf> split() const {
    std::vector<Buf> out;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      GsoSplitter splitter;
      for (auto& p : split_all(splitter, write(i)))
        out.push_back(std::move(p));
    }
    return out;
  }
};

TEST(GroCoalescer, MergesASameSizeFlowIntoOneSuperPacket) {
  Flow flow;
  std::vector<Buf> in = {flow.next(1000), flow.next(1000), flow.next(1000),
                         flow.next(400, tcp_flag::ack | tcp_flag::psh)};
  Coalesced c(in);
  EXPECT_EQ(c.consumed, 4u);
  ASSERT_EQ(c.writes.size(), 1u);
  EXPECT_EQ(c.writes[0], (OffloadWrite{0, 10 + 40 + 3400, 4}));
  EXPECT_EQ(c.header(0),
            (VirtioNetHdr{virtio::kFlagNeedsCsum, virtio::kGsoTcpV4, 40, 1000, 20, 16}));
  const Bytes ip = c.write(0).subspan(kVirtioNetHdrLen);
  EXPECT_EQ(load_be16(ip.data() + 2), 3440u);
  EXPECT_EQ(internet_checksum(ip.first(20)), 0u);
  EXPECT_EQ(ip[20 + 13], tcp_flag::ack | tcp_flag::psh);
  const std::uint32_t pseudo = pseudo_header_sum(v4_fields().src, v4_fields().dst, 6, 3420);
  EXPECT_EQ(load_be16(ip.data() + 36), checksum_fold(pseudo));
  EXPECT_EQ(c.split(), in);
  EXPECT_EQ(c.coalescer.stats().super_packets, 1u);
  EXPECT_EQ(c.coalescer.stats().coalesced_segments, 4u);
}

TEST(GroCoalescer, MergesIpv6) {
  Flow flow;
  flow.ip = v6_fields();
  std::vector<Buf> in = {flow.next(1200), flow.next(1200), flow.next(10)};
  Coalesced c(in);
  ASSERT_EQ(c.writes.size(), 1u);
  EXPECT_EQ(c.header(0),
            (VirtioNetHdr{virtio::kFlagNeedsCsum, virtio::kGsoTcpV6, 60, 1200, 40, 16}));
  EXPECT_EQ(load_be16(c.write(0).data() + 10 + 4), 20u + 2410u);
  EXPECT_EQ(c.split(), in);
}

TEST(GroCoalescer, WritesOtherPacketsAsIsInOrder) {
  Flow a;
  Flow b;
  b.tcp.dst_port = 50001;
  const Buf udp = udp_packet(v4_fields(), pattern(100));
  std::vector<Buf> in = {a.next(1000), a.next(1000), udp, a.next(1000), b.next(1000), a.next(1000)};
  Coalesced c(in);
  EXPECT_EQ(c.segments(), (std::vector<std::size_t>{2, 1, 1, 1, 1}));
  EXPECT_EQ(c.header(1), VirtioNetHdr{});
  EXPECT_TRUE(std::equal(udp.begin(), udp.end(), c.write(1).begin() + kVirtioNetHdrLen));
  EXPECT_EQ(c.split(), in);
}

// Each rule: the two segments would merge but for one difference.
struct Rule {
  const char* name;
  void (*edit_second)(Buf& second);  // applied to the second segment, checksums recomputed
};

void recompute(Buf& packet) {
  auto p = IpPacket::parse(packet);
  ASSERT_TRUE(p.ok());
  p->recompute_checksums();
}

TEST(GroCoalescer, EachRuleThatPreventsAMerge) {
  const Rule rules[] = {
      {"source port", [](Buf& b) { b[20] ^= 1; }},
      {"destination port", [](Buf& b) { b[23] ^= 1; }},
      {"destination address", [](Buf& b) { b[19] ^= 1; }},
      {"source address", [](Buf& b) { b[15] ^= 1; }},
      {"TTL", [](Buf& b) { b[8] -= 1; }},
      {"TOS", [](Buf& b) { b[1] = 0x02; }},
      {"DF", [](Buf& b) { b[6] &= ~0x40; }},
      {"identification not incrementing", [](Buf& b) { b[5] += 1; }},
      {"sequence gap", [](Buf& b) { b[27] += 1; }},
      {"ACK number", [](Buf& b) { b[31] += 1; }},
      {"window", [](Buf& b) { b[35] += 1; }},
      {"urgent pointer", [](Buf& b) { b[39] = 1; }},
      {"SYN", [](Buf& b) { b[33] |= tcp_flag::syn; }},
      {"FIN", [](Buf& b) { b[33] |= tcp_flag::fin; }},
      {"RST", [](Buf& b) { b[33] |= tcp_flag::rst; }},
      {"URG", [](Buf& b) { b[33] |= tcp_flag::urg; }},
      {"ECE", [](Buf& b) { b[33] |= tcp_flag::ece; }},
      {"CWR", [](Buf& b) { b[33] |= tcp_flag::cwr; }},
      {"no ACK", [](Buf& b) { b[33] = tcp_flag::psh; }},
      {"longer than the first",
       [](Buf& b) {
         b.push_back(0);
         store_be16(b.data() + 2, static_cast<std::uint16_t>(b.size()));
       }},
      {"no payload",
       [](Buf& b) {
         b.resize(40);
         store_be16(b.data() + 2, 40);
       }},
  };
  for (const Rule& rule : rules) {
    Flow flow;
    std::vector<Buf> in = {flow.next(1000), flow.next(1000)};
    rule.edit_second(in[1]);
    recompute(in[1]);
    Coalesced c(in);
    EXPECT_EQ(c.segments(), (std::vector<std::size_t>{1, 1})) << rule.name;
    EXPECT_EQ(c.header(0), VirtioNetHdr{}) << rule.name;
    EXPECT_EQ(c.header(1), VirtioNetHdr{}) << rule.name;
    EXPECT_EQ(c.split(), in) << rule.name;
  }
}

TEST(GroCoalescer, TcpOptionsMustMatch) {
  // Two segments with a 12-byte timestamp option, differing in the echo reply.
  auto with_option = [](std::uint32_t seq, std::uint16_t id, std::uint8_t tsecr) {
    IpFields ip = v4_fields();
    ip.identification = id;
    Buf payload(12 + 500, 0xab);
    const std::uint8_t option[12] = {1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, tsecr};
    std::memcpy(payload.data(), option, 12);
    Buf b = tcp_packet(ip, tcp_fields(seq, tcp_flag::ack), payload);
    b[32] = 0x80;  // data offset 8 words
    recompute(b);
    return b;
  };
  {
    std::vector<Buf> in = {with_option(1, 1, 5), with_option(501, 2, 5)};
    Coalesced c(in);
    EXPECT_EQ(c.segments(), (std::vector<std::size_t>{2}));
    EXPECT_EQ(c.header(0).hdr_len, 52u);
    EXPECT_EQ(c.split(), in);
  }
  {
    std::vector<Buf> in = {with_option(1, 1, 5), with_option(501, 2, 6)};
    Coalesced c(in);
    EXPECT_EQ(c.segments(), (std::vector<std::size_t>{1, 1}));
  }
}

TEST(GroCoalescer, Ipv4OptionsAreNotMerged) {
  Flow flow;
  std::vector<Buf> in = {flow.next(1000), flow.next(1000)};
  for (Buf& b : in) {  // insert a 4-byte NOP option block: IHL 6
    b.insert(b.begin() + 20, {1, 1, 1, 0});
    b[0] = 0x46;
    store_be16(b.data() + 2, static_cast<std::uint16_t>(b.size()));
    recompute(b);
  }
  Coalesced c(in);
  EXPECT_EQ(c.segments(), (std::vector<std::size_t>{1, 1}));
  EXPECT_EQ(c.split(), in);
}

TEST(GroCoalescer, Ipv6FlowLabelAndHopLimitMustMatch) {
  for (int field = 0; field < 2; ++field) {
    Flow flow;
    flow.ip = v6_fields();
    std::vector<Buf> in = {flow.next(1000), flow.next(1000)};
    if (field == 0) {
      in[1][3] ^= 1;  // flow label
    } else {
      in[1][7] -= 1;  // hop limit
    }
    Coalesced c(in);
    EXPECT_EQ(c.segments(), (std::vector<std::size_t>{1, 1})) << field;
  }
}

TEST(GroCoalescer, MixedFamiliesAreNotMerged) {
  Flow a;
  Flow b;
  b.ip = v6_fields();
  b.tcp.seq = a.tcp.seq + 1000;
  Coalesced c({a.next(1000), b.next(1000)});
  EXPECT_EQ(c.segments(), (std::vector<std::size_t>{1, 1}));
}

TEST(GroCoalescer, NothingFollowsAShortOrPshSegment) {
  {
    Flow flow;
    Coalesced c({flow.next(1000), flow.next(500), flow.next(500)});
    EXPECT_EQ(c.segments(), (std::vector<std::size_t>{2, 1}));
  }
  {
    Flow flow;
    Coalesced c({flow.next(1000), flow.next(1000, tcp_flag::ack | tcp_flag::psh), flow.next(1000)});
    EXPECT_EQ(c.segments(), (std::vector<std::size_t>{2, 1}));
    EXPECT_EQ(c.header(0).gso_type, virtio::kGsoTcpV4);
  }
  {
    // PSH on the first segment: it is written alone.
    Flow flow;
    Coalesced c({flow.next(1000, tcp_flag::ack | tcp_flag::psh), flow.next(1000)});
    EXPECT_EQ(c.segments(), (std::vector<std::size_t>{1, 1}));
  }
}

TEST(GroCoalescer, InvalidChecksumsAreNotMerged) {
  for (std::size_t bad = 0; bad < 3; ++bad) {
    Flow flow;
    std::vector<Buf> in = {flow.next(1000), flow.next(1000), flow.next(1000)};
    in[bad][100] ^= 0xff;  // payload corrupted after the checksum was computed
    Coalesced c(in);
    const std::vector<std::size_t> expected[] = {{1, 2}, {1, 1, 1}, {2, 1}};
    EXPECT_EQ(c.segments(), expected[bad]) << bad;
    EXPECT_EQ(c.split(), in) << bad;  // the bad one is passed on unchanged
  }
  // A bad IPv4 header checksum as well.
  Flow flow;
  std::vector<Buf> in = {flow.next(1000), flow.next(1000)};
  in[1][10] ^= 1;
  EXPECT_EQ(Coalesced(in).segments(), (std::vector<std::size_t>{1, 1}));
}

TEST(GroCoalescer, StaysBelow64KiB) {
  Flow flow;
  std::vector<Buf> in;
  for (int i = 0; i < 60; ++i)
    in.push_back(flow.next(1200));
  Coalesced c(in);
  // 40 + 54 * 1200 = 64840 fits; one more segment would not.
  EXPECT_EQ(c.segments(), (std::vector<std::size_t>{54, 6}));
  EXPECT_EQ(c.split(), in);
}

TEST(GroCoalescer, StopsWhenTheScratchBufferIsFull) {
  Flow flow;
  std::vector<Buf> in = {flow.next(1000), flow.next(1000), flow.next(1000),
                         udp_packet(v4_fields(), pattern(10))};
  Coalesced c(in, 10 + 1040 + 1000);
  EXPECT_EQ(c.consumed, 2u);
  EXPECT_EQ(c.segments(), (std::vector<std::size_t>{2}));
  std::vector<Buf> rest(in.begin() + 2, in.end());
  Coalesced d(rest, 10 + 1040);
  EXPECT_EQ(d.consumed, 1u);
  // A scratch buffer that cannot take even one packet drops it rather than stalling.
  Coalesced e(in, 100);
  EXPECT_EQ(e.consumed, 4u);
  EXPECT_EQ(e.segments(), (std::vector<std::size_t>{1}));
}

}  // namespace
}  // namespace fz::net
