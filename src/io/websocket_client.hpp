// The WebSocket transport for the portal connection: Boost.Beast over TCP (ws://) or TLS
// (wss://, OpenSSL), driven by an Asio io_context that the application owns.
//
// This header does not include Beast or Asio-SSL; all of it lives in websocket_client.cpp, the
// one translation unit that instantiates them (they cost ~30 s and ~0.8 GB to compile).
//
// Behaviour (spec/portal-protocol.md §1.4, §1.5):
// * The port is the URL's explicit port, else the scheme's default (80 for ws, 443 for wss; the
//   reference wrongly uses 443 for ws:// without a port).
// * The host is resolved on every connect; if that fails, the addresses of the last successful
//   resolution are used (the reference resolves once at start-up and exits if that fails).
//   Addresses are tried in order, with one 5 s timeout for the whole TCP connect phase.
// * TLS: the system trust store (plus `extra_ca_file` if given), SNI = the host (not for IP
//   literals), host name verification. A certificate failure is reported as
//   TransportErrorKind::certificate. The TLS handshake and the HTTP upgrade get a timeout
//   (`handshake_timeout`), which the reference lacks.
// * The upgrade request carries exactly: Host (the URL host without the port), Connection:
//   Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13, Sec-WebSocket-Key, then the extra
//   headers (User-Agent). No Origin, no subprotocol, no compression.
// * Text frames out; text (and binary) messages in; pings are answered by Beast; no
//   permessage-deflate.
// * The URL (it holds the token) is never logged; logs name host and port only.
//
// All callbacks run on the io_context's thread. None is called for a connection that was
// replaced by connect() or dropped by abort(), nor after the client is destroyed. A callback
// may call connect(), send(), close() or abort() on this client.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "portal/transport.hpp"

namespace boost::asio {
class io_context;
}

namespace fz::io {

struct WebSocketCallbacks {
  // The upgrade succeeded (status 101).
  std::function<void(int status)> on_open;
  // One complete text (or binary) message.
  std::function<void(std::string message)> on_message;
  // The attempt failed, or the open connection ended (including after close()). Called once per
  // connection.
  std::function<void(portal::TransportError error)> on_closed;
};

struct WebSocketOptions {
  // A PEM file of extra trusted CA certificates, in addition to the system store (for tests and
  // private portals).
  std::optional<std::string> extra_ca_file;
  // Trust only `extra_ca_file`, not the system store (tests).
  bool use_system_trust_store = true;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds handshake_timeout{30000};
  std::size_t max_message_size = 16 << 20;
  // SO_MARK for the TCP socket (the gateway marks every socket it opens so that its own traffic
  // bypasses the tunnel routes); 0: none. Without CAP_NET_ADMIN the mark is skipped.
  std::uint32_t fwmark = 0;
};

class WebSocketClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // An unloadable `extra_ca_file` does not throw: ok() turns false and wss:// attempts fail.
  WebSocketClient(boost::asio::io_context& io, WebSocketCallbacks callbacks,
                  WebSocketOptions options = {});
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // Whether the options were usable (the extra CA file loaded). If not, connect() reports a
  // `tls` error for wss URLs.
  bool ok() const;
  const std::string& setup_error() const;

  // Drops any current connection (no close handshake, no callbacks for it) and opens a new one.
  // `url` is ws://… or wss://…; an unusable URL is reported through on_closed.
  void connect(std::string_view url, const Headers& headers);
  // Queues a text frame; ignored unless the connection is open.
  void send(std::string text);
  // Starts the close handshake (a Close frame without a status code, like the reference); then
  // on_closed(closed). Without an open connection it behaves like abort().
  void close();
  // Drops the connection at once, without callbacks.
  void abort();

  bool is_open() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fz::io
