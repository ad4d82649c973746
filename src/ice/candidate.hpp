// ICE candidates as str0m models them, and their SDP strings (spec/ice-str0m-details.md §2, §3.1).
//
// A candidate is an address the peer can be reached at, with a priority. Local candidates are built
// here from what the TURN allocations report (host, server-reflexive, relayed); remote ones arrive
// as strings through the portal and are parsed with str0m's grammar: prefix-based, order-dependent,
// tolerant of trailing junk, strict about the mandatory part.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::ice {

// The numeric values are the ones str0m's foundation hash feeds in.
enum class CandidateKind : std::uint8_t {
  host = 0,
  peer_reflexive = 1,
  server_reflexive = 2,
  relayed = 3
};
enum class Protocol : std::uint8_t { udp = 0, tcp = 1, ssltcp = 2, tls = 3 };

// "host", "prflx", "srflx", "relay".
std::string_view to_string(CandidateKind kind);
// "udp", "tcp", "ssltcp", "tls".
std::string_view to_string(Protocol protocol);

// The type preference of a kind (RFC 8445 §5.1.2.2 with str0m's values: relay is 2 over UDP).
std::uint32_t type_preference(CandidateKind kind, Protocol protocol);

class Candidate {
 public:
  // Local candidates. The address is validated: not unspecified or multicast, and for IPv4 not
  // link-local or broadcast either. Server-reflexive and relayed candidates carry a spoofed
  // `raddr 0.0.0.0 rport 0` (or `::`). A relayed candidate's base is the relayed address itself;
  // `local` is the socket the allocation was made from.
  static Result<Candidate> host(const net::SocketAddr& addr);
  static Result<Candidate> server_reflexive(const net::SocketAddr& addr,
                                            const net::SocketAddr& base);
  static Result<Candidate> relayed(const net::SocketAddr& addr, const net::SocketAddr& local);
  // A peer-reflexive candidate with a fixed priority (learnt from a check, never signalled).
  static Candidate peer_reflexive(const net::SocketAddr& addr, const net::SocketAddr& base,
                                  std::uint32_t priority, std::string foundation,
                                  std::string ufrag);

  // str0m's candidate grammar (ice-str0m-details.md §2.2): no `a=` prefix, single spaces, the
  // optional fields in the fixed order tcptype, raddr/rport, generation, network-id, ufrag,
  // network-cost, and anything after them ignored. The IP is not validated.
  static Result<Candidate> parse(std::string_view sdp);
  // `candidate:<foundation> <component> <proto> <priority> <ip> <port> typ <kind>` plus
  // ` raddr <ip> rport <port>` and ` ufrag <ufrag>` when present.
  std::string to_sdp_string() const;

  CandidateKind kind() const { return kind_; }
  Protocol protocol() const { return protocol_; }
  std::uint16_t component() const { return component_; }
  const net::SocketAddr& addr() const { return addr_; }
  // Where packets for this candidate are sent from: the local socket for host, server-reflexive
  // and peer-reflexive candidates, the relayed address for relayed ones.
  const net::SocketAddr& base() const { return base_; }
  // The socket a relayed candidate's allocation belongs to (equals base() for other kinds).
  const net::SocketAddr& local() const { return local_; }
  const std::optional<net::SocketAddr>& raddr() const { return raddr_; }
  const std::optional<std::string>& ufrag() const { return ufrag_; }

  // The signalled priority: the fixed one of parsed and peer-reflexive candidates, otherwise
  // type_pref << 24 | local_pref << 8 | (256 - component).
  std::uint32_t priority() const { return compute_priority(false); }
  // The PRIORITY a check from this candidate carries: the same with the peer-reflexive type
  // preference (a fixed priority is sent as it is).
  std::uint32_t priority_as_prflx() const { return compute_priority(true); }
  // The parsed foundation, or for local candidates str0m's: the byte-swapped priority as %08x
  // followed by the hex SipHash-1-3 of kind, base IP, raddr IP and protocol.
  std::string foundation() const;
  bool has_fixed_priority() const { return priority_.has_value(); }

  // Agent bookkeeping.
  std::optional<std::uint32_t> local_preference() const { return local_preference_; }
  void set_local_preference(std::uint32_t preference) { local_preference_ = preference; }
  void set_ufrag(std::string ufrag) { ufrag_ = std::move(ufrag); }
  void clear_ufrag() { ufrag_.reset(); }
  bool discarded() const { return discarded_; }
  void set_discarded(bool discarded) { discarded_ = discarded; }

  // Same kind, protocol, address, base and raddr: what str0m compares when it matches a
  // candidate to invalidate or a remote candidate already in a pair.
  bool same_identity(const Candidate& other) const {
    return kind_ == other.kind_ && protocol_ == other.protocol_ && addr_ == other.addr_ &&
           base_ == other.base_ && raddr_ == other.raddr_;
  }

 private:
  Candidate() = default;
  std::uint32_t compute_priority(bool as_prflx) const;

  CandidateKind kind_ = CandidateKind::host;
  Protocol protocol_ = Protocol::udp;
  std::uint16_t component_ = 1;
  net::SocketAddr addr_;
  net::SocketAddr base_;
  net::SocketAddr local_;
  std::optional<net::SocketAddr> raddr_;
  std::optional<std::uint32_t> priority_;
  std::optional<std::uint32_t> local_preference_;
  std::string foundation_;  // empty: computed
  std::optional<std::string> ufrag_;
  bool discarded_ = false;
};

// str0m's default local preference for a candidate added to an agent that already holds
// `same_kind` local candidates of the same kind and address family (discarded ones included):
// 65535 host, 49151 prflx, 32767 srflx, 16383 relay; minus 1 for IPv4, minus 2 per same_kind,
// minus 1000 for a relay whose allocation socket is of the other family. Nullopt if that would
// drop below zero.
std::optional<std::uint32_t> default_local_preference(const Candidate& candidate,
                                                      std::size_t same_kind);

// The foundation hash (Rust's DefaultHasher, SipHash-1-3 with zero keys), exposed for tests.
std::uint64_t siphash13(const std::uint8_t* data, std::size_t size);

}  // namespace fz::ice
