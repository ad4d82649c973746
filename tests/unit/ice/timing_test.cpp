// Check timing: str0m's delay function and timeouts per profile, and the exact schedule of one
// pair's checks — fresh, keepalive, outage and pruning — for the Firezone default, Firezone idle
// and str0m default profiles (spec/ice-str0m-details.md §4.1–§4.3).
#include "ice/timing.hpp"

#include <gtest/gtest.h>

#include "ice/pair.hpp"
#include "ice_test_support.hpp"

namespace fz::ice {
namespace {

using std::chrono::milliseconds;
using test::at_ms;
using test::ms_of;

TEST(Timing, DelaysAndTimeouts) {
  const Timing fz = Timing::firezone_default();
  EXPECT_EQ(fz.delay(0), milliseconds(0));
  EXPECT_EQ(fz.delay(1), milliseconds(250));
  EXPECT_EQ(fz.delay(2), milliseconds(500));
  EXPECT_EQ(fz.delay(3), milliseconds(1000));
  EXPECT_EQ(fz.delay(4), milliseconds(1500));
  EXPECT_EQ(fz.delay(12), milliseconds(1500));
  EXPECT_EQ(fz.delay(1000), milliseconds(1500));
  EXPECT_EQ(fz.ice_timeout(), milliseconds(15250));
  EXPECT_EQ(fz.last_resend_delay(), milliseconds(1500));

  const Timing idle = Timing::firezone_idle();
  EXPECT_EQ(idle.delay(1), std::chrono::seconds(25));
  EXPECT_EQ(idle.delay(4), std::chrono::seconds(25));
  EXPECT_EQ(idle.ice_timeout(), std::chrono::seconds(100));

  const Timing str0m = Timing::str0m_default();
  EXPECT_EQ(str0m.delay(4), milliseconds(2000));
  EXPECT_EQ(str0m.delay(5), milliseconds(3000));
  EXPECT_EQ(str0m.ice_timeout(), milliseconds(18750));
}

struct Schedule {
  std::vector<std::int64_t> checks;
  std::int64_t pruned_at = -1;
};

// Drives one pair the way the agent does: wake at its next check time, prune if it is no longer
// possible, otherwise send; the peer answers 10 ms later while `up(t)`.
template <class Up>
Schedule run_pair(const Timing& timing, Up up, std::int64_t end_ms) {
  crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{});
  CandidatePair pair(1, 0, 0, 0);
  Schedule s;
  std::optional<std::pair<std::int64_t, stun::TransactionId>> answer;
  std::int64_t now = 0;
  while (now <= end_ms) {
    const std::int64_t next = ms_of(pair.next_check(at_ms(now), timing));
    if (answer && answer->first <= next) {
      now = answer->first;
      pair.record_response(at_ms(now), answer->second, 0);
      answer.reset();
      pair.next_check(at_ms(now), timing);
      continue;
    }
    now = std::max(now, next);
    if (!pair.is_still_possible(at_ms(now), timing)) {
      s.pruned_at = now;
      return s;
    }
    const auto id = pair.new_attempt(at_ms(now), timing, rng);
    s.checks.push_back(now);
    if (up(now)) answer = std::make_pair(now + 10, id);
  }
  return s;
}

std::vector<std::int64_t> every(std::int64_t first, std::int64_t step, std::int64_t until) {
  std::vector<std::int64_t> out;
  for (std::int64_t t = first; t < until; t += step)
    out.push_back(t);
  return out;
}

TEST(PairSchedule, FreshPairNeverAnswered) {
  const auto s = run_pair(
      Timing::firezone_default(), [](std::int64_t) { return false; }, 60000);
  const std::vector<std::int64_t> expected = {0,    250,  750,  1750,  3250,  4750,
                                              6250, 7750, 9250, 10750, 12250, 13750};
  EXPECT_EQ(s.checks, expected);
  EXPECT_EQ(s.pruned_at, 15250);
}

TEST(PairSchedule, FirezoneKeepaliveAndOutage) {
  const auto s = run_pair(
      Timing::firezone_default(), [](std::int64_t t) { return t < 10000; }, 60000);
  // 0, 0.25, 0.75, 1.75, 3.25, then every 1.5 s; the first lost one is at 10.75.
  std::vector<std::int64_t> expected = {0, 250, 750, 1750};
  for (auto t : every(3250, 1500, 10751))
    expected.push_back(t);
  // T = 10.75: then T+1.5, T+2, T+3, then every 1.5 s: 12 unanswered, the last at T+15.
  const std::int64_t t = 10750;
  for (auto d : {1500, 2000, 3000})
    expected.push_back(t + d);
  for (auto x : every(t + 4500, 1500, t + 15001))
    expected.push_back(x);
  EXPECT_EQ(s.checks, expected);
  EXPECT_EQ(s.pruned_at, t + 16500);
}

TEST(PairSchedule, IdleKeepaliveAndOutage) {
  const auto s = run_pair(
      Timing::firezone_idle(), [](std::int64_t t) { return t < 200000; }, 1000000);
  // Fresh schedule at 25 s steps (delay(n) is 25 s for every n >= 1).
  std::vector<std::int64_t> expected = every(0, 25000, 200000);
  const std::int64_t t = 200000;  // the first unanswered check
  for (auto x : {t, t + 25000, t + 50000, t + 75000})
    expected.push_back(x);
  EXPECT_EQ(s.checks, expected);
  EXPECT_EQ(s.pruned_at, t + 100000);
}

TEST(PairSchedule, Str0mDefaultKeepaliveAndOutage) {
  const auto s = run_pair(
      Timing::str0m_default(), [](std::int64_t t) { return t < 20000; }, 100000);
  // 0, 0.25, 0.75, 1.75, 3.75, then every 3 s.
  std::vector<std::int64_t> expected = {0, 250, 750, 1750};
  for (auto x : every(3750, 3000, 20001))
    expected.push_back(x);
  const std::int64_t t = expected.back() + 3000;
  for (auto d : {0, 3000, 3500, 4500, 6500, 9500, 12500, 15500, 18500})
    expected.push_back(t + d);
  EXPECT_EQ(s.checks, expected);
  EXPECT_EQ(s.pruned_at, t + 21500);
}

// Switching profiles recomputes the next check (str0m busts the cache on RTO changes).
TEST(PairSchedule, ProfileSwitchTakesEffectAtOnce) {
  crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{});
  CandidatePair pair(1, 0, 0, 0);
  const Timing idle = Timing::firezone_idle();
  const Timing fz = Timing::firezone_default();
  std::int64_t now = 0;
  for (int i = 0; i < 20; ++i) {
    now = ms_of(pair.next_check(at_ms(now), fz));
    const auto id = pair.new_attempt(at_ms(now), fz, rng);
    pair.record_response(at_ms(now + 10), id, 0);
  }
  EXPECT_EQ(ms_of(pair.next_check(at_ms(now + 10), fz)), now + 1500);
  pair.invalidate_schedule();
  // History of 12 answered attempts: k = 12, delay = 25 s, capped at now + 25 s.
  EXPECT_EQ(ms_of(pair.next_check(at_ms(now + 10), idle)), now + 25000);
}

}  // namespace
}  // namespace fz::ice
