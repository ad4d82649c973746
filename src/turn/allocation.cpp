#include "turn/allocation.hpp"

#include <algorithm>
#include <array>

#include "base/encoding.hpp"
#include "base/log.hpp"
#include "crypto/hash.hpp"

namespace fz::turn {

namespace {

constexpr const char* kLog = "turn";

std::string_view method_name(stun::Method method) {
  switch (method) {
    case stun::Method::binding:
      return "BINDING";
    case stun::Method::allocate:
      return "ALLOCATE";
    case stun::Method::refresh:
      return "REFRESH";
    case stun::Method::channel_bind:
      return "CHANNEL-BIND";
    default:
      return "other";
  }
}

std::string describe(const RelaySocket& server) {
  std::string out;
  if (server.v4) out = server.v4->to_string();
  if (server.v6) out += (out.empty() ? "" : "/") + server.v6->to_string();
  return out.empty() ? "(no address)" : out;
}

bool same_family(const net::SocketAddr& a, const net::SocketAddr& b) {
  return a.family() == b.family();
}

}  // namespace

std::string_view to_string(CandidateKind kind) {
  switch (kind) {
    case CandidateKind::host:
      return "host";
    case CandidateKind::server_reflexive:
      return "srflx";
    case CandidateKind::relayed:
      return "relay";
  }
  return "?";
}

std::string_view to_string(FailureReason reason) {
  switch (reason) {
    case FailureReason::authentication:
      return "authentication error";
    case FailureReason::no_response:
      return "no response received";
    case FailureReason::protocol:
      return "TURN protocol failure";
  }
  return "?";
}

Credentials::Credentials(std::string username, std::string_view password, std::string realm)
    : username_(std::move(username)),
      realm_(std::move(realm)),
      key_(stun::long_term_key(username_, realm_, password)) {}

std::string software_for_session(Bytes wireguard_public_key) {
  constexpr std::string_view label = "SESSION-ID";
  std::vector<std::uint8_t> input(label.begin(), label.end());
  input.insert(input.end(), wireguard_public_key.begin(), wireguard_public_key.end());
  std::string hex = hex_encode(crypto::sha256(input));
  std::transform(hex.begin(), hex.end(), hex.begin(),
                 [](char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 32) : c; });
  return "snownet; session=" + hex;
}

stun::Method Allocation::method_of(Kind kind) {
  switch (kind) {
    case Kind::binding:
      return stun::Method::binding;
    case Kind::allocate:
      return stun::Method::allocate;
    case Kind::refresh:
      return stun::Method::refresh;
    case Kind::channel_bind:
      return stun::Method::channel_bind;
  }
  return stun::Method::binding;
}

void Allocation::Backoff::advance(Instant now) {
  if (expired(now) || now < next_) return;
  interval_ = interval_ * 3 / 2;
  next_ += interval_;
}

// --- Construction and requests ------------------------------------------------------------------

Allocation::Allocation(RelaySocket server, Credentials credentials, AllocationOptions options,
                       Rng& rng, Instant now)
    : server_(server),
      credentials_(std::move(credentials)),
      options_(std::move(options)),
      rng_(&rng) {
  send_binding_requests(now);
  check_finished();
}

void Allocation::send_binding_requests(Instant now) {
  for (const auto& addr : {server_.v4, server_.v6}) {
    if (!addr) continue;
    Request request{Kind::binding};
    request.id = new_transaction_id();
    request.dst = *addr;
    queue(request, std::nullopt, now);
  }
}

stun::TransactionId Allocation::new_transaction_id() {
  stun::TransactionId id;
  rng_->fill(id);
  return id;
}

bool Allocation::queue(Request request, std::optional<Backoff> backoff, Instant now) {
  request.backoff = backoff.value_or(Backoff(now, kRequestTimeout, kRequestMaxElapsed));
  if (request.backoff->expired(now)) {
    FZ_DEBUG(kLog, "{} to {} abandoned", method_name(method_of(request.kind)),
             request.dst.to_string());
    return false;
  }
  transmits_.push_back(Transmit{std::nullopt, request.dst, encode(request)});
  requests_.push_back(std::move(request));
  return true;
}

