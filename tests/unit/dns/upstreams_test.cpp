// Upstream selection (EWMA, penalties, decay) with exact estimates, and resolv.conf parsing.
#include "dns/upstreams.hpp"

#include <gtest/gtest.h>

#include "dns/resolv_conf.hpp"

namespace fz::dns {
namespace {

using std::chrono::milliseconds;

TEST(UpstreamSelector, UnmeasuredFirstThenFastest) {
  UpstreamSelector s(3);
  EXPECT_EQ(s.ranking(), (std::vector<std::size_t>{0, 1, 2}));
  s.answered(0, milliseconds(80));
  EXPECT_EQ(s.ranking(), (std::vector<std::size_t>{1, 2, 0}));
  s.answered(1, milliseconds(20));
  s.answered(2, milliseconds(50));
  EXPECT_EQ(s.ranking(), (std::vector<std::size_t>{1, 2, 0}));
  EXPECT_EQ(s.estimate(1), milliseconds(20));
  // EWMA with weight 1/4: 20 + (100 - 20) / 4 = 40; then 40 + (60 - 40) / 4 = 45.
  s.answered(1, milliseconds(100));
  EXPECT_EQ(s.estimate(1), milliseconds(40));
  s.answered(1, milliseconds(60));
  EXPECT_EQ(s.estimate(1), milliseconds(45));
  EXPECT_EQ(s.ranking(), (std::vector<std::size_t>{1, 2, 0}));
  s.answered(1, milliseconds(125));  // 45 + 20 = 65 > 50
  EXPECT_EQ(s.estimate(1), milliseconds(65));
  EXPECT_EQ(s.ranking(), (std::vector<std::size_t>{2, 1, 0}));
}

TEST(UpstreamSelector, TimeoutPenalisesAndDecayRecovers) {
  UpstreamSelector s(2);
  s.answered(0, milliseconds(10));
  s.answered(1, milliseconds(30));
  s.failed(0, milliseconds(2000));
  EXPECT_EQ(s.estimate(0), milliseconds(2000));
  EXPECT_EQ(s.ranking(), (std::vector<std::size_t>{1, 0}));
  s.failed(0, milliseconds(2000));
  EXPECT_EQ(s.estimate(0), milliseconds(4000));
  for (int i = 0; i < 4; ++i)
    s.failed(0, milliseconds(2000));
  EXPECT_EQ(s.estimate(0), std::chrono::seconds(10));  // capped
  // Choosing 1 decays 0 by 2 % each time: 10 s * 0.98^n < 30 ms after n = 288.
  int n = 0;
  while (s.ranking().front() != 0) {
    s.chosen(1);
    ++n;
    ASSERT_LT(n, 1000);
  }
  EXPECT_EQ(n, 288);
  EXPECT_EQ(s.estimate(1), milliseconds(30));  // the chosen one does not decay
  // A failure of an unmeasured upstream costs at least the time waited.
  UpstreamSelector fresh(1);
  fresh.failed(0, milliseconds(0));
  EXPECT_EQ(fresh.estimate(0), milliseconds(1));
  EXPECT_TRUE(fresh.measured(0));
}

TEST(ResolvConf, NameserverLines) {
  const auto servers = parse_resolv_conf(
      "# comment\n"
      "search example.com\n"
      "nameserver 203.0.113.53\n"
      "nameserver\t2001:db8::53 # trailing comment\n"
      "  nameserver 198.51.100.1\r\n"
      "nameserver fe80::1%eth0\n"
      "nameserver not-an-ip\n"
      "; nameserver 192.0.2.1\n"
      "nameservers 192.0.2.2\n"
      "options ndots:2\n"
      "nameserver 192.0.2.3");
  ASSERT_EQ(servers.size(), 4u);
  EXPECT_EQ(servers[0].to_string(), "203.0.113.53:53");
  EXPECT_EQ(servers[1].to_string(), "[2001:db8::53]:53");
  EXPECT_EQ(servers[2].to_string(), "198.51.100.1:53");
  EXPECT_EQ(servers[3].to_string(), "192.0.2.3:53");
  EXPECT_TRUE(parse_resolv_conf("").empty());
}

}  // namespace
}  // namespace fz::dns
