// The DNS codec against hand-assembled messages: exact bytes out, exact fields in, and the
// rejection of every malformed shape the forwarder must survive.
#include "dns/message.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace fz::dns {
namespace {

using Buf = std::vector<std::uint8_t>;

Name name(std::string_view text) {
  auto n = Name::from_text(text);
  EXPECT_TRUE(n.ok()) << text;
  return *n;
}

// app.test A IN, id 0x1234, RD.
const Buf kQuery = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
                    'a',  'p',  'p',  0x04, 't',  'e',  's',  't',  0x00, 0x00, 0x01, 0x00, 0x01};

// Response: app.test CNAME www.app.test (compressed against the question), www.app.test A
// 198.51.100.7 (owner a pointer into the CNAME's RDATA).
const Buf kResponse = {
    0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,  // header
    0x03, 'a',  'p',  'p',  0x04, 't',  'e',  's',  't',  0x00, 0x00, 0x01,
    0x00, 0x01,                                                              // question @12
    0xC0, 0x0C, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x06,  // CNAME @26, ttl 60
    0x03, 'w',  'w',  'w',  0xC0, 0x0C,                                      // rdata @38
    0xC0, 0x26, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1E, 0x00, 0x04,  // A, ttl 30
    198,  51,   100,  7};

TEST(DnsMessage, BuildQueryExactBytes) {
  EXPECT_EQ(build_query(0x1234, name("app.test"), rtype::a), kQuery);
  const Buf no_rd = build_query(0xBEEF, Name(), rtype::ns, false);
  EXPECT_EQ(no_rd, (Buf{0xBE, 0xEF, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x02, 0x00, 0x01}));
}

TEST(DnsMessage, ParsesQuery) {
  auto view = parse_query(kQuery);
  ASSERT_TRUE(view.ok()) << view.error().to_string();
  EXPECT_EQ(view->header.id, 0x1234);
  EXPECT_TRUE(view->header.rd);
  EXPECT_FALSE(view->header.qr);
  EXPECT_EQ(view->qname_offset, 12u);
  EXPECT_EQ(view->qtype, rtype::a);
  EXPECT_EQ(view->qclass, kClassIn);
  EXPECT_EQ(view->question_end, kQuery.size());
  EXPECT_EQ(view->end, kQuery.size());
  EXPECT_FALSE(parse_response(kQuery).ok());
}

TEST(DnsMessage, ParsesCompressedResponse) {
  auto view = parse_response(kResponse);
  ASSERT_TRUE(view.ok()) << view.error().to_string();
  EXPECT_EQ(view->question_end, 26u);
  EXPECT_EQ(view->end, kResponse.size());

  auto m = parse(kResponse);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->header.id, 0x1234);
  EXPECT_TRUE(m->header.qr);
  EXPECT_TRUE(m->header.ra);
  EXPECT_EQ(m->header.ancount, 2);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name.to_string(), "app.test");
  ASSERT_EQ(m->answers.size(), 2u);
  EXPECT_EQ(m->answers[0].name.to_string(), "app.test");
  EXPECT_EQ(m->answers[0].rtype, rtype::cname);
  EXPECT_EQ(m->answers[0].ttl, 60u);
  // The CNAME target is expanded: context-free wire form.
  EXPECT_EQ(m->answers[0].rdata,
            (Buf{3, 'w', 'w', 'w', 3, 'a', 'p', 'p', 4, 't', 'e', 's', 't', 0}));
  EXPECT_EQ(m->answers[1].name.to_string(), "www.app.test");
  EXPECT_EQ(m->answers[1].ttl, 30u);
  EXPECT_EQ(m->answers[1].address(), net::IpAddr::v4(198, 51, 100, 7));
  EXPECT_EQ(m->answers[0].address(), std::nullopt);

  // Rebuilt without compression, it parses to the same message.
  auto rebuilt = build(*m);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->size(), 12u + 14 + (10 + 10 + 14) + (14 + 10 + 4));
  auto again = parse(*rebuilt);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *m);
}

