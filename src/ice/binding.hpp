// STUN Binding messages as ICE uses them, read and written the way str0m does
// (spec/ice-str0m-details.md §1).
//
// Reading: `BindingMessage::from` applies str0m's parse rules on top of the STUN codec's framing
// checks: known attributes with a wrong length or value reject the message, only attributes before
// the first MESSAGE-INTEGRITY count (a later duplicate overrides an earlier one), a
// MESSAGE-INTEGRITY in first position counts as absent, requests need USERNAME "a:b" (b non-empty),
// PRIORITY and MESSAGE-INTEGRITY, success responses need XOR-MAPPED-ADDRESS and MESSAGE-INTEGRITY.
// FINGERPRINT is neither required nor checked.
//
// Writing: requests are USERNAME, ICE-CONTROLLED or ICE-CONTROLLING, PRIORITY, [USE-CANDIDATE],
// MESSAGE-INTEGRITY, FINGERPRINT; success responses are XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY,
// FINGERPRINT. Nothing else is ever sent (no SOFTWARE, no indications).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"
#include "stun/message.hpp"

namespace fz::ice {

// USERNAME longer than this is a parse error in str0m (and its encoder refuses to write one).
inline constexpr std::size_t kMaxUsernameLength = 128;

// A view: the datagram must outlive it (the Node parses once and offers it to each agent).
class BindingMessage {
 public:
  // Nullopt unless `message` is a Binding message that str0m's parser accepts.
  static std::optional<BindingMessage> from(const stun::Message& message);
  // stun::Message::parse followed by from().
  static std::optional<BindingMessage> parse(Bytes datagram);

  const stun::Message& message() const { return message_; }
  stun::Class message_class() const { return message_.message_class(); }
  bool is_request() const { return message_class() == stun::Class::request; }
  bool is_indication() const { return message_class() == stun::Class::indication; }
  bool is_success() const { return message_class() == stun::Class::success; }
  bool is_error() const { return message_class() == stun::Class::error; }
  const stun::TransactionId& transaction_id() const { return transaction_id_; }

  // USERNAME split at its first ':' into the receiver's and the sender's ufrag. Always present on
  // requests; may be absent on indications, never looked at on responses.
  bool has_username() const { return has_username_; }
  std::string_view username_receiver() const { return username_receiver_; }
  std::string_view username_sender() const { return username_sender_; }
  // Requests: PRIORITY (always present) and USE-CANDIDATE.
  std::uint32_t priority() const { return priority_; }
  bool use_candidate() const { return use_candidate_; }
  // Success responses: XOR-MAPPED-ADDRESS (always present).
  const net::SocketAddr& mapped_address() const { return mapped_address_; }

  // HMAC-SHA1 over the message up to the first MESSAGE-INTEGRITY, with the length field ending
  // just after it, keyed with the password bytes.
  bool verify_integrity(std::string_view password) const;

 private:
  explicit BindingMessage(const stun::Message& message) : message_(message) {}

  stun::Message message_;
  stun::TransactionId transaction_id_{};
  bool has_username_ = false;
  std::string_view username_receiver_;
  std::string_view username_sender_;
  std::uint32_t priority_ = 0;
  bool use_candidate_ = false;
  net::SocketAddr mapped_address_;
};

// A Binding request, attributes in str0m's order. `username` is "<receiver ufrag>:<our ufrag>",
// `password` the receiver's password. Fails only for a USERNAME over 128 bytes.
Result<std::vector<std::uint8_t>> build_binding_request(const stun::TransactionId& transaction_id,
                                                        std::string_view username, bool controlling,
                                                        std::uint64_t tie_breaker,
                                                        std::uint32_t priority, bool use_candidate,
                                                        std::string_view password);

// A Binding success response: XOR-MAPPED-ADDRESS = where the request came from, integrity keyed
// with our own password.
std::vector<std::uint8_t> build_binding_success(const stun::TransactionId& transaction_id,
                                                const net::SocketAddr& mapped_address,
                                                std::string_view password);

}  // namespace fz::ice
