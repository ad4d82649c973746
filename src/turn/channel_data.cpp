#include "turn/channel_data.hpp"

namespace fz::turn {

Result<ChannelData> decode_channel_data(Bytes datagram) {
  if (datagram.size() < kChannelDataHeaderSize) {
    return Error(Errc::truncated, "ChannelData below 4 bytes");
  }
  const std::uint16_t channel = load_be16(datagram.data());
  if (!is_channel_number(channel)) return Error(Errc::out_of_range, "channel number out of range");
  const std::size_t length = load_be16(datagram.data() + 2);
  if (length != datagram.size() - kChannelDataHeaderSize) {
    return Error(Errc::malformed, "ChannelData length does not match the datagram");
  }
  return ChannelData{channel, datagram.subspan(kChannelDataHeaderSize)};
}

void encode_channel_data_header(std::span<std::uint8_t, kChannelDataHeaderSize> out,
                                std::uint16_t channel, std::uint16_t payload_size) {
  store_be16(out.data(), channel);
  store_be16(out.data() + 2, payload_size);
}

bool prepend_channel_data_header(PacketBuffer& buffer, std::uint16_t channel) {
  if (!is_channel_number(channel) || buffer.size() > 0xFFFF) return false;
  const auto payload_size = static_cast<std::uint16_t>(buffer.size());
  MutBytes header = buffer.prepend(kChannelDataHeaderSize);
  if (header.size() != kChannelDataHeaderSize) return false;
  encode_channel_data_header(header.first<kChannelDataHeaderSize>(), channel, payload_size);
  return true;
}

}  // namespace fz::turn
