// Login URL, query encoding, external_id derivation, User-Agent and the reconnect backoff.
#include <gtest/gtest.h>

#include <cstring>

#include "crypto/rng.hpp"
#include "portal/backoff.hpp"
#include "portal/firezone_id.hpp"
#include "portal/login_url.hpp"
#include "portal/user_agent.hpp"

namespace fz::portal {
namespace {

crypto::ChaChaRng test_rng(std::uint8_t seed = 1) {
  std::array<std::uint8_t, 32> s{};
  s[0] = seed;
  return crypto::ChaChaRng(s);
}

// A public key whose base64 has '+', '/' and '=': "+/+/AAAA…AAA=".
crypto::PublicKey awkward_key() {
  crypto::PublicKey k{};
  k[0] = 0xfb;
  k[1] = 0xff;
  k[2] = 0xbf;
  return k;
}
constexpr const char* kAwkwardKeyEncoded = "%2B%2F%2B%2FAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D";

TEST(FormUrlencode, MatchesTheWhatwgSerializer) {
  EXPECT_EQ(form_urlencode("AZaz09*-._"), "AZaz09*-._");
  EXPECT_EQ(form_urlencode("a b"), "a+b");
  EXPECT_EQ(form_urlencode("+/="), "%2B%2F%3D");
  EXPECT_EQ(form_urlencode("~!'()&#%"), "%7E%21%27%28%29%26%23%25");
  EXPECT_EQ(form_urlencode("\xc3\xa9\n"), "%C3%A9%0A");
  EXPECT_EQ(form_urlencode(".SFMyNTY.g2gDaAN-_x"), ".SFMyNTY.g2gDaAN-_x");
}

TEST(LoginUrl, DefaultPortal) {
  auto url = LoginUrl::gateway("wss://api.firezone.dev", ".SFMyNTY.abc_-def", "ext", "gw-eu-1");
  ASSERT_TRUE(url.ok()) << url.error().to_string();
  EXPECT_EQ(url->url(awkward_key()),
            std::string("wss://api.firezone.dev/gateway/websocket?token=.SFMyNTY.abc_-def"
                        "&external_id=ext&name=gw-eu-1&public_key=") +
                kAwkwardKeyEncoded);
  EXPECT_EQ(url->base_url(), "wss://api.firezone.dev/");
}

TEST(LoginUrl, SchemesPathsAndPorts) {
  struct Case {
    const char* api;
    const char* expected_prefix;
  };
  for (const auto& c : {
           Case{"https://example.com", "wss://example.com/gateway/websocket?"},
           Case{"http://example.com", "ws://example.com/gateway/websocket?"},
           Case{"ws://example.com/", "ws://example.com/gateway/websocket?"},
           Case{"wss://example.com/prefix/", "wss://example.com/prefix/gateway/websocket?"},
           Case{"wss://example.com/prefix", "wss://example.com/prefix/gateway/websocket?"},
           Case{"wss://example.com/a//", "wss://example.com/a//gateway/websocket?"},
           Case{"wss://example.com/a/../b/./", "wss://example.com/b/gateway/websocket?"},
           Case{"wss://Example.COM:443/", "wss://example.com/gateway/websocket?"},
           Case{"https://example.com:8443/x?old=1#frag",
                "wss://example.com:8443/x/gateway/websocket?"},
           Case{"http://example.com:80", "ws://example.com/gateway/websocket?"},
           Case{"http://example.com:443", "ws://example.com:443/gateway/websocket?"},
           Case{"ws://[::1]:8080", "ws://[::1]:8080/gateway/websocket?"},
           Case{"ws://127.0.0.1:4000", "ws://127.0.0.1:4000/gateway/websocket?"},
           Case{"  wss://example.com/p q ", "wss://example.com/p%20q/gateway/websocket?"},
       }) {
    auto url = LoginUrl::gateway(c.api, "t", "e", "n");
    ASSERT_TRUE(url.ok()) << c.api << ": " << url.error().to_string();
    const auto text = url->url(crypto::PublicKey{});
    EXPECT_EQ(text.substr(0, std::strlen(c.expected_prefix)), c.expected_prefix) << c.api;
    // The API URL's query is cleared; exactly our four pairs, in order.
    EXPECT_NE(text.find("?token=t&external_id=e&name=n&public_key="), std::string::npos) << text;
  }
}

TEST(LoginUrl, RejectsUnusableUrls) {
  for (const char* bad :
       {"ftp://example.com", "example.com", "wss://", "wss://user:pw@host/", "wss://host:99999/",
        "wss://host:12a/", "wss://[::1/", "wss://h\xc3\xa9st/"}) {
    auto url = LoginUrl::gateway(bad, "t", "e", "n");
    EXPECT_FALSE(url.ok()) << bad;
    if (!url.ok()) {
      EXPECT_EQ(url.error().code(), Errc::config);
    }
  }
}

TEST(LoginUrl, QueryValuesAreFormEncoded) {
  auto url = LoginUrl::gateway("wss://h", "tok+en", "{\"id\":\"abc\"}", "my gw/1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->url(awkward_key()),
            std::string("wss://h/gateway/websocket?token=tok%2Ben"
                        "&external_id=%7B%22id%22%3A%22abc%22%7D&name=my+gw%2F1&public_key=") +
                kAwkwardKeyEncoded);
}

TEST(LoginUrl, RedactedFormHidesTheToken) {
  auto url = LoginUrl::gateway("wss://h", "SECRET-TOKEN", "e", "n");
  const auto redacted = url->redacted(crypto::PublicKey{});
  EXPECT_EQ(redacted.find("SECRET"), std::string::npos);
  EXPECT_NE(redacted.find("token=<redacted>&external_id=e"), std::string::npos);
}

TEST(WebSocketUrl, PortDefaultsToTheScheme) {
  auto ws = parse_websocket_url("ws://example.com/gateway/websocket?token=x");
  ASSERT_TRUE(ws.ok());
  EXPECT_FALSE(ws->tls);
  EXPECT_EQ(ws->port, 80);  // the reference would use 443
  EXPECT_EQ(ws->host, "example.com");
  EXPECT_EQ(ws->target, "/gateway/websocket?token=x");
  auto wss = parse_websocket_url("wss://example.com");
  EXPECT_EQ(wss->port, 443);
  EXPECT_EQ(wss->target, "/");
  auto v6 = parse_websocket_url("wss://[2001:db8::1]:8443/x");
  EXPECT_EQ(v6->host, "[2001:db8::1]");
  EXPECT_EQ(v6->host_for_lookup(), "2001:db8::1");
  EXPECT_EQ(v6->port, 8443);
  EXPECT_FALSE(parse_websocket_url("https://example.com").ok());
}

TEST(ExternalId, UuidsAreHashedOverTheRawString) {
  EXPECT_EQ(external_id_for("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            "002031b96bd3225661940cdee05b257cfad10484960fc931ea458378fc68aaec");
  EXPECT_EQ(external_id_for("67E55044-10B1-426F-9247-BB680E5FE0C8"),
            "6ea1e57e86484b61da1aafdcb7a42e83c32f7cdad06dc93d19c62fad868e20a1");
  EXPECT_EQ(external_id_for("{67e55044-10b1-426f-9247-bb680e5fe0c8}").size(), 64u);
  EXPECT_EQ(external_id_for("urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8").size(), 64u);
  EXPECT_EQ(external_id_for("67e5504410b1426f9247bb680e5fe0c8").size(), 64u);
  EXPECT_EQ(external_id_for("my-gateway"), "my-gateway");
  EXPECT_EQ(external_id_for("{\"id\":\"abc\"}"), "{\"id\":\"abc\"}");
}

TEST(FirezoneId, EnvironmentWins) {
  auto rng = test_rng();
  auto plan = plan_firezone_id("env-id", "file-id", rng);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->id, "env-id");
  EXPECT_FALSE(plan->content_to_write.has_value());
  // An empty FIREZONE_ID counts as unset.
  EXPECT_EQ(plan_firezone_id("", "file-id", rng)->id, "file-id");
}

TEST(FirezoneId, ExistingFilesAreUsedVerbatimSoExistingIdsStayStable) {
  auto rng = test_rng();
  // A file the reference wrote: its later runs send the JSON text, and so do we.
  const std::string reference_file = R"({"id":"4f3c0e1bd8c7a6e5"})";
  EXPECT_EQ(plan_firezone_id(std::nullopt, reference_file, rng)->id, reference_file);
  EXPECT_EQ(plan_firezone_id(std::nullopt, "id-with-newline\n", rng)->id, "id-with-newline\n");
  EXPECT_FALSE(plan_firezone_id(std::nullopt, std::string("\xff\xfe"), rng).ok());
}

TEST(FirezoneId, NewIdIsWrittenBareSoTheFirstRunMatchesLaterRuns) {
  auto rng = test_rng();
  auto first = plan_firezone_id(std::nullopt, std::nullopt, rng);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->id.size(), 64u);
  EXPECT_EQ(first->id.find_first_not_of("0123456789abcdef"), std::string::npos);
  ASSERT_TRUE(first->content_to_write.has_value());
  EXPECT_EQ(*first->content_to_write, first->id);
  // The next start reads the file back and sends the same external_id.
  auto second = plan_firezone_id(std::nullopt, *first->content_to_write, rng);
  EXPECT_EQ(external_id_for(second->id), external_id_for(first->id));
  EXPECT_FALSE(second->content_to_write.has_value());
  // An empty file is replaced.
  EXPECT_TRUE(plan_firezone_id(std::nullopt, "", rng)->content_to_write.has_value());
  // Different random draws give different ids.
  EXPECT_NE(plan_firezone_id(std::nullopt, std::nullopt, rng)->id, first->id);
}

TEST(GatewayName, ConfiguredThenHostNameThenRandom) {
  auto rng = test_rng();
  EXPECT_EQ(gateway_name("configured", "host", rng), "configured");
  EXPECT_EQ(gateway_name("", "host", rng), "host");
  EXPECT_EQ(gateway_name(std::nullopt, "host", rng), "host");
  const auto random = gateway_name(std::nullopt, std::string("\xff"), rng);
  ASSERT_EQ(random.size(), 36u);
  EXPECT_EQ(random[14], '4');  // version 4
  EXPECT_EQ(gateway_name(std::nullopt, std::nullopt, rng).size(), 36u);
}

TEST(UserAgent, Shapes) {
  OsFacts os{"Ubuntu", "22.4.0", "x86_64", "6.8.0-1017-aws"};
  EXPECT_EQ(user_agent(os), "Ubuntu/22.4.0 connlib/1.4.16 (x86_64; 6.8.0-1017-aws)");
  os.kernel_release.reset();
  EXPECT_EQ(user_agent(os), "Ubuntu/22.4.0 connlib/1.4.16 (x86_64)");
  os.arch.reset();
  os.kernel_release = "6.1";
  EXPECT_EQ(user_agent(os), "Ubuntu/22.4.0 connlib/1.4.16 (6.1)");
  os.kernel_release.reset();
  EXPECT_EQ(user_agent(os, "1.5.0"), "Ubuntu/22.4.0 connlib/1.5.0");
}

TEST(UserAgent, SanitisesTheOsPart) {
  OsFacts os{
      "D\xc3\xa9"
      "bian",
      "12\r\n", "x86_64", "6.1"};
  EXPECT_EQ(user_agent(os), "Dbian/12 connlib/1.4.16 (x86_64; 6.1)");
  // The portal takes the first token starting with connlib/ as our version.
  OsFacts evil{"connlib", "9.9.9 connlib/8.8.8 relay/1.0.0", std::nullopt, std::nullopt};
  const auto ua = user_agent(evil);
  EXPECT_EQ(ua, "connlib_9.9.9 connlib_8.8.8 relay_1.0.0 connlib/1.4.16");
  EXPECT_EQ(ua.find("connlib/"), ua.find(" connlib/") + 1);
}

TEST(UserAgent, OsRelease) {
  const char* ubuntu = "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n";
  auto os = os_facts_from_os_release(ubuntu, "x86_64", "6.8.0");
  EXPECT_EQ(os.os_type, "Ubuntu");
  EXPECT_EQ(os.os_version, "22.4.0");
  EXPECT_EQ(os_facts_from_os_release("ID=debian\nVERSION_ID=\"12\"\n", {}, {}).os_version,
            "12.0.0");
  auto alpine = os_facts_from_os_release("ID='alpine'\nVERSION_ID=3.19.1\n", {}, {});
  EXPECT_EQ(alpine.os_type, "Alpine Linux");
  EXPECT_EQ(alpine.os_version, "3.19.1");
  auto arch = os_facts_from_os_release("ID=arch\nBUILD_ID=rolling\n", {}, {});
  EXPECT_EQ(arch.os_type, "Arch Linux");
  EXPECT_EQ(arch.os_version, "Unknown");
  auto odd = os_facts_from_os_release("ID=myos\nVERSION_ID=2024.1.2.3\n", {}, {});
  EXPECT_EQ(odd.os_type, "Linux");
  EXPECT_EQ(odd.os_version, "2024.1.2.3");
  auto none = os_facts_from_os_release("", {}, {});
  EXPECT_EQ(user_agent(none), "Linux/Unknown connlib/1.4.16");
}

TEST(UserAgent, ProtocolVersionMustBeSemver) {
  for (const char* ok : {"1.4.16", "0.0.0", "10.20.30", "1.5.0-rc.1", "1.5.0+build.7",
                         "1.5.0-beta+exp.sha.5114f85"}) {
    EXPECT_TRUE(validate_protocol_version(ok).ok()) << ok;
  }
  for (const char* bad : {"", "1.4", "1", "1.4.16.1", "01.4.16", "1.04.16", "v1.4.16", "1.4.x",
                          "1.4.16-", "1.4.16+", "1.4.16-a..b", " 1.4.16"}) {
    EXPECT_FALSE(validate_protocol_version(bad).ok()) << bad;
  }
}

// An Rng that returns a fixed byte, to pin the jitter formula's ends.
class ConstantRng final : public Rng {
 public:
  explicit ConstantRng(std::uint8_t b) : b_(b) {}
  void fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), b_); }

 private:
  std::uint8_t b_;
};