bool Allocation::authenticate_and_queue(Request request, std::optional<Backoff> backoff,
                                        Instant now) {
  if (!active_socket_) {
    FZ_DEBUG(kLog, "Not sending {}: no relay address chosen yet",
             method_name(method_of(request.kind)));
    return false;
  }
  if (!credentials_) {
    FZ_DEBUG(kLog, "Not sending {}: no credentials", method_name(method_of(request.kind)));
    return false;
  }
  // Every send is rebuilt with a new transaction id and the nonce we hold now.
  request.id = new_transaction_id();
  request.dst = *active_socket_;
  request.had_nonce = nonce_.has_value();
  return queue(std::move(request), backoff, now);
}

std::vector<std::uint8_t> Allocation::encode(const Request& request) const {
  using namespace stun;
  MessageBuilder b(method_of(request.kind), Class::request, request.id);
  const auto add_software = [&] {
    if (!options_.software.empty()) b.add_text(attr::software, options_.software);
  };
  switch (request.kind) {
    case Kind::binding:
      add_software();
      return std::move(b).finish();
    case Kind::allocate:
      b.add_requested_transport(kTransportUdp);
      if (options_.dual_stack == DualStackAttribute::rfc8656) {
        b.add_address_family(attr::additional_address_family, net::IpFamily::v6);
      } else if (options_.dual_stack == DualStackAttribute::draft) {
        b.add_address_family(attr::additional_address_family_draft, net::IpFamily::v6);
      }
      add_software();
      break;
    case Kind::refresh:
      // No REQUESTED-TRANSPORT/ADDITIONAL-ADDRESS-FAMILY here: RFC 8656 servers (coturn) answer
      // 420 to them, and the Firezone relay ignores them on REFRESH.
      add_software();
      if (request.delete_allocation) b.add_u32(attr::lifetime, 0);
      break;
    case Kind::channel_bind:
      b.add_xor_address(attr::xor_peer_address, request.peer);
      b.add_channel_number(request.channel);
      add_software();
      break;
  }
  // Until a challenge has told us the nonce, requests go out unauthenticated (RFC 8489 §9.2.3),
  // which both the Firezone relay and coturn answer with 401 + REALM + NONCE.
  if (credentials_ && nonce_) {
    b.add_text(attr::username, credentials_->username());
    b.add_text(attr::realm, credentials_->realm());
    b.add_text(attr::nonce, *nonce_);
    b.add_message_integrity(credentials_->key_bytes());
  }
  return std::move(b).finish();
}

bool Allocation::in_flight(Kind kind) const {
  return std::any_of(requests_.begin(), requests_.end(),
                     [&](const Request& r) { return r.kind == kind; });
}

bool Allocation::channel_bind_in_flight(const net::SocketAddr& peer) const {
  return std::any_of(
             requests_.begin(), requests_.end(),
             [&](const Request& r) { return r.kind == Kind::channel_bind && r.peer == peer; }) ||
         std::find(buffered_binds_.begin(), buffered_binds_.end(), peer) != buffered_binds_.end();
}

// --- Input --------------------------------------------------------------------------------------

bool Allocation::handle_input(const net::SocketAddr& from, const net::SocketAddr& local,
                              Bytes datagram, Instant now) {
  if (finished_ || !server_.matches(from)) return false;
  auto message = stun::Message::parse(datagram);
  if (!message) return false;
  return handle_message(from, local, *message, now);
}

bool Allocation::handle_message(const net::SocketAddr& from, const net::SocketAddr& local,
                                const stun::Message& message, Instant now) {
  if (finished_ || !server_.matches(from)) return false;
  const auto cls = message.message_class();
  if (cls != stun::Class::success && cls != stun::Class::error) return false;
  const auto id = message.transaction_id();
  auto it = std::find_if(requests_.begin(), requests_.end(),
                         [&](const Request& r) { return r.id == id; });
  if (it == requests_.end()) return false;

  const auto method = method_of(it->kind);
  if (message.method() != method) {
    FZ_DEBUG(kLog, "Ignoring a {} response to our {}", static_cast<int>(message.method()),
             method_name(method));
    return true;
  }
  // BINDING is unauthenticated. Anything else that fails the check stays pending, so that a
  // forged response cannot change our state; the retransmit timer carries on.
  if (it->kind != Kind::binding && !is_authentic(message)) {
    FZ_DEBUG(kLog, "Ignoring a {} response that failed the integrity check", method_name(method));
    return true;
  }

  const Request request = std::move(*it);
  requests_.erase(it);
  FZ_DEBUG(kLog, "{} {} from {} after {:.0f} ms", method_name(method),
           cls == stun::Class::success ? "succeeded" : "failed", from.to_string(),
           to_millis(now - request.backoff->start()));
  if (cls == stun::Class::success) {
    handle_success(request, message, local, now);
  } else {
    handle_error(request, message, now);
  }
  check_finished();
  return true;
}

