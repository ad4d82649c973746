#include "io/dns_forwarder.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "base/log.hpp"
#include "dns/message.hpp"
#include "dns/resolv_conf.hpp"
#include "dns/upstreams.hpp"
#include "io/dns_resolver.hpp"

namespace fz::io {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;
using Buf = std::vector<std::uint8_t>;

namespace {

constexpr const char* kLog = "dns";
// Queries are small; a larger datagram is not a query we can answer anyway.
constexpr std::size_t kQueryBuffer = 4096;

asio::ip::address to_asio(const net::IpAddr& ip) {
  if (ip.is_v4()) return asio::ip::address_v4(ip.to_u32());
  asio::ip::address_v6::bytes_type bytes;
  std::copy(ip.raw().begin(), ip.raw().end(), bytes.begin());
  return asio::ip::address_v6(bytes);
}

net::SocketAddr from_asio(const asio::ip::address& address, std::uint16_t port) {
  if (address.is_v4()) return {net::IpAddr::v4_from_u32(address.to_v4().to_uint()), port};
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return {net::IpAddr::v4_from_u32(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint()),
            port};
  }
  std::array<std::uint8_t, 16> raw;
  const auto bytes = v6.to_bytes();
  std::copy(bytes.begin(), bytes.end(), raw.begin());
  return {net::IpAddr::v6(raw), port};
}

Duration since(Clock::time_point start) {
  return std::chrono::duration_cast<Duration>(Clock::now() - start);
}

}  // namespace

struct DnsForwarder::Impl : std::enable_shared_from_this<Impl> {
  struct UdpListener {
    explicit UdpListener(asio::io_context& io) : socket(io), buffer(kQueryBuffer) {}
    udp::socket socket;
    Buf buffer;
    udp::endpoint peer;
  };

  struct Query;
  struct Connection;

  asio::io_context& io;
  std::vector<net::SocketAddr> listen;
  std::vector<net::SocketAddr> upstream_list;
  ForwarderOptions options;
  dns::UpstreamSelector selector{0};
  ForwarderStats stats;
  std::vector<std::shared_ptr<UdpListener>> udp_listeners;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  std::unordered_map<Query*, std::weak_ptr<Query>> queries;
  bool stopped = true;

  Impl(asio::io_context& ctx, std::vector<net::SocketAddr> listen_addrs,
       std::vector<net::SocketAddr> upstreams, ForwarderOptions opts)
      : io(ctx),
        listen(std::move(listen_addrs)),
        upstream_list(std::move(upstreams)),
        options(std::move(opts)) {}

  // --- one query: the upstream attempts ----------------------------------------------------

  struct Query : std::enable_shared_from_this<Query> {
    Query(Impl& owner, Buf query, bool over_tcp, std::function<void(Buf)> reply_fn)
        : impl(owner),
          bytes(std::move(query)),
          id(load_be16(bytes.data())),
          tcp(over_tcp),
          reply(std::move(reply_fn)),
          deadline(owner.io),
          attempt_timer(owner.io),
          udp_socket(owner.io),
          tcp_socket(owner.io) {}

    Impl& impl;
    Buf bytes;
    std::uint16_t id;
    bool tcp;
    std::function<void(Buf)> reply;
    asio::steady_timer deadline;
    asio::steady_timer attempt_timer;
    udp::socket udp_socket;
    tcp::socket tcp_socket;
    Clock::time_point started;
    std::vector<std::size_t> order;
    std::size_t next = 0;
    std::size_t upstream = 0;
    Clock::time_point attempt_started;
    std::uint64_t attempt = 0;  // generation: stale handlers compare and leave
    std::array<std::uint8_t, 2> length{};
    Buf response;
    Buf framed;
    bool done = false;

    void start() {
      started = Clock::now();
      order = impl.selector.ranking();
      impl.selector.chosen(order.front());
      deadline.expires_after(impl.options.query_timeout);
      deadline.async_wait([self = shared_from_this()](const ErrorCode& ec) {
        if (ec || self->done) return;
        self->attempt_failed("query timed out", self->attempt);
        if (!self->done) self->finish_servfail();
      });
      try_next();
    }

