// Fuzzes the test client's parsers: the stub resolver's DNS codec, the portal `client` channel
// messages as ClientState decodes them, and TUN packets into ClientState (DNS queries to the
// sentinel included). The first byte picks the input kind.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/log.hpp"
#include "client_state.hpp"
#include "dns.hpp"

namespace {

fz::client::ClientState& state() {
  static fz::client::ClientState* s = [] {
    fz::log::set_filter(fz::log::Filter(fz::log::Level::off));
    std::array<std::uint8_t, 32> k{};
    k[0] = 1;
    auto* c = new fz::client::ClientState(
        fz::crypto::SecretKey::from_bytes(std::span<const std::uint8_t, 32>(k)), {}, fz::Instant{},
        fz::unix_from_seconds(1'700'000'000));
    const auto init = nlohmann::json::parse(
        R"({"interface":{"ipv4":"100.64.0.2","ipv6":"fd00:2021:1111::2"},"resources":[)"
        R"({"id":"73037362-715d-4a83-a749-f18eadd970e6","type":"cidr","address":"10.0.0.0/24","name":"n","gateway_groups":[]},)"
        R"({"id":"03000143-e25e-45c7-aafb-144990e57dcd","type":"dns","address":"*.app.test","name":"d","gateway_groups":[]}]})");
    c->handle_portal_message("init", init, fz::Instant{});
    return c;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const fz::Bytes input(data + 1, size - 1);
  auto& client = state();
  switch (data[0] % 4) {
    case 0: {
      (void)fz::client::dns::parse_query(input);
      (void)fz::client::dns::parse_response(input);
      break;
    }
    case 1: {
      // "<event>\n<json payload>"
      const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
      const auto nl = text.find('\n');
      if (nl == std::string_view::npos) break;
      auto payload = nlohmann::json::parse(text.substr(nl + 1), nullptr, false);
      if (payload.is_discarded()) break;
      client.handle_portal_message(text.substr(0, nl), payload, fz::Instant{});
      break;
    }
    default: {
      fz::PacketBuffer buffer(fz::client::ClientState::kBufferCapacity + 64, fz::p2p::kHeadroom);
      if (!buffer.assign(input, fz::p2p::kHeadroom)) break;
      client.handle_tun_input(std::move(buffer), fz::Instant{});
      break;
    }
  }
  while (client.poll_transmit()) {
  }
  while (client.poll_tun_packet()) {
  }
  while (client.poll_event()) {
  }
  return 0;
}
