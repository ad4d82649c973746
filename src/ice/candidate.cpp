#include "ice/candidate.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace fz::ice {

std::string_view to_string(CandidateKind kind) {
  switch (kind) {
    case CandidateKind::host:
      return "host";
    case CandidateKind::peer_reflexive:
      return "prflx";
    case CandidateKind::server_reflexive:
      return "srflx";
    case CandidateKind::relayed:
      return "relay";
  }
  return "host";
}

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::udp:
      return "udp";
    case Protocol::tcp:
      return "tcp";
    case Protocol::ssltcp:
      return "ssltcp";
    case Protocol::tls:
      return "tls";
  }
  return "udp";
}

std::uint32_t type_preference(CandidateKind kind, Protocol protocol) {
  const bool udp = protocol == Protocol::udp;
  switch (kind) {
    case CandidateKind::host:
      return udp ? 126 : 90;
    case CandidateKind::peer_reflexive:
      return udp ? 110 : 80;
    case CandidateKind::server_reflexive:
      return 100;
    case CandidateKind::relayed:
      return udp ? 2 : (protocol == Protocol::tcp ? 1 : 0);
  }
  return 0;
}

namespace {

// Rust's Ipv4Addr::is_link_local / is_broadcast / is_multicast / is_unspecified and the IPv6
// multicast / unspecified tests: what str0m refuses for locally built candidates.
bool is_valid_local_ip(const net::IpAddr& ip) {
  if (ip.is_unspecified()) return false;
  const auto b = ip.bytes();
  if (ip.is_v4()) {
    if (b[0] == 169 && b[1] == 254) return false;
    if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return false;
    if ((b[0] & 0xF0) == 0xE0) return false;
    return true;
  }
  return b[0] != 0xFF;
}

net::SocketAddr spoofed_raddr(const net::SocketAddr& addr) {
  return net::SocketAddr{net::IpAddr::unspecified(addr.family()), 0};
}

}  // namespace

Result<Candidate> Candidate::host(const net::SocketAddr& addr) {
  if (!is_valid_local_ip(addr.ip)) return Error(Errc::malformed, "invalid candidate address");
  Candidate c;
  c.kind_ = CandidateKind::host;
  c.addr_ = addr;
  c.base_ = addr;
  c.local_ = addr;
  return c;
}

Result<Candidate> Candidate::server_reflexive(const net::SocketAddr& addr,
                                              const net::SocketAddr& base) {
  if (!is_valid_local_ip(addr.ip)) return Error(Errc::malformed, "invalid candidate address");
  if (addr.family() != base.family()) {
    return Error(Errc::malformed, "srflx address and base of different families");
  }
  Candidate c;
  c.kind_ = CandidateKind::server_reflexive;
  c.addr_ = addr;
  c.base_ = base;
  c.local_ = base;
  c.raddr_ = spoofed_raddr(addr);
  return c;
}

Result<Candidate> Candidate::relayed(const net::SocketAddr& addr, const net::SocketAddr& local) {
  if (!is_valid_local_ip(addr.ip)) return Error(Errc::malformed, "invalid candidate address");
  Candidate c;
  c.kind_ = CandidateKind::relayed;
  c.addr_ = addr;
  c.base_ = addr;
  c.local_ = local;
  c.raddr_ = spoofed_raddr(addr);
  return c;
}

Candidate Candidate::peer_reflexive(const net::SocketAddr& addr, const net::SocketAddr& base,
                                    std::uint32_t priority, std::string foundation,
                                    std::string ufrag) {
  Candidate c;
  c.kind_ = CandidateKind::peer_reflexive;
  c.addr_ = addr;
  c.base_ = base;
  c.local_ = base;
  c.priority_ = priority;
  c.foundation_ = std::move(foundation);
  c.ufrag_ = std::move(ufrag);
  return c;
}

std::uint32_t Candidate::compute_priority(bool as_prflx) const {
  if (priority_) return *priority_;
  const CandidateKind kind = as_prflx ? CandidateKind::peer_reflexive : kind_;
  const std::uint32_t local_pref = local_preference_.value_or(addr_.ip.is_v6() ? 65535 : 65534);
  return type_preference(kind, protocol_) << 24 | local_pref << 8 |
         static_cast<std::uint32_t>(256 - component_);
}

