// The portal connection for the application: the sans-IO portal::Channel wired to a
// WebSocketClient and an Asio timer on the application's io_context. It carries out the
// transport events (ConnectNow, ReconnectAfter, CloseConnection) itself and hands the rest to the
// handlers.
//
//   io::PortalClient portal(io, channel_config, rng, {
//       .on_joined = [&] { … },
//       .on_message = [&](portal::IngressMessage m) { gateway.handle(std::move(m)); },
//       .on_fatal = [&](const portal::Fatal& f) { exit_with(f.message); },
//       .on_closed = [&] { io.stop(); }});
//   portal.start();
//   … portal.send(portal::FlowAuthorized{ref});   // from any handler or elsewhere on the loop
//
// Handlers are never re-entered: a send() from inside a handler queues the frame and returns; the
// next event is delivered after the handler returns.
#pragma once

#include <functional>
#include <memory>

#include "base/rng.hpp"
#include "base/time.hpp"
#include "io/websocket_client.hpp"
#include "portal/channel.hpp"

namespace boost::asio {
class io_context;
}

namespace fz::io {

struct PortalHandlers {
  std::function<void()> on_joined;  // after every (re)join; an `init` follows
  std::function<void(portal::IngressMessage message)> on_message;
  std::function<void(const portal::ReconnectAfter& reconnect)> on_reconnect;  // optional
  std::function<void(const portal::Fatal& fatal)> on_fatal;
  std::function<void()> on_closed;  // after close() completed
};

// CLOCK_MONOTONIC (std::chrono::steady_clock) as an Instant.
Instant monotonic_now();

class PortalClient {
 public:
  // `rng` (backoff jitter) must outlive the client.
  PortalClient(boost::asio::io_context& io, portal::ChannelConfig config, Rng& rng,
               PortalHandlers handlers, WebSocketOptions options = {},
               std::function<Instant()> clock = monotonic_now);
  ~PortalClient();
  PortalClient(const PortalClient&) = delete;
  PortalClient& operator=(const PortalClient&) = delete;

  void start();
  void send(const portal::EgressMessage& message);
  // An event with its serialised JSON payload (for channels other than `gateway`).
  void send_raw(std::string_view event, std::string payload_json);
  // Receives the events of a `raw_ingress` channel (ChannelConfig), undecoded. Set it before
  // start().
  void set_raw_handler(std::function<void(portal::RawMessage message)> handler);
  // Drops the connection and connects again at once, with the backoff cleared (the reference
  // does this when authorising a flow fails because no relay is known).
  void reconnect();
  // Graceful close; on_closed follows.
  void close();

  const portal::Channel& channel() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fz::io
