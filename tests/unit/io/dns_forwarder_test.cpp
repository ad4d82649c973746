// io::DnsForwarder against in-process upstreams: byte-exact relaying over UDP and TCP, UDP
// truncation, several queries per TCP connection, RTT-based upstream choice, failover after an
// attempt timeout, SERVFAIL for dead upstreams, dropped malformed queries, the TCP idle timeout.
//
// The io_context runs on its own thread; the test talks to the forwarder through blocking
// sockets and reads the forwarder's state only through on_io().
#include "io/dns_forwarder.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

#include "dns/message.hpp"
#include "test_dns_server.hpp"

namespace fz::io {
namespace {

using Buf = std::vector<std::uint8_t>;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

sockaddr_in to_sockaddr(const net::SocketAddr& a) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(a.port);
  std::memcpy(&sin.sin_addr, a.ip.bytes().data(), 4);
  return sin;
}

// One UDP exchange; nullopt when nothing came back within `wait`.
std::optional<Buf> udp_ask(const net::SocketAddr& to, const Buf& query,
                           milliseconds wait = milliseconds(3000)) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{static_cast<time_t>(wait.count() / 1000),
             static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const sockaddr_in sin = to_sockaddr(to);
  ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  Buf answer(65536);
  const ssize_t n = ::recv(fd, answer.data(), answer.size(), 0);
  ::close(fd);
  if (n < 0) return std::nullopt;
  answer.resize(static_cast<std::size_t>(n));
  return answer;
}

class TcpClient {
 public:
  explicit TcpClient(const net::SocketAddr& to) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{3, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const sockaddr_in sin = to_sockaddr(to);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0;
  }
  ~TcpClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send_raw(const Buf& bytes) { (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  void send(const Buf& message) {
    Buf framed(2);
    store_be16(framed.data(), static_cast<std::uint16_t>(message.size()));
    framed.insert(framed.end(), message.begin(), message.end());
    send_raw(framed);
  }
  // nullopt on EOF, error or timeout.
  std::optional<Buf> receive() {
    std::uint8_t len[2];
    if (!read_exact(len, 2)) return std::nullopt;
    Buf body(load_be16(len));
    if (!read_exact(body.data(), body.size())) return std::nullopt;
    return body;
  }
  // True if the server closed the connection (EOF).
  bool closed_by_peer() {
    std::uint8_t b;
    return ::recv(fd_, &b, 1, 0) == 0;
  }

 private:
  bool read_exact(std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      const ssize_t got = ::recv(fd_, p, n, 0);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }
  int fd_;
  bool connected_ = false;
};

dns::Name name(std::string_view text) {
  return *dns::Name::from_text(text);
}

// What the test server answers for a name with these records.
Buf expected_answer(const Buf& query, const std::vector<dns::Record>& answers,
                    std::uint8_t rcode = 0) {
  auto q = dns::parse(query);
  dns::Message m;
  m.header = q->header;
  m.header.qr = true;
  m.header.aa = true;
  m.header.ra = true;
  m.header.rcode = rcode;
  m.questions = q->questions;
  m.answers = answers;
  return *dns::build(m);
}

Buf txt_rdata(std::size_t strings, char fill) {
  Buf rdata;
  for (std::size_t i = 0; i < strings; ++i) {
    rdata.push_back(200);
    rdata.insert(rdata.end(), 200, static_cast<std::uint8_t>(fill + i));
  }
  return rdata;
}

class DnsForwarderTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  std::optional<testing::TestDnsServer> fast;
  std::optional<testing::TestDnsServer> slow;
  std::optional<DnsForwarder> forwarder;
  std::thread runner;

  void SetUp() override {
    fast.emplace(io);
    slow.emplace(io);
    fast->add_address("app.test", net::IpAddr::v4(198, 51, 100, 7));
    slow->add_address("app.test", net::IpAddr::v4(198, 51, 100, 7));
    fast->add("big.app.test", dns::rtype::txt, txt_rdata(7, 'a'));
  }

  template <class F>
  auto on_io(F fn) {
    std::promise<decltype(fn())> promise;
    auto future = promise.get_future();
    boost::asio::post(io, [&] { promise.set_value(fn()); });
    return future.get();
  }

  void start(std::vector<net::SocketAddr> upstreams, ForwarderOptions options = {}) {
    options.fwmark = 0;
    forwarder.emplace(io, std::vector<net::SocketAddr>{{net::IpAddr::v4(127, 0, 0, 1), 0}},
                      std::move(upstreams), options);
    auto status = forwarder->start();
    ASSERT_TRUE(status.ok()) << status.error().to_string();
    runner = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io);
      io.run();
    });
  }

  void TearDown() override {
    if (runner.joinable()) {
      on_io([this] {
        forwarder->stop();
        return 0;
      });
      io.stop();
      runner.join();
    }
    forwarder.reset();
  }

  net::SocketAddr udp_addr() { return forwarder->udp_addresses().at(0); }
  net::SocketAddr tcp_addr() { return forwarder->tcp_addresses().at(0); }
  ForwarderStats stats() {
    return on_io([this] { return forwarder->stats(); });
  }
};