    void try_next() {
      close_sockets();
      if (next >= order.size()) {
        finish_servfail();
        return;
      }
      upstream = order[next++];
      ++attempt;
      attempt_started = Clock::now();
      const Duration remaining = impl.options.query_timeout - since(started);
      attempt_timer.expires_after(std::min(impl.options.attempt_timeout, remaining));
      attempt_timer.async_wait([self = shared_from_this(), gen = attempt](const ErrorCode& ec) {
        if (ec) return;
        self->attempt_failed("upstream timed out", gen);
      });
      const net::SocketAddr& server = impl.upstream_list[upstream];
      FZ_TRACE(kLog, "query {:#06x} to {} over {}", id, server.to_string(), tcp ? "TCP" : "UDP");
      if (tcp) {
        start_tcp(server);
      } else {
        start_udp(server);
      }
    }

    // A failure of attempt `gen` (stale ones are ignored): penalise that upstream, try the next.
    void attempt_failed(const char* why, std::uint64_t gen) {
      if (done || gen != attempt) return;
      ++impl.stats.attempt_failures;
      FZ_DEBUG(kLog, "query {:#06x}: {} ({})", id, why, impl.upstream_list[upstream].to_string());
      impl.selector.failed(upstream, since(attempt_started));
      ++attempt;  // whatever this attempt still has pending is stale now
      if (since(started) >= impl.options.query_timeout) {
        finish_servfail();
        return;
      }
      try_next();
    }

    template <class Socket>
    void mark(Socket& socket) {
      if (impl.options.fwmark == 0) return;
      if (const int err = mark_socket(socket.native_handle(), impl.options.fwmark); err != 0) {
        FZ_TRACE(kLog, "SO_MARK on upstream socket: {}", std::strerror(err));
      }
    }

    void start_udp(const net::SocketAddr& server) {
      const udp::endpoint endpoint(to_asio(server.ip), server.port);
      ErrorCode ec;
      udp_socket.open(endpoint.protocol(), ec);
      if (!ec) {
        mark(udp_socket);
        // Connected: the kernel drops datagrams from anyone but the upstream.
        udp_socket.connect(endpoint, ec);
      }
      if (!ec) udp_socket.send(asio::buffer(bytes), 0, ec);
      if (ec) {
        FZ_DEBUG(kLog, "UDP to {}: {}", server.to_string(), ec.message());
        auto self = shared_from_this();
        const auto gen = attempt;
        asio::post(impl.io, [self, gen] { self->attempt_failed("send failed", gen); });
        return;
      }
      wait_udp(attempt);
    }

    void wait_udp(std::uint64_t gen) {
      udp_socket.async_wait(udp::socket::wait_read,
                            [self = shared_from_this(), gen](const ErrorCode& ec) {
                              if (self->done || gen != self->attempt) return;
                              if (ec) {
                                self->attempt_failed("receive failed", gen);
                                return;
                              }
                              self->read_udp(gen);
                            });
    }

    void read_udp(std::uint64_t gen) {
      // Size the buffer to the datagram, whatever the upstream's EDNS size was.
      const int fd = udp_socket.native_handle();
      const ssize_t size = ::recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
      if (size < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          wait_udp(gen);
          return;
        }
        attempt_failed("receive failed", gen);  // e.g. ECONNREFUSED from an ICMP error
        return;
      }
      response.resize(static_cast<std::size_t>(size));
      const ssize_t got = ::recv(fd, response.data(), response.size(), MSG_DONTWAIT);
      if (got != size) {
        attempt_failed("receive failed", gen);
        return;
      }
      if (response.size() >= 2 && load_be16(response.data()) != id) {
        FZ_DEBUG(kLog, "query {:#06x}: ignoring an answer with id {:#06x}", id,
                 load_be16(response.data()));
        wait_udp(gen);
        return;
      }
      answered(gen);
    }

