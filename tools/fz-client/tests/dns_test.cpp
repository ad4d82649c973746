#include "dns.hpp"

#include <gtest/gtest.h>

namespace fz::client::dns {
namespace {

// `dig app.internal A` with RD, no EDNS.
const std::vector<std::uint8_t> kQuery = {0x12, 0x34, 0x01, 0x00, 0,   1,   0, 0,   0,   0,
                                          0,    0,    3,    'a',  'p', 'p', 8, 'i', 'n', 't',
                                          'e',  'r',  'n',  'a',  'l', 0,   0, 1,   0,   1};

TEST(Dns, ParsesAQuery) {
  auto q = parse_query(kQuery);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->id, 0x1234);
  EXPECT_EQ(q->name, "app.internal");
  EXPECT_EQ(q->qtype, kTypeA);
  EXPECT_EQ(q->qclass, kClassIn);
  EXPECT_EQ(q->question_end, kQuery.size());
}

TEST(Dns, BuildsTheExactAnswer) {
  auto q = parse_query(kQuery);
  ASSERT_TRUE(q.ok());
  const std::vector<net::IpAddr> ips = {*net::IpAddr::parse("100.96.0.1")};
  const auto r = build_response(*q, kQuery, kRcodeNoError, ips, 1);
  std::vector<std::uint8_t> expected = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
  expected.insert(expected.end(), kQuery.begin() + 12, kQuery.end());
  expected.insert(expected.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 100, 96, 0, 1});
  EXPECT_EQ(r, expected);
  auto parsed = parse_response(r);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->addresses, ips);
  EXPECT_EQ(parsed->name, "app.internal");
  const auto refused = build_response(*q, kQuery, kRcodeRefused, {}, 1);
  EXPECT_EQ(refused[3], 0x85);
  EXPECT_EQ(refused[7], 0);
}

TEST(Dns, RejectsWhatIsNotAPlainQuery) {
  auto bad = kQuery;
  bad[2] |= 0x80;  // a response
  EXPECT_FALSE(parse_query(bad).ok());
  bad = kQuery;
  bad[5] = 2;  // two questions
  EXPECT_FALSE(parse_query(bad).ok());
  bad = kQuery;
  bad[12] = 0xc0;  // compressed
  EXPECT_FALSE(parse_query(bad).ok());
  for (std::size_t n = 0; n < kQuery.size(); ++n)
    EXPECT_FALSE(parse_query(std::span(kQuery.data(), n)).ok()) << n;
}

}  // namespace
}  // namespace fz::client::dns