TEST_F(DnsForwarderTest, RelaysUdpAnswerUnchanged) {
  start({fast->address()});
  EXPECT_EQ(udp_addr().port, tcp_addr().port);
  const Buf query = dns::build_query(0x1234, name("app.test"), dns::rtype::a);
  auto answer = udp_ask(udp_addr(), query);
  ASSERT_TRUE(answer.has_value());
  const dns::Record a{name("app.test"), dns::rtype::a, dns::kClassIn, 30, {198, 51, 100, 7}};
  EXPECT_EQ(*answer, expected_answer(query, {a}));
  // NXDOMAIN is relayed like any answer.
  const Buf missing = dns::build_query(0x4321, name("missing.test"), dns::rtype::a);
  auto nx = udp_ask(udp_addr(), missing);
  ASSERT_TRUE(nx.has_value());
  EXPECT_EQ(*nx, expected_answer(missing, {}, 3));
  const auto s = stats();
  EXPECT_EQ(s.udp_queries, 2u);
  EXPECT_EQ(s.answered, 2u);
  EXPECT_EQ(fast->udp_queries(), 2u);
}

TEST_F(DnsForwarderTest, TruncatesLargeUdpAnswersAndTcpReturnsThemWhole) {
  start({fast->address()});
  const Buf query = dns::build_query(0x0BAD, name("big.app.test"), dns::rtype::txt);
  const dns::Record txt{name("big.app.test"), dns::rtype::txt, dns::kClassIn, 30,
                        txt_rdata(7, 'a')};
  const Buf whole = expected_answer(query, {txt});
  ASSERT_EQ(whole.size(), 12u + 18 + 14 + 10 + 7 * 201);

  auto udp = udp_ask(udp_addr(), query);
  ASSERT_TRUE(udp.has_value());
  Buf cut(whole.begin(), whole.begin() + 30);
  cut[2] |= 0x02;  // TC
  cut[7] = 0;      // ANCOUNT
  EXPECT_EQ(*udp, cut);

  // Over TCP: whole, and a second query on the same connection.
  TcpClient client(tcp_addr());
  ASSERT_TRUE(client.connected());
  client.send(query);
  auto first = client.receive();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, whole);
  const Buf query2 = dns::build_query(0x0A0A, name("app.test"), dns::rtype::a);
  client.send(query2);
  auto second = client.receive();
  ASSERT_TRUE(second.has_value());
  const dns::Record a{name("app.test"), dns::rtype::a, dns::kClassIn, 30, {198, 51, 100, 7}};
  EXPECT_EQ(*second, expected_answer(query2, {a}));
  EXPECT_EQ(fast->tcp_queries(), 2u);
  const auto s = stats();
  EXPECT_EQ(s.truncated, 1u);
  EXPECT_EQ(s.tcp_queries, 2u);
}

