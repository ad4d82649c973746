// Fuzzes the STUN parser, its accessors and integrity checks, the ChannelData decoder, and a TURN
// allocation's response handling. Oracles: no crash/UB (sanitizers); a parsed message rebuilds
// from its raw attributes to the same bytes; an allocation never emits a malformed datagram.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/log.hpp"
#include "crypto/rng.hpp"
#include "stun/credentials.hpp"
#include "stun/message.hpp"
#include "turn/allocation.hpp"
#include "turn/channel_data.hpp"

using namespace fz;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void exercise(const stun::Message& m) {
  for (const auto& a : m)
    (void)a;
  (void)m.xor_mapped_address();
  (void)m.xor_address(stun::attr::xor_relayed_address);
  (void)m.error_code();
  (void)m.text(stun::attr::nonce);
  (void)m.u32(stun::attr::lifetime);
  (void)m.u64(stun::attr::ice_controlling);
  (void)m.channel_number();
  (void)m.address_family(stun::attr::additional_address_family);
  std::uint16_t unknown[4];
  (void)m.unknown_attributes(unknown);
  (void)m.verify_integrity(stun::short_term_key("password"));
  (void)m.verify_integrity_sha256(stun::short_term_key("password"));
  (void)m.verify_fingerprint();

  stun::MessageBuilder copy(m.type(), m.transaction_id());
  for (const auto& a : m)
    copy.add(a);
  // Padding bytes may differ; everything else must come back identical.
  check(copy.ok() && copy.size() == m.bytes().size());
  auto again = stun::Message::parse(copy.bytes());
  check(again.ok());
  check(std::memcmp(copy.bytes().data(), m.bytes().data(), stun::kHeaderSize) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    log::set_filter(log::Filter(log::Level::off));
    return true;
  }();
  (void)quiet;
  const Bytes input(data, size);
  if (auto m = stun::Message::parse(input)) exercise(*m);
  if (auto cd = turn::decode_channel_data(input)) {
    check(cd->payload.size() + turn::kChannelDataHeaderSize == size);
  }

  // Feed the input to an allocation as a response to its first request (the transaction id is
  // patched in, which a fuzzer could never guess).
  if (size < stun::kHeaderSize) return 0;
  static const std::array<std::uint8_t, 32> seed{};
  crypto::ChaChaRng rng(seed);
  const auto relay = *net::SocketAddr::parse("203.0.113.10:3478");
  const auto local = *net::SocketAddr::parse("198.51.100.2:52625");
  const Instant now = instant_from_nanos(0);
  turn::Allocation allocation(turn::RelaySocket{relay, std::nullopt},
                              turn::Credentials("1700000000:salt", "password"), {}, rng, now);
  auto request = allocation.poll_transmit();
  check(request.has_value());
  std::vector<std::uint8_t> response(data, data + size);
  std::memcpy(response.data() + 8, request->payload.data() + 8, 12);
  (void)allocation.handle_input(relay, local, response, now);
  // If the input was a BINDING success, an ALLOCATE follows; answer it with the input again.
  for (int rounds = 0; rounds < 8; ++rounds) {
    auto t = allocation.poll_transmit();
    if (!t) break;
    check(stun::Message::parse(t->payload).ok());
    std::memcpy(response.data() + 8, t->payload.data() + 8, 12);
    (void)allocation.handle_input(relay, local, response, now);
  }
  allocation.handle_timeout(now + std::chrono::seconds(30));
  while (allocation.poll_event()) {
  }
  return 0;
}
