#include "stun/message.hpp"

#include <algorithm>
#include <cassert>

#include "crypto/hash.hpp"
#include "crypto/util.hpp"

namespace fz::stun {

namespace {

constexpr std::size_t padded(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

constexpr std::uint8_t kFamilyV4 = 0x01;
constexpr std::uint8_t kFamilyV6 = 0x02;

std::uint8_t family_code(net::IpFamily family) {
  return family == net::IpFamily::v4 ? kFamilyV4 : kFamilyV6;
}

// The XOR mask for an address: the magic cookie, then (IPv6) the transaction id.
std::array<std::uint8_t, 16> xor_mask(const TransactionId& transaction_id) {
  std::array<std::uint8_t, 16> mask{};
  store_be32(mask.data(), kMagicCookie);
  std::copy(transaction_id.begin(), transaction_id.end(), mask.begin() + 4);
  return mask;
}

Result<net::SocketAddr> decode_address_value(Bytes value, const TransactionId* transaction_id) {
  if (value.size() < 4) return Error(Errc::truncated, "address attribute too short");
  const std::uint8_t family = value[1];
  std::size_t ip_len;
  if (family == kFamilyV4) {
    ip_len = 4;
  } else if (family == kFamilyV6) {
    ip_len = 16;
  } else {
    return Error(Errc::malformed, "address attribute has an unknown family");
  }
  if (value.size() != 4 + ip_len) return Error(Errc::malformed, "address attribute length");
  std::uint16_t port = load_be16(value.data() + 2);
  std::array<std::uint8_t, 16> ip{};
  std::copy_n(value.data() + 4, ip_len, ip.begin());
  if (transaction_id != nullptr) {
    port ^= static_cast<std::uint16_t>(kMagicCookie >> 16);
    const auto mask = xor_mask(*transaction_id);
    for (std::size_t i = 0; i < ip_len; ++i)
      ip[i] ^= mask[i];
  }
  auto addr = net::IpAddr::from_bytes(Bytes(ip.data(), ip_len));
  return net::SocketAddr{*addr, port};
}

}  // namespace

Result<net::SocketAddr> decode_xor_address(Bytes value, const TransactionId& transaction_id) {
  return decode_address_value(value, &transaction_id);
}

Result<net::SocketAddr> decode_address(Bytes value) {
  return decode_address_value(value, nullptr);
}

Result<ErrorCode> decode_error_code(Bytes value) {
  if (value.size() < 4) return Error(Errc::truncated, "ERROR-CODE too short");
  const unsigned cls = value[2] & 0x07;
  const unsigned number = value[3];
  if (cls < 3 || cls > 6 || number > 99) return Error(Errc::malformed, "ERROR-CODE out of range");
  std::string_view reason(reinterpret_cast<const char*>(value.data() + 4), value.size() - 4);
  while (!reason.empty() && reason.back() == '\0')
    reason.remove_suffix(1);
  return ErrorCode{static_cast<std::uint16_t>(cls * 100 + number), reason};
}

Result<net::IpFamily> decode_address_family(Bytes value) {
  if (value.size() != 4) return Error(Errc::malformed, "address family attribute length");
  if (value[0] == kFamilyV4) return net::IpFamily::v4;
  if (value[0] == kFamilyV6) return net::IpFamily::v6;
  return Error(Errc::malformed, "unknown address family");
}

// --- Message ------------------------------------------------------------------------------------

Message::Iterator::Iterator(Bytes message, std::size_t offset) : message_(message) {
  current_.offset = offset;
  load();
}

void Message::Iterator::load() {
  const std::size_t at = current_.offset;
  if (at + 4 > message_.size()) {
    current_ = Attribute{0, {}, message_.size()};
    return;
  }
  const std::uint8_t* p = message_.data() + at;
  current_.type = load_be16(p);
  current_.value = Bytes(p + 4, load_be16(p + 2));
}

Message::Iterator& Message::Iterator::operator++() {
  current_.offset += 4 + padded(current_.value.size());
  load();
  return *this;
}

bool Message::looks_like_stun(Bytes datagram) {
  return datagram.size() >= kHeaderSize && (datagram[0] & 0xC0) == 0 &&
         load_be32(datagram.data() + 4) == kMagicCookie;
}

Result<Message> Message::parse(Bytes datagram) {
  if (datagram.size() < kHeaderSize) return Error(Errc::truncated, "STUN message below 20 bytes");
  if ((datagram[0] & 0xC0) != 0) return Error(Errc::malformed, "STUN type has top bits set");
  if (load_be32(datagram.data() + 4) != kMagicCookie) {
    return Error(Errc::malformed, "STUN magic cookie missing");
  }
  const std::size_t length = load_be16(datagram.data() + 2);
  if (length % 4 != 0) return Error(Errc::malformed, "STUN length not a multiple of 4");
  if (length != datagram.size() - kHeaderSize) {
    return Error(Errc::malformed, "STUN length does not match the datagram");
  }

  Message m(datagram);
  std::size_t at = kHeaderSize;
  while (at < datagram.size()) {
    if (m.fingerprint_ != 0) return Error(Errc::malformed, "attribute after FINGERPRINT");
    if (at + 4 > datagram.size()) return Error(Errc::truncated, "STUN attribute header truncated");
    const std::uint16_t type = load_be16(datagram.data() + at);
    const std::size_t value_len = load_be16(datagram.data() + at + 2);
    // The message length is a multiple of 4 and attributes start aligned, so a value that fits
    // also leaves room for its padding.
    if (at + 4 + value_len > datagram.size()) {
      return Error(Errc::truncated, "STUN attribute runs past the message");
    }
    switch (type) {
      case attr::message_integrity:
        if (value_len != kIntegritySize) return Error(Errc::malformed, "MESSAGE-INTEGRITY length");
        if (m.integrity_ == 0 && m.integrity_sha256_ == 0) {
          m.integrity_ = at;
          m.covered_end_ = at;
        }
        break;
      case attr::message_integrity_sha256:
        if (value_len < 16 || value_len > kIntegritySha256Size || value_len % 4 != 0) {
          return Error(Errc::malformed, "MESSAGE-INTEGRITY-SHA256 length");
        }
        if (m.integrity_sha256_ == 0) {
          m.integrity_sha256_ = at;
          if (m.integrity_ == 0) m.covered_end_ = at;
        }
        break;
      case attr::fingerprint:
        if (value_len != 4) return Error(Errc::malformed, "FINGERPRINT length");
        m.fingerprint_ = at;
        if (m.covered_end_ == 0) m.covered_end_ = at;
        break;
      default:
        break;
    }
    at += 4 + padded(value_len);
  }
  if (m.covered_end_ == 0) m.covered_end_ = datagram.size();
  return m;
}

TransactionId Message::transaction_id() const {
  TransactionId id;
  std::copy_n(bytes_.data() + 8, id.size(), id.begin());
  return id;
}

std::optional<Attribute> Message::find(std::uint16_t type) const {
  switch (type) {
    case attr::message_integrity:
      if (integrity_ == 0) return std::nullopt;
      return *Iterator(bytes_, integrity_);
    case attr::message_integrity_sha256:
      if (integrity_sha256_ == 0) return std::nullopt;
      return *Iterator(bytes_, integrity_sha256_);
    case attr::fingerprint:
      if (fingerprint_ == 0) return std::nullopt;
      return *Iterator(bytes_, fingerprint_);
    default:
      break;
  }
  for (Iterator it = begin(); it->offset < covered_end_; ++it) {
    if (it->type == type) return *it;
  }
  return std::nullopt;
}

bool Message::verify_hmac(std::size_t offset, bool sha256, Bytes key) const {
  const Attribute mac = *Iterator(bytes_, offset);
  // The HMAC input is the message up to the attribute, with the length field rewritten to end
  // just after it. Copy that prefix so the datagram stays untouched; STUN messages that reach us
  // fit the stack buffer, larger ones take the slow path.
  std::array<std::uint8_t, 1536> stack;
  std::vector<std::uint8_t> heap;
  std::uint8_t* prefix = stack.data();
  if (offset > stack.size()) {
    heap.resize(offset);
    prefix = heap.data();
  }
  std::copy_n(bytes_.data(), offset, prefix);
  store_be16(prefix + 2, static_cast<std::uint16_t>(offset - kHeaderSize + 4 + mac.value.size()));
  const Bytes input(prefix, offset);
  if (sha256) {
    const auto digest = crypto::hmac_sha256(key, input);
    return crypto::constant_time_equal(Bytes(digest.data(), mac.value.size()), mac.value);
  }
  const auto digest = crypto::hmac_sha1(key, input);
  return crypto::constant_time_equal(digest, mac.value);
}

bool Message::verify_integrity(Bytes key) const {
  return integrity_ != 0 && verify_hmac(integrity_, false, key);
}

bool Message::verify_integrity_sha256(Bytes key) const {
  return integrity_sha256_ != 0 && verify_hmac(integrity_sha256_, true, key);
}

bool Message::verify_fingerprint() const {
  if (fingerprint_ == 0) return false;
  // FINGERPRINT is last, so the length field already counts it.
  const std::uint32_t crc = crypto::crc32(bytes_.first(fingerprint_)) ^ kFingerprintXor;
  return crc == load_be32(bytes_.data() + fingerprint_ + 4);
}

std::optional<net::SocketAddr> Message::xor_address(std::uint16_t type) const {
  auto a = find(type);
  if (!a) return std::nullopt;
  auto addr = decode_xor_address(a->value, transaction_id());
  if (!addr) return std::nullopt;
  return *addr;
}

std::optional<std::string_view> Message::text(std::uint16_t type) const {
  auto a = find(type);
  if (!a) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(a->value.data()), a->value.size());
}

std::optional<std::uint32_t> Message::u32(std::uint16_t type) const {
  auto a = find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  return load_be32(a->value.data());
}

std::optional<std::uint64_t> Message::u64(std::uint16_t type) const {
  auto a = find(type);
  if (!a || a->value.size() != 8) return std::nullopt;
  return load_be64(a->value.data());
}

std::optional<ErrorCode> Message::error_code() const {
  auto a = find(attr::error_code);
  if (!a) return std::nullopt;
  auto code = decode_error_code(a->value);
  if (!code) return std::nullopt;
  return *code;
}

std::optional<std::uint16_t> Message::channel_number() const {
  auto a = find(attr::channel_number);
  if (!a || a->value.size() != 4) return std::nullopt;
  return load_be16(a->value.data());
}

std::optional<std::uint8_t> Message::requested_transport() const {
  auto a = find(attr::requested_transport);
  if (!a || a->value.size() != 4) return std::nullopt;
  return a->value[0];
}

std::optional<net::IpFamily> Message::address_family(std::uint16_t type) const {
  auto a = find(type);
  if (!a) return std::nullopt;
  auto family = decode_address_family(a->value);
  if (!family) return std::nullopt;
  return *family;
}

std::size_t Message::unknown_attributes(std::span<std::uint16_t> out) const {
  auto a = find(attr::unknown_attributes);
  if (!a) return 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < a->value.size() && n < out.size(); i += 2) {
    out[n++] = load_be16(a->value.data() + i);
  }
  return n;
}