    void start_tcp(const net::SocketAddr& server) {
      const tcp::endpoint endpoint(to_asio(server.ip), server.port);
      ErrorCode ec;
      tcp_socket.open(endpoint.protocol(), ec);
      if (!ec) {
        mark(tcp_socket);
        tcp_socket.set_option(tcp::no_delay(true), ec);
      }
      if (ec) {
        auto self = shared_from_this();
        const auto gen = attempt;
        asio::post(impl.io, [self, gen] { self->attempt_failed("socket failed", gen); });
        return;
      }
      framed.resize(2 + bytes.size());
      store_be16(framed.data(), static_cast<std::uint16_t>(bytes.size()));
      std::copy(bytes.begin(), bytes.end(), framed.begin() + 2);
      const auto gen = attempt;
      tcp_socket.async_connect(endpoint, [self = shared_from_this(), gen](const ErrorCode& ec2) {
        if (self->done || gen != self->attempt) return;
        if (ec2) {
          self->attempt_failed("connect failed", gen);
          return;
        }
        asio::async_write(self->tcp_socket, asio::buffer(self->framed),
                          [self, gen](const ErrorCode& ec3, std::size_t) {
                            if (self->done || gen != self->attempt) return;
                            if (ec3) {
                              self->attempt_failed("write failed", gen);
                              return;
                            }
                            asio::async_read(
                                self->tcp_socket, asio::buffer(self->length),
                                [self, gen](const ErrorCode& ec4, std::size_t) {
                                  if (self->done || gen != self->attempt) return;
                                  if (ec4) {
                                    self->attempt_failed("read failed", gen);
                                    return;
                                  }
                                  self->response.resize(load_be16(self->length.data()));
                                  asio::async_read(self->tcp_socket, asio::buffer(self->response),
                                                   [self, gen](const ErrorCode& ec5, std::size_t) {
                                                     if (self->done || gen != self->attempt) return;
                                                     if (ec5) {
                                                       self->attempt_failed("read failed", gen);
                                                       return;
                                                     }
                                                     self->answered(gen);
                                                   });
                                });
                          });
      });
    }

    void answered(std::uint64_t gen) {
      auto view = dns::parse_response(response);
      if (!view) {
        FZ_DEBUG(kLog, "query {:#06x}: unusable answer: {}", id, view.error().to_string());
        attempt_failed("bad answer", gen);
        return;
      }
      if (view->header.id != id) {
        attempt_failed("answer for another query", gen);
        return;
      }
      impl.selector.answered(upstream, since(attempt_started));
      if (!tcp && response.size() > impl.options.udp_answer_limit) {
        auto size = dns::truncate_to(response, *view, impl.options.udp_answer_limit);
        if (!size) {
          attempt_failed("answer cannot be truncated", gen);
          return;
        }
        response.resize(*size);
        ++impl.stats.truncated;
      }
      ++impl.stats.answered;
      finish(std::move(response));
    }

    void finish_servfail() {
      ++impl.stats.servfail;
      auto servfail = dns::build_servfail(bytes);
      finish(servfail ? std::move(*servfail) : Buf{});
    }

    void finish(Buf answer) {
      if (done) return;
      abandon();
      if (!answer.empty()) reply(std::move(answer));
    }

    // Ends the query without an answer (also used by stop()).
    void abandon() {
      if (done) return;
      done = true;
      deadline.cancel();
      attempt_timer.cancel();
      close_sockets();
      impl.queries.erase(this);
    }