std::optional<std::uint32_t> default_local_preference(const Candidate& candidate,
                                                      std::size_t same_kind) {
  std::int64_t pref = 0;
  switch (candidate.kind()) {
    case CandidateKind::host:
      pref = 65535;
      break;
    case CandidateKind::peer_reflexive:
      pref = 49151;
      break;
    case CandidateKind::server_reflexive:
      pref = 32767;
      break;
    case CandidateKind::relayed:
      pref = 16383;
      break;
  }
  const bool v4 = candidate.addr().ip.is_v4();
  if (v4) pref -= 1;
  pref -= 2 * static_cast<std::int64_t>(std::min<std::size_t>(same_kind, 1u << 20));
  if (candidate.kind() == CandidateKind::relayed && candidate.local().ip.is_v4() != v4) {
    pref -= 1000;
  }
  if (pref < 0) return std::nullopt;
  return static_cast<std::uint32_t>(pref);
}

// --- Foundation ---------------------------------------------------------------------------------

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

struct SipState {
  std::uint64_t v0 = 0x736f6d6570736575ull;
  std::uint64_t v1 = 0x646f72616e646f6dull;
  std::uint64_t v2 = 0x6c7967656e657261ull;
  std::uint64_t v3 = 0x7465646279746573ull;

  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  void compress(std::uint64_t m) {
    v3 ^= m;
    round();  // c = 1
    v0 ^= m;
  }
};

// Appends what Rust's derived Hash writes for an IpAddr: the variant index as a u64, then the
// octets in network order.
void append_ip(std::string& out, const net::IpAddr& ip) {
  std::uint8_t variant[8] = {static_cast<std::uint8_t>(ip.is_v6() ? 1 : 0), 0, 0, 0, 0, 0, 0, 0};
  out.append(reinterpret_cast<const char*>(variant), 8);
  const auto bytes = ip.bytes();
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void append_u64_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

std::uint64_t siphash13(const std::uint8_t* data, std::size_t size) {
  SipState s;  // keys (0, 0)
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t m;
    std::memcpy(&m, data + i, 8);  // little-endian host (base/bytes.hpp asserts it)
    s.compress(m);
  }
  std::uint64_t last = static_cast<std::uint64_t>(size & 0xFF) << 56;
  for (std::size_t j = 0; i + j < size; ++j)
    last |= static_cast<std::uint64_t>(data[i + j]) << (8 * j);
  s.compress(last);
  s.v2 ^= 0xFF;
  for (int r = 0; r < 3; ++r)
    s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

std::string Candidate::foundation() const {
  if (!foundation_.empty()) return foundation_;
  std::string input;
  input.reserve(64);
  append_u64_le(input, static_cast<std::uint64_t>(kind_));
  append_ip(input, base_.ip);
  if (raddr_) append_ip(input, raddr_->ip);
  append_u64_le(input, static_cast<std::uint64_t>(protocol_));
  const std::uint64_t hash =
      siphash13(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  char buf[8 + 16 + 1];
  const int n = std::snprintf(buf, sizeof buf, "%08x%llx", __builtin_bswap32(priority()),
                              static_cast<unsigned long long>(hash));
  return std::string(buf, static_cast<std::size_t>(n));
}

// --- SDP string ---------------------------------------------------------------------------------

std::string Candidate::to_sdp_string() const {
  std::string s;
  s.reserve(128);
  s += "candidate:";
  s += foundation();
  s += ' ';
  s += std::to_string(component_);
  s += ' ';
  s += to_string(protocol_);
  s += ' ';
  s += std::to_string(priority());
  s += ' ';
  s += addr_.ip.to_string();
  s += ' ';
  s += std::to_string(addr_.port);
  s += " typ ";
  s += to_string(kind_);
  if (raddr_) {
    s += " raddr ";
    s += raddr_->ip.to_string();
    s += " rport ";
    s += std::to_string(raddr_->port);
  }
  if (ufrag_) {
    s += " ufrag ";
    s += *ufrag_;
  }
  return s;
}

namespace {

// A cursor over the candidate string. Tokens are runs of anything but SP, CR and LF.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : rest_(s) {}

  bool literal(std::string_view text) {
    if (rest_.substr(0, text.size()) != text) return false;
    rest_.remove_prefix(text.size());
    return true;
  }
  bool starts_with(std::string_view text) const { return rest_.substr(0, text.size()) == text; }
  std::string_view token() {
    std::size_t n = 0;
    while (n < rest_.size() && rest_[n] != ' ' && rest_[n] != '\r' && rest_[n] != '\n')
      ++n;
    const std::string_view t = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return t;
  }

 private:
  std::string_view rest_;
};

// Rust's `str::parse` for unsigned integers: an optional '+', then one or more decimal digits,
// no overflow.
template <class T>
std::optional<T> parse_unsigned(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(ch - '0');
    if (value > std::numeric_limits<T>::max()) return std::nullopt;
  }
  return static_cast<T>(value);
}

std::optional<Protocol> parse_protocol(std::string_view text) {
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != b[i]) return false;
    }
    return true;
  };
  for (Protocol p : {Protocol::udp, Protocol::tcp, Protocol::ssltcp, Protocol::tls}) {
    if (iequals(text, to_string(p))) return p;
  }
  return std::nullopt;
}

