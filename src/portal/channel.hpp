// The Phoenix channel to the portal as a sans-IO state machine (spec/portal-protocol.md §2, §3).
//
// It owns the protocol rules: one `phx_join` per connection and nothing else sent until the join
// is acknowledged (the portal handles frames in parallel and may lose pipelined ones); a 5 s join
// timeout; a heartbeat on topic `phoenix` after 30 s without any frame sent; one `ref` counter for
// every frame sent, never reset; a bounded send queue that survives reconnects; the error classes
// and the exact reconnect backoff. It never touches a socket or a clock.
//
// How the runtime drives it (the transport is io::WebSocketClient):
//
//   channel.connect(now)                         -> ConnectNow: open the WebSocket
//   transport open (HTTP 101)                    -> channel.handle_connected(now)
//   transport text message                       -> channel.handle_message(text, now)
//   transport failure / close                    -> channel.handle_transport_error(error, now)
//   timer at channel.poll_timeout()              -> channel.handle_timeout(now)
//   after every call: drain poll_transmit() into the transport, then poll_event():
//     ConnectNow       drop any current connection, open a new one with `url` and `headers`
//     ReconnectAfter   drop the current connection now; a ConnectNow follows after `delay`
//     Joined           the channel is joined (an `init` follows); again after every rejoin or
//                      reconnect, so handle `init` idempotently
//     IngressMessage   a message for the gateway
//     CloseConnection  close the WebSocket gracefully (after close()), then report it closed
//     Closed           done; the channel stays closed
//     Fatal            stop: the gateway must exit with `message`
//
// Improvements over the reference, recorded in docs/compatibility.md:
// * `phx_error` for our topic (the portal's channel process died) makes us rejoin on the same
//   socket instead of being ignored; repeated errors are spaced by their own backoff and, after 15
//   minutes of them, escalate to a reconnect.
// * The join timeout is a real 5 s timer.
// * The send queue is bounded by count and bytes and drops the oldest message when full, instead
//   of clearing everything once 33 messages are waiting. Refs are assigned when a frame is sent,
//   so the refs on the wire are consecutive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/rng.hpp"
#include "base/time.hpp"
#include "portal/backoff.hpp"
#include "portal/frame.hpp"
#include "portal/messages.hpp"
#include "portal/transport.hpp"

namespace fz::portal {

struct ChannelConfig {
  std::string url;           // LoginUrl::url(): contains the token, never logged
  std::string redacted_url;  // LoginUrl::redacted(), for logs
  std::string user_agent;
  std::string topic = std::string(kGatewayTopic);
  Duration heartbeat_interval = std::chrono::seconds(30);
  Duration join_timeout = std::chrono::seconds(5);
  BackoffConfig backoff;
  // Send queue bounds; when a new message does not fit, the oldest queued ones are dropped.
  std::size_t max_queued_messages = 256;
  std::size_t max_queued_bytes = 1 << 20;
  // After this long joined without a `phx_error`, the next one rejoins immediately again.
  Duration rejoin_reset_after = std::chrono::seconds(30);
  // For channels other than `gateway` (the test client's `client` topic): every pushed event that
  // is not a Phoenix protocol event is delivered as a RawMessage (event name + payload JSON)
  // instead of being decoded as a gateway IngressMessage.
  bool raw_ingress = false;
};

using Header = std::pair<std::string, std::string>;

struct ConnectNow {
  std::string url;              // secret (token in the query): never log it
  std::vector<Header> headers;  // extra request headers: User-Agent
};

struct ReconnectAfter {
  Duration delay;
  std::string reason;
};

struct Joined {};
struct CloseConnection {};

// A pushed event on a `raw_ingress` channel, undecoded.
struct RawMessage {
  std::string event;
  nlohmann::json payload;  // null when absent
};
struct Closed {};

enum class FatalReason {
  upgrade_rejected,   // any 4xx on the upgrade (401 invalid token, 403, 422, 429, …)
  certificate,        // the portal's certificate failed verification
  login_failed,       // the join was answered with an error
  token_expired,      // `disconnect` with reason token_expired
  retries_exhausted,  // 15 minutes of failed reconnects
};

struct Fatal {
  FatalReason reason;
  int http_status = 0;  // for upgrade_rejected
  std::string message;  // for the operator
  // 401/403 on the upgrade or an expired token: the token needs attention.
  bool is_authentication_error() const;
};

using Event = std::variant<ConnectNow, ReconnectAfter, Joined, IngressMessage, CloseConnection,
                           Closed, Fatal, RawMessage>;

class Channel {
 public:
  enum class State {
    idle,                // connect() not called yet
    waiting_to_connect,  // backoff before the next attempt
    connecting,          // ConnectNow issued, waiting for handle_connected()
    joining,             // connected; join sent (or about to be), waiting for its reply
    joined,
    rejoin_wait,  // connected; the channel died (phx_error), waiting to join again
    closing,      // CloseConnection issued
    closed,
    failed,  // a Fatal event was issued
  };

