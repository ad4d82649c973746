// The dev portal's network side: a WebSocket listener (ws, or wss with --tls-cert/--tls-key) for
// `/gateway/websocket` and `/client/websocket`, and a plain-HTTP control listener. It feeds
// DevPortal with upgrade requests, frames, closures and time, and writes what DevPortal outputs.
// Everything runs on one io_context thread.
//
// Beast lives only in server.cpp; this header does not include it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "base/time.hpp"
#include "dev-portal/portal.hpp"

namespace boost::asio {
class io_context;
}

namespace fz::devportal {

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  std::uint16_t listen_port = 0;             // 0: an ephemeral port (see Server::port())
  std::optional<std::string> tls_cert_file;  // PEM chain; with tls_key_file: wss
  std::optional<std::string> tls_key_file;
  std::optional<std::string> control_address;  // no control API without it
  std::uint16_t control_port = 0;
};

class Server {
 public:
  // `portal` must outlive the server. `clock` gives the monotonic time fed to the portal.
  Server(boost::asio::io_context& io, DevPortal& portal, ServerOptions options,
         std::function<Instant()> clock);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listeners and starts accepting. Errors (bad address, port in use, unreadable
  // certificate) are reported, not thrown.
  Status start();
  std::uint16_t port() const;
  std::optional<std::uint16_t> control_port() const;
  // Stops accepting and drops every connection.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace fz::devportal
