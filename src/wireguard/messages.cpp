#include "wireguard/messages.hpp"

namespace fz::wireguard {

std::optional<MessageType> classify(Bytes datagram) {
  if (datagram.size() < 4) return std::nullopt;
  switch (load_le32(datagram.data())) {
    case 1:
      if (datagram.size() == kInitiationSize) return MessageType::handshake_initiation;
      break;
    case 2:
      if (datagram.size() == kResponseSize) return MessageType::handshake_response;
      break;
    case 3:
      if (datagram.size() == kCookieReplySize) return MessageType::cookie_reply;
      break;
    case 4:
      if (datagram.size() >= kDataOverhead) return MessageType::transport_data;
      break;
    default:
      break;
  }
  return std::nullopt;
}

}  // namespace fz::wireguard
