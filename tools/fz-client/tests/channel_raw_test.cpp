// portal::Channel with raw_ingress, as fz-client uses it on the `client` topic.
#include <gtest/gtest.h>

#include "crypto/rng.hpp"
#include "portal/channel.hpp"

namespace fz::portal {
namespace {

struct RawChannel : ::testing::Test {
  crypto::ChaChaRng rng{std::array<std::uint8_t, 32>{}};
  Channel channel{[] {
                    ChannelConfig c;
                    c.url = "ws://portal/client/websocket?token=t";
                    c.topic = "client";
                    c.raw_ingress = true;
                    return c;
                  }(),
                  rng};
  Instant now{};

  std::vector<std::string> frames() {
    std::vector<std::string> out;
    while (auto f = channel.poll_transmit())
      out.push_back(*f);
    return out;
  }
  std::vector<Event> events() {
    std::vector<Event> out;
    while (auto e = channel.poll_event())
      out.push_back(std::move(*e));
    return out;
  }
};

TEST_F(RawChannel, JoinsClientAndDeliversPushesUndecoded) {
  channel.connect(now);
  channel.handle_connected(now);
  auto sent = frames();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], R"({"topic":"client","event":"phx_join","payload":null,"ref":0})");
  channel.handle_message(
      R"({"topic":"client","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":0})",
      now);
  events();
  channel.handle_message(
      R"({"topic":"client","event":"flow_creation_failed","payload":{"resource_id":"x","reason":"offline"},"ref":null})",
      now);
  channel.handle_message(
      R"({"topic":"client","event":"resource_deleted","payload":"abc","ref":null})", now);
  auto got = events();
  ASSERT_EQ(got.size(), 2u);
  auto* raw = std::get_if<RawMessage>(&got[0]);
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(raw->event, "flow_creation_failed");
  EXPECT_EQ(raw->payload.at("reason"), "offline");
  auto* deleted = std::get_if<RawMessage>(&got[1]);
  ASSERT_NE(deleted, nullptr);
  EXPECT_EQ(deleted->payload, "abc");

  channel.send_raw("create_flow", R"({"resource_id":"r","connected_gateway_ids":[]})", now);
  sent = frames();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(
      sent[0],
      R"({"topic":"client","event":"create_flow","payload":{"resource_id":"r","connected_gateway_ids":[]},"ref":1})");
}

}  // namespace
}  // namespace fz::portal
