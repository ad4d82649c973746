// libFuzzer target for everything the dev portal parses from the outside: the configuration
// file, upgrade request targets and User-Agents, Phoenix frames on gateway and client sockets,
// and control API requests. The first byte picks the mode; for mode 2 the rest is a list of
// lines: `g <frame>` / `c <frame>` to the gateway / client socket, `t <seconds>` to let time
// pass, `C <method> <target> <body>` for a control request.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/log.hpp"
#include "crypto/rng.hpp"
#include "dev-portal/config.hpp"
#include "dev-portal/control.hpp"
#include "dev-portal/portal.hpp"

namespace {

using namespace fz;
using namespace fz::devportal;

constexpr std::string_view kConfig = R"({
  "account": {"id": "24eb631e-c529-4182-a746-d99ee66f7426", "slug": "fuzz"},
  "sites": [{"id": "bf56f32d-7b2c-4f5d-a784-788977d014a4", "name": "s", "tokens": ["gw"]}],
  "clients": [{"id": "3abd725a-733b-4801-ac16-72f26cd98a24", "token": "cl",
               "ipv4": "100.64.0.10", "ipv6": "fd00:2021:1111::a"}],
  "resources": [{"id": "73037362-715d-4a83-a749-f18eadd970e6", "type": "cidr", "address": "10.0.0.0/8",
                 "site_ids": ["bf56f32d-7b2c-4f5d-a784-788977d014a4"], "filters": [{"protocol": "tcp", "ports": ["80"]}]},
                {"id": "03000143-e25e-45c7-aafb-144990e57dcd", "type": "internet",
                 "site_ids": ["bf56f32d-7b2c-4f5d-a784-788977d014a4"]}],
  "policies": [{"id": "11111111-1111-4111-8111-111111111111", "client_id": "3abd725a-733b-4801-ac16-72f26cd98a24",
                "resource_id": "73037362-715d-4a83-a749-f18eadd970e6", "expires_in": 60},
               {"id": "22222222-2222-4222-8222-222222222222", "client_id": "3abd725a-733b-4801-ac16-72f26cd98a24",
                "resource_id": "03000143-e25e-45c7-aafb-144990e57dcd"}],
  "relays": [{"id": "0a133356-7a9e-4b9a-b413-0d95a5720fd8", "addresses": ["127.0.0.1:3478", "[::1]:3478"],
              "secret": "s"}]
})";

void drain(DevPortal& portal) {
  while (portal.poll_output()) {
  }
}

void run_session(std::string_view input) {
  crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{});
  Instant now = instant_from_nanos(0);
  DevPortal portal(*parse_config_text(kConfig), rng, now, unix_from_seconds(1700000000));
  const auto gw = portal.handle_upgrade(
      "/gateway/websocket?token=gw&external_id=e&name=n&public_key="
      "uMBCkAxTewfSgypIyxdQ18uCi84HLtKmQJy0wvQrYWY%3D",
      "x connlib/1.4.16", now);
  const auto cl = portal.handle_upgrade(
      "/client/websocket?token=cl&external_id=e&public_key="
      "fiAjSBWDgQfD1CFJkTwOf4zg%2B1QhH0eTT%2BoLaVIMpH8%3D",
      "x connlib/1.5.3", now);
  const SocketId g = std::get<SocketId>(gw), c = std::get<SocketId>(cl);
  portal.handle_frame(g, R"({"topic":"gateway","event":"phx_join","payload":null,"ref":0})", now);
  portal.handle_frame(c, R"({"topic":"client","event":"phx_join","payload":null,"ref":0})", now);
  drain(portal);
  while (!input.empty()) {
    const auto nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    if (line.size() < 2) continue;
    const std::string_view rest = line.substr(2);
    switch (line[0]) {
      case 'g':
        portal.handle_frame(g, rest, now);
        break;
      case 'c':
        portal.handle_frame(c, rest, now);
        break;
      case 't':
        now += std::chrono::seconds(rest.size() * 7);
        portal.handle_timeout(now);
        break;
      case 'C': {
        const auto sp1 = rest.find(' ');
        const std::string_view method = rest.substr(0, sp1);
        std::string_view tail =
            sp1 == std::string_view::npos ? std::string_view() : rest.substr(sp1 + 1);
        const auto sp2 = tail.find(' ');
        const std::string_view target = tail.substr(0, sp2);
        const std::string_view body =
            sp2 == std::string_view::npos ? std::string_view() : tail.substr(sp2 + 1);
        // Reading files is not part of the input surface.
        if (target.starts_with("/replay") && body.find("\"file\"") != std::string_view::npos) break;
        (void)handle_control(portal, method, target, body, now);
        break;
      }
      default:
        break;
    }
    drain(portal);
    (void)portal.poll_timeout();
  }
  (void)portal.gateways_json();
  (void)portal.clients_json();
  (void)portal.log().entries_since(0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    log::set_filter(log::Filter(log::Level::off));
    return true;
  }();
  (void)quiet;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      (void)parse_config_text(input);
      break;
    case 1: {
      crypto::ChaChaRng rng(std::array<std::uint8_t, 32>{});
      DevPortal portal(*parse_config_text(kConfig), rng, instant_from_nanos(0),
                       unix_from_seconds(1700000000));
      const auto split = input.find('\n');
      (void)portal.handle_upgrade(input.substr(0, split),
                                  split == std::string_view::npos ? "" : input.substr(split + 1),
                                  instant_from_nanos(0));
      break;
    }
    default:
      run_session(input);
      break;
  }
  return 0;
}
