// io::DnsResolver against the in-process test server: A+AAAA, the 30 s cache (here shortened),
// joined requests, NXDOMAIN, the in-flight limit and the deadline.
#include "io/dns_resolver.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <optional>

#include "test_dns_server.hpp"

namespace fz::io {
namespace {

using Addresses = std::vector<net::IpAddr>;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done, milliseconds limit = milliseconds(5000)) {
  const auto deadline = SteadyClock::now() + limit;
  while (!done() && SteadyClock::now() < deadline) {
    io.run_one_for(milliseconds(10));
    if (io.stopped()) io.restart();
  }
  return done();
}

struct Outcome {
  std::optional<Result<Addresses>> result;
  SteadyClock::time_point at;
};

DnsResolver::Callback record(Outcome& out) {
  return [&out](Result<Addresses> r) {
    out.result.emplace(std::move(r));
    out.at = SteadyClock::now();
  };
}

class DnsResolverTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  testing::TestDnsServer server{io};

  ResolverOptions options() {
    ResolverOptions o;
    o.nameservers = {server.address()};
    return o;
  }
};

TEST_F(DnsResolverTest, ResolvesBothFamiliesV6First) {
  server.add_address("app.test", net::IpAddr::v4(198, 51, 100, 7));
  server.add_address("app.test", net::IpAddr::v4(198, 51, 100, 8));
  server.add_address("app.test", net::IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
  DnsResolver resolver(io, options());
  Outcome out;
  resolver.resolve("app.test", record(out));
  EXPECT_FALSE(out.result.has_value());  // never from inside resolve()
  EXPECT_EQ(resolver.in_flight(), 1u);
  ASSERT_TRUE(run_until(io, [&] { return out.result.has_value(); }));
  ASSERT_TRUE(out.result->ok()) << out.result->error().to_string();
  EXPECT_EQ(**out.result,
            (Addresses{net::IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7),
                       net::IpAddr::v4(198, 51, 100, 7), net::IpAddr::v4(198, 51, 100, 8)}));
  EXPECT_EQ(server.udp_queries(), 2u);  // A and AAAA
  EXPECT_EQ(resolver.in_flight(), 0u);
  EXPECT_EQ(resolver.cache_size(), 1u);
}

TEST_F(DnsResolverTest, OneFamilyIsEnough) {
  server.add_address("v4only.test", net::IpAddr::v4(203, 0, 113, 9));
  DnsResolver resolver(io, options());
  Outcome out;
  resolver.resolve("v4only.test", record(out));
  ASSERT_TRUE(run_until(io, [&] { return out.result.has_value(); }));
  ASSERT_TRUE(out.result->ok()) << out.result->error().to_string();
  EXPECT_EQ(**out.result, (Addresses{net::IpAddr::v4(203, 0, 113, 9)}));
}

TEST_F(DnsResolverTest, CacheAnswersWithoutAQueryUntilItExpires) {
  server.add_address("app.test", net::IpAddr::v4(198, 51, 100, 7));
  ResolverOptions o = options();
  o.cache_ttl = milliseconds(300);
  DnsResolver resolver(io, o);
  Outcome first;
  resolver.resolve("app.test", record(first));
  ASSERT_TRUE(run_until(io, [&] { return first.result.has_value(); }));
  ASSERT_TRUE(first.result->ok());
  const auto queries = server.udp_queries();

  Outcome cached;
  resolver.resolve("APP.test", record(cached));  // case-insensitive
  EXPECT_FALSE(cached.result.has_value());
  ASSERT_TRUE(run_until(io, [&] { return cached.result.has_value(); }));
  ASSERT_TRUE(cached.result->ok());
  EXPECT_EQ(**cached.result, (Addresses{net::IpAddr::v4(198, 51, 100, 7)}));
  EXPECT_EQ(server.udp_queries(), queries);
  EXPECT_EQ(resolver.stats().cache_hits, 1u);
  EXPECT_EQ(resolver.stats().resolutions, 1u);

  // After the TTL the name is asked again.
  run_until(
      io, [] { return false; }, milliseconds(350));
  Outcome fresh;
  resolver.resolve("app.test", record(fresh));
  ASSERT_TRUE(run_until(io, [&] { return fresh.result.has_value(); }));
  EXPECT_TRUE(fresh.result->ok());
  EXPECT_EQ(server.udp_queries(), queries + 2);
  EXPECT_EQ(resolver.stats().resolutions, 2u);
}