bool Allocation::is_authentic(const stun::Message& message) const {
  if (message.has_integrity()) {
    return credentials_ && message.verify_integrity(credentials_->key_bytes());
  }
  // coturn (like RFC 8489 §9.2.4 servers generally) sends its challenges unsigned. Accepting them
  // only lets a response resend the request with a new nonce, or end a request that already
  // carried one: nothing an attacker who sees our transaction ids could not do by dropping them.
  if (message.message_class() != stun::Class::error) return false;
  const auto code = message.error_code();
  return code &&
         (code->code == stun::error::unauthorized || code->code == stun::error::stale_nonce);
}

void Allocation::handle_error(const Request& request, const stun::Message& message, Instant now) {
  const auto error = message.error_code();
  const std::uint16_t code = error ? error->code : 0;
  const std::string_view reason = error ? error->reason : std::string_view("no ERROR-CODE");
  const auto method = method_of(request.kind);

  if (request.kind == Kind::binding) {
    // BINDING is never authenticated, so there is nothing to retry with.
    FZ_DEBUG(kLog, "BINDING failed: {} {}", code, reason);
    return;
  }

  if (code == stun::error::unauthorized && request.had_nonce) {
    FZ_WARN(kLog, "Relay rejected our credentials ({} {}); giving up on it", code, reason);
    credentials_.reset();
    invalidate();
    return;
  }

  if (code == stun::error::unauthorized || code == stun::error::stale_nonce) {
    if (!credentials_) return;
    auto nonce = message.text(stun::attr::nonce);
    if (!nonce) {
      // Resending would only be challenged again, at the pace of the round trip.
      FZ_WARN(kLog, "{} challenged ({}) without a NONCE; not retrying", method_name(method), code);
      return;
    }
    nonce_ = std::string(*nonce);
    if (auto realm = message.text(stun::attr::realm); realm && *realm != credentials_->realm()) {
      FZ_WARN(kLog, "Refusing to authenticate with realm '{}' (expected '{}')", *realm,
              credentials_->realm());
      return;
    }
    FZ_DEBUG(kLog, "{} challenged ({} {}), re-authenticating", method_name(method), code, reason);
    authenticate_and_queue(request, std::nullopt, now);
    return;
  }

  if (code == stun::error::allocation_mismatch) {
    invalidate();
    if (deallocating_) return;
    switch (request.kind) {
      case Kind::allocate: {
        // The relay still holds an allocation for our 5-tuple (e.g. made with old credentials):
        // delete it, then allocate again once the delete succeeds.
        FZ_DEBUG(kLog, "Relay has a stale allocation for us; deleting it");
        Request del{Kind::refresh};
        del.delete_allocation = true;
        authenticate_and_queue(del, std::nullopt, now);
        break;
      }
      case Kind::refresh:
      case Kind::channel_bind:
        FZ_DEBUG(kLog, "Relay lost our allocation; allocating again");
        authenticate_and_queue(Request{Kind::allocate}, std::nullopt, now);
        if (request.kind == Kind::channel_bind) {
          if (buffered_binds_.size() == kMaxBufferedChannelBinds) buffered_binds_.pop_front();
          buffered_binds_.push_back(request.peer);
        }
        break;
      case Kind::binding:
        break;
    }
    return;
  }

  if (code == stun::error::unknown_attribute) {
    std::array<std::uint16_t, 8> unknown{};
    const std::size_t n = message.unknown_attributes(unknown);
    FZ_WARN(kLog, "Relay did not understand {} attribute(s) of our {} (first 0x{:04x})", n,
            method_name(method), n > 0 ? unknown[0] : 0);
    explicit_failure_ = FailureReason::protocol;
    return;
  }

  switch (request.kind) {
    case Kind::allocate:
      buffered_binds_.clear();
      break;
    case Kind::channel_bind:
      FZ_WARN(kLog, "Binding channel 0x{:04x} to {} failed: {} {}", request.channel,
              request.peer.to_string(), code, reason);
      remove_channel(request.channel);
      return;
    default:
      break;
  }
  FZ_WARN(kLog, "{} failed: {} {}", method_name(method), code, reason);
}