TEST(DnsMessage, RejectsPointerLoops) {
  // A question name that points at itself.
  Buf self = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1};
  auto r = parse_view(self);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::malformed);
  // Two labels then a pointer back to the start of the same name.
  Buf cycle = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 1, 'b', 0xC0, 0x0C, 0, 1, 0, 1};
  EXPECT_EQ(parse_view(cycle).error().code(), Errc::malformed);
  // A pointer forward.
  Buf forward = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0E, 0, 0, 1, 0, 1};
  EXPECT_EQ(parse_view(forward).error().code(), Errc::malformed);
  // Two records pointing at each other: the second owner points into the first, which points
  // into the second.
  Buf mutual = {0,    1,    0x80, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0xC0, 0x18, 0, 1,
                0,    1,    0,    0, 0, 0, 0, 4, 1, 2, 3, 4,  // owner @12 -> @24
                0xC0, 0x0C, 0,    1, 0, 1, 0, 0, 0, 0, 0, 4, 1,    2,    3, 4};
  EXPECT_FALSE(parse_view(mutual).ok());
  // A label type other than 00/11.
  Buf label_type = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 1, 0, 1};
  EXPECT_EQ(parse_view(label_type).error().code(), Errc::unsupported);
}

TEST(DnsMessage, RejectsLongNamesAndTruncation) {
  // 5 labels of 63 bytes = 320 bytes.
  Buf long_name = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'x');
  }
  long_name.insert(long_name.end(), {0, 0, 1, 0, 1});
  EXPECT_EQ(parse_view(long_name).error().code(), Errc::malformed);

  for (std::size_t n = 0; n < kResponse.size(); ++n) {
    auto r = parse_view(Bytes(kResponse.data(), n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code(), Errc::truncated) << n;
  }
  // Trailing bytes after the last record are tolerated and reported through `end`.
  Buf trailing = kResponse;
  trailing.push_back(0xAA);
  auto view = parse_view(trailing);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->end, kResponse.size());
}

TEST(DnsMessage, RejectsRdataThatDoesNotFitItsType) {
  Buf a3 = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3, 1, 2, 3};
  EXPECT_EQ(parse_view(a3).error().code(), Errc::malformed);
  // CNAME whose name runs past the 3-byte RDATA into the next bytes.
  Buf cname = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0,   0,   0,   0, 0, 5, 0,
               1, 0, 0,    0, 0, 0, 0, 3, 3, 'a', 'b', 'c', 0, 0, 0};
  EXPECT_EQ(parse_view(cname).error().code(), Errc::malformed);
  // CNAME with a byte left over after its name.
  Buf extra = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0, 9};
  EXPECT_EQ(parse_view(extra).error().code(), Errc::malformed);
  // SOA with a 19-byte tail.
  Buf soa = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 6, 0, 1, 0, 0, 0, 0, 0, 0, 21, 0, 0};
  soa.insert(soa.end(), 19, 0);
  EXPECT_EQ(parse_view(soa).error().code(), Errc::malformed);
}

TEST(DnsMessage, ServfailExactBytes) {
  // Query with opcode 0, RD, CD and an EDNS OPT record; the name compressed in the OPT owner is
  // irrelevant: the SERVFAIL carries only the question.
  Buf query = kQuery;
  query[3] = 0x10;  // CD
  query[11] = 1;    // ARCOUNT
  query.insert(query.end(), {0x00, 0x00, 0x29, 0x10, 0x00, 0, 0, 0, 0, 0, 0});
  auto sf = build_servfail(query);
  ASSERT_TRUE(sf.ok()) << sf.error().to_string();
  Buf expected = kQuery;
  expected[2] = 0x81;  // QR | RD
  expected[3] = 0x82;  // RA | SERVFAIL
  EXPECT_EQ(*sf, expected);

  // RD clear stays clear; opcode is copied.
  Buf no_rd = kQuery;
  no_rd[2] = 0x10;  // opcode 2 (STATUS), RD clear
  auto sf2 = build_servfail(no_rd);
  ASSERT_TRUE(sf2.ok());
  EXPECT_EQ((*sf2)[2], 0x90);
  EXPECT_EQ((*sf2)[3], 0x82);

  // A question name that points into the header is malformed: no SERVFAIL either.
  const Buf into_header = {0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0,    0,    0,
                           0,    0,    0,    0xC0, 0x04, 0x00, 0x10, 0x00, 0x01};
  EXPECT_EQ(build_servfail(into_header).error().code(), Errc::malformed);

  // Responses and garbage get no SERVFAIL.
  EXPECT_FALSE(build_servfail(kResponse).ok());
  EXPECT_FALSE(build_servfail(Buf{1, 2, 3}).ok());
}

Buf big_txt_response(std::size_t strings) {
  Message m;
  m.header.id = 0x4242;
  m.header.qr = true;
  m.header.rd = true;
  m.header.ra = true;
  m.questions.push_back(Question{name("big.app.test"), rtype::txt, kClassIn});
  for (std::size_t i = 0; i < strings; ++i) {
    Record r{name("big.app.test"), rtype::txt, kClassIn, 30, {}};
    r.rdata.push_back(200);
    r.rdata.insert(r.rdata.end(), 200, static_cast<std::uint8_t>('a' + i));
    m.answers.push_back(r);
  }
  m.additionals.push_back(Record{Name(), rtype::opt, 1232, 0, {}});
  auto out = build(m);
  EXPECT_TRUE(out.ok());
  return *out;
}