  // `rng` draws the backoff jitter and must outlive the channel.
  Channel(ChannelConfig config, Rng& rng);

  // Starts connecting. Called again later, it forces a reconnect (reference §3.3: used when
  // authorising a flow fails because no relay is known): the current connection is dropped, the
  // backoff is cleared and a new connection opens at once. No-op while already connecting.
  void connect(Instant now);
  // Queues a message; it is sent once the channel is joined, in order. Queued messages survive
  // reconnects.
  void send(const EgressMessage& message, Instant now);
  // The same for a message given as an event name and its serialised JSON payload (the test
  // client's `client` channel messages).
  void send_raw(std::string_view event, std::string payload_json, Instant now);
  // Graceful shutdown: CloseConnection, then Closed once the transport reports it closed.
  void close(Instant now);

  // Transport inputs.
  void handle_connected(Instant now);
  void handle_message(std::string_view text, Instant now);
  void handle_transport_error(const TransportError& error, Instant now);

  void handle_timeout(Instant now);
  std::optional<Instant> poll_timeout() const;
  // The next text frame to send on the WebSocket.
  std::optional<std::string> poll_transmit();
  std::optional<Event> poll_event();

  State state() const { return state_; }
  std::size_t queued_messages() const { return queue_.size(); }
  std::uint64_t dropped_messages() const { return dropped_messages_; }

 private:
  struct Queued {
    std::string event;
    std::string payload;  // serialised JSON
  };

  void observe(Instant now);
  void enqueue(Queued entry);
  void start_connecting();
  void start_join(Instant now);
  void on_joined(Instant now);
  void on_channel_error(Instant now);
  void on_transient_error(std::string reason, Instant now);
  void on_fatal(FatalReason reason, int http_status, std::string message);
  void handle_reply(const InboundFrame& frame, Instant now);
  bool connected() const;
  std::string make_frame(std::string_view topic, std::string_view event, std::string_view payload);
  void reset_connection_state();

  ChannelConfig config_;
  Rng& rng_;
  State state_ = State::idle;
  Instant now_{};

  std::uint64_t next_ref_ = 0;
  std::deque<Queued> queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t dropped_messages_ = 0;

  std::optional<Instant> heartbeat_deadline_;
  bool heartbeat_pending_ = false;

  bool join_sent_ = false;
  std::optional<std::uint64_t> join_ref_;
  std::optional<Instant> join_deadline_;
  std::optional<Instant> joined_at_;

  std::optional<Backoff> reconnect_backoff_;
  std::optional<Instant> reconnect_deadline_;
  std::optional<Backoff> rejoin_backoff_;
  std::optional<Instant> rejoin_deadline_;

  std::deque<Event> events_;
};

std::string_view to_string(Channel::State state);

}  // namespace fz::portal
