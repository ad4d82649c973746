// Property tests of the DNS codec: built messages parse back to themselves; arbitrary bytes never
// crash the parsers, parse and parse_view agree, and whatever parses also yields a SERVFAIL or
// truncates to a valid message.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "dns/message.hpp"

namespace fz::dns {
namespace {

using Buf = std::vector<std::uint8_t>;

rc::Gen<Name> gen_name() {
  return rc::gen::map(
      rc::gen::container<std::vector<std::string>>(rc::gen::resize(
          4, rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::arbitrary<char>())))),
      [](const std::vector<std::string>& labels) {
        std::string wire;
        for (const auto& label : labels) {
          const std::string l = label.substr(0, kMaxLabelLength);
          if (wire.size() + l.size() + 2 > kMaxNameLength) break;
          wire.push_back(static_cast<char>(l.size()));
          wire += l;
        }
        wire.push_back('\0');
        auto name =
            Name::from_wire(Bytes(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()));
        RC_ASSERT(name.ok());
        return *name;
      });
}

Buf random_bytes(std::size_t max) {
  return *rc::gen::resize(static_cast<int>(max),
                          rc::gen::container<Buf>(rc::gen::arbitrary<std::uint8_t>()));
}

Record gen_record() {
  Record r;
  r.name = *gen_name();
  r.rclass = *rc::gen::arbitrary<std::uint16_t>();
  r.ttl = *rc::gen::arbitrary<std::uint32_t>();
  switch (*rc::gen::inRange(0, 6)) {
    case 0:
      r.rtype = rtype::a;
      r.rdata = *rc::gen::container<Buf>(4, rc::gen::arbitrary<std::uint8_t>());
      break;
    case 1:
      r.rtype = rtype::aaaa;
      r.rdata = *rc::gen::container<Buf>(16, rc::gen::arbitrary<std::uint8_t>());
      break;
    case 2: {
      r.rtype = *rc::gen::element(rtype::cname, rtype::ns, rtype::ptr, rtype::dname);
      const Name target = *gen_name();
      r.rdata.assign(target.wire().begin(), target.wire().end());
      break;
    }
    case 3: {
      r.rtype = rtype::mx;
      r.rdata = {0, 10};
      const Name target = *gen_name();
      r.rdata.insert(r.rdata.end(), target.wire().begin(), target.wire().end());
      break;
    }
    case 4: {
      r.rtype = rtype::soa;
      const Name a = *gen_name();
      const Name b = *gen_name();
      r.rdata.assign(a.wire().begin(), a.wire().end());
      r.rdata.insert(r.rdata.end(), b.wire().begin(), b.wire().end());
      const Buf tail = *rc::gen::container<Buf>(20, rc::gen::arbitrary<std::uint8_t>());
      r.rdata.insert(r.rdata.end(), tail.begin(), tail.end());
      break;
    }
    default:
      // TXT or a type without names in its RDATA.
      r.rtype = *rc::gen::element(rtype::txt, std::uint16_t{99}, std::uint16_t{65280});
      r.rdata = random_bytes(300);
      break;
  }
  return r;
}

Message gen_message() {
  Message m;
  Header& h = m.header;
  h.id = *rc::gen::arbitrary<std::uint16_t>();
  h.qr = *rc::gen::arbitrary<bool>();
  h.opcode = *rc::gen::inRange<std::uint8_t>(0, 16);
  h.aa = *rc::gen::arbitrary<bool>();
  h.tc = *rc::gen::arbitrary<bool>();
  h.rd = *rc::gen::arbitrary<bool>();
  h.ra = *rc::gen::arbitrary<bool>();
  h.z = *rc::gen::arbitrary<bool>();
  h.ad = *rc::gen::arbitrary<bool>();
  h.cd = *rc::gen::arbitrary<bool>();
  h.rcode = *rc::gen::inRange<std::uint8_t>(0, 16);
  const int questions = *rc::gen::inRange(0, 3);
  for (int i = 0; i < questions; ++i) {
    m.questions.push_back(Question{*gen_name(), *rc::gen::arbitrary<std::uint16_t>(),
                                   *rc::gen::arbitrary<std::uint16_t>()});
  }
  for (auto* section : {&m.answers, &m.authorities, &m.additionals}) {
    const int count = *rc::gen::inRange(0, 4);
    for (int i = 0; i < count; ++i)
      section->push_back(gen_record());
  }
  h.qdcount = static_cast<std::uint16_t>(m.questions.size());
  h.ancount = static_cast<std::uint16_t>(m.answers.size());
  h.nscount = static_cast<std::uint16_t>(m.authorities.size());
  h.arcount = static_cast<std::uint16_t>(m.additionals.size());
  return m;
}