    void close_sockets() {
      ErrorCode ignored;
      if (udp_socket.is_open()) udp_socket.close(ignored);
      if (tcp_socket.is_open()) tcp_socket.close(ignored);
    }
  };

  // Starts forwarding one validated query; `reply` gets the answer (or SERVFAIL).
  void forward(Buf query, bool over_tcp, std::function<void(Buf)> reply) {
    if (upstream_list.empty()) {
      ++stats.servfail;
      auto servfail = dns::build_servfail(query);
      if (servfail) reply(std::move(*servfail));
      return;
    }
    auto q = std::make_shared<Query>(*this, std::move(query), over_tcp, std::move(reply));
    queries.emplace(q.get(), q);
    q->start();
  }

  bool full() {
    if (queries.size() < options.max_in_flight) return false;
    ++stats.dropped_full;
    FZ_DEBUG(kLog, "{} queries in flight; dropping one", queries.size());
    return true;
  }

  // --- UDP listeners ----------------------------------------------------------------------

  void receive(const std::shared_ptr<UdpListener>& listener) {
    listener->socket.async_receive_from(
        asio::buffer(listener->buffer), listener->peer,
        [weak = weak_from_this(), listener](const ErrorCode& ec, std::size_t n) {
          auto self = weak.lock();
          if (!self || self->stopped || ec == asio::error::operation_aborted) return;
          if (!ec) self->handle_udp(listener, n);
          self->receive(listener);
        });
  }

  void handle_udp(const std::shared_ptr<UdpListener>& listener, std::size_t n) {
    const Bytes datagram(listener->buffer.data(), n);
    if (auto view = dns::parse_query(datagram); !view) {
      ++stats.malformed;
      FZ_DEBUG(kLog, "dropping malformed UDP query from {}: {}",
               from_asio(listener->peer.address(), listener->peer.port()).to_string(),
               view.error().to_string());
      return;
    }
    ++stats.udp_queries;
    if (full()) return;
    forward(Buf(datagram.begin(), datagram.end()), false,
            [weak = weak_from_this(), listener, peer = listener->peer](Buf answer) {
              auto self = weak.lock();
              if (!self || self->stopped) return;
              auto data = std::make_shared<Buf>(std::move(answer));
              listener->socket.async_send_to(asio::buffer(*data), peer,
                                             [data](const ErrorCode&, std::size_t) {});
            });
  }

  // --- TCP connections --------------------------------------------------------------------

  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(Impl& owner, tcp::socket s) : impl(owner), socket(std::move(s)), idle(owner.io) {}
    Impl& impl;
    tcp::socket socket;
    asio::steady_timer idle;
    std::array<std::uint8_t, 2> length{};
    Buf body;
    Buf out;
    bool closed = false;

    void read_next() {
      idle.expires_after(impl.options.tcp_idle_timeout);
      idle.async_wait([weak = weak_from_this()](const ErrorCode& ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        FZ_TRACE(kLog, "closing idle DNS TCP connection");
        self->close();
      });
      asio::async_read(socket, asio::buffer(length),
                       [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                         if (self->closed) return;
                         if (ec) {  // EOF between queries is the normal end
                           self->close();
                           return;
                         }
                         const std::size_t size = load_be16(self->length.data());
                         if (size < dns::kHeaderSize) {
                           ++self->impl.stats.malformed;
                           FZ_DEBUG(kLog, "dropping DNS TCP connection: {}-byte query", size);
                           self->close();
                           return;
                         }
                         self->body.resize(size);
                         asio::async_read(self->socket, asio::buffer(self->body),
                                          [self](const ErrorCode& ec2, std::size_t) {
                                            if (self->closed) return;
                                            if (ec2) {
                                              self->close();
                                              return;
                                            }
                                            self->handle_query();
                                          });
                       });
    }

    void handle_query() {
      idle.cancel();  // the query's own deadline bounds the wait now
      if (auto view = dns::parse_query(body); !view) {
        ++impl.stats.malformed;
        FZ_DEBUG(kLog, "dropping DNS TCP connection after a malformed query: {}",
                 view.error().to_string());
        close();
        return;
      }
      ++impl.stats.tcp_queries;
      if (impl.full()) {
        close();
        return;
      }
      // The query keeps the connection alive while it waits for its answer.
      impl.forward(std::move(body), true, [self = shared_from_this()](Buf answer) {
        if (!self->closed) self->write(std::move(answer));
      });
    }

    void write(Buf answer) {
      if (answer.size() > dns::kMaxTcpMessage) answer.resize(dns::kMaxTcpMessage);
      out.resize(2 + answer.size());
      store_be16(out.data(), static_cast<std::uint16_t>(answer.size()));
      std::copy(answer.begin(), answer.end(), out.begin() + 2);
      asio::async_write(socket, asio::buffer(out),
                        [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                          if (self->closed) return;
                          if (ec) {
                            self->close();
                            return;
                          }
                          self->read_next();
                        });
    }

    void close() {
      if (closed) return;
      closed = true;
      idle.cancel();
      ErrorCode ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      impl.connections.erase(this);
    }
  };

  void accept(const std::shared_ptr<tcp::acceptor>& acceptor) {
    acceptor->async_accept([weak = weak_from_this(), acceptor](const ErrorCode& ec,
                                                               tcp::socket socket) {
      auto self = weak.lock();
      if (!self || self->stopped || ec == asio::error::operation_aborted) return;
      if (!ec && self->connections.size() >= self->options.max_tcp_connections) {
        FZ_DEBUG(kLog, "{} DNS TCP connections open; refusing another", self->connections.size());
        ErrorCode ignored;
        socket.close(ignored);
      } else if (!ec) {
        ErrorCode ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto conn = std::make_shared<Connection>(*self, std::move(socket));
        self->connections.emplace(conn.get(), conn);
        conn->read_next();
      } else {
        FZ_DEBUG(kLog, "accept: {}", ec.message());
      }
      self->accept(acceptor);
    });
  }

  // --- lifecycle --------------------------------------------------------------------------

  Status start() {
    if (!stopped) return Error(Errc::state, "DNS forwarder already started");
    if (upstream_list.empty()) {
      std::ifstream file(options.resolv_conf);
      if (!file) return Error(Errc::config, "cannot read resolv.conf", options.resolv_conf);
      std::stringstream text;
      text << file.rdbuf();
      upstream_list = dns::parse_resolv_conf(text.str());
      if (upstream_list.empty()) {
        FZ_WARN(kLog, "no nameservers in {}; DNS queries to the gateway get SERVFAIL",
                options.resolv_conf);
      }
    }
    selector = dns::UpstreamSelector(upstream_list.size());

    std::size_t bound = 0;
    for (const net::SocketAddr& address : listen) {
      const auto ip = to_asio(address.ip);
      ErrorCode ec;
      auto listener = std::make_shared<UdpListener>(io);
      const udp::endpoint udp_endpoint(ip, address.port);
      listener->socket.open(udp_endpoint.protocol(), ec);
      if (!ec && ip.is_v6()) listener->socket.set_option(asio::ip::v6_only(true), ec);
      if (!ec) listener->socket.bind(udp_endpoint, ec);
      if (ec) {
        FZ_WARN(kLog, "cannot bind UDP {}: {}", address.to_string(), ec.message());
        continue;
      }
      // TCP on the same port as UDP (which matters when port 0 was asked for).
      const std::uint16_t port = listener->socket.local_endpoint().port();
      auto acceptor = std::make_shared<tcp::acceptor>(io);
      const tcp::endpoint tcp_endpoint(ip, port);
      acceptor->open(tcp_endpoint.protocol(), ec);
      if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && ip.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
      if (!ec) acceptor->bind(tcp_endpoint, ec);
      if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        FZ_WARN(kLog, "cannot bind TCP {}: {}", address.to_string(), ec.message());
        continue;
      }
      udp_listeners.push_back(std::move(listener));
      acceptors.push_back(std::move(acceptor));
      ++bound;
    }
    if (bound == 0) return Error(Errc::config, "DNS forwarder could not bind any address");
    stopped = false;
    for (auto& listener : udp_listeners)
      receive(listener);
    for (auto& acceptor : acceptors)
      accept(acceptor);
    FZ_INFO(kLog, "DNS forwarder listening on {} address(es), {} upstream(s)", bound,
            upstream_list.size());
    return {};
  }

  void stop() {
    stopped = true;
    ErrorCode ignored;
    for (auto& listener : udp_listeners)
      listener->socket.close(ignored);
    for (auto& acceptor : acceptors)
      acceptor->close(ignored);
    udp_listeners.clear();
    acceptors.clear();
    auto live_connections = std::move(connections);
    connections.clear();
    for (auto& [raw, weak] : live_connections) {
      if (auto conn = weak.lock()) conn->close();
    }
    auto live_queries = std::move(queries);
    queries.clear();
    for (auto& [raw, weak] : live_queries) {
      if (auto q = weak.lock()) q->abandon();
    }
  }
};

