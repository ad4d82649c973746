// Fuzzes what the portal sends: the Phoenix frame parser, the reply parser, every ingress (and
// egress) message decoder, and the channel state machine fed the frame while joined.
// Oracles: no crash/UB/exception (sanitizers; an escaping exception aborts), and a decoded
// message re-encodes to JSON that decodes to the same value.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/log.hpp"
#include "crypto/rng.hpp"
#include "portal/channel.hpp"
#include "portal/frame.hpp"
#include "portal/messages.hpp"

using namespace fz;
using namespace fz::portal;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void drain(Channel& channel) {
  while (channel.poll_transmit()) {
  }
  while (channel.poll_event()) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Logging every rejected frame would slow the fuzzer down a hundredfold.
  static const bool quiet = [] {
    log::set_filter(log::Filter(log::Level::off));
    return true;
  }();
  (void)quiet;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto frame = parse_frame(text)) {
    (void)parse_reply(frame->payload);
    (void)decode_egress(frame->event, frame->payload);
    if (auto message = decode_ingress(frame->event, frame->payload)) {
      const auto encoded = dump_json(encode_payload(*message));
      const auto again =
          decode_ingress(frame->event, nlohmann::json::parse(encoded, nullptr, false));
      check(again.ok() && *again == *message);
      check(event_name(*message) == frame->event);
      if (const auto* init = std::get_if<Init>(&*message)) (void)merge_turn_relays(init->relays);
    }
  }

  // The same bytes as a frame on a joined channel.
  static const std::array<std::uint8_t, 32> kSeed{7};
  crypto::ChaChaRng rng(kSeed);
  ChannelConfig config;
  config.url = "wss://fuzz.invalid/gateway/websocket?token=t";
  config.user_agent = "Linux/Unknown connlib/1.4.16";
  Channel channel(config, rng);
  Instant now = instant_from_nanos(1'000'000'000);
  channel.connect(now);
  channel.handle_connected(now);
  drain(channel);
  channel.handle_message(
      R"({"topic":"gateway","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":0})",
      now);
  drain(channel);
  channel.handle_message(text, now);
  drain(channel);
  now += std::chrono::seconds(31);
  channel.handle_timeout(now);
  drain(channel);
  return 0;
}
