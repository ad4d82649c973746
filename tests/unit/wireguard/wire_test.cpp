// Message classification, the replay window on its own, and the connection id allocator.
#include <gtest/gtest.h>

#include <set>
#include <unordered_set>
#include <vector>

#include "crypto/rng.hpp"
#include "sim.hpp"
#include "wireguard/index.hpp"
#include "wireguard/messages.hpp"
#include "wireguard/replay.hpp"

namespace fz::wireguard::test {
namespace {

std::vector<std::uint8_t> message(std::uint32_t type, std::size_t size) {
  std::vector<std::uint8_t> m(size, 0);
  if (size >= 4) store_le32(m.data(), type);
  return m;
}

TEST(Messages, ClassifiesByTypeAndExactSize) {
  EXPECT_EQ(classify(message(1, 148)), MessageType::handshake_initiation);
  EXPECT_EQ(classify(message(2, 92)), MessageType::handshake_response);
  EXPECT_EQ(classify(message(3, 64)), MessageType::cookie_reply);
  EXPECT_EQ(classify(message(4, 32)), MessageType::transport_data);
  EXPECT_EQ(classify(message(4, 1500)), MessageType::transport_data);
  EXPECT_FALSE(classify(message(1, 147)));
  EXPECT_FALSE(classify(message(1, 149)));
  EXPECT_FALSE(classify(message(2, 148)));
  EXPECT_FALSE(classify(message(3, 65)));
  EXPECT_FALSE(classify(message(4, 31)));
  EXPECT_FALSE(classify(message(5, 148)));
  EXPECT_FALSE(classify(message(0, 148)));
  EXPECT_FALSE(classify(message(1, 3)));
  EXPECT_FALSE(classify({}));
  auto reserved = message(4, 40);
  reserved[2] = 1;  // reserved bytes must be zero
  EXPECT_FALSE(classify(reserved));
  // A STUN binding request is not WireGuard.
  auto stun = message(0, 20);
  stun[0] = 0x00, stun[1] = 0x01, stun[4] = 0x21, stun[5] = 0x12, stun[6] = 0xa4, stun[7] = 0x42;
  EXPECT_FALSE(is_wireguard(stun));
}

TEST(ReplayWindow, AcceptsEachCounterOnceInAnyOrderWithinTheWindow) {
  ReplayWindow w;
  EXPECT_TRUE(w.mark(0));
  EXPECT_FALSE(w.mark(0));
  EXPECT_TRUE(w.mark(2));
  EXPECT_TRUE(w.mark(1));
  EXPECT_FALSE(w.may_accept(1));
  EXPECT_TRUE(w.mark(10000));
  EXPECT_TRUE(w.may_accept(10000 - ReplayWindow::kWindow));
  EXPECT_FALSE(w.may_accept(10000 - ReplayWindow::kWindow - 1));
  EXPECT_FALSE(w.mark(2));  // fell out of the window
  EXPECT_TRUE(w.mark(9999));
  EXPECT_FALSE(w.mark(9999));
  EXPECT_GE(ReplayWindow::kWindow, 2048u);
}

TEST(ReplayWindow, ForgetsCountersWhenTheWindowJumpsAhead) {
  ReplayWindow w;
  for (std::uint64_t i = 0; i < 100; ++i)
    ASSERT_TRUE(w.mark(i));
  ASSERT_TRUE(w.mark(100 + 64 * 70));  // more than a whole ring ahead
  for (std::uint64_t i = 100 + 64 * 70 - ReplayWindow::kWindow; i < 100 + 64 * 70; ++i) {
    ASSERT_TRUE(w.may_accept(i)) << i;
  }
}

TEST(ReplayWindow, MatchesASetBasedModel) {
  // Random walk of counters against a straightforward model.
  crypto::ChaChaRng rng(seed(42));
  ReplayWindow w;
  std::set<std::uint64_t> seen;
  std::uint64_t highest = 0;
  bool any = false;
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t c;
    const auto r = rng.uniform(100);
    if (r < 70) {
      c = (any ? highest : 0) + rng.uniform(3);
    } else if (r < 95 && any) {
      c = highest - std::min<std::uint64_t>(highest, rng.uniform(4200));
    } else {
      c = (any ? highest : 0) + rng.uniform(9000);
    }
    const bool model =
        !seen.count(c) && (!any || c > highest || highest - c <= ReplayWindow::kWindow);
    ASSERT_EQ(w.may_accept(c), model) << "counter " << c << " highest " << highest;
    ASSERT_EQ(w.mark(c), model);
    if (model) {
      seen.insert(c);
      if (!any || c > highest) highest = c;
      any = true;
    }
  }
}

TEST(ReplayWindow, RejectsCountersAtRejectAfterMessages) {
  ReplayWindow w;
  EXPECT_FALSE(w.may_accept(kRejectAfterMessages));
  EXPECT_FALSE(w.mark(UINT64_MAX));
  EXPECT_TRUE(w.mark(kRejectAfterMessages - 1));
}

TEST(Index, LayoutIsConnectionIdAndSessionCounter) {
  EXPECT_EQ(make_receiver_index(0xABCDEF, 0x12), 0xABCDEF12u);
  EXPECT_EQ(connection_id_of(0xABCDEF12u), 0xABCDEFu);
  EXPECT_EQ(session_counter_of(0xABCDEF12u), 0x12);
}

TEST(Index, SessionCounterWrapsAt256) {
  Sim sim;
  std::uint8_t last = 0;
  for (int i = 0; i < 300; ++i) {
    sim.now += 1s;
    sim.a.tunnel->initiate_handshake(sim.now);
    auto t = sim.a.tunnel->poll_transmit();
    ASSERT_TRUE(t);
    const std::uint32_t index = load_le32(t->payload().data() + 4);
    EXPECT_EQ(connection_id_of(index), sim.a.tunnel->connection_id());
    EXPECT_EQ(session_counter_of(index), static_cast<std::uint8_t>(last + 1));
    last = session_counter_of(index);
    // Complete it so that the next call starts a new handshake.
    std::vector<std::uint8_t> bytes(t->payload().begin(), t->payload().end());
    sim.deliver(sim.a, sim.b, bytes);
  }
}

TEST(Index, ConnectionIdsAreUniqueAndUnordered) {
  crypto::ChaChaRng rng(seed(9));
  ConnectionIdAllocator ids(rng);
  std::vector<std::uint32_t> first;
  for (int i = 0; i < 1000; ++i)
    first.push_back(ids.allocate().value());
  std::unordered_set<std::uint32_t> unique(first.begin(), first.end());
  EXPECT_EQ(unique.size(), first.size());
  for (auto id : first)
    EXPECT_LE(id, kConnectionIdMask);
  // Not a counter: consecutive ids differ in many bits.
  int small_steps = 0;
  for (std::size_t i = 1; i < first.size(); ++i) {
    const auto d = first[i] > first[i - 1] ? first[i] - first[i - 1] : first[i - 1] - first[i];
    if (d < 16) ++small_steps;
  }
  EXPECT_LT(small_steps, 50);
}

TEST(Index, RegisterHasTheFullPeriod) {
  std::uint32_t state = 1;
  std::uint32_t steps = 0;
  do {
    state = ConnectionIdAllocator::next_state(state);
    ASSERT_NE(state, 0u);
    ASSERT_LE(state, kConnectionIdMask);
    ++steps;
  } while (state != 1 && steps < (1u << 24));
  EXPECT_EQ(steps, (1u << 24) - 1);
}

TEST(Index, AllocatorIsExhaustedAfterAFullPeriod) {
  // Every state once means every id once: ids are (state - 1) ^ mask, a bijection.
  crypto::ChaChaRng rng(seed(10));
  ConnectionIdAllocator ids(rng);
  std::uint32_t ok = 0;
  while (ids.allocate())
    ++ok;
  EXPECT_EQ(ok, (1u << 24) - 1);
  auto again = ids.allocate();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::exhausted);
}

}  // namespace
}  // namespace fz::wireguard::test
