// IP addresses, socket addresses and CIDR prefixes as small value types.
//
// Both families share one type (`IpAddr`) because everything above the packet parser (routing by
// tunnel IP, filters, NAT keys) treats them alike. The address is stored in network byte order in
// a 16-byte array; an IPv4 address uses the first four bytes and leaves the rest zero, so the
// defaulted comparison orders all IPv4 addresses before all IPv6 addresses and numerically within
// a family.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace fz::net {

enum class IpFamily : std::uint8_t { v4 = 4, v6 = 6 };

constexpr unsigned max_prefix_len(IpFamily family) {
  return family == IpFamily::v4 ? 32 : 128;
}

class IpAddr {
 public:
  // 0.0.0.0
  constexpr IpAddr() = default;

  static constexpr IpAddr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    IpAddr ip;
    ip.bytes_[0] = a;
    ip.bytes_[1] = b;
    ip.bytes_[2] = c;
    ip.bytes_[3] = d;
    return ip;
  }
  // `value` in host order: v4_from_u32(0x7f000001) is 127.0.0.1.
  static constexpr IpAddr v4_from_u32(std::uint32_t value) {
    return v4(static_cast<std::uint8_t>(value >> 24), static_cast<std::uint8_t>(value >> 16),
              static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value));
  }
  static constexpr IpAddr v6(const std::array<std::uint8_t, 16>& bytes) {
    IpAddr ip;
    ip.family_ = IpFamily::v6;
    ip.bytes_ = bytes;
    return ip;
  }
  // From the eight 16-bit groups of the textual form: v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).
  static constexpr IpAddr v6(std::uint16_t a, std::uint16_t b, std::uint16_t c, std::uint16_t d,
                             std::uint16_t e, std::uint16_t f, std::uint16_t g, std::uint16_t h) {
    const std::uint16_t groups[8] = {a, b, c, d, e, f, g, h};
    IpAddr ip;
    ip.family_ = IpFamily::v6;
    for (int i = 0; i < 8; ++i) {
      ip.bytes_[2 * i] = static_cast<std::uint8_t>(groups[i] >> 8);
      ip.bytes_[2 * i + 1] = static_cast<std::uint8_t>(groups[i]);
    }
    return ip;
  }
  // `::` or `0.0.0.0`.
  static constexpr IpAddr unspecified(IpFamily family) {
    IpAddr ip;
    ip.family_ = family;
    return ip;
  }
  // From raw network-order bytes: exactly 4 (IPv4) or 16 (IPv6), otherwise nullopt.
  static std::optional<IpAddr> from_bytes(Bytes bytes);

  // Dotted-quad IPv4 (no leading zeros, exactly four parts) or RFC 4291 IPv6 text (incl. an
  // embedded IPv4 tail). No brackets, zone ids, prefixes or surrounding whitespace.
  static Result<IpAddr> parse(std::string_view text);

  constexpr IpFamily family() const { return family_; }
  constexpr bool is_v4() const { return family_ == IpFamily::v4; }
  constexpr bool is_v6() const { return family_ == IpFamily::v6; }
  // 4 or 16.
  constexpr std::size_t size() const { return is_v4() ? 4 : 16; }
  constexpr unsigned max_prefix_len() const { return net::max_prefix_len(family_); }
  // The address in network byte order, `size()` bytes.
  Bytes bytes() const { return Bytes(bytes_.data(), size()); }
  // The zero-padded 16-byte storage (IPv4 in bytes 0..3).
  constexpr const std::array<std::uint8_t, 16>& raw() const { return bytes_; }
  // IPv4 only: the address as a host-order number.
  constexpr std::uint32_t to_u32() const {
    return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) |
           (std::uint32_t{bytes_[2]} << 8) | std::uint32_t{bytes_[3]};
  }
  constexpr bool is_unspecified() const {
    for (auto b : bytes_)
      if (b != 0) return false;
    return true;
  }
  // The address with all bits after the first `prefix_len` cleared (prefix_len is clamped).
  constexpr IpAddr masked(unsigned prefix_len) const {
    IpAddr out = *this;
    const unsigned max = max_prefix_len();
    if (prefix_len > max) prefix_len = max;
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned first_bit = i * 8;
      if (first_bit >= prefix_len) {
        out.bytes_[i] = 0;
      } else if (prefix_len - first_bit < 8) {
        out.bytes_[i] &= static_cast<std::uint8_t>(0xff00u >> (prefix_len - first_bit));
      }
    }
    return out;
  }

  // IPv4 dotted quad, IPv6 in RFC 5952 canonical form (lowercase, longest run of two or more zero
  // groups compressed, the first one on a tie; IPv4-mapped addresses as ::ffff:a.b.c.d).
  std::string to_string() const;
  // Same text into `out` without allocating; returns the number of characters written.
  static constexpr std::size_t kMaxTextLen = 45;
  std::size_t format(std::span<char, kMaxTextLen> out) const;

  friend constexpr auto operator<=>(const IpAddr&, const IpAddr&) = default;
  friend constexpr bool operator==(const IpAddr&, const IpAddr&) = default;

 private:
  IpFamily family_ = IpFamily::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