Error bad(std::string_view message) {
  return Error(Errc::malformed, message);
}

}  // namespace

Result<Candidate> Candidate::parse(std::string_view sdp) {
  Cursor in(sdp);
  Candidate c;
  if (!in.literal("candidate:")) return bad("candidate: prefix missing");
  const std::string_view foundation = in.token();
  if (foundation.empty()) return bad("candidate foundation missing");

  if (!in.literal(" ")) return bad("candidate component missing");
  const auto component = parse_unsigned<std::uint16_t>(in.token());
  if (!component) return bad("candidate component invalid");

  if (!in.literal(" ")) return bad("candidate protocol missing");
  const auto protocol = parse_protocol(in.token());
  if (!protocol) return bad("candidate protocol invalid");

  if (!in.literal(" ")) return bad("candidate priority missing");
  const auto priority = parse_unsigned<std::uint32_t>(in.token());
  if (!priority) return bad("candidate priority invalid");

  if (!in.literal(" ")) return bad("candidate address missing");
  const auto ip = net::IpAddr::parse(in.token());
  if (!ip) return bad("candidate address invalid");

  if (!in.literal(" ")) return bad("candidate port missing");
  const auto port = parse_unsigned<std::uint16_t>(in.token());
  if (!port) return bad("candidate port invalid");

  if (!in.literal(" typ ")) return bad("candidate typ missing");
  // The kind is matched as a prefix, like str0m's parser does (`typ hostile` is a host).
  if (in.literal("host")) {
    c.kind_ = CandidateKind::host;
  } else if (in.literal("srflx")) {
    c.kind_ = CandidateKind::server_reflexive;
  } else if (in.literal("prflx")) {
    c.kind_ = CandidateKind::peer_reflexive;
  } else if (in.literal("relay")) {
    c.kind_ = CandidateKind::relayed;
  } else {
    return bad("candidate kind invalid");
  }

  // Optional fields, each only in its place. A keyword that matched commits to its value; a field
  // that is absent or out of order ends the parse and the rest is ignored.
  if (in.literal(" tcptype ")) {
    if (in.token().empty()) return bad("candidate tcptype value missing");
  }
  if (in.literal(" raddr ")) {
    const auto raddr = net::IpAddr::parse(in.token());
    if (!raddr) return bad("candidate raddr invalid");
    if (!in.literal(" rport ")) return bad("candidate rport missing");
    const auto rport = parse_unsigned<std::uint16_t>(in.token());
    if (!rport) return bad("candidate rport invalid");
    c.raddr_ = net::SocketAddr{*raddr, *rport};
  }
  if (in.literal(" generation ")) {
    if (in.token().empty()) return bad("candidate generation value missing");
  }
  if (in.literal(" network-id ")) {
    if (in.token().empty()) return bad("candidate network-id value missing");
  }
  if (in.literal(" ufrag ")) {
    const std::string_view ufrag = in.token();
    if (ufrag.empty()) return bad("candidate ufrag value missing");
    c.ufrag_ = std::string(ufrag);
  }
  if (in.literal(" network-cost ")) {
    if (in.token().empty()) return bad("candidate network-cost value missing");
  }

  c.foundation_ = std::string(foundation);
  c.component_ = *component;
  c.protocol_ = *protocol;
  c.priority_ = *priority;
  c.addr_ = net::SocketAddr{*ip, *port};
  c.base_ = c.addr_;
  c.local_ = c.addr_;
  return c;
}

}  // namespace fz::ice
