// Fuzzes the TUN offload code (net/offload.hpp). The first byte picks the target:
//  - even: the rest is one TUN read (virtio-net header + packet) for GsoSplitter. Oracles: no
//    crash/UB, segments never longer than the read, at most as many as announced, and every
//    segment of a super-packet parses as an IP packet whose checksums verify.
//  - odd: the rest is a sequence of packets (2-byte big-endian length, then the bytes) for
//    GroCoalescer, with a scratch size from the second byte. Oracles: writes lie inside scratch,
//    in order, without overlap; each one loads into the splitter; splitting it gives back exactly
//    the input packets it stands for (checksum fields aside: 0x0000 and 0xffff are equal in ones'
//    complement, and a super-packet's segments get freshly computed ones, which must verify).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/buffer.hpp"
#include "net/ip_packet.hpp"
#include "net/offload.hpp"

using namespace fz;
using namespace fz::net;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Buffers {
  std::vector<PacketBuffer> storage;
  std::vector<PacketBuffer*> pointers;
  Buffers() {
    for (int i = 0; i < 3; ++i)
      storage.emplace_back(kMaxOffloadPacket + 64, 20);
    for (auto& b : storage)
      pointers.push_back(&b);
  }
};

Buffers& buffers() {
  static Buffers b;
  return b;
}

void fuzz_split(Bytes read) {
  GsoSplitter splitter;
  if (!splitter.load(read)) {
    check(!splitter.pending());
    return;
  }
  const bool super = splitter.stats().super_packets == 1;
  const std::size_t announced = splitter.remaining();
  check(announced >= 1 && (super || announced == 1));
  std::size_t produced = 0;
  while (splitter.pending()) {
    const std::size_t n = splitter.next(buffers().pointers);
    check(n <= buffers().pointers.size());
    for (std::size_t i = 0; i < n; ++i) {
      const PacketBuffer& b = buffers().storage[i];
      check(b.headroom() == 20 && b.size() <= read.size() - kVirtioNetHdrLen);
      if (super) {
        auto view = IpPacketView::parse(b.span());
        check(view.ok());
        check(view->size() == b.size());
        check(view->verify_checksums().ok());
      }
    }
    produced += n;
    if (n == 0) break;
  }
  check(produced <= announced);
}

// Checksum field offsets of an IP packet the coalescer may have merged (TCP in plain IPv4/IPv6).
bool same_but_checksums(Bytes a, Bytes b) {
  if (a.size() != b.size()) return false;
  std::vector<std::uint8_t> x(a.begin(), a.end()), y(b.begin(), b.end());
  if (x.size() >= 40 && x[0] == 0x45 && x[9] == ip_proto::tcp) {
    x[10] = x[11] = y[10] = y[11] = 0;
    x[36] = x[37] = y[36] = y[37] = 0;
  } else if (x.size() >= 60 && (x[0] >> 4) == 6 && x[6] == ip_proto::tcp) {
    x[56] = x[57] = y[56] = y[57] = 0;
  }
  return x == y;
}

void fuzz_coalesce(Bytes data) {
  if (data.empty()) return;
  const std::size_t scratch_size = std::size_t{data[0]} * 512;
  data = data.subspan(1);
  std::vector<Bytes> packets;
  while (data.size() >= 2) {
    const std::size_t len = std::min<std::size_t>(load_be16(data.data()), data.size() - 2);
    packets.push_back(data.subspan(2, len));
    data = data.subspan(2 + len);
  }
  std::vector<std::uint8_t> scratch(scratch_size);
  std::vector<OffloadWrite> writes;
  GroCoalescer coalescer;
  std::size_t done = 0;
  while (done < packets.size()) {
    const std::size_t consumed =
        coalescer.coalesce(std::span(packets).subspan(done), scratch, writes);
    check(consumed > 0 && consumed <= packets.size() - done);
    std::size_t end = 0;
    std::size_t next_packet = 0;
    for (const OffloadWrite& w : writes) {
      check(w.offset >= end && w.offset + w.length <= scratch.size());
      check(w.length > kVirtioNetHdrLen && w.length <= kVirtioNetHdrLen + kMaxOffloadPacket);
      check(w.first_packet >= next_packet && w.first_packet + w.segments <= consumed);
      end = w.offset + w.length;
      next_packet = w.first_packet + w.segments;
      GsoSplitter splitter;
      check(splitter.load(Bytes(scratch).subspan(w.offset, w.length)));
      check(splitter.remaining() == w.segments);
      std::size_t index = w.first_packet;
      while (splitter.pending()) {
        const std::size_t n = splitter.next(buffers().pointers);
        check(n > 0);
        for (std::size_t i = 0; i < n; ++i) {
          const Bytes original = packets[done + index++];
          const Bytes out = buffers().storage[i].span();
          if (w.segments == 1) {
            check(std::equal(out.begin(), out.end(), original.begin(), original.end()));
          } else {
            check(same_but_checksums(out, original));
            auto view = IpPacketView::parse(out);
            check(view.ok() && view->verify_checksums().ok());
          }
        }
      }
    }
    done += consumed;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 2 * kMaxOffloadPacket) return 0;
  const Bytes rest(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    fuzz_split(rest);
  } else {
    fuzz_coalesce(rest);
  }
  return 0;
}