void Allocation::update_candidate(std::optional<Candidate>& current,
                                  std::optional<Candidate> next) {
  if (!next || next == current) return;
  events_.push_back(CandidateNew{*next});
  if (current) events_.push_back(CandidateInvalidated{*current});
  current = next;
}

void Allocation::handle_success(const Request& request, const stun::Message& message,
                                const net::SocketAddr& local, Instant now) {
  switch (request.kind) {
    case Kind::binding: {
      if (!local.ip.is_unspecified()) {
        update_candidate(local.ip.is_v4() ? host4_ : host6_,
                         Candidate{CandidateKind::host, local, local});
      }
      if (auto mapped = message.xor_mapped_address(); mapped && !mapped->ip.is_unspecified()) {
        update_candidate(request.dst.ip.is_v4() ? srflx4_ : srflx6_,
                         Candidate{CandidateKind::server_reflexive, *mapped, local});
      }
      if (active_socket_) return;  // a keepalive, or the slower of two first BINDINGs
      active_socket_ = request.dst;
      next_keepalive_ = now + kBindingInterval;
      FZ_DEBUG(kLog, "Using relay address {}", request.dst.to_string());
      if (deallocating_) return;
      authenticate_and_queue(Request{has_allocation() ? Kind::refresh : Kind::allocate},
                             std::nullopt, now);
      return;
    }
    case Kind::allocate: {
      const auto lifetime = message.u32(stun::attr::lifetime);
      if (!lifetime) {
        FZ_WARN(kLog, "ALLOCATE success without LIFETIME");
        return;
      }
      std::optional<Candidate> relay4, relay6;
      const auto id = message.transaction_id();
      for (const auto& a : message) {
        if (!message.is_covered(a) || a.type != stun::attr::xor_relayed_address) continue;
        auto addr = stun::decode_xor_address(a.value, id);
        if (!addr) continue;
        auto& slot = addr->ip.is_v4() ? relay4 : relay6;
        if (!slot) slot = Candidate{CandidateKind::relayed, *addr, local};
      }
      if (!relay4 && !relay6) {
        FZ_WARN(kLog, "ALLOCATE success without a relayed address");
        return;
      }
      lifetime_ = Lifetime{now, std::chrono::seconds(*lifetime)};
      update_candidate(relay4_, relay4);
      update_candidate(relay6_, relay6);
      FZ_INFO(kLog, "Allocated relay4={} relay6={} lifetime={}s",
              relay4_ ? relay4_->addr.to_string() : "-", relay6_ ? relay6_->addr.to_string() : "-",
              *lifetime);
      while (!buffered_binds_.empty()) {
        const auto peer = buffered_binds_.front();
        buffered_binds_.pop_front();
        bind_channel(peer, now);
      }
      return;
    }
    case Kind::refresh: {
      const auto lifetime = message.u32(stun::attr::lifetime);
      if (!lifetime) {
        FZ_WARN(kLog, "REFRESH success without LIFETIME");
        return;
      }
      if (*lifetime == 0) {
        if (deallocating_) return;  // check_finished() reports it
        FZ_DEBUG(kLog, "Stale allocation deleted; allocating again");
        authenticate_and_queue(Request{Kind::allocate}, std::nullopt, now);
        return;
      }
      lifetime_ = Lifetime{now, std::chrono::seconds(*lifetime)};
      FZ_DEBUG(kLog, "Refreshed allocation, lifetime {}s", *lifetime);
      return;
    }
    case Kind::channel_bind: {
      auto it = channels_.find(request.channel);
      if (it == channels_.end()) {
        FZ_DEBUG(kLog, "Bound unknown channel 0x{:04x}", request.channel);
        return;
      }
      it->second.bound = true;
      it->second.refreshing = false;
      it->second.bound_at = now;
      it->second.last_received = now;
      recompute_channel_refresh();
      FZ_DEBUG(kLog, "Bound channel 0x{:04x} to {}", request.channel, request.peer.to_string());
      return;
    }
  }
}

// --- Time ---------------------------------------------------------------------------------------

std::optional<Instant> Allocation::refresh_at() const {
  if (!lifetime_) return std::nullopt;
  return lifetime_->received_at + lifetime_->lifetime / 2;
}

std::optional<Instant> Allocation::expires_at() const {
  if (!lifetime_) return std::nullopt;
  return lifetime_->received_at + lifetime_->lifetime;
}

