// A TURN client allocation on one relay (RFC 8656 with the Firezone relay's rules), sans-IO.
//
// The gateway gets every candidate it has from relays: BINDING gives the host candidate (the
// local address the answer arrived on) and the server-reflexive one, ALLOCATE the relayed ones.
// One Allocation per relay, shared by all connections:
//
//   BINDING to every address of the relay; the first answer fixes the relay address we use
//   -> ALLOCATE (challenge 401 -> resend with REALM/NONCE/MESSAGE-INTEGRITY) -> relay candidates
//   -> REFRESH at half the lifetime, BINDING keepalive every 25 s, CHANNEL-BIND per peer.
//
// Requests are retransmitted after 1 s, then ×1.5 (sends at 0, 1, 2.5, 4.75 s) and abandoned at
// 8.125 s; an abandoned request towards the relay address family we use means the relay is gone.
// Authenticated requests get a fresh transaction id and signature on every send.
//
// Responses must come from the relay and match a request in flight. Success and error responses
// to authenticated requests must carry a valid MESSAGE-INTEGRITY, except the 401/438 challenges,
// which coturn sends unsigned (the Firezone relay signs them). See docs/compatibility.md for where
// this differs from snownet on the wire.
//
// The data path (encapsulate/decapsulate) is allocation-free: ChannelData is framed in place in a
// PacketBuffer's headroom and decoded as a subspan of the datagram.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/buffer.hpp"
#include "base/bytes.hpp"
#include "base/rng.hpp"
#include "base/time.hpp"
#include "net/ip_addr.hpp"
#include "stun/credentials.hpp"
#include "stun/message.hpp"
#include "turn/channel_data.hpp"

namespace fz::turn {

inline constexpr Duration kRequestTimeout = std::chrono::seconds(1);
inline constexpr Duration kRequestMaxElapsed = std::chrono::seconds(8);
inline constexpr Duration kBindingInterval = std::chrono::seconds(25);
inline constexpr Duration kChannelLifetime = std::chrono::minutes(10);
inline constexpr Duration kChannelRefreshAfter = std::chrono::minutes(5);
inline constexpr Duration kChannelRebindCooldown = std::chrono::minutes(5);
inline constexpr std::uint16_t kFirstChannel = 0x4000;
inline constexpr std::uint16_t kLastChannel = 0x4FFF;
inline constexpr std::size_t kMaxBufferedChannelBinds = 100;
inline constexpr std::string_view kFirezoneRealm = "firezone";

// The addresses a relay is known by (from the portal): v4, v6 or both.
struct RelaySocket {
  std::optional<net::SocketAddr> v4;
  std::optional<net::SocketAddr> v6;

  bool matches(const net::SocketAddr& addr) const { return addr == v4 || addr == v6; }
  friend bool operator==(const RelaySocket&, const RelaySocket&) = default;
};

// Long-term credentials. Only the derived key is kept; the password is never stored or logged.
class Credentials {
 public:
  Credentials(std::string username, std::string_view password,
              std::string realm = std::string(kFirezoneRealm));

  const std::string& username() const { return username_; }
  const std::string& realm() const { return realm_; }
  const stun::LongTermKey& key() const { return key_; }
  Bytes key_bytes() const { return key_.expose_secret(); }

  // Same username, realm and password (compared through the key, in constant time).
  friend bool operator==(const Credentials& a, const Credentials& b) {
    return a.username_ == b.username_ && a.realm_ == b.realm_ && a.key_ == b.key_;
  }

