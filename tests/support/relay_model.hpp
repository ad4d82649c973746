// A model of the Firezone relay (rust/relay/server at 533f4c319b, spec p2p-connections.md §3.2–3.6)
// for unit tests of the TURN client. Test support only: never linked into fz_core.
//
// What it enforces, as the real relay does:
//   - credentials: username "<expiry>:<salt>", password base64(SHA256("<expiry>:<secret>:<salt>"))
//     without padding, realm "firezone", long-term MESSAGE-INTEGRITY, expiry checked;
//   - every response signed with the key derived from the request's USERNAME (errors included);
//     unsigned only when the request had no USERNAME. BINDING answers are unsigned;
//   - nonces are UUIDs, each good for 10 000 requests, then 438; 401/438 carry REALM and a new
//   NONCE;
//   - one allocation per 5-tuple (a second ALLOCATE gets 437), 600 s default lifetime (max 3600);
//   - ChannelBind only; a channel lasts 600 s and stays reserved 300 s after; data flows both ways
//     only over a bound channel for exactly (allocation, peer IP:port).
// Sans-IO like the code under test: datagrams in, datagrams out, virtual time.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/time.hpp"
#include "crypto/rng.hpp"
#include "net/ip_addr.hpp"
#include "stun/message.hpp"

namespace fz::test {

struct Datagram {
  net::SocketAddr src;
  net::SocketAddr dst;
  std::vector<std::uint8_t> payload;
};

// The password the portal mints for a relay user.
std::string firezone_password(std::string_view relay_secret, std::int64_t expiry_unix,
                              std::string_view salt);

class RelayModel {
 public:
  struct Config {
    std::optional<net::IpAddr> public_v4;
    std::optional<net::IpAddr> public_v6;
    std::uint16_t listen_port = 3478;
    std::string secret = "relay-secret";
    // Wall-clock time at Instant zero, for credential expiry.
    std::int64_t unix_time_at_origin = 1'700'000'000;
    std::uint32_t nonce_uses = 10'000;
    // LIFETIME granted when the request asks for none (the Firezone relay: 600 s).
    std::uint32_t default_lifetime = 600;
    // false: send 401/438 unsigned, as coturn does.
    bool sign_challenges = true;
    std::uint8_t seed = 7;
  };

  explicit RelayModel(Config config);

  std::optional<net::SocketAddr> listen_v4() const;
  std::optional<net::SocketAddr> listen_v6() const;

  // A datagram from a client to our listen address `to`.
  void handle_client(const net::SocketAddr& from, const net::SocketAddr& to, Bytes datagram,
                     Instant now);
  // A datagram from a peer to one of our relay addresses `to`.
  void handle_peer(const net::SocketAddr& from, const net::SocketAddr& to, Bytes datagram,
                   Instant now);
  void handle_timeout(Instant now);
  std::optional<Instant> poll_timeout() const;
  std::optional<Datagram> poll_datagram();

  // Faults.
  // A restart: allocations, channels and nonces are gone.
  void restart();
  // The next authenticated request of `method` gets this error (signed like any other).
  void fail_next(stun::Method method, std::uint16_t code);
  // Makes every nonce issued so far unknown (the next request gets 438).
  void forget_nonces() { nonces_.clear(); }

  // Introspection.
  std::size_t allocation_count() const { return allocations_.size(); }
  bool has_allocation(const net::SocketAddr& client) const {
    return allocations_.count(client) > 0;
  }
  std::optional<Instant> allocation_expiry(const net::SocketAddr& client) const;
  // The channel bound (and not expired) from `client` to `peer`.
  std::optional<std::uint16_t> bound_channel(const net::SocketAddr& client,
                                             const net::SocketAddr& peer) const;
  std::size_t requests(stun::Method method) const;
  std::size_t nonces_issued() const { return nonces_issued_; }

 private:
  struct Channel {
    net::SocketAddr peer;
    Instant expiry;
    bool bound = true;
  };
  struct Allocation {
    std::uint16_t port = 0;
    std::optional<net::IpAddr> v4, v6;
    Instant expiry;
    std::map<std::uint16_t, Channel> channels;
  };
  struct Failure {
    stun::Method method;
    std::uint16_t code;
  };

  void handle_request(const net::SocketAddr& from, const net::SocketAddr& to,
                      const stun::Message& request, Instant now);
  // nullopt: authenticated; otherwise the error code to answer with.
  std::optional<std::uint16_t> verify(const stun::Message& request, Instant now);
  std::optional<std::uint16_t> allocate(const net::SocketAddr& client, const stun::Message& request,
                                        Instant now, stun::MessageBuilder& response);
  std::optional<std::uint16_t> refresh(const net::SocketAddr& client, const stun::Message& request,
                                       Instant now, stun::MessageBuilder& response);
  std::optional<std::uint16_t> channel_bind(const net::SocketAddr& client,
                                            const stun::Message& request, Instant now);
  void send(const net::SocketAddr& from, const net::SocketAddr& to, stun::MessageBuilder& message,
            std::optional<std::string_view> username);
  std::string new_nonce();
  std::optional<net::SocketAddr> client_of_port(std::uint16_t port) const;

  Config config_;
  crypto::ChaChaRng rng_;
  std::map<net::SocketAddr, Allocation> allocations_;
  std::map<std::string, std::uint32_t> nonces_;  // nonce -> uses left
  std::deque<Datagram> out_;
  std::deque<Failure> failures_;
  std::map<stun::Method, std::size_t> requests_;
  std::size_t nonces_issued_ = 0;
};

}  // namespace fz::test