TEST_F(DnsForwarderTest, PrefersTheUpstreamWithTheLowerRtt) {
  slow->set_delay(milliseconds(120));
  start({slow->address(), fast->address()});
  for (std::uint16_t i = 0; i < 10; ++i) {
    auto answer = udp_ask(udp_addr(), dns::build_query(i, name("app.test"), dns::rtype::a));
    ASSERT_TRUE(answer.has_value()) << i;
  }
  // Both unmeasured: the first query goes to the first upstream (slow); the second to the still
  // unmeasured fast one; from then on the fast one wins.
  EXPECT_EQ(slow->udp_queries(), 1u);
  EXPECT_EQ(fast->udp_queries(), 9u);
  const auto estimates = on_io([this] { return forwarder->upstream_estimates(); });
  EXPECT_GE(estimates[0], milliseconds(100));  // 120 ms, decayed by 2 % per other choice
  EXPECT_LT(estimates[1], milliseconds(50));
}

TEST_F(DnsForwarderTest, FailsOverToTheNextUpstreamAfterAnAttemptTimeout) {
  slow->set_silent(true);
  ForwarderOptions options;
  options.attempt_timeout = milliseconds(200);
  start({slow->address(), fast->address()}, options);
  const auto t0 = SteadyClock::now();
  const Buf query = dns::build_query(7, name("app.test"), dns::rtype::a);
  auto answer = udp_ask(udp_addr(), query);
  const auto took = SteadyClock::now() - t0;
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(dns::Header::decode(answer->data()).rcode, 0);
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, milliseconds(1000));
  EXPECT_EQ(slow->udp_queries(), 1u);
  EXPECT_EQ(fast->udp_queries(), 1u);
  const auto estimates = on_io([this] { return forwarder->upstream_estimates(); });
  EXPECT_GE(estimates[0], milliseconds(200));  // penalised
  // The next query goes straight to the live upstream.
  auto again = udp_ask(udp_addr(), dns::build_query(8, name("app.test"), dns::rtype::a));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(slow->udp_queries(), 1u);
  EXPECT_EQ(fast->udp_queries(), 2u);
  EXPECT_EQ(stats().attempt_failures, 1u);
}

TEST_F(DnsForwarderTest, ServfailWhenTheUpstreamIsSilent) {
  slow->set_silent(true);
  ForwarderOptions options;
  options.query_timeout = milliseconds(300);
  options.attempt_timeout = milliseconds(1000);
  start({slow->address()}, options);
  const Buf query = dns::build_query(0x5151, name("app.test"), dns::rtype::txt);
  const auto t0 = SteadyClock::now();
  auto answer = udp_ask(udp_addr(), query);
  const auto took = SteadyClock::now() - t0;
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(*answer, *dns::build_servfail(query));
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(1000));
  // Over TCP too.
  TcpClient client(tcp_addr());
  client.send(query);
  auto tcp_answer = client.receive();
  ASSERT_TRUE(tcp_answer.has_value());
  EXPECT_EQ(*tcp_answer, *dns::build_servfail(query));
  EXPECT_EQ(stats().servfail, 2u);
}

TEST_F(DnsForwarderTest, ServfailAtOnceWhenTheUpstreamRefuses) {
  // A UDP port nobody listens on: the ICMP port-unreachable fails the attempt at once; over TCP
  // the connection is refused.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  socklen_t len = sizeof sin;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  const std::uint16_t dead_port = ntohs(sin.sin_port);
  ::close(fd);
  start({{net::IpAddr::v4(127, 0, 0, 1), dead_port}});
  const Buf query = dns::build_query(0x0DED, name("app.test"), dns::rtype::a);
  const auto t0 = SteadyClock::now();
  auto answer = udp_ask(udp_addr(), query);
  ASSERT_TRUE(answer.has_value());
  EXPECT_LT(SteadyClock::now() - t0, milliseconds(500));
  EXPECT_EQ(*answer, *dns::build_servfail(query));
  TcpClient client(tcp_addr());
  client.send(query);
  auto tcp_answer = client.receive();
  ASSERT_TRUE(tcp_answer.has_value());
  EXPECT_EQ(*tcp_answer, *dns::build_servfail(query));
}