 private:
  std::string username_;
  std::string realm_;
  stun::LongTermKey key_;
};

enum class CandidateKind : std::uint8_t { host, server_reflexive, relayed };
std::string_view to_string(CandidateKind kind);

struct Candidate {
  CandidateKind kind = CandidateKind::host;
  net::SocketAddr addr;
  net::SocketAddr base;  // the local socket address the candidate was learnt on
  friend bool operator==(const Candidate&, const Candidate&) = default;
};

enum class FailureReason : std::uint8_t {
  authentication,  // the relay rejected our credentials (401 to a request that had a nonce)
  no_response,     // no BINDING ever answered, or the relay stopped answering
  protocol,        // the relay did not understand our request (420)
};
std::string_view to_string(FailureReason reason);

struct CandidateNew {
  Candidate candidate;
};
struct CandidateInvalidated {
  Candidate candidate;
};
// The allocation is finished and inert; the layer above drops it and migrates its connections.
struct RelayFailed {
  FailureReason reason;
};
// deallocate() completed (the relay confirmed, refused or stopped answering).
struct Deallocated {};

using Event = std::variant<CandidateNew, CandidateInvalidated, RelayFailed, Deallocated>;

// TURN control traffic always goes out from the socket's default source (`src` empty).
struct Transmit {
  std::optional<net::SocketAddr> src;
  net::SocketAddr dst;
  std::vector<std::uint8_t> payload;
};

// Which ADDITIONAL-ADDRESS-FAMILY code point asks for an IPv6 relay address next to the IPv4 one.
enum class DualStackAttribute : std::uint8_t {
  rfc8656,  // 0x8000: the Firezone relay, coturn >= 4.8.0
  draft,    // 0x8032: coturn < 4.8.0 (Debian 12's 4.6.1)
  none,     // IPv4 only
};

struct AllocationOptions {
  // SOFTWARE on every request; software_for_session() gives snownet's form. Empty: omitted.
  std::string software;
  DualStackAttribute dual_stack = DualStackAttribute::rfc8656;
};

// "snownet; session=<upper-case hex of SHA256("SESSION-ID" || public_key)>".
std::string software_for_session(Bytes wireguard_public_key);

// A ChannelData message from a peer, unwrapped.
struct Decapsulated {
  net::SocketAddr peer;   // who sent it to our relay address
  Bytes payload;          // a subspan of the datagram
  net::SocketAddr relay;  // our relay address it was sent to (the peer's family)
};

class Allocation {
 public:
  // Sends BINDING to every address of `server` at once. `rng` draws transaction ids and must
  // outlive the allocation.
  Allocation(RelaySocket server, Credentials credentials, AllocationOptions options, Rng& rng,
             Instant now);

  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;
  Allocation(Allocation&&) = default;
  Allocation& operator=(Allocation&&) = default;

  // A datagram from `from` that arrived on our socket `local`. True if it was a STUN response of
  // this allocation (from the relay, matching a request in flight), even if it was then ignored.
  bool handle_input(const net::SocketAddr& from, const net::SocketAddr& local, Bytes datagram,
                    Instant now);
  // The same for a message the caller has already parsed.
  bool handle_message(const net::SocketAddr& from, const net::SocketAddr& local,
                      const stun::Message& message, Instant now);
  void handle_timeout(Instant now);
  std::optional<Instant> poll_timeout() const;
  std::optional<Transmit> poll_transmit();
  std::optional<Event> poll_event();

  // Proactively check the allocation (the portal re-announced the relay): one REFRESH attempt with
  // a 1 s timeout, or start over from BINDING if we had given up making an allocation.
  void refresh(Instant now);
  // Bind a channel to `peer` unless one exists or is being bound. Buffered while no allocation
  // exists; ignored if we have no relay address of the peer's family.
  void bind_channel(const net::SocketAddr& peer, Instant now);
  // Delete the allocation on the relay (REFRESH with LIFETIME 0). Relay candidates are invalidated
  // at once; `Deallocated` follows when the relay answers or the request is abandoned.
  void deallocate(Instant now);

  // Frames `buffer` as ChannelData for `peer` in place and returns the relay address to send it
  // to. Without a usable channel the packet must be dropped (nullopt) and a bind is started.
  std::optional<net::SocketAddr> encapsulate(const net::SocketAddr& peer, PacketBuffer& buffer,
                                             Instant now);
  // Unwraps ChannelData from the relay on a bound channel; nullopt if it is not for us.
  std::optional<Decapsulated> decapsulate(const net::SocketAddr& from, Bytes datagram, Instant now);
  std::optional<Decapsulated> decapsulate(const net::SocketAddr& from, const ChannelData& message,
                                          Instant now);