void Allocation::handle_timeout(Instant now) {
  if (finished_) return;

  if (auto expiry = expires_at(); expiry && now >= *expiry) {
    FZ_INFO(kLog, "Allocation expired");
    invalidate();
  }

  if (has_allocation() && active_socket_ && now >= next_keepalive_) {
    next_keepalive_ = now + kBindingInterval;
    Request keepalive{Kind::binding};
    keepalive.id = new_transaction_id();
    keepalive.dst = *active_socket_;
    queue(keepalive, std::nullopt, now);
  }

  // Retransmit what is due, one at a time: abandoning a request can clear all the others.
  while (true) {
    auto it = std::find_if(requests_.begin(), requests_.end(),
                           [&](const Request& r) { return now >= r.backoff->next_trigger(); });
    if (it == requests_.end()) break;
    Request request = std::move(*it);
    requests_.erase(it);
    Backoff backoff = *request.backoff;
    backoff.advance(now);
    bool queued;
    if (request.kind == Kind::binding) {
      queued = queue(request, backoff, now);  // BINDING keeps its transaction id
    } else {
      queued = authenticate_and_queue(request, backoff, now);
    }
    if (!queued && active_socket_ && same_family(*active_socket_, request.dst)) {
      FZ_INFO(kLog, "Relay {} stopped answering", active_socket_->to_string());
      active_socket_.reset();
      invalidate();
    }
  }

  if (auto refresh = refresh_at(); refresh && now >= *refresh && !in_flight(Kind::refresh)) {
    FZ_DEBUG(kLog, "Refreshing allocation");
    authenticate_and_queue(Request{Kind::refresh}, std::nullopt, now);
  }

  if (next_channel_refresh_ && now >= *next_channel_refresh_) {
    std::vector<std::uint16_t> due;
    for (const auto& [number, channel] : channels_) {
      if (!channel.refreshing && channel.received_since_bind() &&
          now >= channel.bound_at + kChannelRefreshAfter) {
        due.push_back(number);
      }
    }
    std::sort(due.begin(), due.end());
    for (std::uint16_t number : due) {
      Channel& channel = channels_.at(number);
      Request request{Kind::channel_bind};
      request.peer = channel.peer;
      request.channel = number;
      FZ_DEBUG(kLog, "Refreshing channel 0x{:04x} to {}", number, channel.peer.to_string());
      if (authenticate_and_queue(request, std::nullopt, now)) channel.refreshing = true;
    }
    recompute_channel_refresh();
  }

  check_finished();
}

std::optional<Instant> Allocation::poll_timeout() const {
  if (finished_) return std::nullopt;
  std::optional<Instant> earliest;
  const auto consider = [&](std::optional<Instant> t) {
    if (t && (!earliest || *t < *earliest)) earliest = t;
  };
  if (!in_flight(Kind::refresh)) consider(refresh_at());
  consider(expires_at());
  if (has_allocation() && active_socket_) consider(next_keepalive_);
  for (const auto& r : requests_)
    consider(r.backoff->next_trigger());
  consider(next_channel_refresh_);
  return earliest;
}

std::optional<Transmit> Allocation::poll_transmit() {
  if (transmits_.empty()) return std::nullopt;
  Transmit t = std::move(transmits_.front());
  transmits_.pop_front();
  return t;
}

std::optional<Event> Allocation::poll_event() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

// --- State --------------------------------------------------------------------------------------

void Allocation::invalidate() {
  if (relay4_) events_.push_back(CandidateInvalidated{*relay4_});
  if (relay6_) events_.push_back(CandidateInvalidated{*relay6_});
  relay4_.reset();
  relay6_.reset();
  clear_channels();
  lifetime_.reset();
  requests_.clear();
}

void Allocation::check_finished() {
  if (finished_) return;
  if (deallocating_) {
    if (requests_.empty()) {
      FZ_INFO(kLog, "Allocation deleted");
      events_.push_back(Deallocated{});
      finished_ = true;
    }
    return;
  }
  std::optional<FailureReason> reason = explicit_failure_;
  if (!reason && requests_.empty()) {
    if (!active_socket_) {
      reason = FailureReason::no_response;
    } else if (!credentials_) {
      reason = FailureReason::authentication;
    }
  }
  if (!reason) return;
  FZ_WARN(kLog, "Relay {} failed: {}", describe(server_), to_string(*reason));
  // Keep what the layer above needs: the events already queued, then the failure.
  invalidate();
  transmits_.clear();
  buffered_binds_.clear();
  events_.push_back(RelayFailed{*reason});
  finished_ = true;
}

