#include "net/ip_addr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ostream>

namespace fz::net {

namespace {

// Parses a decimal number without sign, without leading zeros ("0" itself is fine), ≤ max.
std::optional<unsigned> parse_decimal(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

char* format_v4(const std::uint8_t* b, char* out) {
  for (int i = 0; i < 4; ++i) {
    if (i != 0) *out++ = '.';
    out = std::to_chars(out, out + 3, b[i]).ptr;
  }
  return out;
}

char* format_hex16(std::uint16_t v, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned nibble = (v >> shift) & 0xf;
    if (nibble != 0 || started || shift == 0) {
      *out++ = kHex[nibble];
      started = true;
    }
  }
  return out;
}

char* format_v6(const std::uint8_t* b, char* out) {
  std::uint16_t groups[8];
  for (int i = 0; i < 8; ++i)
    groups[i] = load_be16(b + 2 * i);

  // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
  const bool v4_mapped = groups[0] == 0 && groups[1] == 0 && groups[2] == 0 && groups[3] == 0 &&
                         groups[4] == 0 && groups[5] == 0xffff;
  const int group_count = v4_mapped ? 6 : 8;

  // RFC 5952 §4.2: compress the longest run of ≥ 2 zero groups, the first one on a tie.
  int best_start = -1, best_len = 0;
  for (int i = 0; i < group_count;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < group_count && groups[j] == 0)
      ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best_start = -1;

  for (int i = 0; i < group_count;) {
    if (i == best_start) {
      *out++ = ':';
      *out++ = ':';
      i += best_len;
      continue;
    }
    // No separator right after "::".
    if (i != 0 && i != best_start + best_len) *out++ = ':';
    out = format_hex16(groups[i], out);
    ++i;
  }
  if (v4_mapped) {
    if (best_start < 0 || best_start + best_len != group_count) *out++ = ':';
    out = format_v4(b + 12, out);
  }
  return out;
}

}  // namespace

std::optional<IpAddr> IpAddr::from_bytes(Bytes bytes) {
  if (bytes.size() == 4) return IpAddr::v4(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (bytes.size() == 16) {
    std::array<std::uint8_t, 16> raw;
    std::copy(bytes.begin(), bytes.end(), raw.begin());
    return IpAddr::v6(raw);
  }
  return std::nullopt;
}

Result<IpAddr> IpAddr::parse(std::string_view text) {
  // inet_pton wants a NUL-terminated string and would stop at an embedded NUL.
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buf) {
    return Error(Errc::malformed, "invalid IP address");
  }
  if (text.find('\0') != std::string_view::npos)
    return Error(Errc::malformed, "invalid IP address");
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';

  if (text.find(':') != std::string_view::npos) {
    std::array<std::uint8_t, 16> raw;
    if (inet_pton(AF_INET6, buf, raw.data()) != 1) {
      return Error(Errc::malformed, "invalid IPv6 address");
    }
    return IpAddr::v6(raw);
  }
  std::uint8_t raw[4];
  // glibc's inet_pton(AF_INET) accepts only four decimal parts without leading zeros.
  if (inet_pton(AF_INET, buf, raw) != 1) return Error(Errc::malformed, "invalid IPv4 address");
  return IpAddr::v4(raw[0], raw[1], raw[2], raw[3]);
}

std::size_t IpAddr::format(std::span<char, kMaxTextLen> out) const {
  char* end = is_v4() ? format_v4(bytes_.data(), out.data()) : format_v6(bytes_.data(), out.data());
  return static_cast<std::size_t>(end - out.data());
}

std::string IpAddr::to_string() const {
  std::array<char, kMaxTextLen> buf;
  return std::string(buf.data(), format(buf));
}

std::size_t hash_value(const IpAddr& ip) {
  std::uint64_t hi, lo;
  std::memcpy(&hi, ip.raw().data(), 8);
  std::memcpy(&lo, ip.raw().data() + 8, 8);
  // A multiply-xorshift mix (splitmix64 finaliser) over both halves and the family.
  std::uint64_t h = hi * 0x9e3779b97f4a7c15ull ^ (lo + static_cast<std::uint64_t>(ip.family()));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return static_cast<std::size_t>(h);
}

Result<SocketAddr> SocketAddr::parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error(Errc::malformed, "invalid socket address");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) {
      return Error(Errc::malformed, "brackets around a non-IPv6 address");
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return Error(Errc::malformed, "socket address without port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Error(Errc::malformed, "IPv6 socket address needs brackets");
    }
  }
  auto ip = IpAddr::parse(host);
  if (!ip) return ip.error();
  const auto port_value = parse_decimal(port, 65535);
  if (!port_value) return Error(Errc::malformed, "invalid port");
  return SocketAddr{*ip, static_cast<std::uint16_t>(*port_value)};
}

std::string SocketAddr::to_string() const {
  std::string out;
  if (ip.is_v6()) out += '[';
  out += ip.to_string();
  if (ip.is_v6()) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<Cidr> Cidr::make(const IpAddr& address, unsigned prefix_len) {
  if (prefix_len > address.max_prefix_len()) {
    return Error(Errc::out_of_range, "prefix length too long for the address family");
  }
  return Cidr(address, prefix_len);
}

Result<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto ip = IpAddr::parse(text.substr(0, slash));
  if (!ip) return ip.error();
  if (slash == std::string_view::npos) return Cidr::host(*ip);
  const auto prefix = parse_decimal(text.substr(slash + 1), ip->max_prefix_len());
  if (!prefix) return Error(Errc::malformed, "invalid prefix length");
  return Cidr(*ip, *prefix);
}

std::string Cidr::to_string() const {
  return network_.to_string() + '/' + std::to_string(prefix_len_);
}

std::ostream& operator<<(std::ostream& os, const IpAddr& ip) {
  return os << ip.to_string();
}
std::ostream& operator<<(std::ostream& os, const SocketAddr& addr) {
  return os << addr.to_string();
}
std::ostream& operator<<(std::ostream& os, const Cidr& cidr) {
  return os << cidr.to_string();
}

}  // namespace fz::net