TEST(Backoff, IntervalSequenceAndJitterBounds) {
  const Instant start = instant_from_nanos(5'000'000'000);
  Backoff low(BackoffConfig{}, start);
  Backoff high(BackoffConfig{}, start);
  ConstantRng zeros(0);
  ConstantRng ones(0xff);
  // 0.5 s, 0.75 s, 1.125 s, … ×1.5 in whole nanoseconds (truncated, as backoff 0.4 does), then
  // the 60 s cap once the interval reaches 40 s.
  std::int64_t c_ns = 500'000'000;
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(low.current_interval().count(), c_ns);
    // r = 0: exactly half the interval; r → 1: 1.5 times it (plus at most 1 ns).
    EXPECT_EQ(low.next(start, zeros)->count(), c_ns / 2);
    const auto hi = high.next(start, ones)->count();
    EXPECT_NEAR(static_cast<double>(hi), 1.5 * static_cast<double>(c_ns), 1e-6 * c_ns + 2);
    c_ns = c_ns >= 40'000'000'000 ? 60'000'000'000 : c_ns * 3 / 2;
  }
  EXPECT_EQ(low.current_interval(), std::chrono::seconds(60));
}

TEST(Backoff, GivesUpFifteenMinutesAfterTheStart) {
  const Instant start = instant_from_nanos(0);
  auto rng = test_rng();
  ConstantRng zeros(0);
  Backoff exact(BackoffConfig{}, start);
  // elapsed > 15 min: none.
  EXPECT_FALSE(exact.next(start + std::chrono::minutes(15) + Duration(1), rng).has_value());
  // elapsed + delay > 15 min: none, even though elapsed is below the limit.
  Backoff edge(BackoffConfig{}, start);
  EXPECT_FALSE(edge.next(start + std::chrono::minutes(15) - std::chrono::milliseconds(100), zeros)
                   .has_value());
  Backoff fine(BackoffConfig{}, start);
  EXPECT_TRUE(fine.next(start + std::chrono::minutes(15) - std::chrono::milliseconds(300), zeros)
                  .has_value());
}

TEST(Backoff, DelaysStayWithinHalfAndOneAndAHalfIntervals) {
  auto rng = test_rng(7);
  Backoff b(BackoffConfig{}, instant_from_nanos(0));
  for (int i = 0; i < 1000; ++i) {
    const auto c = b.current_interval();
    const auto d = *b.next(instant_from_nanos(0), rng);
    EXPECT_GE(d, c / 2);
    EXPECT_LE(d, c + c / 2 + Duration(1));
  }
}

}  // namespace
}  // namespace fz::portal
