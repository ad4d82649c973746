// The health-check HTTP endpoint on HEALTH_CHECK_ADDR (default 0.0.0.0:8080),
// spec/testing-and-operations.md §3.5:
//   GET /healthz -> 200 while the process runs (liveness);
//   GET /readyz  -> 200 while the readiness callback says ready (portal joined and TUN
//                   configured), else 503 with the reason as the body;
//   GET /metrics -> 200 with the metrics callback's text (Prometheus exposition format), when
//                   one is set (set_metrics);
//   anything else -> 404 (a non-GET method on a known path -> 405).
//
// It runs on the application's io_context. Boost.Beast is confined to health_server.cpp.
// Connections are short: one request, one response, then close, with a 10 s limit per
// connection and at most 64 connections at once, so a slow or hostile client cannot pile up
// state.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace boost::asio {
class io_context;
}

namespace fz::io {

struct Readiness {
  bool ready = false;
  std::string reason;  // why not ready; shown in the 503 body
};

class HealthServer {
 public:
  HealthServer(boost::asio::io_context& io, net::SocketAddr address,
               std::function<Readiness()> readiness);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // Serves GET /metrics with what `metrics` returns (called on the io_context's thread, once per
  // request). Without it /metrics is 404.
  void set_metrics(std::function<std::string()> metrics);

  // Binds, listens and starts accepting. A bind error (address in use, no permission) comes back
  // here; the application then exits with a message.
  Status start();
  // Stops accepting and closes open connections. Call it on the io_context's thread (the
  // destructor calls it too, so destroy the server there or after the io_context stopped).
  void stop();

  // The bound address (the real port when started with port 0).
  net::SocketAddr local_address() const;

  struct Impl;  // opaque; public only so that the .cpp's connection type can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace fz::io
