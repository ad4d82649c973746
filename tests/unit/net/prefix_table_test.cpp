#include "net/prefix_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace fz::net {
namespace {

IpAddr ip(std::string_view text) {
  return *IpAddr::parse(text);
}
Cidr cidr(std::string_view text) {
  return *Cidr::parse(text);
}

std::string match(const PrefixTable<std::string>& t, std::string_view address) {
  const std::string* v = t.longest_match(ip(address));
  return v ? *v : "-";
}

TEST(PrefixTable, EmptyMatchesNothing) {
  PrefixTable<int> t;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.longest_match(ip("1.2.3.4")), nullptr);
  EXPECT_EQ(t.longest_match(ip("::1")), nullptr);
  EXPECT_FALSE(t.erase(cidr("0.0.0.0/0")));
}

TEST(PrefixTable, LongestPrefixWinsWithOverlaps) {
  PrefixTable<std::string> t;
  EXPECT_TRUE(t.insert(cidr("0.0.0.0/0"), "default"));
  EXPECT_TRUE(t.insert(cidr("10.0.0.0/8"), "ten"));
  EXPECT_TRUE(t.insert(cidr("10.1.0.0/16"), "ten-one"));
  EXPECT_TRUE(t.insert(cidr("10.1.2.3/32"), "host"));
  EXPECT_TRUE(t.insert(cidr("10.128.0.0/9"), "ten-high"));
  EXPECT_EQ(t.size(), 5u);

  EXPECT_EQ(match(t, "10.1.2.3"), "host");
  EXPECT_EQ(match(t, "10.1.2.4"), "ten-one");
  EXPECT_EQ(match(t, "10.2.0.0"), "ten");
  EXPECT_EQ(match(t, "10.200.0.0"), "ten-high");
  EXPECT_EQ(match(t, "11.0.0.0"), "default");
  EXPECT_EQ(match(t, "::1"), "-");  // families are separate

  auto entry = t.longest_match_entry(ip("10.1.9.9"));
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->first, cidr("10.1.0.0/16"));
  EXPECT_EQ(*entry->second, "ten-one");
}

TEST(PrefixTable, BothFamilies) {
  PrefixTable<std::string> t;
  t.insert(cidr("100.64.0.0/11"), "tunnel4");
  t.insert(cidr("fd00:2021:1111::/107"), "tunnel6");
  t.insert(cidr("fd00:2021:1111::5/128"), "client6");
  t.insert(cidr("::/0"), "any6");
  EXPECT_EQ(match(t, "100.64.0.5"), "tunnel4");
  EXPECT_EQ(match(t, "100.96.0.5"), "-");
  EXPECT_EQ(match(t, "fd00:2021:1111::5"), "client6");
  EXPECT_EQ(match(t, "fd00:2021:1111::6"), "tunnel6");
  EXPECT_EQ(match(t, "fd00:2021:1111:8000::1"), "any6");
  EXPECT_EQ(match(t, "::ffff:100.64.0.5"), "any6");
}

TEST(PrefixTable, InsertReplacesAndFindIsExact) {
  PrefixTable<int> t;
  EXPECT_TRUE(t.insert(cidr("10.0.0.0/8"), 1));
  EXPECT_FALSE(t.insert(cidr("10.9.9.9/8"), 2));  // same prefix after masking
  EXPECT_EQ(t.size(), 1u);
  ASSERT_NE(t.find(cidr("10.0.0.0/8")), nullptr);
  EXPECT_EQ(*t.find(cidr("10.0.0.0/8")), 2);
  EXPECT_EQ(t.find(cidr("10.0.0.0/9")), nullptr);
  EXPECT_EQ(t.find(cidr("10.0.0.0/7")), nullptr);
  EXPECT_EQ(t.find(cidr("10.0.0.0/32")), nullptr);
  *t.find(cidr("10.0.0.0/8")) = 3;
  EXPECT_EQ(*t.longest_match(ip("10.1.1.1")), 3);
}

TEST(PrefixTable, EraseCollapsesAndKeepsOthers) {
  PrefixTable<int> t;
  t.insert(cidr("10.0.0.0/8"), 8);
  t.insert(cidr("10.1.0.0/16"), 16);
  t.insert(cidr("10.2.0.0/16"), 17);  // forces an internal node at 10.0.0.0/14
  t.insert(cidr("10.1.1.0/24"), 24);
  EXPECT_FALSE(t.erase(cidr("10.0.0.0/14")));  // internal node, not a route
  EXPECT_FALSE(t.erase(cidr("10.1.1.0/25")));
  EXPECT_TRUE(t.erase(cidr("10.1.0.0/16")));
  EXPECT_FALSE(t.erase(cidr("10.1.0.0/16")));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(*t.longest_match(ip("10.1.1.1")), 24);
  EXPECT_EQ(*t.longest_match(ip("10.1.2.1")), 8);
  EXPECT_EQ(*t.longest_match(ip("10.2.2.1")), 17);
  EXPECT_TRUE(t.erase(cidr("10.0.0.0/8")));
  EXPECT_EQ(t.longest_match(ip("10.1.2.1")), nullptr);
  EXPECT_TRUE(t.erase(cidr("10.1.1.0/24")));
  EXPECT_TRUE(t.erase(cidr("10.2.0.0/16")));
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.longest_match(ip("10.2.2.1")), nullptr);
}