TEST_F(DnsForwarderTest, ServfailWithoutUpstreams) {
  char path[] = "/tmp/fz-resolv-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "search example.com\n";
  ForwarderOptions options;
  options.resolv_conf = path;
  start({}, options);
  std::remove(path);
  const Buf query = dns::build_query(1, name("app.test"), dns::rtype::a);
  auto answer = udp_ask(udp_addr(), query);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(*answer, *dns::build_servfail(query));
}

TEST(DnsForwarderStart, FailsWithoutResolvConfOrAddresses) {
  boost::asio::io_context io;
  ForwarderOptions options;
  options.resolv_conf = "/nonexistent/resolv.conf";
  DnsForwarder no_conf(io, {{net::IpAddr::v4(127, 0, 0, 1), 0}}, {}, options);
  EXPECT_FALSE(no_conf.start().ok());
  // 192.0.2.1 is not a local address: nothing can be bound.
  DnsForwarder no_bind(io, {{net::IpAddr::v4(192, 0, 2, 1), 0}},
                       {{net::IpAddr::v4(127, 0, 0, 1), 53}}, {});
  EXPECT_FALSE(no_bind.start().ok());
}

TEST_F(DnsForwarderTest, DropsMalformedQueries) {
  start({fast->address()});
  // A response (QR set), a query with two questions, garbage: no answer to any of them.
  Buf response = dns::build_query(1, name("app.test"), dns::rtype::a);
  response[2] |= 0x80;
  EXPECT_FALSE(udp_ask(udp_addr(), response, milliseconds(200)).has_value());
  Buf two = dns::build_query(2, name("app.test"), dns::rtype::a);
  two[5] = 2;
  EXPECT_FALSE(udp_ask(udp_addr(), two, milliseconds(200)).has_value());
  EXPECT_FALSE(udp_ask(udp_addr(), Buf{1, 2, 3}, milliseconds(200)).has_value());
  // Still serving.
  EXPECT_TRUE(udp_ask(udp_addr(), dns::build_query(3, name("app.test"), dns::rtype::a)));
  // Over TCP a malformed query ends the connection.
  TcpClient client(tcp_addr());
  client.send(Buf{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0});
  EXPECT_TRUE(client.closed_by_peer());
  EXPECT_EQ(stats().malformed, 4u);
  EXPECT_EQ(fast->udp_queries(), 1u);
}

TEST_F(DnsForwarderTest, ClosesIdleTcpConnections) {
  ForwarderOptions options;
  options.tcp_idle_timeout = milliseconds(200);
  start({fast->address()}, options);
  TcpClient client(tcp_addr());
  ASSERT_TRUE(client.connected());
  const auto t0 = SteadyClock::now();
  EXPECT_TRUE(client.closed_by_peer());
  const auto took = SteadyClock::now() - t0;
  EXPECT_GE(took, milliseconds(150));
  EXPECT_LT(took, milliseconds(1000));
}

TEST_F(DnsForwarderTest, CapsTcpConnections) {
  ForwarderOptions options;
  options.max_tcp_connections = 1;
  start({fast->address()}, options);
  TcpClient first(tcp_addr());
  ASSERT_TRUE(first.connected());
  // Make sure the first one is accepted before the second arrives.
  const Buf query = dns::build_query(9, name("app.test"), dns::rtype::a);
  first.send(query);
  ASSERT_TRUE(first.receive().has_value());
  TcpClient second(tcp_addr());
  EXPECT_TRUE(second.closed_by_peer());
  first.send(query);
  EXPECT_TRUE(first.receive().has_value());
}

}  // namespace
}  // namespace fz::io
