#include "ice/binding.hpp"

#include "stun/credentials.hpp"

namespace fz::ice {

namespace {

// Attribute codes str0m knows that the STUN codec has no name for.
constexpr std::uint16_t kStr0mSoftware = 0x0022;  // str0m's (wrong) SOFTWARE code

bool is_utf8(Bytes b) {
  std::size_t i = 0;
  while (i < b.size()) {
    const std::uint8_t c = b[i];
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= b.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((b[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// str0m's decode_str: UTF-8 of at most 128 bytes.
bool valid_text(Bytes value) {
  return value.size() <= kMaxUsernameLength && is_utf8(value);
}

}  // namespace

std::optional<BindingMessage> BindingMessage::from(const stun::Message& message) {
  if (message.method() != stun::Method::binding) return std::nullopt;
  BindingMessage m(message);
  m.transaction_id_ = message.transaction_id();

  std::optional<Bytes> username;
  std::optional<std::uint32_t> priority;
  std::optional<net::SocketAddr> mapped;
  std::size_t integrity_offset = 0;  // from the start of the message; 0: none
  for (const stun::Attribute& a : message) {
    if (integrity_offset != 0) continue;  // everything after MESSAGE-INTEGRITY is ignored
    const Bytes v = a.value;
    switch (a.type) {
      case stun::attr::username:
        if (!valid_text(v)) return std::nullopt;
        username = v;
        break;
      case stun::attr::message_integrity:
        // The codec has checked the length. At offset 0 str0m takes it for "no integrity".
        if (a.offset == stun::kHeaderSize) {
          integrity_offset = 1;  // stop decoding, but remember there is no usable integrity
        } else {
          integrity_offset = a.offset;
        }
        break;
      case stun::attr::error_code: {
        if (v.size() < 4 || v[0] != 0 || v[1] != 0 || (v[2] & 0xF8) != 0) return std::nullopt;
        if (v[2] < 3 || v[2] > 6) return std::nullopt;
        if (!valid_text(v.subspan(4))) return std::nullopt;
        break;
      }
      case stun::attr::channel_number: {
        if (v.size() != 4) return std::nullopt;
        const std::uint16_t channel = load_be16(v.data());
        if (channel < 0x4000 || channel > 0x7FFF) return std::nullopt;
        break;
      }
      case stun::attr::lifetime:
        if (v.size() != 4) return std::nullopt;
        break;
      case stun::attr::xor_peer_address:
      case stun::attr::xor_relayed_address:
      case stun::attr::xor_mapped_address: {
        auto addr = stun::decode_xor_address(v, m.transaction_id_);
        if (!addr) return std::nullopt;
        if (a.type == stun::attr::xor_mapped_address) mapped = *addr;
        break;
      }
      case stun::attr::realm:
      case stun::attr::nonce:
      case kStr0mSoftware:
        if (!valid_text(v)) return std::nullopt;
        break;
      case stun::attr::priority:
        if (v.size() != 4) return std::nullopt;
        priority = load_be32(v.data());
        break;
      case stun::attr::use_candidate:
        if (!v.empty()) return std::nullopt;
        m.use_candidate_ = true;
        break;
      case stun::attr::ice_controlled:
      case stun::attr::ice_controlling:
        if (v.size() != 8) return std::nullopt;
        break;
      default:
        break;  // unknown attributes are ignored, comprehension-required or not
    }
  }
  const bool has_integrity = integrity_offset > 1;

  if (username) {
    const std::string_view text(reinterpret_cast<const char*>(username->data()), username->size());
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && colon + 1 < text.size()) {
      m.has_username_ = true;
      m.username_receiver_ = text.substr(0, colon);
      m.username_sender_ = text.substr(colon + 1);
    }
  }

  switch (message.message_class()) {
    case stun::Class::success:
      if (!has_integrity || !mapped) return std::nullopt;
      m.mapped_address_ = *mapped;
      break;
    case stun::Class::request:
      if (!has_integrity || !m.has_username_ || !priority) return std::nullopt;
      m.priority_ = *priority;
      break;
    case stun::Class::indication:
    case stun::Class::error:
      break;
  }
  return m;
}

std::optional<BindingMessage> BindingMessage::parse(Bytes datagram) {
  auto message = stun::Message::parse(datagram);
  if (!message) return std::nullopt;
  return from(*message);
}

bool BindingMessage::verify_integrity(std::string_view password) const {
  // A MESSAGE-INTEGRITY in first position does not count (see from()).
  const auto mi = message_.find(stun::attr::message_integrity);
  if (!mi || mi->offset == stun::kHeaderSize) return false;
  return message_.verify_integrity(stun::short_term_key(password));
}

Result<std::vector<std::uint8_t>> build_binding_request(const stun::TransactionId& transaction_id,
                                                        std::string_view username, bool controlling,
                                                        std::uint64_t tie_breaker,
                                                        std::uint32_t priority, bool use_candidate,
                                                        std::string_view password) {
  if (username.size() > kMaxUsernameLength) {
    return Error(Errc::out_of_range, "USERNAME longer than 128 bytes");
  }
  stun::MessageBuilder b(stun::Method::binding, stun::Class::request, transaction_id);
  b.add_text(stun::attr::username, username);
  b.add_u64(controlling ? stun::attr::ice_controlling : stun::attr::ice_controlled, tie_breaker);
  b.add_u32(stun::attr::priority, priority);
  if (use_candidate) b.add_empty(stun::attr::use_candidate);
  b.add_message_integrity(stun::short_term_key(password));
  b.add_fingerprint();
  return std::move(b).finish();
}

std::vector<std::uint8_t> build_binding_success(const stun::TransactionId& transaction_id,
                                                const net::SocketAddr& mapped_address,
                                                std::string_view password) {
  stun::MessageBuilder b(stun::Method::binding, stun::Class::success, transaction_id);
  b.add_xor_address(stun::attr::xor_mapped_address, mapped_address);
  b.add_message_integrity(stun::short_term_key(password));
  b.add_fingerprint();
  return std::move(b).finish();
}

}  // namespace fz::ice
