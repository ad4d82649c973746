// HealthServer over a loopback TCP connection: /healthz, /readyz (ready and not), /metrics, 404,
// 405, bind errors.
#include "io/health_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>

namespace fz::io {
namespace {

// Sends `request` and reads until the server closes the connection.
std::string http_exchange(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(fd);
    return "connect failed";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

std::string get(std::uint16_t port, const std::string& path, const std::string& method = "GET") {
  return http_exchange(port, method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

class HealthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<HealthServer>(io_, net::SocketAddr{net::IpAddr::v4(127, 0, 0, 1), 0},
                                             [this] {
                                               std::lock_guard lock(mutex_);
                                               return readiness_;
                                             });
    auto status = server_->start();
    ASSERT_TRUE(status) << status.error().to_string();
    port_ = server_->local_address().port;
    ASSERT_NE(port_, 0);
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    boost::asio::post(io_, [this] { server_->stop(); });
    work_.reset();
    thread_.join();
    server_.reset();
  }
  void set_readiness(Readiness r) {
    std::lock_guard lock(mutex_);
    readiness_ = std::move(r);
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<HealthServer> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  Readiness readiness_{false, "portal not joined"};
};

TEST_F(HealthServerTest, HealthzIsAlwaysOk) {
  EXPECT_EQ(get(port_, "/healthz"),
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n"
            "Content-Length: 3\r\n\r\nok\n");
}

TEST_F(HealthServerTest, ReadyzFollowsTheReadinessCallback) {
  EXPECT_EQ(get(port_, "/readyz"),
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
            "Content-Type: text/plain\r\nContent-Length: 18\r\n\r\nportal not joined\n");
  set_readiness({true, ""});
  EXPECT_EQ(get(port_, "/readyz"),
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n"
            "Content-Length: 6\r\n\r\nready\n");
  set_readiness({false, "TUN device not configured"});
  const auto response = get(port_, "/readyz?verbose=1");
  EXPECT_EQ(response.substr(0, 33), "HTTP/1.1 503 Service Unavailable\r");
  EXPECT_EQ(response.substr(response.size() - 30), "\r\n\r\nTUN device not configured\n");
}

TEST_F(HealthServerTest, UnknownPathsAndMethods) {
  // Without a metrics callback /metrics does not exist.
  EXPECT_EQ(get(port_, "/metrics").substr(0, 24), "HTTP/1.1 404 Not Found\r\n");
  EXPECT_EQ(get(port_, "/").substr(0, 24), "HTTP/1.1 404 Not Found\r\n");
  const auto post = get(port_, "/healthz", "POST");
  EXPECT_EQ(post.substr(0, 33), "HTTP/1.1 405 Method Not Allowed\r\n");
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(get(port_, "/healthz", "HEAD"),
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n"
            "Content-Length: 3\r\n\r\n");
}

TEST_F(HealthServerTest, MetricsAreServedOnceACallbackIsSet) {
  std::promise<void> set;
  std::atomic<int> calls = 0;
  boost::asio::post(io_, [&] {
    server_->set_metrics([&calls] {
      ++calls;
      return std::string("firezone_gateway_ready 0\n");
    });
    set.set_value();
  });
  set.get_future().wait();
  EXPECT_EQ(get(port_, "/metrics"),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 25\r\n\r\nfirezone_gateway_ready 0\n");
  EXPECT_EQ(get(port_, "/metrics", "POST").substr(0, 33), "HTTP/1.1 405 Method Not Allowed\r\n");
  EXPECT_EQ(get(port_, "/metrics?x=1").substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(calls, 2);
}

TEST_F(HealthServerTest, GarbageAndHttp10) {
  // Not HTTP: the connection is closed without a response; the server keeps serving.
  EXPECT_EQ(http_exchange(port_, "\x01\x02garbage\r\n\r\n"), "");
  EXPECT_EQ(http_exchange(port_, "GET /healthz HTTP/1.0\r\n\r\n"),
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n");
}

TEST_F(HealthServerTest, SecondServerOnTheSamePortFailsToStart) {
  boost::asio::io_context other_io;
  HealthServer other(other_io, net::SocketAddr{net::IpAddr::v4(127, 0, 0, 1), port_}, [] {
    return Readiness{true, ""};
  });
  auto status = other.start();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), Errc::config);
  EXPECT_NE(status.error().to_string().find("127.0.0.1:" + std::to_string(port_)),
            std::string::npos);
}

}  // namespace
}  // namespace fz::io
