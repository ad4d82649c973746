// TURN ChannelData (RFC 8656 §12.4): a 4-byte header (channel number, payload length) in front of
// the payload. Over UDP we never pad it and accept only an exact length, as the Firezone relay and
// snownet do: a datagram whose length field disagrees with its size is not ChannelData.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/buffer.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"

namespace fz::turn {

inline constexpr std::size_t kChannelDataHeaderSize = 4;
inline constexpr std::uint16_t kMinChannelNumber = 0x4000;
inline constexpr std::uint16_t kMaxChannelNumber = 0x7FFF;

constexpr bool is_channel_number(std::uint16_t number) {
  return number >= kMinChannelNumber && number <= kMaxChannelNumber;
}

struct ChannelData {
  std::uint16_t channel = 0;
  Bytes payload;  // a subspan of the datagram
};

// The first-byte test: ChannelData starts with 0b01 (0x40..0x7F); decode() decides.
inline bool looks_like_channel_data(Bytes datagram) {
  return !datagram.empty() && (datagram[0] & 0xC0) == 0x40;
}

Result<ChannelData> decode_channel_data(Bytes datagram);

// Writes the header for `payload_size` bytes into `out`.
void encode_channel_data_header(std::span<std::uint8_t, kChannelDataHeaderSize> out,
                                std::uint16_t channel, std::uint16_t payload_size);

// Frames the buffer's contents as ChannelData in place, using 4 bytes of its headroom. False (and
// the buffer unchanged) if the headroom is short, the payload exceeds 65535 bytes or the channel
// number is out of range.
bool prepend_channel_data_header(PacketBuffer& buffer, std::uint16_t channel);

}  // namespace fz::turn
