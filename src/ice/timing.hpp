// Connectivity-check timing: str0m's retransmit schedule and the profiles Firezone runs it with
// (spec/ice-str0m-details.md §4.1–§4.2).
#pragma once

#include <cstdint>

#include "base/time.hpp"

namespace fz::ice {

struct Timing {
  // Binding attempts remembered per pair; a pair whose last `max_retransmits` attempts all went
  // unanswered is pruned.
  std::uint32_t max_retransmits = 12;
  Duration initial_rto = std::chrono::milliseconds(250);
  Duration max_rto = std::chrono::milliseconds(1500);

  // Firezone's Connecting/Connected profile (both roles at the reference commit): 15.25 s timeout.
  static constexpr Timing firezone_default() {
    return Timing{12, std::chrono::milliseconds(250), std::chrono::milliseconds(1500)};
  }
  // Firezone's Idle profile: a check every 25 s, 100 s timeout.
  static constexpr Timing firezone_idle() {
    return Timing{4, std::chrono::seconds(25), std::chrono::seconds(25)};
  }
  // str0m's own defaults: 18.75 s timeout.
  static constexpr Timing str0m_default() {
    return Timing{9, std::chrono::milliseconds(250), std::chrono::milliseconds(3000)};
  }

  // delay(0) = 0; delay(n) = min(initial_rto << min(n-1, max_retransmits), max_rto), computed in
  // whole milliseconds like str0m.
  Duration delay(std::uint32_t send_count) const {
    if (send_count == 0) return Duration::zero();
    const auto initial = std::chrono::duration_cast<std::chrono::milliseconds>(initial_rto);
    const auto cap = std::chrono::duration_cast<std::chrono::milliseconds>(max_rto);
    std::uint32_t shift = send_count - 1;
    if (shift > max_retransmits) shift = max_retransmits;
    auto rto = initial;
    for (std::uint32_t i = 0; i < shift && rto < cap; ++i)
      rto *= 2;
    return rto < cap ? rto : cap;
  }
  // How long after its last unanswered attempt a pair gives up.
  Duration last_resend_delay() const { return delay(max_retransmits); }
  // The sum of delay(0..=max_retransmits): how long a never-answered pair lives.
  Duration ice_timeout() const {
    Duration total = Duration::zero();
    for (std::uint32_t n = 0; n <= max_retransmits; ++n)
      total += delay(n);
    return total;
  }

  friend bool operator==(const Timing&, const Timing&) = default;
};

}  // namespace fz::ice
