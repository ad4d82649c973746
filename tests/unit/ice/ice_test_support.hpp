// Helpers shared by the ICE unit tests: hex fixtures, a scripted RNG that hands out the fixture
// tie-breaker and transaction id, the portal fixture credentials, and address shorthands.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.hpp"
#include "base/rng.hpp"
#include "crypto/rng.hpp"
#include "ice/agent.hpp"
#include "net/ip_addr.hpp"

namespace fz::ice::test {

using Buf = std::vector<std::uint8_t>;

inline Buf hex(std::string_view text) {
  auto bytes = hex_decode(text);
  EXPECT_TRUE(bytes.ok()) << text;
  return bytes.ok() ? *bytes : Buf{};
}

inline std::string to_hex(const Buf& b) {
  return hex_encode(Bytes(b.data(), b.size()));
}

inline net::SocketAddr addr(std::string_view text) {
  auto a = net::SocketAddr::parse(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : net::SocketAddr{};
}

// The portal fixture credentials (spec/ice-str0m-details.md, top).
inline Credentials client_creds() {
  return {"hgwh", "j2fqufatn7xlrrvv6fsvea"};
}
inline Credentials gateway_creds() {
  return {"ejqt", "zfjrrjdkbci42t2axyd45a"};
}

inline constexpr std::uint64_t kFixtureTieBreaker = 0x0123456789abcdefull;
inline constexpr stun::TransactionId kFixtureTransaction = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

// Hands out queued byte strings to fill() calls of exactly their size, and ChaCha output
// otherwise. Queue the tie-breaker first (the agent draws it when constructed), then transaction
// ids.
class ScriptedRng final : public Rng {
 public:
  ScriptedRng() : fallback_(seed()) {}

  void push_u64(std::uint64_t v) {
    Buf b(8);
    for (int i = 0; i < 8; ++i)
      b[i] = static_cast<std::uint8_t>(v >> (8 * i));  // next_u64 reads native (LE) order
    script_.push_back(std::move(b));
  }
  void push_transaction(const stun::TransactionId& id) {
    script_.push_back(Buf(id.begin(), id.end()));
  }
  void fill(std::span<std::uint8_t> out) override {
    if (!script_.empty() && script_.front().size() == out.size()) {
      std::copy(script_.front().begin(), script_.front().end(), out.begin());
      script_.pop_front();
      return;
    }
    fallback_.fill(out);
  }

 private:
  static std::array<std::uint8_t, 32> seed() {
    std::array<std::uint8_t, 32> s{};
    s[0] = 0x1c;
    return s;
  }
  std::deque<Buf> script_;
  crypto::ChaChaRng fallback_;
};

inline std::vector<Transmit> drain_transmits(Agent& agent) {
  std::vector<Transmit> out;
  while (auto t = agent.poll_transmit())
    out.push_back(std::move(*t));
  return out;
}

inline std::vector<Event> drain_events(Agent& agent) {
  std::vector<Event> out;
  while (auto e = agent.poll_event())
    out.push_back(std::move(*e));
  return out;
}

// An arbitrary origin for virtual time, far from zero so that "now - 60 s" stays positive.
inline Instant t0() {
  return Instant(std::chrono::seconds(100000));
}
inline Instant at_ms(std::int64_t ms) {
  return t0() + std::chrono::milliseconds(ms);
}
inline std::int64_t ms_of(Instant t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - t0()).count();
}

}  // namespace fz::ice::test
