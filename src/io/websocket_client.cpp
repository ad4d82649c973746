// The only translation unit of the gateway that includes Boost.Beast and Asio-SSL.
#include "io/websocket_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>

#include "base/log.hpp"
#include "io/beast_stream.hpp"
#include "net/ip_addr.hpp"
#include "portal/login_url.hpp"

namespace fz::io {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using beast_detail::MaybeTlsStream;
using boost::system::error_code;
using portal::TransportError;
using portal::TransportErrorKind;

// State shared by the client and its connections, so that handlers still pending in the
// io_context after the client is gone find valid memory (they find their connection abandoned
// and return).
struct Shared {
  WebSocketCallbacks callbacks;
  WebSocketOptions options;
  std::shared_ptr<ssl::context> tls;  // always set; unusable for wss if setup_error is set
  std::string setup_error;
  // The last successful resolution per "host:port", used when a later lookup fails.
  std::map<std::string, std::vector<tcp::endpoint>> resolved;
};

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) {
    out += (c >= 0x20 && c <= 0x7e) ? c : ' ';
  }
  return out;
}

std::string millis(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  virtual ~Connection() = default;

  virtual void start() = 0;
  virtual void send(std::string text) = 0;
  virtual void close() = 0;
  // Drops the connection; no callback fires for it afterwards.
  void abort() {
    if (abandoned_) return;
    abandoned_ = true;
    shutdown();
  }
  bool is_open() const { return open_ && !finished_ && !abandoned_; }

 protected:
  virtual void shutdown() = 0;

  bool alive() const { return !abandoned_ && !finished_; }

  void report_open(int status) {
    if (!alive()) return;
    open_ = true;
    if (shared_->callbacks.on_open) shared_->callbacks.on_open(status);
  }
  void report_message(std::string message) {
    if (!alive()) return;
    if (shared_->callbacks.on_message) shared_->callbacks.on_message(std::move(message));
  }
  // Ends the connection: one on_closed per connection, then the socket is closed.
  void finish(TransportError error) {
    if (!alive()) return;
    finished_ = true;
    FZ_DEBUG("io::websocket", "connection ended: {} {}", portal::to_string(error.kind),
             error.message);
    shutdown();
    auto callbacks = shared_;  // the callback may destroy the client
    if (callbacks->callbacks.on_closed) callbacks->callbacks.on_closed(std::move(error));
  }

  std::shared_ptr<Shared> shared_;
  bool abandoned_ = false;
  bool finished_ = false;
  bool open_ = false;
};

// A URL or TLS set-up that cannot work: reports the error from the event loop.
class FailedConnection final : public Connection {
 public:
  FailedConnection(asio::io_context& io, std::shared_ptr<Shared> shared, TransportError error)
      : Connection(std::move(shared)), io_(io), error_(std::move(error)) {}
  void start() override {
    asio::post(io_, [self = shared_from_this(), this] { finish(error_); });
  }
  void send(std::string) override {}
  void close() override { abort(); }

 private:
  void shutdown() override {}
  asio::io_context& io_;
  TransportError error_;
};

class StreamConnection final : public Connection {
 public:
  StreamConnection(asio::io_context& io, std::shared_ptr<Shared> shared,
                   portal::WebSocketEndpoint endpoint, WebSocketClient::Headers headers)
      : Connection(std::move(shared)),
        resolver_(io),
        ws_(io, *shared_->tls, endpoint.tls),
        endpoint_(std::move(endpoint)),
        headers_(std::move(headers)) {}

  void start() override {
    FZ_DEBUG("io::websocket", "resolving {}:{}", endpoint_.host, endpoint_.port);
    resolver_.async_resolve(
        endpoint_.host_for_lookup(), std::to_string(endpoint_.port),
        [self = shared_from_this(), this](error_code ec, tcp::resolver::results_type results) {
          on_resolve(ec, std::move(results));
        });
  }

  void send(std::string text) override {
    if (!is_open() || close_requested_) return;
    outbox_.push_back(std::move(text));
    if (!writing_) write_next();
  }