RC_GTEST_PROP(DnsProperty, BuildParseRoundTrip, ()) {
  const Message m = gen_message();
  auto wire = build(m);
  RC_ASSERT(wire.ok());
  auto parsed = parse(*wire);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == m);
  auto view = parse_view(*wire);
  RC_ASSERT(view.ok());
  RC_ASSERT(view->end == wire->size());
  auto again = build(*parsed);
  RC_ASSERT(again.ok());
  RC_ASSERT(*again == *wire);
}

RC_GTEST_PROP(DnsProperty, NameTextRoundTrip, ()) {
  const Name n = *gen_name();
  auto back = Name::from_text(n.to_string());
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == n);
}

RC_GTEST_PROP(DnsProperty, ResponsesTruncateToValidMessages, ()) {
  Message m = gen_message();
  m.header.qr = true;
  m.questions.resize(1, Question{*gen_name(), rtype::txt, kClassIn});
  auto wire = build(m);
  RC_ASSERT(wire.ok());
  auto view = parse_response(*wire);
  RC_ASSERT(view.ok());
  const std::size_t limit = *rc::gen::inRange<std::size_t>(view->question_end, wire->size() + 2);
  Buf bytes = *wire;
  auto size = truncate_to(bytes, *view, limit);
  RC_ASSERT(size.ok());
  RC_ASSERT(*size <= limit);
  bytes.resize(*size);
  auto cut = parse(bytes);
  RC_ASSERT(cut.ok());
  RC_ASSERT(cut->questions == m.questions);
  if (wire->size() <= limit) {
    RC_ASSERT(bytes == *wire);
  } else {
    RC_ASSERT(cut->header.tc);
    RC_ASSERT(cut->answers.empty() && cut->authorities.empty() && cut->additionals.empty());
    RC_ASSERT(cut->header.id == m.header.id);
  }
}

RC_GTEST_PROP(DnsProperty, ArbitraryBytesNeverCrash, ()) {
  // Half the time a valid message with random bytes flipped, otherwise pure noise.
  Buf bytes;
  if (*rc::gen::arbitrary<bool>()) {
    auto wire = build(gen_message());
    RC_ASSERT(wire.ok());
    bytes = *wire;
    const int flips = *rc::gen::inRange(1, 8);
    for (int i = 0; i < flips && !bytes.empty(); ++i) {
      bytes[*rc::gen::inRange<std::size_t>(0, bytes.size())] = *rc::gen::arbitrary<std::uint8_t>();
    }
  } else {
    bytes = random_bytes(200);
  }
  auto view = parse_view(bytes);
  auto full = parse(bytes);
  RC_ASSERT(view.ok() == full.ok());
  if (view.ok()) {
    auto rebuilt = build(*full);
    RC_ASSERT(rebuilt.ok());
    auto again = parse(*rebuilt);
    RC_ASSERT(again.ok());
    RC_ASSERT(*again == *full);
    if (!view->header.qr && view->header.qdcount == 1) {
      auto sf = build_servfail(bytes);
      RC_ASSERT(sf.ok());
      auto reply = parse_response(*sf);
      RC_ASSERT(reply.ok());
      RC_ASSERT(reply->header.id == view->header.id);
      RC_ASSERT(reply->header.rcode == 2);
    }
  }
}

}  // namespace
}  // namespace fz::dns
