// Domain pattern matching (gateway-dataplane §3.6), including the reference's dns.rs cases.
#include "gateway/domain_pattern.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace fz::gateway {
namespace {

struct Case {
  const char* pattern;
  const char* domain;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.pattern << " ~ " << c.domain;
}

class PatternMatches : public ::testing::TestWithParam<Case> {};
class PatternDoesNotMatch : public ::testing::TestWithParam<Case> {};

TEST_P(PatternMatches, Matches) {
  EXPECT_TRUE(is_subdomain(GetParam().domain, GetParam().pattern));
}
TEST_P(PatternDoesNotMatch, DoesNotMatch) {
  EXPECT_FALSE(is_subdomain(GetParam().domain, GetParam().pattern));
}

// Ported from dns.rs `domain_pattern_matches`.
INSTANTIATE_TEST_SUITE_P(Reference, PatternMatches,
                         ::testing::Values(
                             // double star matches root domain
                             Case{"**.example.com", "example.com"},
                             // double star matches multiple levels within domain
                             Case{"app.**.example.com", "app.bar.foo.example.com"},
                             // double star matches one level
                             Case{"**.example.com", "foo.example.com"},
                             // double star matches two levels
                             Case{"**.example.com", "foo.bar.example.com"},
                             // single star matches one level
                             Case{"*.example.com", "foo.example.com"},
                             // single star matches root domain
                             Case{"*.example.com", "example.com"},
                             // single star matches one domain within domain
                             Case{"foo.*.example.com", "foo.bar.example.com"},
                             // single star can appear on multiple levels
                             Case{"app.*.*.example.com", "app.foo.bar.example.com"},
                             // question mark matches one letter
                             Case{"app.f??.example.com", "app.foo.example.com"},
                             // matches literal domain
                             Case{"app.example.com", "app.example.com"},
                             // mix of * and ?
                             Case{"*?*.example.com", "app.example.com"},
                             // multiple double star within domain
                             Case{"app.**.web.**.example.com", "app.web.example.com"}));

// Ported from dns.rs `domain_pattern_does_not_match`.
INSTANTIATE_TEST_SUITE_P(Reference, PatternDoesNotMatch,
                         ::testing::Values(
                             // single star does not match two levels
                             Case{"app.*.example.com", "app.foo.bar.example.com"},
                             // single star does not match dot
                             Case{"app.*com", "app.foo.com"},
                             // question mark does not match dot
                             Case{"app?com", "app.com"}));

INSTANTIATE_TEST_SUITE_P(
    More, PatternMatches,
    ::testing::Values(Case{"Example.COM", "example.com"},       // case-insensitive
                      Case{"example.com", "EXAMPLE.com"},       //
                      Case{"example.com", "example.com."},      // trailing dot ignored
                      Case{"*.example.com", "Example.Com"},     // bare parent, any case
                      Case{"*.example.com", "x.example.com."},  //
                      Case{"app.**", "app.a.b.c"},              // trailing ** takes the rest
                      Case{"**", "anything.at.all"},            //
                      Case{"*", "localhost"},                   //
                      Case{"?.example.com", "a.example.com"},   //
                      Case{"[abc].example.com", "b.example.com"},
                      Case{"[a-c]x.example.com", "Bx.example.com"},  // letter range ignores case
                      Case{"[!a-c].example.com", "d.example.com"},
                      Case{"[]].example.com", "].example.com"},  // ']' first is literal
                      Case{"**.**.example.com", "example.com"},  //
                      Case{"a*b*c.example.com", "aXXbYYc.example.com"},
                      Case{"**.example.com", "a.b.c.d.e.example.com"}));

INSTANTIATE_TEST_SUITE_P(
    More, PatternDoesNotMatch,
    ::testing::Values(
        Case{"example.com", "www.example.com"},    // plain name: only itself
        Case{"www.example.com", "example.com"},    //
        Case{"*.example.com", "a.b.example.com"},  // * is one label
        Case{"*.example.com", "example.org"},      //
        Case{"*.example.com", "xexample.com"},     //
        Case{"?.example.com", "ab.example.com"},   //
        Case{"?.example.com", "example.com"},      // only `*.` has the parent rule
        Case{"**.example.com", "xexample.com"},    //
        Case{"app.**", "app"},                     //
        Case{"[abc].example.com", "d.example.com"}, Case{"[!a-c].example.com", "b.example.com"},
        Case{"[.]", "."},    // a class never matches a dot
        Case{"a?b", "a.b"},  //
        // invalid patterns match nothing
        Case{"a**.example.com", "a.example.com"}, Case{"**a.example.com", "a.example.com"},
        Case{"***.example.com", "a.example.com"}, Case{"[abc.example.com", "a.example.com"},
        Case{"[!].example.com", "a.example.com"}, Case{"*.a**", "a**"}));

TEST(DomainPattern, InvalidPatternsDoNotParse) {
  EXPECT_FALSE(DomainPattern::parse("a**"));
  EXPECT_FALSE(DomainPattern::parse("**b"));
  EXPECT_FALSE(DomainPattern::parse("a.***"));
  EXPECT_FALSE(DomainPattern::parse("[ab"));
  EXPECT_FALSE(DomainPattern::parse("[]"));
  EXPECT_FALSE(DomainPattern::parse("["));
  EXPECT_TRUE(DomainPattern::parse("**"));
  EXPECT_TRUE(DomainPattern::parse("a.**"));
  EXPECT_TRUE(DomainPattern::parse("**.a"));
  EXPECT_TRUE(DomainPattern::parse("[]]"));
}

TEST(DomainPattern, CompiledPatternIsReusable) {
  const auto pattern = DomainPattern::parse("*.corp.example");
  ASSERT_TRUE(pattern);
  EXPECT_TRUE(pattern->matches("db.corp.example"));
  EXPECT_TRUE(pattern->matches("corp.example"));
  EXPECT_FALSE(pattern->matches("db.corp.example.org"));
}

TEST(DomainPattern, LongHostileInputsStayCheap) {
  std::string pattern;
  for (int i = 0; i < 60; ++i)
    pattern += "*a";
  pattern += ".**.*.**.b";
  std::string name(63, 'a');
  for (int i = 0; i < 3; ++i)
    name += "." + std::string(63, 'a');
  // Would take exponential time with naive backtracking; here tokens × characters.
  EXPECT_FALSE(is_subdomain(name, pattern));
}

}  // namespace
}  // namespace fz::gateway