  void close() override {
    if (!is_open()) {
      abort();
      return;
    }
    close_requested_ = true;
    if (!writing_) start_close();
  }

 private:
  auto& tcp_layer() { return beast::get_lowest_layer(ws_); }

  void shutdown() override {
    resolver_.cancel();
    error_code ignored;
    tcp_layer().socket().close(ignored);
  }

  std::string key() const { return endpoint_.host + ":" + std::to_string(endpoint_.port); }

  void on_resolve(error_code ec, tcp::resolver::results_type results) {
    if (!alive()) return;
    std::vector<tcp::endpoint> endpoints;
    if (!ec) {
      for (const auto& entry : results)
        endpoints.push_back(entry.endpoint());
      shared_->resolved[key()] = endpoints;
    } else if (auto cached = shared_->resolved.find(key()); cached != shared_->resolved.end()) {
      FZ_WARN("io::websocket", "resolving {} failed ({}); using the last known addresses",
              endpoint_.host, ec.message());
      endpoints = cached->second;
    } else {
      finish({TransportErrorKind::resolve, 0,
              "resolving " + endpoint_.host + " failed: " + ec.message()});
      return;
    }
    FZ_DEBUG("io::websocket", "connecting to {}:{} ({} addresses)", endpoint_.host, endpoint_.port,
             endpoints.size());
    // One time limit for trying every address in turn.
    tcp_layer().expires_after(shared_->options.connect_timeout);
    endpoints_ = std::move(endpoints);
    connect_next(0, {});
  }

