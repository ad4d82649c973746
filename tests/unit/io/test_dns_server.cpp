#include "test_dns_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <stdexcept>

#include "dns/message.hpp"

namespace fz::io::testing {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

asio::ip::address to_asio(const net::IpAddr& ip) {
  if (ip.is_v4()) return asio::ip::address_v4(ip.to_u32());
  asio::ip::address_v6::bytes_type b;
  std::copy(ip.raw().begin(), ip.raw().end(), b.begin());
  return asio::ip::address_v6(b);
}

}  // namespace

struct TestDnsServer::Impl : std::enable_shared_from_this<Impl> {
  struct Entry {
    std::uint16_t type;
    std::vector<std::uint8_t> rdata;
    std::uint32_t ttl;
  };

  asio::io_context& io;
  udp::socket udp_socket;
  tcp::acceptor acceptor;
  std::multimap<std::string, Entry> records;  // lowercased presentation name
  Duration delay{0};
  bool silent = false;
  std::size_t udp_count = 0;
  std::size_t tcp_count = 0;
  std::size_t tcp_conns = 0;
  std::vector<std::uint8_t> udp_buffer = std::vector<std::uint8_t>(65536);
  udp::endpoint udp_peer;
  bool stopped = false;

  explicit Impl(asio::io_context& ctx) : io(ctx), udp_socket(ctx), acceptor(ctx) {}

  void open(const net::IpAddr& ip) {
    // Find a port free for both UDP and TCP.
    for (int attempt = 0; attempt < 50; ++attempt) {
      udp::endpoint ep(to_asio(ip), 0);
      udp_socket = udp::socket(io);
      udp_socket.open(ep.protocol());
      udp_socket.bind(ep);
      const auto port = udp_socket.local_endpoint().port();
      boost::system::error_code ec;
      acceptor = tcp::acceptor(io);
      acceptor.open(tcp::endpoint(to_asio(ip), port).protocol());
      acceptor.set_option(tcp::acceptor::reuse_address(true));
      acceptor.bind(tcp::endpoint(to_asio(ip), port), ec);
      if (!ec) {
        acceptor.listen();
        return;
      }
    }
    throw std::runtime_error("no free port for the test DNS server");
  }

  void start() {
    receive();
    accept();
  }

  std::vector<std::uint8_t> answer(const std::vector<std::uint8_t>& query_bytes) {
    auto query = dns::parse(query_bytes);
    if (!query || query->questions.size() != 1) return {};
    dns::Message reply;
    reply.header = query->header;
    reply.header.qr = true;
    reply.header.aa = true;
    reply.header.ra = true;
    reply.questions = query->questions;
    const dns::Question& q = query->questions[0];
    const std::string name = lower(q.name.to_string());
    auto [first, last] = records.equal_range(name);
    if (first == last) {
      reply.header.rcode = static_cast<std::uint8_t>(dns::Rcode::nx_domain);
    }
    for (auto it = first; it != last; ++it) {
      if (it->second.type != q.qtype) continue;
      reply.answers.push_back(
          dns::Record{q.name, it->second.type, dns::kClassIn, it->second.ttl, it->second.rdata});
    }
    auto out = dns::build(reply);
    return out ? *out : std::vector<std::uint8_t>{};
  }

  // Runs `fn` after the configured delay.
  template <class Fn>
  void later(Fn fn) {
    if (delay == Duration::zero()) {
      fn();
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(io, delay);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) mutable {
      if (!ec) fn();
    });
  }

  void receive() {
    udp_socket.async_receive_from(
        asio::buffer(udp_buffer), udp_peer,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (ec || self->stopped) return;
          ++self->udp_count;
          std::vector<std::uint8_t> query(self->udp_buffer.begin(),
                                          self->udp_buffer.begin() + static_cast<long>(n));
          const udp::endpoint peer = self->udp_peer;
          if (!self->silent) {
            auto reply = std::make_shared<std::vector<std::uint8_t>>(self->answer(query));
            if (!reply->empty()) {
              self->later([self, reply, peer] {
                if (self->stopped) return;
                boost::system::error_code ignored;
                self->udp_socket.send_to(asio::buffer(*reply), peer, 0, ignored);
              });
            }
          }
          self->receive();
        });
  }

  void accept() {
    acceptor.async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          if (ec || self->stopped) return;
          ++self->tcp_conns;
          self->serve(std::make_shared<tcp::socket>(std::move(socket)));
          self->accept();
        });
  }

  void serve(std::shared_ptr<tcp::socket> socket) {
    auto length = std::make_shared<std::array<std::uint8_t, 2>>();
    asio::async_read(
        *socket, asio::buffer(*length),
        [self = shared_from_this(), socket, length](const boost::system::error_code& ec,
                                                    std::size_t) {
          if (ec || self->stopped) return;
          auto body = std::make_shared<std::vector<std::uint8_t>>(load_be16(length->data()));
          asio::async_read(
              *socket, asio::buffer(*body),
              [self, socket, body](const boost::system::error_code& ec2, std::size_t) {
                if (ec2 || self->stopped) return;
                ++self->tcp_count;
                if (self->silent) {
                  self->serve(socket);
                  return;
                }
                auto reply = self->answer(*body);
                auto framed = std::make_shared<std::vector<std::uint8_t>>(2 + reply.size());
                store_be16(framed->data(), static_cast<std::uint16_t>(reply.size()));
                std::copy(reply.begin(), reply.end(), framed->begin() + 2);
                self->later([self, socket, framed] {
                  if (self->stopped) return;
                  asio::async_write(
                      *socket, asio::buffer(*framed),
                      [self, socket, framed](const boost::system::error_code& ec3, std::size_t) {
                        if (!ec3) self->serve(socket);
                      });
                });
              });
        });
  }
};

TestDnsServer::TestDnsServer(asio::io_context& io, net::IpAddr ip)
    : impl_(std::make_shared<Impl>(io)) {
  impl_->open(ip);
  impl_->start();
}

TestDnsServer::~TestDnsServer() {
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->udp_socket.close(ignored);
  impl_->acceptor.close(ignored);
}

net::SocketAddr TestDnsServer::address() const {
  const auto ep = impl_->udp_socket.local_endpoint();
  net::IpAddr ip;
  if (ep.address().is_v4()) {
    ip = net::IpAddr::v4_from_u32(ep.address().to_v4().to_uint());
  } else {
    const auto b = ep.address().to_v6().to_bytes();
    std::array<std::uint8_t, 16> raw;
    std::copy(b.begin(), b.end(), raw.begin());
    ip = net::IpAddr::v6(raw);
  }
  return net::SocketAddr{ip, ep.port()};
}

void TestDnsServer::add(const std::string& name, std::uint16_t type,
                        std::vector<std::uint8_t> rdata, std::uint32_t ttl) {
  impl_->records.emplace(lower(name), Impl::Entry{type, std::move(rdata), ttl});
}

void TestDnsServer::add_address(const std::string& name, net::IpAddr ip) {
  add(name, ip.is_v4() ? dns::rtype::a : dns::rtype::aaaa,
      std::vector<std::uint8_t>(ip.bytes().begin(), ip.bytes().end()));
}

void TestDnsServer::set_delay(Duration delay) {
  impl_->delay = delay;
}
void TestDnsServer::set_silent(bool silent) {
  impl_->silent = silent;
}
std::size_t TestDnsServer::udp_queries() const {
  return impl_->udp_count;
}
std::size_t TestDnsServer::tcp_queries() const {
  return impl_->tcp_count;
}
std::size_t TestDnsServer::tcp_connections() const {
  return impl_->tcp_conns;
}

}  // namespace fz::io::testing