TEST_F(DnsResolverTest, ConcurrentRequestsShareOneResolution) {
  server.add_address("app.test", net::IpAddr::v4(198, 51, 100, 7));
  DnsResolver resolver(io, options());
  Outcome a, b;
  resolver.resolve("app.test", record(a));
  resolver.resolve("app.test", record(b));
  EXPECT_EQ(resolver.in_flight(), 1u);
  ASSERT_TRUE(run_until(io, [&] { return a.result && b.result; }));
  EXPECT_TRUE(a.result->ok());
  EXPECT_TRUE(b.result->ok());
  EXPECT_EQ(server.udp_queries(), 2u);
  EXPECT_EQ(resolver.stats().joined, 1u);
}

TEST_F(DnsResolverTest, NxdomainIsAnErrorAndNotCached) {
  DnsResolver resolver(io, options());
  Outcome out;
  resolver.resolve("missing.test", record(out));
  ASSERT_TRUE(run_until(io, [&] { return out.result.has_value(); }));
  ASSERT_FALSE(out.result->ok());
  EXPECT_EQ(out.result->error().code(), Errc::not_found);
  EXPECT_EQ(out.result->error().message(), "DNS name does not exist");
  EXPECT_EQ(resolver.cache_size(), 0u);
  const auto queries = server.udp_queries();
  Outcome again;
  resolver.resolve("missing.test", record(again));
  ASSERT_TRUE(run_until(io, [&] { return again.result.has_value(); }));
  EXPECT_FALSE(again.result->ok());
  EXPECT_GT(server.udp_queries(), queries);
}

TEST_F(DnsResolverTest, InFlightLimitAndDeadline) {
  server.set_silent(true);
  ResolverOptions o = options();
  o.max_in_flight = 2;
  o.timeout = milliseconds(400);
  DnsResolver resolver(io, o);
  Outcome a, b, c, a2;
  const auto start = SteadyClock::now();
  resolver.resolve("a.test", record(a));
  resolver.resolve("b.test", record(b));
  resolver.resolve("c.test", record(c));   // a third name: over the limit
  resolver.resolve("a.test", record(a2));  // joins a resolution: not counted again
  EXPECT_EQ(resolver.in_flight(), 2u);
  ASSERT_TRUE(run_until(
      io, [&] { return c.result.has_value(); }, milliseconds(200)));
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().code(), Errc::exhausted);
  EXPECT_LT(c.at - start, milliseconds(100));
  EXPECT_FALSE(a.result.has_value());

  ASSERT_TRUE(run_until(io, [&] { return a.result && b.result && a2.result; }));
  for (Outcome* o2 : {&a, &b, &a2}) {
    ASSERT_FALSE(o2->result->ok());
    EXPECT_EQ(o2->result->error().message(), "DNS resolution timed out");
    EXPECT_GE(o2->at - start, milliseconds(400));
    EXPECT_LT(o2->at - start, milliseconds(1000));
  }
  EXPECT_EQ(resolver.stats().timeouts, 2u);
  EXPECT_EQ(resolver.stats().rejected, 1u);
  EXPECT_EQ(resolver.in_flight(), 0u);
  // With room again, a new name is accepted.
  Outcome d;
  resolver.resolve("d.test", record(d));
  EXPECT_EQ(resolver.in_flight(), 1u);
}

TEST_F(DnsResolverTest, NoCallbacksAfterDestruction) {
  server.set_delay(milliseconds(100));
  server.add_address("app.test", net::IpAddr::v4(198, 51, 100, 7));
  bool called = false;
  {
    DnsResolver resolver(io, options());
    resolver.resolve("app.test", [&](Result<Addresses>) { called = true; });
    io.run_for(milliseconds(20));
  }
  io.restart();
  io.run_for(milliseconds(300));
  EXPECT_FALSE(called);
}

TEST(Fwmark, SetsTheMarkOrReportsEperm) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  const int err = mark_socket(fd, kFirezoneMark);
  if (err == 0) {
    std::uint32_t mark = 0;
    socklen_t len = sizeof mark;
    ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len), 0);
    EXPECT_EQ(mark, 0xfd002021u);
  } else {
    EXPECT_EQ(err, EPERM);
  }
  ::close(fd);
}

}  // namespace
}  // namespace fz::io