// --- MessageBuilder -----------------------------------------------------------------------------

MessageBuilder::MessageBuilder(Method method, Class cls, const TransactionId& transaction_id)
    : MessageBuilder(message_type(method, cls), transaction_id) {}

MessageBuilder::MessageBuilder(std::uint16_t type, const TransactionId& transaction_id) {
  buffer_.reserve(256);
  buffer_.resize(kHeaderSize);
  store_be16(buffer_.data(), type & 0x3FFF);
  store_be32(buffer_.data() + 4, kMagicCookie);
  std::copy(transaction_id.begin(), transaction_id.end(), buffer_.begin() + 8);
}

void MessageBuilder::set_length(std::size_t length) {
  store_be16(buffer_.data() + 2, static_cast<std::uint16_t>(length));
}

std::uint8_t* MessageBuilder::append(std::uint16_t type, std::size_t length, std::uint8_t padding) {
  const std::size_t at = buffer_.size();
  const std::size_t total = 4 + padded(length);
  if (!ok_ || length > 0xFFFF || at - kHeaderSize + total > 0xFFFF) {
    ok_ = false;
    return nullptr;
  }
  buffer_.resize(at + total, padding);
  store_be16(buffer_.data() + at, type);
  store_be16(buffer_.data() + at + 2, static_cast<std::uint16_t>(length));
  set_length(buffer_.size() - kHeaderSize);
  return buffer_.data() + at + 4;
}

