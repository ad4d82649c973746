// STUN messages (RFC 8489) with the TURN (RFC 8656) and ICE (RFC 8445) attributes we use.
//
// Parsing never copies or allocates: `Message` is a view over the datagram that remembers where
// the integrity and fingerprint attributes sit, and attributes are read in place. Building is
// explicit and ordered: `MessageBuilder` writes attributes in exactly the order the caller adds
// them, because the peers we talk to (str0m, the Firezone relay, coturn) are strict about what
// they see, and integrity is computed over the bytes as they will go out.
//
// Integrity (RFC 8489 §14.5/§14.6) is always checked against the original bytes: the HMAC input
// is the header with its length field adjusted to end just after the integrity attribute, followed
// by every attribute before it. Attributes after MESSAGE-INTEGRITY are not covered and are ignored
// by the typed accessors, except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::stun {

inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::uint32_t kMagicCookie = 0x2112A442;
inline constexpr std::uint32_t kFingerprintXor = 0x5354554E;
inline constexpr std::size_t kIntegritySize = 20;        // HMAC-SHA1
inline constexpr std::size_t kIntegritySha256Size = 32;  // untruncated HMAC-SHA256

using TransactionId = std::array<std::uint8_t, 12>;

// The 12 method bits. Only the ones we send or receive are named; others parse as their number.
enum class Method : std::uint16_t {
  binding = 0x001,
  allocate = 0x003,
  refresh = 0x004,
  send = 0x006,
  data = 0x007,
  create_permission = 0x008,
  channel_bind = 0x009,
};

enum class Class : std::uint8_t { request = 0, indication = 1, success = 2, error = 3 };

// The 14-bit message type from method and class (RFC 8489 §5: class bits are 4 and 8).
constexpr std::uint16_t message_type(Method method, Class cls) {
  const auto m = static_cast<std::uint16_t>(method);
  const auto c = static_cast<std::uint16_t>(cls);
  return static_cast<std::uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) |
                                    ((c & 1) << 4) | ((c & 2) << 7));
}
constexpr Method method_of(std::uint16_t type) {
  return static_cast<Method>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}
constexpr Class class_of(std::uint16_t type) {
  return static_cast<Class>(((type >> 4) & 1) | ((type >> 7) & 2));
}

// Attribute types. Codes below 0x8000 are comprehension-required.
namespace attr {
inline constexpr std::uint16_t mapped_address = 0x0001;
inline constexpr std::uint16_t username = 0x0006;
inline constexpr std::uint16_t message_integrity = 0x0008;
inline constexpr std::uint16_t error_code = 0x0009;
inline constexpr std::uint16_t unknown_attributes = 0x000A;
inline constexpr std::uint16_t channel_number = 0x000C;
inline constexpr std::uint16_t lifetime = 0x000D;
inline constexpr std::uint16_t xor_peer_address = 0x0012;
inline constexpr std::uint16_t data = 0x0013;
inline constexpr std::uint16_t realm = 0x0014;
inline constexpr std::uint16_t nonce = 0x0015;
inline constexpr std::uint16_t xor_relayed_address = 0x0016;
inline constexpr std::uint16_t requested_address_family = 0x0017;
inline constexpr std::uint16_t requested_transport = 0x0019;
inline constexpr std::uint16_t message_integrity_sha256 = 0x001C;
inline constexpr std::uint16_t xor_mapped_address = 0x0020;
inline constexpr std::uint16_t priority = 0x0024;
inline constexpr std::uint16_t use_candidate = 0x0025;
// RFC 8656's code point. The Firezone relay and stun_codec use it; coturn only from 4.8.0 on.
inline constexpr std::uint16_t additional_address_family = 0x8000;
inline constexpr std::uint16_t address_error_code = 0x8001;
// The draft-ietf-tram-turnbis code points that coturn before 4.8.0 (Debian's 4.6.1) understands.
inline constexpr std::uint16_t additional_address_family_draft = 0x8032;
inline constexpr std::uint16_t address_error_code_draft = 0x8033;
inline constexpr std::uint16_t software = 0x8022;
inline constexpr std::uint16_t alternate_server = 0x8023;
inline constexpr std::uint16_t fingerprint = 0x8028;
inline constexpr std::uint16_t ice_controlled = 0x8029;
inline constexpr std::uint16_t ice_controlling = 0x802A;

constexpr bool comprehension_required(std::uint16_t type) {
  return type < 0x8000;
}
}  // namespace attr