TEST(PrefixTable, HostRoutesAndDefaultRoute) {
  PrefixTable<int> t;
  t.insert(cidr("255.255.255.255/32"), 1);
  t.insert(cidr("0.0.0.0/32"), 2);
  t.insert(cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), 3);
  t.insert(cidr("::/128"), 4);
  EXPECT_EQ(*t.longest_match(ip("255.255.255.255")), 1);
  EXPECT_EQ(*t.longest_match(ip("0.0.0.0")), 2);
  EXPECT_EQ(t.longest_match(ip("0.0.0.1")), nullptr);
  EXPECT_EQ(*t.longest_match(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 3);
  EXPECT_EQ(*t.longest_match(ip("::")), 4);
  EXPECT_EQ(t.longest_match(ip("::1")), nullptr);
  t.insert(cidr("0.0.0.0/0"), 5);
  EXPECT_EQ(*t.longest_match(ip("0.0.0.1")), 5);
}

TEST(PrefixTable, IteratesInOrder) {
  PrefixTable<int> t;
  t.insert(cidr("2001:db8::/32"), 6);
  t.insert(cidr("10.1.0.0/16"), 2);
  t.insert(cidr("10.0.0.0/8"), 1);
  t.insert(cidr("192.168.0.0/16"), 3);
  t.insert(cidr("0.0.0.0/0"), 0);
  std::vector<std::string> seen;
  t.for_each([&](const Cidr& c, int& v) {
    seen.push_back(c.to_string() + "=" + std::to_string(v));
    ++v;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"0.0.0.0/0=0", "10.0.0.0/8=1", "10.1.0.0/16=2",
                                            "192.168.0.0/16=3", "2001:db8::/32=6"}));
  EXPECT_EQ(*t.find(cidr("10.0.0.0/8")), 2);  // mutated through for_each
}

TEST(PrefixTable, CopyIsDeep) {
  PrefixTable<int> a;
  a.insert(cidr("10.0.0.0/8"), 1);
  a.insert(cidr("10.1.0.0/16"), 2);
  PrefixTable<int> b = a;
  b.erase(cidr("10.1.0.0/16"));
  *b.find(cidr("10.0.0.0/8")) = 7;
  EXPECT_EQ(*a.longest_match(ip("10.1.1.1")), 2);
  EXPECT_EQ(*b.longest_match(ip("10.1.1.1")), 7);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(b.size(), 1u);
  PrefixTable<int> c = std::move(a);
  EXPECT_EQ(c.size(), 2u);
}

// Compares against a brute-force model over random prefixes drawn from a small space so that
// overlaps are frequent.
TEST(PrefixTable, MatchesLinearScanModel) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 20; ++round) {
    PrefixTable<int> t;
    std::map<Cidr, int> model;
    auto random_ip = [&](bool v6) {
      if (!v6)
        return IpAddr::v4(10, static_cast<std::uint8_t>(rng() % 4),
                          static_cast<std::uint8_t>(rng() % 256), static_cast<std::uint8_t>(rng()));
      return IpAddr::v6(0x2001, 0xdb8, 0, 0, static_cast<std::uint16_t>(rng() % 4), 0,
                        static_cast<std::uint16_t>(rng()), static_cast<std::uint16_t>(rng()));
    };
    for (int i = 0; i < 300; ++i) {
      const bool v6 = rng() % 2;
      const IpAddr a = random_ip(v6);
      const Cidr c(a, rng() % (a.max_prefix_len() + 1));
      if (rng() % 4 == 0) {
        EXPECT_EQ(t.erase(c), model.erase(c) == 1);
      } else {
        const int v = static_cast<int>(rng());
        EXPECT_EQ(t.insert(c, v), !model.contains(c));
        model[c] = v;
      }
    }
    EXPECT_EQ(t.size(), model.size());
    for (int i = 0; i < 500; ++i) {
      const IpAddr a = random_ip(rng() % 2);
      const int* expected = nullptr;
      unsigned best = 0;
      for (const auto& [c, v] : model) {
        if (c.contains(a) && (expected == nullptr || c.prefix_len() >= best)) {
          expected = &v;
          best = c.prefix_len();
        }
      }
      const int* got = t.longest_match(a);
      ASSERT_EQ(got == nullptr, expected == nullptr) << a;
      if (got) {
        EXPECT_EQ(*got, *expected) << a;
      }
    }
    std::vector<std::pair<Cidr, int>> listed;
    t.for_each([&](const Cidr& c, const int& v) { listed.emplace_back(c, v); });
    EXPECT_EQ(listed, (std::vector<std::pair<Cidr, int>>(model.begin(), model.end())));
  }
}

}  // namespace
}  // namespace fz::net