DnsForwarder::DnsForwarder(asio::io_context& io, std::vector<net::SocketAddr> listen,
                           std::vector<net::SocketAddr> upstreams, ForwarderOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(listen), std::move(upstreams),
                                   std::move(options))) {}

DnsForwarder::~DnsForwarder() {
  impl_->stop();
}

Status DnsForwarder::start() {
  return impl_->start();
}

void DnsForwarder::stop() {
  impl_->stop();
}

std::vector<net::SocketAddr> DnsForwarder::udp_addresses() const {
  std::vector<net::SocketAddr> out;
  for (const auto& listener : impl_->udp_listeners) {
    ErrorCode ec;
    const auto ep = listener->socket.local_endpoint(ec);
    if (!ec) out.push_back(from_asio(ep.address(), ep.port()));
  }
  return out;
}

std::vector<net::SocketAddr> DnsForwarder::tcp_addresses() const {
  std::vector<net::SocketAddr> out;
  for (const auto& acceptor : impl_->acceptors) {
    ErrorCode ec;
    const auto ep = acceptor->local_endpoint(ec);
    if (!ec) out.push_back(from_asio(ep.address(), ep.port()));
  }
  return out;
}

const std::vector<net::SocketAddr>& DnsForwarder::upstreams() const {
  return impl_->upstream_list;
}

std::vector<Duration> DnsForwarder::upstream_estimates() const {
  std::vector<Duration> out;
  for (std::size_t i = 0; i < impl_->selector.size(); ++i)
    out.push_back(impl_->selector.estimate(i));
  return out;
}

const ForwarderStats& DnsForwarder::stats() const {
  return impl_->stats;
}

}  // namespace fz::io
