// WireGuard's four messages on the wire (the WireGuard paper §5.4). Every field is little-endian;
// the first byte is the type and the next three are reserved zeros, so a message starts with the
// 32-bit little-endian type. Handshake initiations, responses and cookie replies have exact sizes;
// transport data is a 16-byte header, the ciphertext and a 16-byte tag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/bytes.hpp"

namespace fz::wireguard {

enum class MessageType : std::uint8_t {
  handshake_initiation = 1,
  handshake_response = 2,
  cookie_reply = 3,
  transport_data = 4,
};

inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kMacSize = 16;
inline constexpr std::size_t kTimestampSize = 12;  // TAI64N
inline constexpr std::size_t kCookieSize = 16;
inline constexpr std::size_t kCookieNonceSize = 24;

inline constexpr std::size_t kInitiationSize = 148;
inline constexpr std::size_t kResponseSize = 92;
inline constexpr std::size_t kCookieReplySize = 64;
inline constexpr std::size_t kDataHeaderSize = 16;
inline constexpr std::size_t kDataOverhead = kDataHeaderSize + kTagSize;  // also a keepalive's size
inline constexpr std::size_t kMaxHandshakeMessageSize = kInitiationSize;

// Field offsets.
namespace initiation {
inline constexpr std::size_t sender = 4;
inline constexpr std::size_t ephemeral = 8;
inline constexpr std::size_t encrypted_static = 40;     // 32 + tag
inline constexpr std::size_t encrypted_timestamp = 88;  // 12 + tag
inline constexpr std::size_t mac1 = 116;
inline constexpr std::size_t mac2 = 132;
}  // namespace initiation

namespace response {
inline constexpr std::size_t sender = 4;
inline constexpr std::size_t receiver = 8;
inline constexpr std::size_t ephemeral = 12;
inline constexpr std::size_t encrypted_nothing = 44;  // tag only
inline constexpr std::size_t mac1 = 60;
inline constexpr std::size_t mac2 = 76;
}  // namespace response

namespace cookie_reply {
inline constexpr std::size_t receiver = 4;
inline constexpr std::size_t nonce = 8;
inline constexpr std::size_t encrypted_cookie = 32;  // 16 + tag
}  // namespace cookie_reply

namespace data {
inline constexpr std::size_t receiver = 4;
inline constexpr std::size_t counter = 8;
inline constexpr std::size_t payload = 16;
}  // namespace data

// The message type if `datagram` is well-formed as one: the right type with zero reserved bytes,
// and the exact size (at least 32 bytes for transport data). Nothing is authenticated here.
std::optional<MessageType> classify(Bytes datagram);

inline bool is_wireguard(Bytes datagram) {
  return classify(datagram).has_value();
}

// The receiver index of a response, cookie reply or transport data message (already classified).
inline std::uint32_t receiver_index(MessageType type, Bytes message) {
  switch (type) {
    case MessageType::handshake_response:
      return load_le32(message.data() + response::receiver);
    case MessageType::cookie_reply:
      return load_le32(message.data() + cookie_reply::receiver);
    case MessageType::transport_data:
      return load_le32(message.data() + data::receiver);
    case MessageType::handshake_initiation:
      break;
  }
  return 0;
}

// Writes the 4-byte type field (type and three reserved zeros).
inline void write_type(std::uint8_t* message, MessageType type) {
  store_le32(message, static_cast<std::uint32_t>(type));
}

}  // namespace fz::wireguard
