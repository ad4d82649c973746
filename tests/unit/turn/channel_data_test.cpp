// ChannelData framing: exact length, no padding, channel range, in-place framing in headroom.
#include "turn/channel_data.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace fz::turn {
namespace {

using Buf = std::vector<std::uint8_t>;

TEST(ChannelData, DecodesExactLengthOnly) {
  const Buf good = {0x40, 0x00, 0x00, 0x03, 1, 2, 3};
  auto d = decode_channel_data(good);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->channel, 0x4000);
  EXPECT_EQ(Buf(d->payload.begin(), d->payload.end()), (Buf{1, 2, 3}));
  EXPECT_EQ(d->payload.data(), good.data() + 4);  // a view, not a copy

  const Buf padded = {0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0};
  EXPECT_FALSE(decode_channel_data(padded).ok());
  const Buf short_payload = {0x40, 0x00, 0x00, 0x04, 1, 2, 3};
  EXPECT_FALSE(decode_channel_data(short_payload).ok());
  EXPECT_FALSE(decode_channel_data(Buf{0x40, 0x00, 0x00}).ok());
  EXPECT_TRUE(decode_channel_data(Buf{0x7F, 0xFF, 0x00, 0x00}).ok());
  EXPECT_FALSE(decode_channel_data(Buf{0x3F, 0xFF, 0x00, 0x00}).ok());
  EXPECT_FALSE(decode_channel_data(Buf{0x80, 0x00, 0x00, 0x00}).ok());
}

TEST(ChannelData, FirstByteClassification) {
  EXPECT_TRUE(looks_like_channel_data(Buf{0x40}));
  EXPECT_TRUE(looks_like_channel_data(Buf{0x7F}));
  EXPECT_FALSE(looks_like_channel_data(Buf{0x00}));
  EXPECT_FALSE(looks_like_channel_data(Buf{0x80}));
  EXPECT_FALSE(looks_like_channel_data(Buf{}));
}

TEST(ChannelData, FramesInPlaceWithoutPadding) {
  PacketBuffer buffer(128, 20);
  ASSERT_TRUE(buffer.assign(Buf{1, 2, 3, 4, 5}, 20));
  const std::uint8_t* payload = buffer.data();
  ASSERT_TRUE(prepend_channel_data_header(buffer, 0x4ABC));
  EXPECT_EQ(buffer.data() + 4, payload);
  EXPECT_EQ(Buf(buffer.span().begin(), buffer.span().end()),
            (Buf{0x4A, 0xBC, 0x00, 0x05, 1, 2, 3, 4, 5}));
  EXPECT_EQ(buffer.headroom(), 16u);

  PacketBuffer no_room(128, 3);
  ASSERT_TRUE(no_room.assign(Buf{1}, 3));
  EXPECT_FALSE(prepend_channel_data_header(no_room, 0x4000));
  EXPECT_EQ(no_room.size(), 1u);
  EXPECT_FALSE(prepend_channel_data_header(buffer, 0x3FFF));

  PacketBuffer empty(16, 4);
  ASSERT_TRUE(prepend_channel_data_header(empty, 0x4000));
  EXPECT_EQ(Buf(empty.span().begin(), empty.span().end()), (Buf{0x40, 0x00, 0x00, 0x00}));
}

}  // namespace
}  // namespace fz::turn