// --- Commands -----------------------------------------------------------------------------------

void Allocation::refresh(Instant now) {
  if (finished_ || deallocating_) return;
  if (!has_allocation() && in_flight(Kind::allocate)) return;
  if (is_suspended()) {
    FZ_DEBUG(kLog, "Starting over from BINDING");
    active_socket_.reset();
    send_binding_requests(now);
    return;
  }
  // A single attempt: a proactive check should fail fast.
  authenticate_and_queue(Request{Kind::refresh}, Backoff(now, kRequestTimeout, kRequestTimeout),
                         now);
  check_finished();
}

void Allocation::bind_channel(const net::SocketAddr& peer, Instant now) {
  if (finished_ || deallocating_ || is_suspended()) return;
  std::uint16_t number = 0;
  const Channel* existing = sendable_channel(peer, now, &number);
  if (existing != nullptr && existing->bound) return;
  if (channel_bind_in_flight(peer)) return;
  if (!has_allocation()) {
    FZ_DEBUG(kLog, "No allocation yet; buffering channel bind to {}", peer.to_string());
    if (buffered_binds_.size() == kMaxBufferedChannelBinds) buffered_binds_.pop_front();
    buffered_binds_.push_back(peer);
    return;
  }
  if (!relay_candidate(peer.family())) {
    FZ_DEBUG(kLog, "No relay address to reach {}", peer.to_string());
    return;
  }
  auto channel = new_channel(peer, now);
  if (!channel) {
    FZ_WARN(kLog, "All channel numbers are in use");
    return;
  }
  Request request{Kind::channel_bind};
  request.peer = peer;
  request.channel = *channel;
  FZ_DEBUG(kLog, "Binding channel 0x{:04x} to {}", *channel, peer.to_string());
  if (!authenticate_and_queue(request, std::nullopt, now)) remove_channel(*channel);
}

void Allocation::deallocate(Instant now) {
  if (finished_ || deallocating_) return;
  deallocating_ = true;
  buffered_binds_.clear();
  const bool had_allocation = has_allocation();
  invalidate();
  if (had_allocation) {
    Request del{Kind::refresh};
    del.delete_allocation = true;
    authenticate_and_queue(del, std::nullopt, now);
  }
  check_finished();
}

// --- Data path ----------------------------------------------------------------------------------

const Allocation::Channel* Allocation::sendable_channel(const net::SocketAddr& peer, Instant now,
                                                        std::uint16_t* number) const {
  auto by_peer = channel_by_peer_.find(peer);
  if (by_peer == channel_by_peer_.end()) return nullptr;
  auto it = channels_.find(by_peer->second);
  if (it == channels_.end() || now - it->second.bound_at >= kChannelLifetime) return nullptr;
  *number = it->first;
  return &it->second;
}

std::optional<std::uint16_t> Allocation::channel_to_peer(const net::SocketAddr& peer,
                                                         Instant now) const {
  std::uint16_t number = 0;
  if (sendable_channel(peer, now, &number) == nullptr) return std::nullopt;
  return number;
}

std::optional<net::SocketAddr> Allocation::encapsulate(const net::SocketAddr& peer,
                                                       PacketBuffer& buffer, Instant now) {
  if (finished_ || !active_socket_) return std::nullopt;
  // Channels still being bound are used optimistically: by the time the data arrives the relay
  // has most likely bound it, and if not, the relay drops it instead of us.
  std::uint16_t number = 0;
  if (sendable_channel(peer, now, &number) == nullptr) {
    bind_channel(peer, now);
    return std::nullopt;
  }
  if (!prepend_channel_data_header(buffer, number)) return std::nullopt;
  return *active_socket_;
}

std::optional<Decapsulated> Allocation::decapsulate(const net::SocketAddr& from, Bytes datagram,
                                                    Instant now) {
  auto message = decode_channel_data(datagram);
  if (!message) return std::nullopt;
  return decapsulate(from, *message, now);
}