// Error codes we react to.
namespace error {
inline constexpr std::uint16_t bad_request = 400;
inline constexpr std::uint16_t unauthorized = 401;
inline constexpr std::uint16_t forbidden = 403;
inline constexpr std::uint16_t unknown_attribute = 420;
inline constexpr std::uint16_t allocation_mismatch = 437;
inline constexpr std::uint16_t stale_nonce = 438;
inline constexpr std::uint16_t address_family_not_supported = 440;
inline constexpr std::uint16_t wrong_credentials = 441;
inline constexpr std::uint16_t unsupported_transport = 442;
inline constexpr std::uint16_t peer_address_family_mismatch = 443;
inline constexpr std::uint16_t allocation_quota_reached = 486;
inline constexpr std::uint16_t role_conflict = 487;
inline constexpr std::uint16_t server_error = 500;
inline constexpr std::uint16_t insufficient_capacity = 508;
}  // namespace error

inline constexpr std::uint8_t kTransportUdp = 17;

// One attribute as it sits in the message.
struct Attribute {
  std::uint16_t type = 0;
  Bytes value;             // without padding
  std::size_t offset = 0;  // of the attribute header, from the start of the message
};

struct ErrorCode {
  std::uint16_t code = 0;   // 300..699
  std::string_view reason;  // UTF-8, trailing NULs removed (coturn counts them in the length)
};

// Decoders for single attribute values, for callers that iterate attributes themselves.
// XOR-MAPPED/RELAYED/PEER-ADDRESS: family byte 1 (8 bytes) or 2 (20 bytes), exact length.
Result<net::SocketAddr> decode_xor_address(Bytes value, const TransactionId& transaction_id);
// MAPPED-ADDRESS / ALTERNATE-SERVER (not XORed).
Result<net::SocketAddr> decode_address(Bytes value);
Result<ErrorCode> decode_error_code(Bytes value);
// REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY: 0x01 IPv4, 0x02 IPv6, then 3 zero bytes.
Result<net::IpFamily> decode_address_family(Bytes value);

// A parsed STUN message: a view over the datagram, which must outlive it.
class Message {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Attribute;
    using difference_type = std::ptrdiff_t;
    using pointer = const Attribute*;
    using reference = const Attribute&;

    Iterator() = default;
    Iterator(Bytes message, std::size_t offset);
    const Attribute& operator*() const { return current_; }
    const Attribute* operator->() const { return &current_; }
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) {
      return a.current_.offset == b.current_.offset;
    }

   private:
    void load();
    Bytes message_;
    Attribute current_;
  };

  // Checks the header (two zero top bits, magic cookie, length a multiple of 4 that equals the
  // datagram length exactly) and the attribute framing. MESSAGE-INTEGRITY must be 20 bytes,
  // MESSAGE-INTEGRITY-SHA256 16..32 bytes in steps of 4, FINGERPRINT 4 bytes and last.
  static Result<Message> parse(Bytes datagram);
  // The cheap first-byte/cookie test used to demultiplex a socket; parse() decides.
  static bool looks_like_stun(Bytes datagram);

  std::uint16_t type() const { return load_be16(bytes_.data()); }
  Method method() const { return method_of(type()); }
  Class message_class() const { return class_of(type()); }
  TransactionId transaction_id() const;
  Bytes bytes() const { return bytes_; }

  // Every attribute in wire order, including any after MESSAGE-INTEGRITY.
  Iterator begin() const { return Iterator(bytes_, kHeaderSize); }
  Iterator end() const { return Iterator(bytes_, bytes_.size()); }

  // The first attribute of `type` among those that count: everything before the first integrity
  // attribute, plus the integrity attributes and FINGERPRINT themselves.
  std::optional<Attribute> find(std::uint16_t type) const;
  bool has(std::uint16_t type) const { return find(type).has_value(); }
  // Whether an attribute from iteration counts (lies before the first integrity attribute).
  bool is_covered(const Attribute& attribute) const { return attribute.offset < covered_end_; }

  bool has_integrity() const { return integrity_ != 0; }
  bool has_integrity_sha256() const { return integrity_sha256_ != 0; }
  bool has_fingerprint() const { return fingerprint_ != 0; }
  // HMAC-SHA1 / HMAC-SHA256 of the covered bytes with `key` (short-term: the password; long-term:
  // long_term_key()). False when the attribute is absent.
  bool verify_integrity(Bytes key) const;
  bool verify_integrity_sha256(Bytes key) const;
  bool verify_fingerprint() const;

  // Typed accessors: nullopt when the attribute is absent (or not covered) or malformed.
  std::optional<net::SocketAddr> xor_address(std::uint16_t type) const;
  std::optional<net::SocketAddr> xor_mapped_address() const {
    return xor_address(attr::xor_mapped_address);
  }
  std::optional<std::string_view> text(std::uint16_t type) const;  // USERNAME, REALM, NONCE, ...
  std::optional<std::uint32_t> u32(std::uint16_t type) const;      // LIFETIME, PRIORITY
  std::optional<std::uint64_t> u64(std::uint16_t type) const;      // ICE-CONTROLL(ED|ING)
  std::optional<ErrorCode> error_code() const;
  std::optional<std::uint16_t> channel_number() const;
  std::optional<std::uint8_t> requested_transport() const;
  std::optional<net::IpFamily> address_family(std::uint16_t type) const;
  // The types listed in UNKNOWN-ATTRIBUTES (in a 420), up to `out.size()`; returns the count.
  std::size_t unknown_attributes(std::span<std::uint16_t> out) const;

 private:
  explicit Message(Bytes bytes) : bytes_(bytes) {}
  bool verify_hmac(std::size_t offset, bool sha256, Bytes key) const;

  Bytes bytes_;
  // Offsets of the first MESSAGE-INTEGRITY(-SHA256) and of FINGERPRINT; 0 means absent.
  std::size_t integrity_ = 0;
  std::size_t integrity_sha256_ = 0;
  std::size_t fingerprint_ = 0;
  // Attributes at or after this offset are not covered (the first integrity attribute).
  std::size_t covered_end_ = 0;
};

