// The dev portal's only Boost.Beast translation unit.
#include "dev-portal/server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <map>

#include "dev-portal/control.hpp"
#include "io/beast_stream.hpp"

namespace fz::devportal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using io::beast_detail::MaybeTlsStream;

constexpr auto kRequestTimeout = std::chrono::seconds(30);
constexpr std::size_t kMaxMessage = 16 << 20;

class WsSession;

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& io_context, DevPortal& p, ServerOptions o, std::function<Instant()> c)
      : io(io_context),
        portal(p),
        options(std::move(o)),
        clock(std::move(c)),
        acceptor(io_context),
        control_acceptor(io_context),
        tls(ssl::context::tls_server),
        timer(io_context) {}

  void accept_next();
  void accept_control_next();
  // Carries out everything the portal produced, then re-arms the idle timer.
  void pump();
  void arm_timer();

  asio::io_context& io;
  DevPortal& portal;
  ServerOptions options;
  std::function<Instant()> clock;
  tcp::acceptor acceptor;
  tcp::acceptor control_acceptor;
  ssl::context tls;
  bool use_tls = false;
  bool stopped = false;
  asio::steady_timer timer;
  std::optional<Instant> timer_deadline;
  std::map<SocketId, std::weak_ptr<WsSession>> sessions;
};

namespace {

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, std::shared_ptr<Server::Impl> server)
      : ws_(std::move(socket), server->tls, server->use_tls), server_(std::move(server)) {}

  void start() {
    beast::get_lowest_layer(ws_).expires_after(kRequestTimeout);
    if (server_->use_tls) {
      ws_.next_layer().tls().async_handshake(ssl::stream_base::server,
                                             [self = shared_from_this()](error_code ec) {
                                               if (!ec) self->read_request();
                                             });
    } else {
      read_request();
    }
  }

  void send(std::string text) {
    if (closing_) return;
    outbox_.push_back(std::move(text));
    if (!writing_ && open_) write_next();
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    if (!writing_ && open_) start_close();
  }

  void drop() {
    open_ = false;
    closing_ = true;
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->body_limit(64 * 1024);
    http::async_read(ws_.next_layer(), buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (!ec) self->on_request();
                     });
  }

  void respond(http::status status, std::string body) {
    auto response = std::make_shared<http::response<http::string_body>>(status, 11);
    response->set(http::field::content_type, "text/plain");
    response->body() = std::move(body);
    response->keep_alive(false);
    response->prepare_payload();
    http::async_write(
        ws_.next_layer(), *response,
        [self = shared_from_this(), response](error_code, std::size_t) { self->drop(); });
  }

  void on_request() {
    auto& request = parser_->get();
    if (!websocket::is_upgrade(request)) {
      respond(http::status::upgrade_required, "WebSocket upgrade expected");
      return;
    }
    const std::string target(request.target());
    const std::string user_agent(request[http::field::user_agent]);
    const auto outcome = server_->portal.handle_upgrade(target, user_agent, server_->clock());
    if (const auto* rejected = std::get_if<UpgradeRejected>(&outcome)) {
      respond(static_cast<http::status>(rejected->status), rejected->body);
      server_->pump();
      return;
    }
    id_ = std::get<SocketId>(outcome);
    server_->sessions[id_] = weak_from_this();
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(kMaxMessage);
    ws_.async_accept(request, [self = shared_from_this()](error_code ec) {
      if (ec) {
        self->on_gone();
        return;
      }
      self->open_ = true;
      if (self->closing_ && self->outbox_.empty()) {
        self->start_close();
      } else if (!self->outbox_.empty()) {
        self->write_next();
      }
      self->read_next();
    });
    server_->pump();
  }

  void read_next() {
    ws_.async_read(read_buffer_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) {
        self->on_gone();
        return;
      }
      std::string text = beast::buffers_to_string(self->read_buffer_.data());
      self->read_buffer_.consume(self->read_buffer_.size());
      if (!self->closing_) {
        self->server_->portal.handle_frame(self->id_, text, self->server_->clock());
        self->server_->pump();
      }
      self->read_next();
    });
  }

  void write_next() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(outbox_.front()),
                    [self = shared_from_this()](error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) {
                        self->on_gone();
                        return;
                      }
                      self->outbox_.pop_front();
                      if (!self->outbox_.empty()) {
                        self->write_next();
                      } else if (self->closing_) {
                        self->start_close();
                      }
                    });
  }

  void start_close() {
    ws_.async_close(websocket::close_code::normal,
                    [self = shared_from_this()](error_code) { self->drop(); });
  }

  void on_gone() {
    if (gone_) return;
    gone_ = true;
    open_ = false;
    if (server_->stopped) return;
    server_->sessions.erase(id_);
    server_->portal.handle_closed(id_, server_->clock());
    server_->pump();
  }

  websocket::stream<MaybeTlsStream, false> ws_;
  std::shared_ptr<Server::Impl> server_;
  beast::flat_buffer buffer_;
  beast::flat_buffer read_buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<std::string> outbox_;
  SocketId id_ = 0;
  bool open_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool gone_ = false;
};

