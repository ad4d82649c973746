// The test server's translation unit: the only test file that includes Boost.Beast.
#include "test_ws_server.hpp"

#include <boost/beast/http.hpp>
#include <deque>

#include "io/beast_stream.hpp"

namespace fz::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using io::beast_detail::MaybeTlsStream;

struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void send(std::string text) = 0;
  virtual void ping() = 0;
  virtual void close() = 0;
  virtual void drop() = 0;
  std::vector<std::string> received;
  bool open = false;
  bool close_received = false;
  std::size_t pongs = 0;
};

}  // namespace

struct TestWsServer::Impl : std::enable_shared_from_this<TestWsServer::Impl> {
  Impl(asio::io_context& io_context, std::optional<ServerTls> server_tls)
      : io(io_context), acceptor(io_context), tls(ssl::context::tls_server) {
    if (server_tls) {
      use_tls = true;
      tls.use_certificate_chain(asio::buffer(server_tls->cert_pem));
      tls.use_private_key(asio::buffer(server_tls->key_pem), ssl::context::pem);
    }
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
  }

  void accept_next();

  asio::io_context& io;
  tcp::acceptor acceptor;
  ssl::context tls;
  bool use_tls = false;
  std::optional<std::pair<int, std::string>> reject;
  std::vector<Request> requests;
  std::vector<std::shared_ptr<SessionBase>> sessions;
  std::function<void(std::size_t, const std::string&)> frame_callback;
};

namespace {

class Session final : public SessionBase, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<TestWsServer::Impl> server)
      : ws_(std::move(socket), server->tls, server->use_tls), server_(std::move(server)) {}

  void start() {
    if (server_->use_tls) {
      ws_.next_layer().tls().async_handshake(ssl::stream_base::server,
                                             [self = shared_from_this()](error_code ec) {
                                               if (!ec) self->read_request();
                                             });
    } else {
      read_request();
    }
  }

  void send(std::string text) override {
    if (!open) return;
    outbox_.push_back(std::move(text));
    if (!writing_) write_next();
  }
  void ping() override {
    if (open) ws_.async_ping({}, [self = shared_from_this()](error_code) {});
  }
  void close() override {
    if (open)
      ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](error_code) {});
  }
  void drop() override {
    open = false;
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  void read_request() {
    http::async_read(ws_.next_layer(), buffer_, request_,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (!ec) self->on_request();
                     });
  }

  void on_request() {
    TestWsServer::Request recorded;
    recorded.method = std::string(request_.method_string());
    recorded.target = std::string(request_.target());
    recorded.version = std::to_string(request_.version());
    recorded.received_at = std::chrono::steady_clock::now();
    for (const auto& field : request_) {
      recorded.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    server_->requests.push_back(std::move(recorded));

    if (server_->reject) {
      auto response = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(server_->reject->first), 11);
      response->set(http::field::content_type, "text/plain");
      response->body() = server_->reject->second;
      response->keep_alive(false);
      response->prepare_payload();
      http::async_write(
          ws_.next_layer(), *response,
          [self = shared_from_this(), response](error_code, std::size_t) { self->drop(); });
      return;
    }
    server_->sessions.push_back(shared_from_this());
    index_ = server_->sessions.size() - 1;
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) ++pongs;
    });
    ws_.async_accept(request_, [self = shared_from_this()](error_code ec) {
      if (ec) return;
      self->open = true;
      self->read_next();
    });
  }

  void read_next() {
    ws_.async_read(buffer_,
                   [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed) close_received = true;
      open = false;
      return;
    }
    received.push_back(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    if (server_->frame_callback) server_->frame_callback(index_, received.back());
    read_next();
  }

  void write_next() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(outbox_.front()),
                    [self = shared_from_this()](error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) return;
                      self->outbox_.pop_front();
                      if (!self->outbox_.empty()) self->write_next();
                    });
  }

  websocket::stream<MaybeTlsStream, false> ws_;
  std::shared_ptr<TestWsServer::Impl> server_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  std::size_t index_ = 0;
};

}  // namespace

void TestWsServer::Impl::accept_next() {
  acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    if (ec) return;
    std::make_shared<Session>(std::move(socket), self)->start();
    self->accept_next();
  });
}

TestWsServer::TestWsServer(asio::io_context& io, std::optional<ServerTls> tls)
    : impl_(std::make_shared<Impl>(io, std::move(tls))) {
  impl_->accept_next();
}

TestWsServer::~TestWsServer() {
  error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->frame_callback = nullptr;
  for (auto& s : impl_->sessions)
    s->drop();
  // Sessions point back at the server state; break the cycle.
  impl_->sessions.clear();
}

std::uint16_t TestWsServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}
void TestWsServer::reject_upgrades(int status, std::string body) {
  impl_->reject = std::make_pair(status, std::move(body));
}
void TestWsServer::accept_upgrades() {
  impl_->reject.reset();
}
std::size_t TestWsServer::requests() const {
  return impl_->requests.size();
}
const TestWsServer::Request& TestWsServer::request(std::size_t i) const {
  return impl_->requests.at(i);
}
std::size_t TestWsServer::sessions() const {
  return impl_->sessions.size();
}
const std::vector<std::string>& TestWsServer::received(std::size_t session) const {
  return impl_->sessions.at(session)->received;
}
bool TestWsServer::is_open(std::size_t session) const {
  return impl_->sessions.at(session)->open;
}
bool TestWsServer::close_frame_received(std::size_t session) const {
  return impl_->sessions.at(session)->close_received;
}
std::size_t TestWsServer::pongs(std::size_t session) const {
  return impl_->sessions.at(session)->pongs;
}
void TestWsServer::send(std::size_t session, std::string text) {
  impl_->sessions.at(session)->send(std::move(text));
}
void TestWsServer::ping(std::size_t session) {
  impl_->sessions.at(session)->ping();
}
void TestWsServer::close(std::size_t session) {
  impl_->sessions.at(session)->close();
}
void TestWsServer::drop(std::size_t session) {
  impl_->sessions.at(session)->drop();
}
void TestWsServer::on_frame(std::function<void(std::size_t, const std::string&)> callback) {
  impl_->frame_callback = std::move(callback);
}

}  // namespace fz::test
