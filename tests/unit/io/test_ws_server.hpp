// An in-process WebSocket server for transport tests (Boost.Beast, ws or wss on 127.0.0.1 with
// an ephemeral port). It records every upgrade request exactly as received, can refuse upgrades
// with a chosen HTTP status, and lets the test send, ping, close or drop each session.
//
// Like the client, Beast stays inside test_ws_server.cpp; this header does not include it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace fz::test {

struct ServerTls {
  std::string cert_pem;
  std::string key_pem;
};

class TestWsServer {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::string version;
    std::vector<std::pair<std::string, std::string>> headers;  // in the order received
    std::chrono::steady_clock::time_point received_at;
  };

  TestWsServer(boost::asio::io_context& io, std::optional<ServerTls> tls = std::nullopt);
  ~TestWsServer();

  std::uint16_t port() const;

  // Answer upgrade requests with `status` and `body` instead of accepting them (until
  // accept_upgrades()).
  void reject_upgrades(int status, std::string body);
  void accept_upgrades();

  // Every upgrade request received, accepted or not.
  std::size_t requests() const;
  const Request& request(std::size_t i) const;

  // Accepted WebSocket sessions, in order.
  std::size_t sessions() const;
  const std::vector<std::string>& received(std::size_t session) const;
  bool is_open(std::size_t session) const;
  bool close_frame_received(std::size_t session) const;
  std::size_t pongs(std::size_t session) const;
  void send(std::size_t session, std::string text);
  void ping(std::size_t session);
  void close(std::size_t session);  // close handshake, code 1000
  void drop(std::size_t session);   // TCP close without a Close frame

  // Called for every text frame received.
  void on_frame(std::function<void(std::size_t session, const std::string& frame)> callback);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace fz::test