class ControlSession : public std::enable_shared_from_this<ControlSession> {
 public:
  ControlSession(tcp::socket socket, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  void start() {
    stream_.expires_after(kRequestTimeout);
    parser_.body_limit(kMaxMessage);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (!ec) self->on_request();
                     });
  }

 private:
  void on_request() {
    const auto& request = parser_.get();
    ControlResponse result;
    if (server_->stopped) {
      result = {503, "{\"error\":\"stopping\"}"};
    } else {
      result = handle_control(server_->portal, std::string(request.method_string()),
                              std::string(request.target()), request.body(), server_->clock());
      server_->pump();
    }
    response_.result(static_cast<http::status>(result.status));
    response_.version(11);
    response_.set(http::field::content_type, "application/json");
    response_.body() = std::move(result.body);
    response_.keep_alive(false);
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](error_code, std::size_t) {
      error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Server::Impl> server_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

void Server::Impl::accept_next() {
  acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    if (ec || self->stopped) return;
    std::make_shared<WsSession>(std::move(socket), self)->start();
    self->accept_next();
  });
}

void Server::Impl::accept_control_next() {
  control_acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    if (ec || self->stopped) return;
    std::make_shared<ControlSession>(std::move(socket), self)->start();
    self->accept_control_next();
  });
}

void Server::Impl::pump() {
  while (auto output = portal.poll_output()) {
    if (auto* send = std::get_if<SendFrame>(&*output)) {
      const auto it = sessions.find(send->socket);
      if (it == sessions.end()) continue;
      if (auto session = it->second.lock()) session->send(std::move(send->text));
    } else {
      const auto socket = std::get<CloseSocket>(*output).socket;
      const auto it = sessions.find(socket);
      if (it == sessions.end()) continue;
      if (auto session = it->second.lock()) session->close();
      sessions.erase(it);
    }
  }
  arm_timer();
}

void Server::Impl::arm_timer() {
  if (stopped) return;
  const auto deadline = portal.poll_timeout();
  if (deadline == timer_deadline) return;
  timer_deadline = deadline;
  timer.cancel();
  if (!deadline) return;
  const auto delay = *deadline - clock();
  timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      delay > Duration::zero() ? delay : Duration::zero()));
  timer.async_wait([weak = weak_from_this(), deadline](error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped || self->timer_deadline != deadline) return;
    self->timer_deadline.reset();
    self->portal.handle_timeout(self->clock());
    self->pump();
  });
}

Server::Server(asio::io_context& io, DevPortal& portal, ServerOptions options,
               std::function<Instant()> clock)
    : impl_(std::make_shared<Impl>(io, portal, std::move(options), std::move(clock))) {}

Server::~Server() {
  stop();
}

namespace {
Status listen(tcp::acceptor& acceptor, const std::string& address, std::uint16_t port) {
  error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return Error(Errc::config, "not an IP address", address);
  const tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Error(Errc::config, "cannot listen",
                 address + ":" + std::to_string(port) + ": " + ec.message());
  return {};
}
}  // namespace

Status Server::start() {
  auto& o = impl_->options;
  if (o.tls_cert_file.has_value() != o.tls_key_file.has_value())
    return Error(Errc::config, "--tls-cert and --tls-key go together");
  if (o.tls_cert_file) {
    error_code ec;
    impl_->tls.use_certificate_chain_file(*o.tls_cert_file, ec);
    if (ec) return Error(Errc::config, "cannot load the TLS certificate", ec.message());
    impl_->tls.use_private_key_file(*o.tls_key_file, ssl::context::pem, ec);
    if (ec) return Error(Errc::config, "cannot load the TLS key", ec.message());
    impl_->use_tls = true;
  }
  FZ_TRY_STATUS(listen(impl_->acceptor, o.listen_address, o.listen_port));
  if (o.control_address) {
    FZ_TRY_STATUS(listen(impl_->control_acceptor, *o.control_address, o.control_port));
    impl_->accept_control_next();
  }
  impl_->accept_next();
  return {};
}

std::uint16_t Server::port() const {
  error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

std::optional<std::uint16_t> Server::control_port() const {
  if (!impl_->control_acceptor.is_open()) return std::nullopt;
  error_code ec;
  return impl_->control_acceptor.local_endpoint(ec).port();
}

void Server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->control_acceptor.close(ignored);
  impl_->timer.cancel();
  for (auto& [id, weak] : impl_->sessions)
    if (auto s = weak.lock()) s->drop();
  impl_->sessions.clear();
}

}  // namespace fz::devportal