  // Tries the addresses in order; each socket is opened here so that it can be marked before the
  // SYN leaves.
  void connect_next(std::size_t index, error_code last_error) {
    if (!alive()) return;
    if (index >= endpoints_.size()) {
      on_connect(last_error ? last_error : asio::error::host_not_found);
      return;
    }
    const tcp::endpoint endpoint = endpoints_[index];
    error_code ec;
    auto& socket = tcp_layer().socket();
    socket.close(ec);
    socket.open(endpoint.protocol(), ec);
    if (ec) {
      connect_next(index + 1, ec);
      return;
    }
    if (const std::uint32_t mark = shared_->options.fwmark; mark != 0) {
      if (::setsockopt(socket.native_handle(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0)
        FZ_DEBUG("io::websocket", "SO_MARK on the portal socket: {}", std::strerror(errno));
    }
    tcp_layer().async_connect(endpoint, [self = shared_from_this(), this, index](error_code ec2) {
      if (ec2 && ec2 != beast::error::timeout && index + 1 < endpoints_.size()) {
        connect_next(index + 1, ec2);
        return;
      }
      on_connect(ec2);
    });
  }

  void on_connect(error_code ec) {
    if (!alive()) return;
    if (ec) {
      finish({TransportErrorKind::connect, 0,
              ec == beast::error::timeout ? "connecting to " + key() + " timed out after " +
                                                millis(shared_->options.connect_timeout)
                                          : "connecting to " + key() + " failed: " + ec.message()});
      return;
    }
    tcp_layer().expires_after(shared_->options.handshake_timeout);
    if (endpoint_.tls) {
      SSL* ssl = ws_.next_layer().tls().native_handle();
      const std::string host = endpoint_.host_for_lookup();
      const bool is_ip = net::IpAddr::parse(host).ok();
      // OpenSSL's own checks, so that a mismatch shows up in the verify result.
      bool configured;
      if (is_ip) {
        configured = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
      } else {
        // SNI only for names: RFC 6066 does not allow IP literals.
        configured = SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 &&
                     SSL_set1_host(ssl, host.c_str()) == 1;
      }
      if (!configured) {
        finish({TransportErrorKind::tls, 0, "cannot set up TLS for host " + host});
        return;
      }
      ws_.next_layer().tls().set_verify_mode(ssl::verify_peer);
      ws_.next_layer().tls().async_handshake(
          ssl::stream_base::client,
          [self = shared_from_this(), this](error_code ec) { on_tls_handshake(ec); });
    } else {
      start_upgrade();
    }
  }

  void on_tls_handshake(error_code ec) {
    if (!alive()) return;
    if (ec) {
      const long verify = SSL_get_verify_result(ws_.next_layer().tls().native_handle());
      const bool certificate =
          verify != X509_V_OK || (ec.category() == asio::error::get_ssl_category() &&
                                  ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                                      SSL_R_CERTIFICATE_VERIFY_FAILED);
      if (certificate) {
        finish({TransportErrorKind::certificate, 0,
                verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ec.message()});
      } else {
        finish({TransportErrorKind::tls, 0,
                ec == beast::error::timeout
                    ? "TLS handshake timed out after " + millis(shared_->options.handshake_timeout)
                    : "TLS handshake failed: " + ec.message()});
      }
      return;
    }
    start_upgrade();
  }

  void start_upgrade() {
    // From here on the WebSocket stream's own timers apply.
    tcp_layer().expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = shared_->options.handshake_timeout;
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.read_message_max(shared_->options.max_message_size);
    ws_.auto_fragment(false);
    // Exactly the reference's headers, in its order: Host (no port), Connection, Upgrade,
    // Sec-WebSocket-Version, Sec-WebSocket-Key, then ours (User-Agent).
    ws_.set_option(websocket::stream_base::decorator(
        [host = endpoint_.host, extra = headers_](websocket::request_type& req) {
          const std::string ws_key(req[http::field::sec_websocket_key]);
          for (auto f : {http::field::host, http::field::upgrade, http::field::connection,
                         http::field::sec_websocket_key, http::field::sec_websocket_version,
                         http::field::user_agent}) {
            req.erase(f);
          }
          req.insert(http::field::host, host);
          req.insert(http::field::connection, "Upgrade");
          req.insert(http::field::upgrade, "websocket");
          req.insert(http::field::sec_websocket_version, "13");
          req.insert(http::field::sec_websocket_key, ws_key);
          for (const auto& [name, value] : extra)
            req.set(name, value);
        }));
    ws_.async_handshake(response_, endpoint_.host, endpoint_.target,
                        [self = shared_from_this(), this](error_code ec) { on_upgrade(ec); });
  }

  void on_upgrade(error_code ec) {
    if (!alive()) return;
    if (ec == websocket::error::upgrade_declined) {
      finish({TransportErrorKind::http, static_cast<int>(response_.result_int()),
              printable(response_.body(), 200)});
      return;
    }
    if (ec) {
      finish({TransportErrorKind::protocol, 0,
              ec == beast::error::timeout ? "WebSocket upgrade timed out after " +
                                                millis(shared_->options.handshake_timeout)
                                          : "WebSocket upgrade failed: " + ec.message()});
      return;
    }
    FZ_DEBUG("io::websocket", "WebSocket open to {}:{}", endpoint_.host, endpoint_.port);
    ws_.text(true);
    read_next();
    report_open(static_cast<int>(response_.result_int()));
  }

  void read_next() {
    ws_.async_read(buffer_,
                   [self = shared_from_this(), this](error_code ec, std::size_t) { on_read(ec); });
  }

  void on_read(error_code ec) {
    if (!alive()) return;
    if (ec) {
      if (ec == websocket::error::closed) {
        const auto& reason = ws_.reason();
        std::string detail = closing_ ? "closed" : "the server closed the WebSocket";
        if (!closing_ && reason.code != websocket::close_code::none) {
          detail += " (code " + std::to_string(reason.code) + ")";
        }
        finish({TransportErrorKind::closed, 0, detail});
      } else if (ec == http::error::end_of_stream || ec == asio::error::eof ||
                 ec == asio::error::connection_reset || ec == ssl::error::stream_truncated) {
        finish({TransportErrorKind::closed, 0, "the connection ended: " + ec.message()});
      } else {
        finish({TransportErrorKind::protocol, 0, ec.message()});
      }
      return;
    }
    std::string message = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    report_message(std::move(message));
    // The callback may have replaced or closed this connection.
    if (alive()) read_next();
  }

  void write_next() {
    writing_ = true;
    ws_.async_write(
        asio::buffer(outbox_.front()),
        [self = shared_from_this(), this](error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(error_code ec) {
    writing_ = false;
    if (!alive()) return;
    if (ec) {
      finish({TransportErrorKind::protocol, 0, "write failed: " + ec.message()});
      return;
    }
    outbox_.pop_front();
    if (!outbox_.empty()) {
      write_next();
    } else if (close_requested_ && !closing_) {
      start_close();
    }
  }

  void start_close() {
    closing_ = true;
    // A Close frame without a status code, as the reference sends.
    ws_.async_close(websocket::close_reason{}, [self = shared_from_this(), this](error_code ec) {
      if (!alive()) return;
      finish({TransportErrorKind::closed, 0, ec ? "closed: " + ec.message() : "closed"});
    });
  }

  tcp::resolver resolver_;
  std::vector<tcp::endpoint> endpoints_;
  // No permessage-deflate: the reference offers none, and leaving it out saves much compile time.
  websocket::stream<MaybeTlsStream, false> ws_;
  portal::WebSocketEndpoint endpoint_;
  WebSocketClient::Headers headers_;
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool close_requested_ = false;
  bool closing_ = false;
};

// Always returns a context (plain ws:// connections carry an unused one); `error` is set when
// wss:// cannot work.
std::shared_ptr<ssl::context> make_tls_context(const WebSocketOptions& options,
                                               std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  if (options.use_system_trust_store) {
    ctx->set_default_verify_paths(ec);
    if (ec) FZ_WARN("io::websocket", "cannot load the system trust store: {}", ec.message());
  }
  if (options.extra_ca_file) {
    ctx->load_verify_file(*options.extra_ca_file, ec);
    if (ec) {
      error = "cannot load the CA file " + *options.extra_ca_file + ": " + ec.message();
    }
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

}  // namespace

struct WebSocketClient::Impl {
  asio::io_context& io;
  std::shared_ptr<Shared> shared;
  std::shared_ptr<Connection> current;
};

WebSocketClient::WebSocketClient(asio::io_context& io, WebSocketCallbacks callbacks,
                                 WebSocketOptions options)
    : impl_(std::make_unique<Impl>(Impl{io, std::make_shared<Shared>(), nullptr})) {
  auto& shared = *impl_->shared;
  shared.callbacks = std::move(callbacks);
  shared.options = std::move(options);
  shared.tls = make_tls_context(shared.options, shared.setup_error);
  if (!shared.setup_error.empty()) FZ_ERROR("io::websocket", "{}", shared.setup_error);
}

WebSocketClient::~WebSocketClient() {
  abort();
}

bool WebSocketClient::ok() const {
  return impl_->shared->setup_error.empty();
}

const std::string& WebSocketClient::setup_error() const {
  return impl_->shared->setup_error;
}

void WebSocketClient::connect(std::string_view url, const Headers& headers) {
  abort();
  auto endpoint = portal::parse_websocket_url(url);
  std::shared_ptr<Connection> connection;
  if (!endpoint) {
    connection = std::make_shared<FailedConnection>(
        impl_->io, impl_->shared,
        TransportError{TransportErrorKind::protocol, 0, endpoint.error().to_string()});
  } else if (endpoint->tls && !impl_->shared->setup_error.empty()) {
    connection = std::make_shared<FailedConnection>(
        impl_->io, impl_->shared,
        TransportError{TransportErrorKind::tls, 0, impl_->shared->setup_error});
  } else {
    connection =
        std::make_shared<StreamConnection>(impl_->io, impl_->shared, std::move(*endpoint), headers);
  }
  impl_->current = connection;
  connection->start();
}

void WebSocketClient::send(std::string text) {
  if (impl_->current) impl_->current->send(std::move(text));
}

void WebSocketClient::close() {
  if (impl_->current) impl_->current->close();
}

void WebSocketClient::abort() {
  if (impl_->current) {
    impl_->current->abort();
    impl_->current.reset();
  }
}

bool WebSocketClient::is_open() const {
  return impl_->current && impl_->current->is_open();
}

}  // namespace fz::io
