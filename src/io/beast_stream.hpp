// INTERNAL to the Boost.Beast translation units (io/websocket_client.cpp and the tests' WebSocket
// server). It includes Beast and Asio-SSL; include it from nowhere else.
//
// A byte stream that is TLS or plain TCP, decided at run time. websocket::stream is then
// instantiated once instead of once per transport, which cuts the compile time and memory of the
// Beast translation unit by about a third (websocket::stream<ssl_stream<…>> alone is most of it).
// For plain TCP the TLS object is constructed but never used.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <utility>

namespace fz::io::beast_detail {

class MaybeTlsStream {
 public:
  using tls_stream_type = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = boost::beast::tcp_stream::executor_type;

  // Client side.
  MaybeTlsStream(boost::asio::io_context& io, boost::asio::ssl::context& ctx, bool tls)
      : stream_(io, ctx), tls_(tls) {}
  // Server side, from an accepted socket.
  MaybeTlsStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx, bool tls)
      : stream_(std::move(socket), ctx), tls_(tls) {}

  bool is_tls() const { return tls_; }
  tls_stream_type& tls() { return stream_; }
  // The TCP stream (with its timeouts) under both modes; beast::get_lowest_layer() finds it.
  boost::beast::tcp_stream& next_layer() { return stream_.next_layer(); }

  executor_type get_executor() noexcept { return stream_.get_executor(); }

  template <class MutableBufferSequence, class ReadHandler>
  void async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    if (tls_) {
      stream_.async_read_some(buffers, std::forward<ReadHandler>(handler));
    } else {
      stream_.next_layer().async_read_some(buffers, std::forward<ReadHandler>(handler));
    }
  }

  template <class ConstBufferSequence, class WriteHandler>
  void async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    if (tls_) {
      stream_.async_write_some(buffers, std::forward<WriteHandler>(handler));
    } else {
      stream_.next_layer().async_write_some(buffers, std::forward<WriteHandler>(handler));
    }
  }

 private:
  tls_stream_type stream_;
  bool tls_;
};

// The WebSocket close handshake's transport teardown, found by argument-dependent lookup.
inline void teardown(boost::beast::role_type role, MaybeTlsStream& stream,
                     boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  if (stream.is_tls()) {
    teardown(role, stream.tls(), ec);
  } else {
    teardown(role, stream.next_layer(), ec);
  }
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, MaybeTlsStream& stream,
                    TeardownHandler&& handler) {
  using boost::beast::websocket::async_teardown;
  if (stream.is_tls()) {
    async_teardown(role, stream.tls(), std::forward<TeardownHandler>(handler));
  } else {
    async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
  }
}

}  // namespace fz::io::beast_detail