TEST(DnsMessage, TruncatesLargeUdpAnswer) {
  Buf msg = big_txt_response(7);  // 12 + 18 + 7 * (14 + 10 + 201) + 11 = 1616 bytes
  ASSERT_EQ(msg.size(), 1616u);
  auto view = parse_response(msg);
  ASSERT_TRUE(view.ok());
  Buf original = msg;
  auto size = truncate_to(msg, *view, kMaxUdpAnswer);
  ASSERT_TRUE(size.ok());
  ASSERT_EQ(*size, 30u);
  msg.resize(*size);
  Buf expected(original.begin(), original.begin() + 30);
  expected[2] |= 0x02;  // TC
  expected[7] = 0;      // ANCOUNT
  expected[11] = 0;     // ARCOUNT
  EXPECT_EQ(msg, expected);
  auto parsed = parse_response(msg);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->header.tc);
  EXPECT_EQ(parsed->header.ancount, 0);

  // At or under the limit nothing changes.
  Buf small = big_txt_response(5);  // 12 + 18 + 5 * 225 + 11 = 1166
  Buf copy = small;
  auto v2 = parse_response(small);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(*truncate_to(small, *v2, kMaxUdpAnswer), 1166u);
  EXPECT_EQ(small, copy);
  EXPECT_EQ(*truncate_to(small, *v2, 1166), 1166u);
  EXPECT_EQ(*truncate_to(small, *v2, 1165), 30u);
  // A limit below the question section is an error.
  EXPECT_FALSE(truncate_to(small, *v2, 29).ok());
}

TEST(DnsName, TextForms) {
  EXPECT_EQ(name("app.test").wire(), std::string("\3app\4test\0", 10));
  EXPECT_EQ(name("app.test."), name("app.test"));
  EXPECT_TRUE(name(".").is_root());
  EXPECT_TRUE(name("").is_root());
  EXPECT_EQ(Name().to_string(), ".");
  EXPECT_EQ(name("a\\.b.c").label_count(), 2u);
  EXPECT_EQ(name("a\\.b.c").to_string(), "a\\.b.c");
  EXPECT_EQ(name("\\000x\\255.c").wire(), std::string("\3\0x\xff\1c\0", 7));
  EXPECT_EQ(name("\\000x\\255.c").to_string(), "\\000x\\255.c");
  EXPECT_TRUE(name("App.Test").equals_ignore_case(name("app.TEST")));
  EXPECT_FALSE(name("App.Test") == name("app.test"));
  EXPECT_FALSE(name("app.test").equals_ignore_case(name("app.tesu")));

  EXPECT_FALSE(Name::from_text("a..b").ok());
  EXPECT_FALSE(Name::from_text(".a").ok());
  EXPECT_FALSE(Name::from_text("a\\").ok());
  EXPECT_FALSE(Name::from_text("a\\25").ok());
  EXPECT_FALSE(Name::from_text("a\\256").ok());
  EXPECT_FALSE(Name::from_text(std::string(64, 'x')).ok());
  EXPECT_TRUE(Name::from_text(std::string(63, 'x')).ok());
  // 4 * 63 + 4 length bytes + root = 257 bytes: too long; 3 * 63 + 61 fits in 255.
  std::string l63(63, 'x');
  EXPECT_FALSE(Name::from_text(l63 + "." + l63 + "." + l63 + "." + l63).ok());
  EXPECT_TRUE(Name::from_text(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'y')).ok());
  EXPECT_FALSE(Name::from_text(l63 + "." + l63 + "." + l63 + "." + std::string(62, 'y')).ok());

  auto wire = Name::from_wire(Bytes(reinterpret_cast<const std::uint8_t*>("\3app\0"), 5));
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(wire->to_string(), "app");
  EXPECT_FALSE(Name::from_wire(Bytes(reinterpret_cast<const std::uint8_t*>("\3app\0\0"), 6)).ok());
}

TEST(DnsMessage, RcodeNames) {
  EXPECT_EQ(to_string(Rcode::serv_fail), "SERVFAIL");
  EXPECT_EQ(to_string(Rcode::nx_domain), "NXDOMAIN");
}

}  // namespace
}  // namespace fz::dns
