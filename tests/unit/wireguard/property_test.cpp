// Properties of the data path through an established pair, over arbitrary delivery orders,
// duplicates and payloads.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "sim.hpp"

namespace fz::wireguard::test {
namespace {

// A shared established pair: a handshake per property case would dominate the run time, and each
// case uses fresh counters anyway.
Sim& established() {
  static Sim sim;
  static const bool ready = (sim.handshake(), true);
  (void)ready;
  return sim;
}

RC_GTEST_PROP(WireGuardProperty, EveryPacketIsDeliveredOnceWhateverTheOrder,
              (const std::vector<std::uint16_t>& picks)) {
  Sim& sim = established();
  const std::size_t n = std::min<std::size_t>(picks.size(), 300) + 1;
  std::vector<std::vector<std::uint8_t>> sealed;
  for (std::size_t i = 0; i < n; ++i) {
    PacketBuffer b = buffer_with(ipv4_packet(40, static_cast<std::uint32_t>(i)));
    RC_ASSERT(sim.a.tunnel->encapsulate(b, sim.now).value() == Encapsulated::ready);
    sealed.emplace_back(b.span().begin(), b.span().end());
  }
  // Deliver in an arbitrary order with arbitrary duplicates, then everything once more.
  std::vector<std::size_t> order;
  for (auto p : picks)
    order.push_back(p % n);
  for (std::size_t i = 0; i < n; ++i)
    order.push_back(i);
  std::set<std::uint32_t> delivered;
  for (auto i : order) {
    auto d = sealed[i];
    auto routed = sim.b.device.route(sim.a.address, d, sim.now);
    RC_ASSERT(routed.ok());
    auto r = sim.b.tunnel->decapsulate(*routed, sim.now);
    if (r) {
      const std::uint32_t tag = load_be32(r->data() + 20);
      RC_ASSERT(tag == i);
      RC_ASSERT(delivered.insert(tag).second);  // never twice
    }
  }
  RC_ASSERT(delivered.size() == n);  // within the window nothing is lost
}

RC_GTEST_PROP(WireGuardProperty, ArbitraryPayloadsRoundTripUnpadded,
              (const std::vector<std::uint8_t>& payload, bool v6)) {
  Sim& sim = established();
  std::vector<std::uint8_t> packet =
      v6 ? ipv6_packet(payload.size()) : ipv4_packet(24 + payload.size());
  std::copy(payload.begin(), payload.end(),
            packet.end() - static_cast<std::ptrdiff_t>(payload.size()));
  PacketBuffer b = buffer_with(packet);
  RC_ASSERT(sim.b.tunnel->encapsulate(b, sim.now).value() == Encapsulated::ready);
  RC_ASSERT(b.size() == packet.size() + kDataOverhead);
  std::vector<std::uint8_t> d(b.span().begin(), b.span().end());
  auto routed = sim.a.device.route(sim.b.address, d, sim.now);
  RC_ASSERT(routed.ok());
  auto r = sim.a.tunnel->decapsulate(*routed, sim.now);
  RC_ASSERT(r.ok());
  RC_ASSERT(std::vector<std::uint8_t>(r->begin(), r->end()) == packet);
}

RC_GTEST_PROP(WireGuardProperty, CorruptedDataIsNeverDelivered,
              (std::uint16_t position, std::uint8_t flip)) {
  RC_PRE(flip != 0);
  Sim& sim = established();
  PacketBuffer b = buffer_with(ipv4_packet(100));
  RC_ASSERT(sim.a.tunnel->encapsulate(b, sim.now).value() == Encapsulated::ready);
  std::vector<std::uint8_t> d(b.span().begin(), b.span().end());
  const std::size_t at = 4 + position % (d.size() - 4);  // keep the type so it still routes
  d[at] ^= flip;
  auto routed = sim.b.device.route(sim.a.address, d, sim.now);
  if (!routed) return;
  RC_ASSERT(!sim.b.tunnel->decapsulate(*routed, sim.now).ok());
}

}  // namespace
}  // namespace fz::wireguard::test
