// Property: splitting what the coalescer wrote gives back exactly the segments it was given, for
// random valid TCP flows (both families, random sizes, options, flags, identifications), mixed
// with packets that must pass through unchanged.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "net/ip_packet.hpp"
#include "net/offload.hpp"

namespace fz::net {
namespace {

using Buf = std::vector<std::uint8_t>;

IpAddr gen_addr(bool v4) {
  if (v4) return IpAddr::v4_from_u32(*rc::gen::arbitrary<std::uint32_t>());
  const auto bytes =
      *rc::gen::container<std::vector<std::uint8_t>>(16, rc::gen::arbitrary<std::uint8_t>());
  return *IpAddr::from_bytes(bytes);
}

std::vector<Buf> split(Bytes write) {
  std::vector<Buf> out;
  GsoSplitter splitter;
  RC_ASSERT(splitter.load(write));
  PacketBuffer buffers[3] = {PacketBuffer(1600, 20), PacketBuffer(1600, 20),
                             PacketBuffer(1600, 20)};
  PacketBuffer* pointers[3] = {&buffers[0], &buffers[1], &buffers[2]};
  while (splitter.pending()) {  // three at a time: exercises the resume path
    const std::size_t n = splitter.next(pointers);
    RC_ASSERT(n > 0u);
    for (std::size_t i = 0; i < n; ++i)
      out.emplace_back(buffers[i].span().begin(), buffers[i].span().end());
  }
  return out;
}

RC_GTEST_PROP(OffloadProperty, SplitOfCoalesceIsIdentity, ()) {
  const bool v4 = *rc::gen::arbitrary<bool>();
  IpFields ip;
  ip.src = gen_addr(v4);
  ip.dst = gen_addr(v4);
  ip.ttl = *rc::gen::arbitrary<std::uint8_t>();
  ip.ecn = static_cast<Ecn>(*rc::gen::inRange(0, 4));
  ip.dscp = static_cast<std::uint8_t>(*rc::gen::inRange(0, 64));
  ip.dont_fragment = *rc::gen::arbitrary<bool>();
  if (!v4) ip.flow_label = static_cast<std::uint32_t>(*rc::gen::inRange(0, 1 << 20));
  std::uint16_t id = *rc::gen::arbitrary<std::uint16_t>();
  TcpFields tcp;
  tcp.src_port = *rc::gen::arbitrary<std::uint16_t>();
  tcp.dst_port = *rc::gen::arbitrary<std::uint16_t>();
  tcp.seq = *rc::gen::arbitrary<std::uint32_t>();
  tcp.ack = *rc::gen::arbitrary<std::uint32_t>();
  tcp.window = *rc::gen::arbitrary<std::uint16_t>();
  const std::size_t options = 4 * static_cast<std::size_t>(*rc::gen::inRange(0, 11));
  const std::size_t mss = static_cast<std::size_t>(*rc::gen::inRange(1, 1201));
  const int count = *rc::gen::inRange(1, 80);

  std::vector<Buf> packets;
  for (int i = 0; i < count; ++i) {
    // Mostly full segments; sometimes a short one, a PSH, another flag or an unrelated packet.
    const int kind = *rc::gen::inRange(0, 20);
    if (kind == 0) {
      Buf udp(100);
      auto n = build_udp(udp, ip, 1, 2, Buf(10, 0x5a));
      RC_ASSERT(n.ok());
      udp.resize(*n);
      packets.push_back(udp);
      continue;
    }
    const std::size_t size =
        kind == 1 ? static_cast<std::size_t>(*rc::gen::inRange<std::size_t>(0, mss + 1)) : mss;
    std::uint8_t flags = tcp_flag::ack;
    if (kind == 2) flags |= tcp_flag::psh;
    if (kind == 3)
      flags = *rc::gen::element<std::uint8_t>(tcp_flag::ack | tcp_flag::fin, tcp_flag::syn,
                                              tcp_flag::ack | tcp_flag::cwr, tcp_flag::rst);
    IpFields f = ip;
    f.identification = id++;
    TcpFields t = tcp;
    t.flags = flags;
    Buf payload = *rc::gen::container<Buf>(options + size, rc::gen::arbitrary<std::uint8_t>());
    for (std::size_t o = 0; o < options; ++o)
      payload[o] = o % 4 == 3 ? 0 : 1;  // NOPs and EOLs: any bytes do, they are compared
    Buf packet(2000);
    auto n = build_tcp(packet, f, t, payload);
    RC_ASSERT(n.ok());
    packet.resize(*n);
    if (options != 0) {
      const std::size_t l4 = v4 ? 20 : 40;
      packet[l4 + 12] = static_cast<std::uint8_t>((5 + options / 4) << 4);
      auto parsed = IpPacket::parse(packet);
      RC_ASSERT(parsed.ok());
      parsed->recompute_checksums();
    }
    tcp.seq += static_cast<std::uint32_t>(size);
    packets.push_back(std::move(packet));
  }

  std::vector<Bytes> views(packets.begin(), packets.end());
  Buf scratch(1 << 17);
  std::vector<OffloadWrite> writes;
  GroCoalescer coalescer;
  std::vector<Buf> back;
  std::size_t done = 0;
  std::size_t total_writes = 0;
  while (done < views.size()) {
    const std::size_t n = coalescer.coalesce(std::span(views).subspan(done), scratch, writes);
    RC_ASSERT(n > 0u);
    done += n;
    total_writes += writes.size();
    for (const auto& w : writes) {
      RC_ASSERT(w.length <= kVirtioNetHdrLen + kMaxOffloadPacket);
      for (auto& p : split(Bytes(scratch).subspan(w.offset, w.length)))
        back.push_back(std::move(p));
    }
  }
  RC_ASSERT(back == packets);
  // Full-sized ACK segments of one flow do merge: fewer writes than packets when two in a row.
  if (count >= 2 && total_writes == packets.size()) RC_TAG("nothing merged");
}

}  // namespace
}  // namespace fz::net
