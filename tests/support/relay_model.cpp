#include "support/relay_model.hpp"

#include <algorithm>
#include <charconv>

#include "base/encoding.hpp"
#include "crypto/hash.hpp"
#include "stun/credentials.hpp"
#include "turn/channel_data.hpp"

namespace fz::test {

namespace {

constexpr std::string_view kRealm = "firezone";
constexpr std::string_view kSoftware = "firezone-relay; rev=model";
constexpr std::uint32_t kMaxLifetime = 3600;
constexpr Duration kChannelBinding = std::chrono::seconds(600);
constexpr Duration kChannelCooldown = std::chrono::seconds(300);

Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = s[i];
    if (dash != (c == '-')) return false;
    if (!dash && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string_view reason_for(std::uint16_t code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 420:
      return "Unknown Attribute";
    case 437:
      return "Allocation Mismatch";
    case 438:
      return "Stale Nonce";
    case 440:
      return "Address Family not Supported";
    case 443:
      return "Peer Address Family Mismatch";
    case 508:
      return "Insufficient Capacity";
    default:
      return "Error";
  }
}

}  // namespace

std::string firezone_password(std::string_view relay_secret, std::int64_t expiry_unix,
                              std::string_view salt) {
  const std::string input =
      std::to_string(expiry_unix) + ":" + std::string(relay_secret) + ":" + std::string(salt);
  return base64_encode(crypto::sha256(as_bytes(input)), Base64Padding::unpadded);
}

RelayModel::RelayModel(Config config)
    : config_(std::move(config)), rng_([&] {
        std::array<std::uint8_t, 32> seed{};
        seed[0] = config_.seed;
        return seed;
      }()) {}

std::optional<net::SocketAddr> RelayModel::listen_v4() const {
  if (!config_.public_v4) return std::nullopt;
  return net::SocketAddr{*config_.public_v4, config_.listen_port};
}

std::optional<net::SocketAddr> RelayModel::listen_v6() const {
  if (!config_.public_v6) return std::nullopt;
  return net::SocketAddr{*config_.public_v6, config_.listen_port};
}

std::string RelayModel::new_nonce() {
  std::array<std::uint8_t, 16> raw;
  rng_.fill(raw);
  std::string hex = hex_encode(raw);
  std::string uuid = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                     hex.substr(16, 4) + "-" + hex.substr(20);
  nonces_[uuid] = config_.nonce_uses;
  ++nonces_issued_;
  return uuid;
}

std::optional<net::SocketAddr> RelayModel::client_of_port(std::uint16_t port) const {
  for (const auto& [client, allocation] : allocations_) {
    if (allocation.port == port) return client;
  }
  return std::nullopt;
}

// --- Client input -------------------------------------------------------------------------------

void RelayModel::handle_client(const net::SocketAddr& from, const net::SocketAddr& to,
                               Bytes datagram, Instant now) {
  if (turn::looks_like_channel_data(datagram)) {
    auto data = turn::decode_channel_data(datagram);
    if (!data) return;
    auto allocation = allocations_.find(from);
    if (allocation == allocations_.end()) return;
    auto channel = allocation->second.channels.find(data->channel);
    if (channel == allocation->second.channels.end() || !channel->second.bound) return;
    const auto& peer = channel->second.peer;
    const auto& relay_ip = peer.ip.is_v4() ? allocation->second.v4 : allocation->second.v6;
    if (!relay_ip) return;
    out_.push_back(Datagram{net::SocketAddr{*relay_ip, allocation->second.port}, peer,
                            std::vector<std::uint8_t>(data->payload.begin(), data->payload.end())});
    return;
  }
  auto message = stun::Message::parse(datagram);
  if (!message || message->message_class() != stun::Class::request) return;
  handle_request(from, to, *message, now);
}

std::optional<std::uint16_t> RelayModel::verify(const stun::Message& request, Instant now) {
  if (!request.has_integrity()) return stun::error::unauthorized;
  const auto username = request.text(stun::attr::username);
  if (!username) return stun::error::unauthorized;
  const auto nonce = request.text(stun::attr::nonce);
  if (!nonce || !is_uuid(*nonce)) return stun::error::unauthorized;
  auto known = nonces_.find(std::string(*nonce));
  if (known == nonces_.end() || known->second == 0) return stun::error::stale_nonce;
  --known->second;

  const auto colon = username->find(':');
  if (colon == std::string_view::npos) return stun::error::unauthorized;
  std::int64_t expiry = 0;
  const auto digits = username->substr(0, colon);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), expiry).ec != std::errc{}) {
    return stun::error::unauthorized;
  }
  const std::int64_t unix_now =
      config_.unix_time_at_origin +
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (expiry < unix_now) return stun::error::unauthorized;
  const auto password = firezone_password(config_.secret, expiry, username->substr(colon + 1));
  const auto key = stun::long_term_key(*username, kRealm, password);
  if (!request.verify_integrity(key.expose_secret())) return stun::error::unauthorized;
  return std::nullopt;
}