struct SocketAddr {
  IpAddr ip;
  std::uint16_t port = 0;

  // `1.2.3.4:80` or `[2001:db8::1]:80`; the port is decimal, 0..65535, without leading zeros.
  static Result<SocketAddr> parse(std::string_view text);
  std::string to_string() const;
  constexpr IpFamily family() const { return ip.family(); }

  friend constexpr auto operator<=>(const SocketAddr&, const SocketAddr&) = default;
  friend constexpr bool operator==(const SocketAddr&, const SocketAddr&) = default;
};

// A network prefix. The stored address always has its host bits cleared.
class Cidr {
 public:
  // 0.0.0.0/0
  constexpr Cidr() = default;
  // Masks `address` to `prefix_len` bits; a prefix longer than the family allows is clamped (use
  // `make` to get an error instead).
  constexpr Cidr(const IpAddr& address, unsigned prefix_len)
      : network_(address.masked(prefix_len)),
        prefix_len_(static_cast<std::uint8_t>(
            prefix_len > address.max_prefix_len() ? address.max_prefix_len() : prefix_len)) {}
  static Result<Cidr> make(const IpAddr& address, unsigned prefix_len);
  // /32 or /128.
  static constexpr Cidr host(const IpAddr& address) {
    return Cidr(address, address.max_prefix_len());
  }
  // `10.0.0.0/8`, `2001:db8::/32`; host bits are masked (`10.1.2.3/8` is 10.0.0.0/8); a bare
  // address is a host route.
  static Result<Cidr> parse(std::string_view text);

  constexpr const IpAddr& network() const { return network_; }
  constexpr unsigned prefix_len() const { return prefix_len_; }
  constexpr IpFamily family() const { return network_.family(); }
  constexpr bool is_host() const { return prefix_len_ == network_.max_prefix_len(); }

  constexpr bool contains(const IpAddr& address) const {
    return address.family() == family() && address.masked(prefix_len_) == network_;
  }
  // True if every address of `other` is in this prefix.
  constexpr bool contains(const Cidr& other) const {
    return other.family() == family() && other.prefix_len_ >= prefix_len_ &&
           other.network_.masked(prefix_len_) == network_;
  }

  std::string to_string() const;

  friend constexpr auto operator<=>(const Cidr&, const Cidr&) = default;
  friend constexpr bool operator==(const Cidr&, const Cidr&) = default;

 private:
  IpAddr network_;
  std::uint8_t prefix_len_ = 0;
};

std::ostream& operator<<(std::ostream& os, const IpAddr& ip);
std::ostream& operator<<(std::ostream& os, const SocketAddr& addr);
std::ostream& operator<<(std::ostream& os, const Cidr& cidr);

std::size_t hash_value(const IpAddr& ip);

}  // namespace fz::net

template <>
struct std::hash<fz::net::IpAddr> {
  std::size_t operator()(const fz::net::IpAddr& ip) const noexcept {
    return fz::net::hash_value(ip);
  }
};
template <>
struct std::hash<fz::net::SocketAddr> {
  std::size_t operator()(const fz::net::SocketAddr& a) const noexcept {
    return fz::net::hash_value(a.ip) ^ (std::size_t{a.port} * 0x9e3779b97f4a7c15ull);
  }
};
template <>
struct std::hash<fz::net::Cidr> {
  std::size_t operator()(const fz::net::Cidr& c) const noexcept {
    return fz::net::hash_value(c.network()) ^ (std::size_t{c.prefix_len()} * 0x9e3779b97f4a7c15ull);
  }
};
