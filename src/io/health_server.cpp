// The one Beast translation unit of the health server.
#include "io/health_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <unordered_set>

#include "base/log.hpp"

namespace fz::io {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr const char* kLog = "io::health";
constexpr auto kConnectionTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxConnections = 64;
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::uint64_t kBodyLimit = 1024;

tcp::endpoint to_endpoint(const net::SocketAddr& addr) {
  if (addr.ip.is_v4()) {
    asio::ip::address_v4::bytes_type bytes;
    std::copy_n(addr.ip.raw().begin(), 4, bytes.begin());
    return {asio::ip::address_v4(bytes), addr.port};
  }
  asio::ip::address_v6::bytes_type bytes;
  std::copy_n(addr.ip.raw().begin(), 16, bytes.begin());
  return {asio::ip::address_v6(bytes), addr.port};
}

net::SocketAddr from_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v4()) {
    const auto b = address.to_v4().to_bytes();
    return {net::IpAddr::v4(b[0], b[1], b[2], b[3]), endpoint.port()};
  }
  std::array<std::uint8_t, 16> raw{};
  const auto b = address.to_v6().to_bytes();
  std::copy(b.begin(), b.end(), raw.begin());
  return {net::IpAddr::v6(raw), endpoint.port()};
}

}  // namespace

namespace {
class HealthSession;
}  // namespace

struct HealthServer::Impl : std::enable_shared_from_this<HealthServer::Impl> {
  Impl(asio::io_context& io, net::SocketAddr address, std::function<Readiness()> readiness)
      : io(io), address(address), readiness(std::move(readiness)), acceptor(io) {}

  void accept();

  asio::io_context& io;
  net::SocketAddr address;
  std::function<Readiness()> readiness;
  std::function<std::string()> metrics;
  tcp::acceptor acceptor;
  std::unordered_set<HealthSession*> sessions;
  bool stopped = false;
};

namespace {

class HealthSession : public std::enable_shared_from_this<HealthSession> {
 public:
  HealthSession(tcp::socket socket, std::shared_ptr<HealthServer::Impl> server)
      : stream_(std::move(socket)), server_(server) {
    server->sessions.insert(this);
  }
  ~HealthSession() {
    if (auto server = server_.lock()) server->sessions.erase(this);
  }

  void start() {
    parser_.header_limit(kHeaderLimit);
    parser_.body_limit(kBodyLimit);
    stream_.expires_after(kConnectionTimeout);
    http::async_read(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec != http::error::end_of_stream) {
        FZ_DEBUG(kLog, "health request not read: {}", ec.message());
      }
      return;
    }
    const auto& request = parser_.get();
    response_.version(request.version());
    response_.keep_alive(false);
    response_.set(http::field::content_type, "text/plain");
    const auto target = request.target();
    const std::string_view path(target.data(), target.size());
    const std::string_view bare_path = path.substr(0, path.find('?'));
    auto server = server_.lock();
    const bool has_metrics = server && server->metrics;
    if (bare_path != "/healthz" && bare_path != "/readyz" &&
        !(bare_path == "/metrics" && has_metrics)) {
      response_.result(http::status::not_found);
      response_.body() = "not found\n";
    } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.body() = "method not allowed\n";
    } else if (bare_path == "/healthz") {
      response_.result(http::status::ok);
      response_.body() = "ok\n";
    } else if (bare_path == "/metrics") {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response_.body() = server->metrics();
    } else {
      Readiness readiness;
      if (server && server->readiness) readiness = server->readiness();
      if (readiness.ready) {
        response_.result(http::status::ok);
        response_.body() = "ready\n";
      } else {
        response_.result(http::status::service_unavailable);
        response_.body() =
            readiness.reason.empty() ? std::string("not ready\n") : readiness.reason + "\n";
      }
    }
    response_.prepare_payload();
    if (request.method() == http::verb::head) response_.body().clear();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                        if (write_ec) {
                          FZ_DEBUG(kLog, "health response not sent: {}", write_ec.message());
                        }
                        self->close();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
  std::weak_ptr<HealthServer::Impl> server_;
};

}  // namespace

void HealthServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped || !self->acceptor.is_open()) return;
    if (ec) {
      FZ_DEBUG(kLog, "accept failed: {}", ec.message());
    } else if (self->sessions.size() >= kMaxConnections) {
      FZ_DEBUG(kLog, "too many health connections; closing a new one");
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<HealthSession>(std::move(socket), self)->start();
    }
    self->accept();
  });
}

HealthServer::HealthServer(asio::io_context& io, net::SocketAddr address,
                           std::function<Readiness()> readiness)
    : impl_(std::make_shared<Impl>(io, address, std::move(readiness))) {}

void HealthServer::set_metrics(std::function<std::string()> metrics) {
  impl_->metrics = std::move(metrics);
}

HealthServer::~HealthServer() {
  stop();
}

Status HealthServer::start() {
  const tcp::endpoint endpoint = to_endpoint(impl_->address);
  beast::error_code ec;
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    return Error(Errc::config, "cannot listen for health checks",
                 impl_->address.to_string() + ": " + ec.message());
  }
  impl_->stopped = false;
  impl_->accept();
  FZ_INFO(kLog, "health checks on http://{}", local_address().to_string());
  return {};
}

void HealthServer::stop() {
  if (!impl_) return;
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  for (HealthSession* session : impl_->sessions)
    session->close();
}

net::SocketAddr HealthServer::local_address() const {
  beast::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  if (ec) return impl_->address;
  return from_endpoint(endpoint);
}

}  // namespace fz::io
