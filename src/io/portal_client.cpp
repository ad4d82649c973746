#include "io/portal_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace fz::io {

Instant monotonic_now() {
  return instant_from_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count());
}

struct PortalClient::Impl {
  Impl(boost::asio::io_context& io, portal::ChannelConfig config, Rng& rng,
       PortalHandlers portal_handlers, WebSocketOptions options, std::function<Instant()> clock_fn)
      : handlers(std::move(portal_handlers)),
        clock(std::move(clock_fn)),
        channel(std::move(config), rng),
        timer(io),
        ws(io,
           WebSocketCallbacks{[this](int) {
                                channel.handle_connected(clock());
                                pump();
                              },
                              [this](std::string message) {
                                channel.handle_message(message, clock());
                                pump();
                              },
                              [this](portal::TransportError error) {
                                channel.handle_transport_error(error, clock());
                                pump();
                              }},
           std::move(options)) {}

  ~Impl() { *alive = false; }

  // Drains the channel into the transport and the handlers, then re-arms the timer. A call from
  // inside a handler only asks the running pump for another round.
  void pump() {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    do {
      again = false;
      while (auto frame = channel.poll_transmit())
        ws.send(std::move(*frame));
      if (auto event = channel.poll_event()) {
        again = true;
        handle(std::move(*event));
      }
    } while (again);
    pumping = false;
    arm_timer();
  }

  void handle(portal::Event event) {
    if (auto* connect = std::get_if<portal::ConnectNow>(&event)) {
      ws.connect(connect->url, connect->headers);
    } else if (auto* reconnect = std::get_if<portal::ReconnectAfter>(&event)) {
      ws.abort();
      if (handlers.on_reconnect) handlers.on_reconnect(*reconnect);
    } else if (std::holds_alternative<portal::Joined>(event)) {
      if (handlers.on_joined) handlers.on_joined();
    } else if (auto* message = std::get_if<portal::IngressMessage>(&event)) {
      if (handlers.on_message) handlers.on_message(std::move(*message));
    } else if (auto* raw = std::get_if<portal::RawMessage>(&event)) {
      if (raw_handler) raw_handler(std::move(*raw));
    } else if (std::holds_alternative<portal::CloseConnection>(event)) {
      ws.close();
    } else if (std::holds_alternative<portal::Closed>(event)) {
      ws.abort();
      if (handlers.on_closed) handlers.on_closed();
    } else if (auto* fatal = std::get_if<portal::Fatal>(&event)) {
      ws.abort();
      if (handlers.on_fatal) handlers.on_fatal(*fatal);
    }
  }

  void arm_timer() {
    const auto deadline = channel.poll_timeout();
    if (!deadline) {
      timer.cancel();
      return;
    }
    const auto delay = std::max(*deadline - clock(), Duration::zero());
    timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
    timer.async_wait([this, token = alive](boost::system::error_code ec) {
      if (ec || !*token) return;
      channel.handle_timeout(clock());
      pump();
    });
  }

  PortalHandlers handlers;
  std::function<void(portal::RawMessage)> raw_handler;
  std::function<Instant()> clock;
  portal::Channel channel;
  boost::asio::steady_timer timer;
  WebSocketClient ws;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  bool pumping = false;
  bool again = false;
};

PortalClient::PortalClient(boost::asio::io_context& io, portal::ChannelConfig config, Rng& rng,
                           PortalHandlers handlers, WebSocketOptions options,
                           std::function<Instant()> clock)
    : impl_(std::make_unique<Impl>(io, std::move(config), rng, std::move(handlers),
                                   std::move(options), std::move(clock))) {}

PortalClient::~PortalClient() = default;

void PortalClient::start() {
  impl_->channel.connect(impl_->clock());
  impl_->pump();
}

void PortalClient::send(const portal::EgressMessage& message) {
  impl_->channel.send(message, impl_->clock());
  impl_->pump();
}

void PortalClient::send_raw(std::string_view event, std::string payload_json) {
  impl_->channel.send_raw(event, std::move(payload_json), impl_->clock());
  impl_->pump();
}

void PortalClient::set_raw_handler(std::function<void(portal::RawMessage message)> handler) {
  impl_->raw_handler = std::move(handler);
}

void PortalClient::reconnect() {
  impl_->channel.connect(impl_->clock());
  impl_->pump();
}

void PortalClient::close() {
  impl_->channel.close(impl_->clock());
  impl_->pump();
}

const portal::Channel& PortalClient::channel() const {
  return impl_->channel;
}

}  // namespace fz::io