void RelayModel::send(const net::SocketAddr& from, const net::SocketAddr& to,
                      stun::MessageBuilder& message, std::optional<std::string_view> username) {
  if (username) {
    const auto colon = username->find(':');
    std::int64_t expiry = 0;
    const auto digits = username->substr(0, colon == std::string_view::npos ? 0 : colon);
    if (colon == std::string_view::npos ||
        std::from_chars(digits.data(), digits.data() + digits.size(), expiry).ec != std::errc{}) {
      return;  // the real relay cannot derive a key and sends nothing
    }
    const auto password = firezone_password(config_.secret, expiry, username->substr(colon + 1));
    message.add_message_integrity(stun::long_term_key(*username, kRealm, password).expose_secret());
  }
  out_.push_back(Datagram{
      from, to, std::vector<std::uint8_t>(message.bytes().begin(), message.bytes().end())});
}

void RelayModel::handle_request(const net::SocketAddr& from, const net::SocketAddr& to,
                                const stun::Message& request, Instant now) {
  using namespace stun;
  const Method method = request.method();
  ++requests_[method];
  const auto id = request.transaction_id();

  if (method == Method::binding) {
    MessageBuilder response(Method::binding, Class::success, id);
    response.add_text(attr::software, kSoftware);
    response.add_xor_address(attr::xor_mapped_address, from);
    send(to, from, response, std::nullopt);
    return;
  }

  // Missing mandatory attributes fail decoding; the answer cannot be signed.
  const bool malformed =
      (method == Method::allocate && !request.requested_transport()) ||
      (method == Method::channel_bind &&
       (!request.xor_address(attr::xor_peer_address) || !request.channel_number() ||
        !turn::is_channel_number(*request.channel_number())));
  if (malformed || (method != Method::allocate && method != Method::refresh &&
                    method != Method::channel_bind && method != Method::create_permission)) {
    MessageBuilder response(method, Class::error, id);
    response.add_text(attr::software, kSoftware);
    response.add_error_code(error::bad_request, reason_for(error::bad_request));
    send(to, from, response, std::nullopt);
    return;
  }

  std::optional<std::uint16_t> failure = verify(request, now);
  MessageBuilder success(method, Class::success, id);
  success.add_text(attr::software, kSoftware);
  if (!failure) {
    auto injected = std::find_if(failures_.begin(), failures_.end(),
                                 [&](const Failure& f) { return f.method == method; });
    if (injected != failures_.end()) {
      failure = injected->code;
      failures_.erase(injected);
    } else if (method == Method::allocate) {
      failure = allocate(from, request, now, success);
    } else if (method == Method::refresh) {
      failure = refresh(from, request, now, success);
    } else if (method == Method::channel_bind) {
      failure = channel_bind(from, request, now);
    }
  }

  const auto username = request.text(attr::username);
  if (!failure) {
    send(to, from, success, username);
    return;
  }
  MessageBuilder response(method, Class::error, id);
  response.add_text(attr::software, kSoftware);
  response.add_error_code(*failure, reason_for(*failure));
  const bool challenge = *failure == error::unauthorized || *failure == error::stale_nonce;
  if (challenge) {
    response.add_text(attr::realm, kRealm);
    response.add_text(attr::nonce, new_nonce());
  }
  const bool sign = username && (!challenge || config_.sign_challenges);
  send(to, from, response, sign ? username : std::nullopt);
}

std::optional<std::uint16_t> RelayModel::allocate(const net::SocketAddr& client,
                                                  const stun::Message& request, Instant now,
                                                  stun::MessageBuilder& response) {
  using namespace stun;
  if (allocations_.count(client) > 0) return error::allocation_mismatch;
  if (*request.requested_transport() != kTransportUdp) return error::bad_request;

  Allocation allocation;
  const auto additional = request.address_family(attr::additional_address_family);
  if (additional == net::IpFamily::v4) return error::bad_request;
  if (config_.public_v4) {
    allocation.v4 = config_.public_v4;
    if (additional == net::IpFamily::v6) allocation.v6 = config_.public_v6;
  } else if (additional == net::IpFamily::v6) {
    allocation.v6 = config_.public_v6;
  } else {
    return error::address_family_not_supported;
  }
  do {
    allocation.port = static_cast<std::uint16_t>(49152 + rng_.uniform(65536 - 49152));
  } while (client_of_port(allocation.port));
  const std::uint32_t lifetime =
      std::min(request.u32(attr::lifetime).value_or(config_.default_lifetime), kMaxLifetime);
  allocation.expiry = now + std::chrono::seconds(lifetime);

  if (allocation.v4)
    response.add_xor_address(attr::xor_relayed_address, {*allocation.v4, allocation.port});
  if (allocation.v6)
    response.add_xor_address(attr::xor_relayed_address, {*allocation.v6, allocation.port});
  response.add_xor_address(attr::xor_mapped_address, client);
  response.add_u32(attr::lifetime, lifetime);
  allocations_[client] = std::move(allocation);
  return std::nullopt;
}

