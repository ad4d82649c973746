// Which upstream nameserver the DNS forwarder asks first.
//
// Each upstream has a smoothed round-trip time (an EWMA with weight 1/4 for the newest sample).
// Upstreams never measured count as 0 s, so each gets tried once before the measured ones compete.
// A timeout or failure sets the estimate to at least the time waited, and at least twice the old
// estimate (capped), so a dead upstream drops to the back at once. Every time one upstream is
// chosen the others' estimates decay by 2 %, so a penalised upstream is tried again after a few
// hundred queries and can win back its place (BIND's server selection works the same way).
// The reference gateway instead probes every 60 s and keeps the all-time minimum, so it never
// moves off a server that was once fastest (gateway-dataplane §7.4 QUIRK).
#pragma once

#include <cstddef>
#include <vector>

#include "base/time.hpp"

namespace fz::dns {

struct SelectorOptions {
  Duration max_estimate = std::chrono::seconds(10);
  // Per mille kept of the others' estimates each time an upstream is chosen.
  unsigned decay_per_mille = 980;
};

class UpstreamSelector {
 public:
  explicit UpstreamSelector(std::size_t count, SelectorOptions options = {});

  std::size_t size() const { return estimates_.size(); }
  // Upstream indices, lowest estimate first; ties keep the configured order.
  std::vector<std::size_t> ranking() const;
  // Records that `index` is asked first for a query (decays the others).
  void chosen(std::size_t index);
  void answered(std::size_t index, Duration rtt);
  // Timed out after `waited`, or failed (connection refused, garbage) after `waited`.
  void failed(std::size_t index, Duration waited);

  Duration estimate(std::size_t index) const { return estimates_[index]; }
  bool measured(std::size_t index) const { return measured_[index]; }

 private:
  SelectorOptions options_;
  std::vector<Duration> estimates_;
  std::vector<bool> measured_;
};

}  // namespace fz::dns
