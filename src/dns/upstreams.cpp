#include "dns/upstreams.hpp"

#include <algorithm>
#include <numeric>

namespace fz::dns {

UpstreamSelector::UpstreamSelector(std::size_t count, SelectorOptions options)
    : options_(options), estimates_(count, Duration::zero()), measured_(count, false) {}

std::vector<std::size_t> UpstreamSelector::ranking() const {
  std::vector<std::size_t> order(estimates_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return estimates_[a] < estimates_[b]; });
  return order;
}

void UpstreamSelector::chosen(std::size_t index) {
  for (std::size_t i = 0; i < estimates_.size(); ++i) {
    if (i == index) continue;
    estimates_[i] = estimates_[i] * options_.decay_per_mille / 1000;
  }
}

void UpstreamSelector::answered(std::size_t index, Duration rtt) {
  if (index >= estimates_.size()) return;
  rtt = std::clamp(rtt, Duration::zero(), options_.max_estimate);
  if (!measured_[index]) {
    estimates_[index] = rtt;
    measured_[index] = true;
  } else {
    estimates_[index] += (rtt - estimates_[index]) / 4;
  }
}

void UpstreamSelector::failed(std::size_t index, Duration waited) {
  if (index >= estimates_.size()) return;
  measured_[index] = true;
  estimates_[index] =
      std::min(options_.max_estimate, std::max({estimates_[index] * 2, waited, Duration(1ms)}));
}

}  // namespace fz::dns