std::optional<std::uint16_t> RelayModel::refresh(const net::SocketAddr& client,
                                                 const stun::Message& request, Instant now,
                                                 stun::MessageBuilder& response) {
  auto it = allocations_.find(client);
  if (it == allocations_.end()) return stun::error::allocation_mismatch;
  const std::uint32_t lifetime =
      std::min(request.u32(stun::attr::lifetime).value_or(config_.default_lifetime), kMaxLifetime);
  if (lifetime == 0) {
    allocations_.erase(it);
  } else {
    it->second.expiry = now + std::chrono::seconds(lifetime);
  }
  response.add_u32(stun::attr::lifetime, lifetime);
  return std::nullopt;
}

std::optional<std::uint16_t> RelayModel::channel_bind(const net::SocketAddr& client,
                                                      const stun::Message& request, Instant now) {
  auto it = allocations_.find(client);
  if (it == allocations_.end()) return stun::error::allocation_mismatch;
  Allocation& allocation = it->second;
  const auto peer = *request.xor_address(stun::attr::xor_peer_address);
  const auto number = *request.channel_number();
  if (!(peer.ip.is_v4() ? allocation.v4 : allocation.v6)) {
    return stun::error::peer_address_family_mismatch;
  }
  for (const auto& [n, channel] : allocation.channels) {
    if (channel.peer == peer && n != number) return stun::error::bad_request;
  }
  auto existing = allocation.channels.find(number);
  if (existing != allocation.channels.end() && existing->second.peer != peer) {
    return stun::error::bad_request;
  }
  allocation.channels[number] = Channel{peer, now + kChannelBinding, true};
  return std::nullopt;
}

// --- Peer input and time ------------------------------------------------------------------------

void RelayModel::handle_peer(const net::SocketAddr& from, const net::SocketAddr& to, Bytes datagram,
                             Instant) {
  auto client = client_of_port(to.port);
  if (!client) return;
  const Allocation& allocation = allocations_.at(*client);
  if ((to.ip.is_v4() ? allocation.v4 : allocation.v6) != to.ip) return;
  for (const auto& [number, channel] : allocation.channels) {
    if (channel.peer != from || !channel.bound) continue;
    auto listen = client->ip.is_v4() ? listen_v4() : listen_v6();
    if (!listen) return;
    std::vector<std::uint8_t> out(turn::kChannelDataHeaderSize + datagram.size());
    turn::encode_channel_data_header(std::span<std::uint8_t, 4>(out.data(), 4), number,
                                     static_cast<std::uint16_t>(datagram.size()));
    std::copy(datagram.begin(), datagram.end(), out.begin() + 4);
    out_.push_back(Datagram{*listen, *client, std::move(out)});
    return;
  }
}

void RelayModel::handle_timeout(Instant now) {
  for (auto it = allocations_.begin(); it != allocations_.end();) {
    if (it->second.expiry <= now) {
      it = allocations_.erase(it);
      continue;
    }
    auto& channels = it->second.channels;
    for (auto c = channels.begin(); c != channels.end();) {
      if (c->second.expiry + kChannelCooldown <= now) {
        c = channels.erase(c);
      } else {
        if (c->second.expiry <= now) c->second.bound = false;
        ++c;
      }
    }
    ++it;
  }
}

std::optional<Instant> RelayModel::poll_timeout() const {
  std::optional<Instant> earliest;
  const auto consider = [&](Instant t) {
    if (!earliest || t < *earliest) earliest = t;
  };
  for (const auto& [client, allocation] : allocations_) {
    consider(allocation.expiry);
    for (const auto& [number, channel] : allocation.channels) {
      consider(channel.bound ? channel.expiry : channel.expiry + kChannelCooldown);
    }
  }
  return earliest;
}

std::optional<Datagram> RelayModel::poll_datagram() {
  if (out_.empty()) return std::nullopt;
  Datagram d = std::move(out_.front());
  out_.pop_front();
  return d;
}

void RelayModel::restart() {
  allocations_.clear();
  nonces_.clear();
}

void RelayModel::fail_next(stun::Method method, std::uint16_t code) {
  failures_.push_back(Failure{method, code});
}

std::optional<Instant> RelayModel::allocation_expiry(const net::SocketAddr& client) const {
  auto it = allocations_.find(client);
  if (it == allocations_.end()) return std::nullopt;
  return it->second.expiry;
}

std::optional<std::uint16_t> RelayModel::bound_channel(const net::SocketAddr& client,
                                                       const net::SocketAddr& peer) const {
  auto it = allocations_.find(client);
  if (it == allocations_.end()) return std::nullopt;
  for (const auto& [number, channel] : it->second.channels) {
    if (channel.peer == peer && channel.bound) return number;
  }
  return std::nullopt;
}

std::size_t RelayModel::requests(stun::Method method) const {
  auto it = requests_.find(method);
  return it == requests_.end() ? 0 : it->second;
}

}  // namespace fz::test
