// A tiny authoritative DNS server for tests: UDP and TCP on one loopback port, answers from a
// table, NXDOMAIN otherwise; it can delay its answers or stay silent, and counts what it got.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/time.hpp"
#include "net/ip_addr.hpp"

namespace boost::asio {
class io_context;
}

namespace fz::io::testing {

class TestDnsServer {
 public:
  explicit TestDnsServer(boost::asio::io_context& io,
                         net::IpAddr ip = net::IpAddr::v4(127, 0, 0, 1));
  ~TestDnsServer();

  // Where it listens (the same port for UDP and TCP).
  net::SocketAddr address() const;

  void add(const std::string& name, std::uint16_t type, std::vector<std::uint8_t> rdata,
           std::uint32_t ttl = 30);
  void add_address(const std::string& name, net::IpAddr ip);  // A or AAAA
  void set_delay(Duration delay);
  void set_silent(bool silent);

  std::size_t udp_queries() const;
  std::size_t tcp_queries() const;
  std::size_t tcp_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fz::io::testing