// Builds one message, attribute by attribute, in the order given. The length field is kept
// current, so integrity and fingerprint are computed over exactly the bytes written so far.
class MessageBuilder {
 public:
  MessageBuilder(Method method, Class cls, const TransactionId& transaction_id);
  MessageBuilder(std::uint16_t type, const TransactionId& transaction_id);

  // A raw attribute; the value is padded to 4 bytes with `padding` (zero unless a test needs to
  // reproduce a sample that pads otherwise). A value longer than 65535 bytes marks the builder
  // as failed and is not written.
  MessageBuilder& add(std::uint16_t type, Bytes value, std::uint8_t padding = 0);
  MessageBuilder& add(const Attribute& attribute) { return add(attribute.type, attribute.value); }
  MessageBuilder& add_text(std::uint16_t type, std::string_view text);
  MessageBuilder& add_empty(std::uint16_t type) { return add(type, Bytes{}); }
  MessageBuilder& add_u32(std::uint16_t type, std::uint32_t value);
  MessageBuilder& add_u64(std::uint16_t type, std::uint64_t value);
  MessageBuilder& add_xor_address(std::uint16_t type, const net::SocketAddr& address);
  MessageBuilder& add_address(std::uint16_t type, const net::SocketAddr& address);
  MessageBuilder& add_error_code(std::uint16_t code, std::string_view reason);
  MessageBuilder& add_requested_transport(std::uint8_t protocol);
  MessageBuilder& add_address_family(std::uint16_t type, net::IpFamily family);
  MessageBuilder& add_channel_number(std::uint16_t number);
  MessageBuilder& add_unknown_attributes(std::span<const std::uint16_t> types);
  // MESSAGE-INTEGRITY over everything written so far, with the length field counting up to and
  // including this attribute (so a later FINGERPRINT does not change it).
  MessageBuilder& add_message_integrity(Bytes key);
  // MESSAGE-INTEGRITY-SHA256, untruncated (32 bytes).
  MessageBuilder& add_message_integrity_sha256(Bytes key);
  // FINGERPRINT: CRC-32 of everything before it, XOR 0x5354554E. Must be the last attribute.
  MessageBuilder& add_fingerprint();

  bool ok() const { return ok_; }
  Bytes bytes() const { return buffer_; }
  std::size_t size() const { return buffer_.size(); }
  std::vector<std::uint8_t> finish() && { return std::move(buffer_); }

 private:
  // Appends a header for `length` value bytes plus zeroed padding and returns the value bytes.
  std::uint8_t* append(std::uint16_t type, std::size_t length, std::uint8_t padding = 0);
  void set_length(std::size_t length);

  std::vector<std::uint8_t> buffer_;
  bool ok_ = true;
};

}  // namespace fz::stun