std::optional<Decapsulated> Allocation::decapsulate(const net::SocketAddr& from,
                                                    const ChannelData& message, Instant now) {
  if (finished_ || !server_.matches(from)) return std::nullopt;
  auto it = channels_.find(message.channel);
  if (it == channels_.end() || !it->second.bound) return std::nullopt;
  Channel& channel = it->second;
  const auto& relay = channel.peer.ip.is_v4() ? relay4_ : relay6_;
  if (!relay) return std::nullopt;
  const bool first_data = !channel.received_since_bind();
  channel.last_received = now;
  if (first_data && channel.received_since_bind() && !channel.refreshing) {
    const Instant due = channel.bound_at + kChannelRefreshAfter;
    if (!next_channel_refresh_ || due < *next_channel_refresh_) next_channel_refresh_ = due;
  }
  return Decapsulated{channel.peer, message.payload, relay->addr};
}

// --- Channels -----------------------------------------------------------------------------------

std::optional<std::uint16_t> Allocation::new_channel(const net::SocketAddr& peer, Instant now) {
  std::optional<std::uint16_t> number;
  if (auto by_peer = channel_by_peer_.find(peer); by_peer != channel_by_peer_.end()) {
    const Channel& old = channels_.at(by_peer->second);
    // Within lifetime + cooldown the relay still reserves this number for this peer.
    if (old.bound && now - old.bound_at < kChannelLifetime + kChannelRebindCooldown) {
      number = by_peer->second;
    } else {
      remove_channel(by_peer->second);
    }
  }
  if (!number) {
    const unsigned span = kLastChannel - kFirstChannel + 1;
    for (unsigned i = 0; i < span && !number; ++i) {
      const auto candidate =
          static_cast<std::uint16_t>(kFirstChannel + (next_channel_ - kFirstChannel + i) % span);
      auto it = channels_.find(candidate);
      if (it == channels_.end()) {
        number = candidate;
      } else if (!it->second.received_since_bind() &&
                 now - it->second.bound_at >= kChannelLifetime + kChannelRebindCooldown) {
        remove_channel(candidate);
        number = candidate;
      }
    }
    if (!number) return std::nullopt;
    next_channel_ =
        *number == kLastChannel ? kFirstChannel : static_cast<std::uint16_t>(*number + 1);
  }
  Channel& channel = channels_[*number];
  const bool was_due = channel.received_since_bind() && !channel.refreshing;
  channel = Channel{peer, false, false, now, now};
  channel_by_peer_[peer] = *number;
  if (was_due) recompute_channel_refresh();
  return number;
}

void Allocation::remove_channel(std::uint16_t number) {
  auto it = channels_.find(number);
  if (it == channels_.end()) return;
  if (auto by_peer = channel_by_peer_.find(it->second.peer);
      by_peer != channel_by_peer_.end() && by_peer->second == number) {
    channel_by_peer_.erase(by_peer);
  }
  const bool was_due = it->second.received_since_bind() && !it->second.refreshing;
  channels_.erase(it);
  if (was_due) recompute_channel_refresh();
}

void Allocation::clear_channels() {
  channels_.clear();
  channel_by_peer_.clear();
  next_channel_refresh_.reset();
}

void Allocation::recompute_channel_refresh() {
  next_channel_refresh_.reset();
  for (const auto& [number, channel] : channels_) {
    if (channel.refreshing || !channel.received_since_bind()) continue;
    const Instant due = channel.bound_at + kChannelRefreshAfter;
    if (!next_channel_refresh_ || due < *next_channel_refresh_) next_channel_refresh_ = due;
  }
}

// --- Queries ------------------------------------------------------------------------------------

std::optional<net::SocketAddr> Allocation::active_socket() const {
  return active_socket_;
}

std::optional<Candidate> Allocation::relay_candidate(net::IpFamily family) const {
  return family == net::IpFamily::v4 ? relay4_ : relay6_;
}

std::vector<Candidate> Allocation::relay_candidates() const {
  std::vector<Candidate> out;
  for (const auto* c : {&relay4_, &relay6_}) {
    if (*c) out.push_back(**c);
  }
  return out;
}

std::vector<Candidate> Allocation::host_and_server_reflexive_candidates() const {
  std::vector<Candidate> out;
  for (const auto* c : {&host4_, &host6_, &srflx4_, &srflx6_}) {
    if (*c) out.push_back(**c);
  }
  return out;
}

bool Allocation::has_relay_address(const net::SocketAddr& addr) const {
  return (relay4_ && relay4_->addr == addr) || (relay6_ && relay6_->addr == addr);
}

}  // namespace fz::turn