MessageBuilder& MessageBuilder::add(std::uint16_t type, Bytes value, std::uint8_t padding) {
  if (auto* p = append(type, value.size(), padding); p != nullptr && !value.empty()) {
    std::copy(value.begin(), value.end(), p);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_text(std::uint16_t type, std::string_view text) {
  return add(type, Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

MessageBuilder& MessageBuilder::add_u32(std::uint16_t type, std::uint32_t value) {
  if (auto* p = append(type, 4)) store_be32(p, value);
  return *this;
}

MessageBuilder& MessageBuilder::add_u64(std::uint16_t type, std::uint64_t value) {
  if (auto* p = append(type, 8)) store_be64(p, value);
  return *this;
}

MessageBuilder& MessageBuilder::add_xor_address(std::uint16_t type,
                                                const net::SocketAddr& address) {
  const std::size_t ip_len = address.ip.size();
  if (auto* p = append(type, 4 + ip_len)) {
    TransactionId id;
    std::copy_n(buffer_.data() + 8, id.size(), id.begin());
    const auto mask = xor_mask(id);
    p[0] = 0;
    p[1] = family_code(address.family());
    store_be16(p + 2, address.port ^ static_cast<std::uint16_t>(kMagicCookie >> 16));
    const Bytes ip = address.ip.bytes();
    for (std::size_t i = 0; i < ip_len; ++i)
      p[4 + i] = ip[i] ^ mask[i];
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_address(std::uint16_t type, const net::SocketAddr& address) {
  const Bytes ip = address.ip.bytes();
  if (auto* p = append(type, 4 + ip.size())) {
    p[0] = 0;
    p[1] = family_code(address.family());
    store_be16(p + 2, address.port);
    std::copy(ip.begin(), ip.end(), p + 4);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_error_code(std::uint16_t code, std::string_view reason) {
  if (auto* p = append(attr::error_code, 4 + reason.size())) {
    p[0] = 0;
    p[1] = 0;
    p[2] = static_cast<std::uint8_t>((code / 100) & 0x07);
    p[3] = static_cast<std::uint8_t>(code % 100);
    std::copy(reason.begin(), reason.end(), p + 4);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_requested_transport(std::uint8_t protocol) {
  if (auto* p = append(attr::requested_transport, 4)) p[0] = protocol;
  return *this;
}

MessageBuilder& MessageBuilder::add_address_family(std::uint16_t type, net::IpFamily family) {
  if (auto* p = append(type, 4)) p[0] = family_code(family);
  return *this;
}

MessageBuilder& MessageBuilder::add_channel_number(std::uint16_t number) {
  if (auto* p = append(attr::channel_number, 4)) store_be16(p, number);
  return *this;
}

MessageBuilder& MessageBuilder::add_unknown_attributes(std::span<const std::uint16_t> types) {
  if (auto* p = append(attr::unknown_attributes, 2 * types.size())) {
    for (std::size_t i = 0; i < types.size(); ++i)
      store_be16(p + 2 * i, types[i]);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_message_integrity(Bytes key) {
  const std::size_t covered = buffer_.size();
  if (auto* p = append(attr::message_integrity, kIntegritySize)) {
    // The length field now ends just after this attribute, which is what the HMAC must see.
    const auto mac = crypto::hmac_sha1(key, Bytes(buffer_.data(), covered));
    std::copy(mac.begin(), mac.end(), p);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_message_integrity_sha256(Bytes key) {
  const std::size_t covered = buffer_.size();
  if (auto* p = append(attr::message_integrity_sha256, kIntegritySha256Size)) {
    const auto mac = crypto::hmac_sha256(key, Bytes(buffer_.data(), covered));
    std::copy(mac.begin(), mac.end(), p);
  }
  return *this;
}

MessageBuilder& MessageBuilder::add_fingerprint() {
  const std::size_t covered = buffer_.size();
  if (auto* p = append(attr::fingerprint, 4)) {
    store_be32(p, crypto::crc32(Bytes(buffer_.data(), covered)) ^ kFingerprintXor);
  }
  return *this;
}

}  // namespace fz::stun
