// Property tests of the STUN codec: built messages parse back to the same attributes in the same
// order and rebuild to the same bytes; integrity and fingerprint verify exactly when untouched;
// arbitrary bytes never crash the parser or the accessors.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "stun/credentials.hpp"
#include "stun/message.hpp"

namespace fz::stun {
namespace {

using Buf = std::vector<std::uint8_t>;

struct RawAttr {
  std::uint16_t type;
  Buf value;
};

rc::Gen<RawAttr> gen_attr() {
  // Anything but the three attributes with placement rules.
  auto type = rc::gen::suchThat(rc::gen::arbitrary<std::uint16_t>(), [](std::uint16_t t) {
    return t != attr::message_integrity && t != attr::message_integrity_sha256 &&
           t != attr::fingerprint;
  });
  return rc::gen::build<RawAttr>(
      rc::gen::set(&RawAttr::type, type),
      rc::gen::set(&RawAttr::value, rc::gen::resize(40, rc::gen::container<Buf>(
                                                            rc::gen::arbitrary<std::uint8_t>()))));
}

TransactionId gen_tid() {
  TransactionId id;
  for (auto& b : id)
    b = *rc::gen::arbitrary<std::uint8_t>();
  return id;
}

RC_GTEST_PROP(StunProperty, BuildParseRoundTrip, ()) {
  const auto attrs = *rc::gen::resize(12, rc::gen::container<std::vector<RawAttr>>(gen_attr()));
  const auto type = static_cast<std::uint16_t>(*rc::gen::inRange(0, 0x4000));
  const auto tid = gen_tid();
  const bool integrity = *rc::gen::arbitrary<bool>();
  const bool integrity256 = *rc::gen::arbitrary<bool>();
  const bool fingerprint = *rc::gen::arbitrary<bool>();
  const auto password = *rc::gen::resize(30, rc::gen::arbitrary<std::string>());

  MessageBuilder b(type, tid);
  for (const auto& a : attrs)
    b.add(a.type, a.value);
  if (integrity) b.add_message_integrity(short_term_key(password));
  if (integrity256) b.add_message_integrity_sha256(short_term_key(password));
  if (fingerprint) b.add_fingerprint();
  RC_ASSERT(b.ok());

  auto m = Message::parse(b.bytes());
  RC_ASSERT(m.ok());
  RC_ASSERT(m->type() == type);
  RC_ASSERT(m->transaction_id() == tid);
  std::size_t i = 0;
  MessageBuilder copy(m->type(), m->transaction_id());
  for (const auto& a : *m) {
    copy.add(a);
    if (i < attrs.size()) {
      RC_ASSERT(a.type == attrs[i].type);
      RC_ASSERT(Buf(a.value.begin(), a.value.end()) == attrs[i].value);
      RC_ASSERT(m->is_covered(a));
    }
    ++i;
  }
  RC_ASSERT(i == attrs.size() + integrity + integrity256 + fingerprint);
  RC_ASSERT(Buf(copy.bytes().begin(), copy.bytes().end()) ==
            Buf(b.bytes().begin(), b.bytes().end()));
  RC_ASSERT(m->verify_integrity(short_term_key(password)) == integrity);
  RC_ASSERT(m->verify_integrity_sha256(short_term_key(password)) == integrity256);
  RC_ASSERT(m->verify_fingerprint() == fingerprint);
  if (integrity) RC_ASSERT(!m->verify_integrity(short_term_key(password + "x")));
}

RC_GTEST_PROP(StunProperty, AnyCoveredBitFlipBreaksIntegrity, ()) {
  const auto attrs = *rc::gen::resize(6, rc::gen::container<std::vector<RawAttr>>(gen_attr()));
  MessageBuilder b(Method::allocate, Class::success, gen_tid());
  for (const auto& a : attrs)
    b.add(a.type, a.value);
  const std::size_t covered = b.size();
  b.add_message_integrity(short_term_key("secret")).add_fingerprint();
  Buf bytes(b.bytes().begin(), b.bytes().end());
  const auto at = *rc::gen::inRange<std::size_t>(0, covered);
  const auto bit = *rc::gen::inRange(0, 8);
  bytes[at] ^= static_cast<std::uint8_t>(1u << bit);
  auto m = Message::parse(bytes);
  if (!m.ok()) return;  // the flip broke the framing
  RC_ASSERT(!m->verify_integrity(short_term_key("secret")) || !m->verify_fingerprint());
  RC_ASSERT(!m->verify_fingerprint());
}

RC_GTEST_PROP(StunProperty, XorAddressRoundTrip, (std::uint16_t port, bool v6)) {
  Buf ip = *rc::gen::container<Buf>(v6 ? 16 : 4, rc::gen::arbitrary<std::uint8_t>());
  const net::SocketAddr addr{*net::IpAddr::from_bytes(ip), port};
  MessageBuilder b(Method::allocate, Class::success, gen_tid());
  b.add_xor_address(attr::xor_relayed_address, addr);
  auto m = Message::parse(b.bytes());
  RC_ASSERT(m.ok());
  RC_ASSERT(m->xor_address(attr::xor_relayed_address) == addr);
}

RC_GTEST_PROP(StunProperty, ArbitraryBytesNeverCrash, ()) {
  // Start from a valid header so that the attribute walk is exercised, then append noise.
  auto body = *rc::gen::resize(200, rc::gen::container<Buf>(rc::gen::arbitrary<std::uint8_t>()));
  body.resize(body.size() & ~std::size_t{3});
  Buf bytes(20, 0);
  bytes[1] = 1;
  store_be16(bytes.data() + 2, static_cast<std::uint16_t>(body.size()));
  store_be32(bytes.data() + 4, kMagicCookie);
  bytes.insert(bytes.end(), body.begin(), body.end());
  auto m = Message::parse(bytes);
  if (!m.ok()) return;
  for (const auto& a : *m)
    (void)a;
  (void)m->xor_mapped_address();
  (void)m->error_code();
  (void)m->verify_integrity(short_term_key("k"));
  (void)m->verify_integrity_sha256(short_term_key("k"));
  (void)m->verify_fingerprint();
  std::array<std::uint16_t, 4> unknown{};
  (void)m->unknown_attributes(unknown);
}

}  // namespace
}  // namespace fz::stun