  const RelaySocket& server() const { return server_; }
  bool matches(const RelaySocket& server, const Credentials& credentials) const {
    return server_ == server && credentials_ && *credentials_ == credentials;
  }
  // The relay address chosen by the first BINDING answer.
  std::optional<net::SocketAddr> active_socket() const;
  bool has_allocation() const { return relay4_.has_value() || relay6_.has_value(); }
  std::optional<Candidate> relay_candidate(net::IpFamily family) const;
  std::vector<Candidate> relay_candidates() const;
  std::vector<Candidate> host_and_server_reflexive_candidates() const;
  // True if `addr` is one of our relay addresses.
  bool has_relay_address(const net::SocketAddr& addr) const;
  // The channel used to send to `peer` now, if any.
  std::optional<std::uint16_t> channel_to_peer(const net::SocketAddr& peer, Instant now) const;
  bool has_credentials() const { return credentials_.has_value(); }
  // Failed or deallocated: no further traffic, timers or events.
  bool finished() const { return finished_; }

 private:
  enum class Kind : std::uint8_t { binding, allocate, refresh, channel_bind };

  class Backoff {
   public:
    Backoff(Instant now, Duration first, Duration max_elapsed)
        : start_(now), max_elapsed_(max_elapsed), next_(now + first), interval_(first) {}
    bool expired(Instant now) const { return now >= start_ + max_elapsed_; }
    Instant next_trigger() const { return next_; }
    Instant start() const { return start_; }
    void advance(Instant now);

   private:
    Instant start_;
    Duration max_elapsed_;
    Instant next_;
    Duration interval_;
  };

  struct Request {
    explicit Request(Kind k) : kind(k) {}
    Kind kind;
    bool delete_allocation = false;  // REFRESH with LIFETIME 0
    net::SocketAddr peer;            // CHANNEL-BIND
    std::uint16_t channel = 0;       // CHANNEL-BIND
    // Filled when sent:
    stun::TransactionId id{};
    net::SocketAddr dst;
    bool had_nonce = false;
    std::optional<Backoff> backoff;
  };

  struct Channel {
    net::SocketAddr peer;
    bool bound = false;
    bool refreshing = false;
    Instant bound_at;  // when created or last confirmed
    Instant last_received;
    bool received_since_bind() const { return last_received != bound_at; }
  };

  struct Lifetime {
    Instant received_at;
    Duration lifetime;
  };

  static stun::Method method_of(Kind kind);

  // Requests.
  void send_binding_requests(Instant now);
  bool queue(Request request, std::optional<Backoff> backoff, Instant now);
  bool authenticate_and_queue(Request request, std::optional<Backoff> backoff, Instant now);
  std::vector<std::uint8_t> encode(const Request& request) const;
  stun::TransactionId new_transaction_id();
  bool in_flight(Kind kind) const;
  bool channel_bind_in_flight(const net::SocketAddr& peer) const;

  // Responses.
  bool is_authentic(const stun::Message& message) const;
  void handle_success(const Request& request, const stun::Message& message,
                      const net::SocketAddr& local, Instant now);
  void handle_error(const Request& request, const stun::Message& message, Instant now);
  void update_candidate(std::optional<Candidate>& current, std::optional<Candidate> next);

  // State.
  void invalidate();
  void check_finished();
  bool is_suspended() const { return !has_allocation() && requests_.empty(); }
  std::optional<Instant> refresh_at() const;
  std::optional<Instant> expires_at() const;

  // Channels.
  std::optional<std::uint16_t> new_channel(const net::SocketAddr& peer, Instant now);
  void remove_channel(std::uint16_t number);
  void clear_channels();
  void recompute_channel_refresh();
  const Channel* sendable_channel(const net::SocketAddr& peer, Instant now,
                                  std::uint16_t* number) const;

  RelaySocket server_;
  std::optional<Credentials> credentials_;
  std::optional<std::string> nonce_;
  AllocationOptions options_;
  Rng* rng_;

  std::optional<net::SocketAddr> active_socket_;
  Instant next_keepalive_;

  std::optional<Candidate> host4_, host6_, srflx4_, srflx6_, relay4_, relay6_;
  std::optional<Lifetime> lifetime_;

  std::vector<Request> requests_;
  std::deque<Transmit> transmits_;
  std::deque<Event> events_;

  std::unordered_map<std::uint16_t, Channel> channels_;
  std::unordered_map<net::SocketAddr, std::uint16_t> channel_by_peer_;
  std::uint16_t next_channel_ = kFirstChannel;
  std::optional<Instant> next_channel_refresh_;
  std::deque<net::SocketAddr> buffered_binds_;

  std::optional<FailureReason> explicit_failure_;
  bool deallocating_ = false;
  bool finished_ = false;
};

}  // namespace fz::turn
