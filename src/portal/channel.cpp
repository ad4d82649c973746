#include "portal/channel.hpp"

#include <algorithm>

#include "base/log.hpp"

namespace fz::portal {
namespace {

std::string describe(const TransportError& error) {
  std::string out;
  if (error.kind == TransportErrorKind::http) {
    out = "HTTP " + std::to_string(error.http_status);
  } else {
    out = std::string(to_string(error.kind));
  }
  if (!error.message.empty()) {
    out += ": ";
    out += error.message;
  }
  return out;
}

std::string_view disconnect_reason(const nlohmann::json& payload) {
  if (!payload.is_object()) return {};
  const auto reason = payload.find("reason");
  if (reason == payload.end() || !reason->is_string()) return {};
  return reason->get_ref<const std::string&>();
}

std::optional<Instant> earliest(std::optional<Instant> a, std::optional<Instant> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

std::string_view to_string(TransportErrorKind kind) {
  switch (kind) {
    case TransportErrorKind::resolve:
      return "name resolution failed";
    case TransportErrorKind::connect:
      return "TCP connect failed";
    case TransportErrorKind::tls:
      return "TLS error";
    case TransportErrorKind::certificate:
      return "certificate verification failed";
    case TransportErrorKind::http:
      return "HTTP upgrade rejected";
    case TransportErrorKind::protocol:
      return "WebSocket error";
    case TransportErrorKind::closed:
      return "connection closed";
  }
  return "unknown transport error";
}

std::string_view to_string(Channel::State state) {
  switch (state) {
    case Channel::State::idle:
      return "idle";
    case Channel::State::waiting_to_connect:
      return "waiting_to_connect";
    case Channel::State::connecting:
      return "connecting";
    case Channel::State::joining:
      return "joining";
    case Channel::State::joined:
      return "joined";
    case Channel::State::rejoin_wait:
      return "rejoin_wait";
    case Channel::State::closing:
      return "closing";
    case Channel::State::closed:
      return "closed";
    case Channel::State::failed:
      return "failed";
  }
  return "?";
}

bool Fatal::is_authentication_error() const {
  return reason == FatalReason::token_expired ||
         (reason == FatalReason::upgrade_rejected && (http_status == 401 || http_status == 403));
}

Channel::Channel(ChannelConfig config, Rng& rng) : config_(std::move(config)), rng_(rng) {}

void Channel::observe(Instant now) {
  now_ = std::max(now_, now);
}

bool Channel::connected() const {
  return state_ == State::joining || state_ == State::joined || state_ == State::rejoin_wait;
}

// ---------------------------------------------------------------------------------------------
// Commands

void Channel::connect(Instant now) {
  observe(now);
  switch (state_) {
    case State::connecting:
      FZ_DEBUG("portal", "already connecting");
      return;
    case State::closing:
    case State::closed:
    case State::failed:
      FZ_DEBUG("portal", "connect() ignored in state {}", to_string(state_));
      return;
    default:
      break;
  }
  if (state_ != State::idle) FZ_INFO("portal", "reconnecting to the portal now");
  reconnect_backoff_.reset();
  start_connecting();
}

void Channel::send(const EgressMessage& message, Instant now) {
  observe(now);
  if (state_ == State::closed || state_ == State::failed) {
    FZ_DEBUG("portal", "dropping {}: the channel is {}", event_name(message), to_string(state_));
    return;
  }
  enqueue(Queued{std::string(event_name(message)), dump_json(encode_payload(message))});
}

void Channel::send_raw(std::string_view event, std::string payload_json, Instant now) {
  observe(now);
  if (state_ == State::closed || state_ == State::failed) {
    FZ_DEBUG("portal", "dropping {}: the channel is {}", event, to_string(state_));
    return;
  }
  enqueue(Queued{std::string(event), std::move(payload_json)});
}

void Channel::enqueue(Queued entry) {
  if (entry.payload.size() > config_.max_queued_bytes) {
    FZ_WARN("portal", "dropping {}: {} bytes is more than the send queue holds", entry.event,
            entry.payload.size());
    ++dropped_messages_;
    return;
  }
  // Drop the oldest messages until the new one fits: the newest state matters most, and one
  // dropped message is better than the reference's clearing of the whole queue.
  while (!queue_.empty() && (queue_.size() >= config_.max_queued_messages ||
                             queued_bytes_ + entry.payload.size() > config_.max_queued_bytes)) {
    FZ_DEBUG("portal", "send queue full; dropping the oldest queued message ({})",
             queue_.front().event);
    queued_bytes_ -= queue_.front().payload.size();
    queue_.pop_front();
    ++dropped_messages_;
  }
  queued_bytes_ += entry.payload.size();
  queue_.push_back(std::move(entry));
}

void Channel::close(Instant now) {
  observe(now);
  if (connected()) {
    FZ_INFO("portal", "closing the connection to the portal");
    state_ = State::closing;
    reset_connection_state();
    events_.emplace_back(CloseConnection{});
    return;
  }
  if (state_ == State::idle || state_ == State::waiting_to_connect || state_ == State::connecting) {
    state_ = State::closed;
    reset_connection_state();
    reconnect_deadline_.reset();
    events_.emplace_back(Closed{});
  }
}

// ---------------------------------------------------------------------------------------------
// Transport inputs

void Channel::handle_connected(Instant now) {
  observe(now);
  if (state_ != State::connecting) {
    FZ_DEBUG("portal", "ignoring a connection that opened in state {}", to_string(state_));
    return;
  }
  FZ_INFO("portal", "connected to the portal");
  // A successful upgrade ends the backoff (a successful join is not required).
  reconnect_backoff_.reset();
  rejoin_backoff_.reset();
  heartbeat_deadline_ = now + config_.heartbeat_interval;
  heartbeat_pending_ = false;
  start_join(now);
}

void Channel::handle_message(std::string_view text, Instant now) {
  observe(now);
  if (!connected()) {
    FZ_DEBUG("portal", "ignoring a frame received in state {}", to_string(state_));
    return;
  }
  auto frame = parse_frame(text);
  if (!frame) {
    FZ_WARN("portal", "ignoring a malformed frame ({} bytes): {}", text.size(),
            frame.error().to_string());
    return;
  }
  const auto& event = frame->event;
  if (event == "phx_reply") {
    handle_reply(*frame, now);
    return;
  }
  if (event == "phx_error") {
    if (frame->topic == config_.topic && (state_ == State::joining || state_ == State::joined)) {
      on_channel_error(now);
    } else {
      FZ_DEBUG("portal", "ignoring phx_error on topic {}", frame->topic);
    }
    return;
  }
  if (event == "phx_close") {
    on_transient_error("the portal closed the channel (phx_close)", now);
    return;
  }
  if (event == "disconnect") {
    // The reference knows one reason; any other leaves the connection as it is.
    if (disconnect_reason(frame->payload) == "token_expired") {
      on_fatal(FatalReason::token_expired, 0, "the portal token has expired");
    } else {
      FZ_WARN("portal", "ignoring a disconnect event with an unknown reason");
    }
    return;
  }
  if (config_.raw_ingress) {
    FZ_DEBUG("portal", "received {}", event);
    events_.emplace_back(RawMessage{event, std::move(frame->payload)});
    return;
  }
  if (!is_ingress_event(event)) {
    FZ_WARN("portal", "ignoring unknown event '{}'", event);
    return;
  }
  auto message = decode_ingress(event, frame->payload);
  if (!message) {
    FZ_WARN("portal", "ignoring event '{}': {}", event, message.error().to_string());
    return;
  }
  FZ_DEBUG("portal", "received {}", event);
  events_.emplace_back(std::move(*message));
}

void Channel::handle_reply(const InboundFrame& frame, Instant now) {
  auto reply = parse_reply(frame.payload);
  if (!reply) {
    FZ_WARN("portal", "ignoring a malformed reply: {}", reply.error().to_string());
    return;
  }
  if (!frame.ref) {
    FZ_WARN("portal", "discarding a reply without a ref");
    return;
  }
  if (state_ == State::joining && join_ref_ && *frame.ref == *join_ref_) {
    if (reply->ok) {
      on_joined(now);
    } else if (frame.topic == config_.topic) {
      on_fatal(FatalReason::login_failed, 0,
               "the portal refused to join the channel: " +
                   (reply->reason.empty() ? std::string("no reason given") : reply->reason));
    } else {
      FZ_WARN("portal", "join reply for topic {} failed: {}", frame.topic, reply->reason);
    }
    return;
  }
  if (!reply->ok) {
    FZ_WARN("portal", "request {} on topic {} failed: {}", *frame.ref, frame.topic,
            reply->reason.empty() ? std::string_view("no reason given")
                                  : std::string_view(reply->reason));
  } else {
    FZ_TRACE("portal", "request {} succeeded", *frame.ref);
  }
}

void Channel::handle_transport_error(const TransportError& error, Instant now) {
  observe(now);
  if (state_ == State::closing) {
    FZ_INFO("portal", "connection to the portal closed");
    state_ = State::closed;
    events_.emplace_back(Closed{});
    return;
  }
  if (state_ != State::connecting && !connected()) {
    FZ_DEBUG("portal", "ignoring a transport error in state {}", to_string(state_));
    return;
  }
  if (error.kind == TransportErrorKind::certificate) {
    on_fatal(FatalReason::certificate, 0,
             "the portal's TLS certificate failed verification: " + error.message);
    return;
  }
  if (error.kind == TransportErrorKind::http && error.http_status >= 400 &&
      error.http_status < 500) {
    std::string message =
        "the portal rejected the connection with HTTP " + std::to_string(error.http_status);
    if (!error.message.empty()) message += ": " + error.message;
    if (error.http_status == 401) message += " (check FIREZONE_TOKEN)";
    on_fatal(FatalReason::upgrade_rejected, error.http_status, std::move(message));
    return;
  }
  on_transient_error(describe(error), now);
}

// ---------------------------------------------------------------------------------------------
// Time

void Channel::handle_timeout(Instant now) {
  observe(now);
  switch (state_) {
    case State::waiting_to_connect:
      if (reconnect_deadline_ && now >= *reconnect_deadline_) start_connecting();
      return;
    case State::joining:
      if (join_deadline_ && now >= *join_deadline_) {
        on_transient_error("joining the portal channel timed out", now);
        return;
      }
      break;
    case State::rejoin_wait:
      if (rejoin_deadline_ && now >= *rejoin_deadline_) start_join(now);
      break;
    case State::joined:
      break;
    default:
      return;
  }
  if (heartbeat_deadline_ && now >= *heartbeat_deadline_) {
    heartbeat_pending_ = true;
    // Re-armed at once so that a heartbeat that cannot go out yet does not spin the timer.
    heartbeat_deadline_ = now + config_.heartbeat_interval;
  }
}

std::optional<Instant> Channel::poll_timeout() const {
  switch (state_) {
    case State::waiting_to_connect:
      return reconnect_deadline_;
    case State::joining:
      return earliest(join_deadline_, heartbeat_deadline_);
    case State::joined:
      return heartbeat_deadline_;
    case State::rejoin_wait:
      return earliest(rejoin_deadline_, heartbeat_deadline_);
    default:
      return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------
// Output

std::string Channel::make_frame(std::string_view topic, std::string_view event,
                                std::string_view payload) {
  const std::uint64_t ref = next_ref_++;
  // Any frame resets the heartbeat timer and makes a pending heartbeat unnecessary.
  heartbeat_deadline_ = now_ + config_.heartbeat_interval;
  heartbeat_pending_ = false;
  FZ_TRACE("portal", "sending {} on {} (ref {})", event, topic, ref);
  return encode_frame(topic, event, payload, ref);
}

std::optional<std::string> Channel::poll_transmit() {
  switch (state_) {
    case State::joining:
      if (join_sent_) return std::nullopt;  // no pipelining behind the join
      join_sent_ = true;
      join_ref_ = next_ref_;
      return make_frame(config_.topic, "phx_join", "null");
    case State::joined:
      if (heartbeat_pending_) return make_frame(kPhoenixTopic, "heartbeat", "{}");
      if (!queue_.empty()) {
        Queued entry = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= entry.payload.size();
        return make_frame(config_.topic, entry.event, entry.payload);
      }
      return std::nullopt;
    case State::rejoin_wait:
      // No join in flight: the socket-level heartbeat keeps the socket from idling out while
      // we wait to rejoin; channel messages wait.
      if (heartbeat_pending_) return make_frame(kPhoenixTopic, "heartbeat", "{}");
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<Event> Channel::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

// ---------------------------------------------------------------------------------------------
// Transitions

void Channel::reset_connection_state() {
  join_sent_ = false;
  join_ref_.reset();
  join_deadline_.reset();
  joined_at_.reset();
  rejoin_deadline_.reset();
  heartbeat_deadline_.reset();
  heartbeat_pending_ = false;
}

void Channel::start_connecting() {
  FZ_INFO("portal", "connecting to {}", config_.redacted_url);
  state_ = State::connecting;
  reset_connection_state();
  reconnect_deadline_.reset();
  events_.emplace_back(ConnectNow{config_.url, {Header{"User-Agent", config_.user_agent}}});
}

void Channel::start_join(Instant now) {
  state_ = State::joining;
  join_sent_ = false;
  join_ref_.reset();
  rejoin_deadline_.reset();
  join_deadline_ = now + config_.join_timeout;
}

void Channel::on_joined(Instant now) {
  FZ_INFO("portal", "joined the {} channel", config_.topic);
  state_ = State::joined;
  join_ref_.reset();
  join_deadline_.reset();
  joined_at_ = now;
  events_.emplace_back(Joined{});
}

void Channel::on_channel_error(Instant now) {
  // A channel that stayed up for a while counts as healthy again.
  if (rejoin_backoff_ && joined_at_ && now - *joined_at_ >= config_.rejoin_reset_after) {
    rejoin_backoff_.reset();
  }
  Duration delay{0};
  if (!rejoin_backoff_) {
    rejoin_backoff_.emplace(config_.backoff, now);
  } else {
    const auto next = rejoin_backoff_->next(now, rng_);
    if (!next) {
      on_transient_error("the portal channel keeps failing (phx_error)", now);
      return;
    }
    delay = *next;
  }
  FZ_WARN("portal", "the portal's channel process failed (phx_error); rejoining in {:.0f} ms",
          to_millis(delay));
  state_ = State::rejoin_wait;
  join_sent_ = false;
  join_ref_.reset();
  join_deadline_.reset();
  joined_at_.reset();
  rejoin_deadline_ = now + delay;
  if (delay == Duration::zero()) start_join(now);
}

void Channel::on_transient_error(std::string reason, Instant now) {
  Duration delay{0};
  if (!reconnect_backoff_) {
    // The first failure reconnects at once; the 15-minute budget starts now.
    reconnect_backoff_.emplace(config_.backoff, now);
  } else {
    const auto next = reconnect_backoff_->next(now, rng_);
    if (!next) {
      on_fatal(FatalReason::retries_exhausted, 0,
               "gave up reconnecting to the portal after " +
                   std::to_string(std::chrono::duration_cast<std::chrono::minutes>(
                                      reconnect_backoff_->max_elapsed())
                                      .count()) +
                   " minutes; last error: " + reason);
      return;
    }
    delay = *next;
  }
  FZ_WARN("portal", "connection to the portal lost ({}); reconnecting in {:.0f} ms", reason,
          to_millis(delay));
  state_ = State::waiting_to_connect;
  reset_connection_state();
  reconnect_deadline_ = now + delay;
  events_.emplace_back(ReconnectAfter{delay, std::move(reason)});
  if (delay == Duration::zero()) start_connecting();
}

void Channel::on_fatal(FatalReason reason, int http_status, std::string message) {
  FZ_ERROR("portal", "{}", message);
  state_ = State::failed;
  reset_connection_state();
  reconnect_deadline_.reset();
  events_.emplace_back(Fatal{reason, http_status, std::move(message)});
}

}  // namespace fz::portal
