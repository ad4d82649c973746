// Packet builders for the gateway tests: each Packet owns its bytes, and `ip()` gives a mutable
// view over them (re-parse after every change of size; rewrites keep the size).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "net/icmp.hpp"
#include "net/ip_addr.hpp"
#include "net/ip_packet.hpp"

namespace fz::gateway::test {

using net::IpAddr;

struct Packet {
  std::vector<std::uint8_t> bytes;

  net::IpPacket ip() {
    auto parsed = net::IpPacket::parse(bytes);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().to_string());
    return *parsed;
  }
  net::IpPacketView view() const {
    auto parsed = net::IpPacketView::parse(bytes);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().to_string());
    return *parsed;
  }
};

inline Packet from(std::vector<std::uint8_t> buf, Result<std::size_t> len) {
  EXPECT_TRUE(len.ok()) << (len.ok() ? "" : len.error().to_string());
  buf.resize(len.ok() ? *len : 0);
  return Packet{std::move(buf)};
}

inline net::IpFields fields(const IpAddr& src, const IpAddr& dst) {
  net::IpFields f;
  f.src = src;
  f.dst = dst;
  return f;
}

inline Packet udp(const IpAddr& src, const IpAddr& dst, std::uint16_t sport, std::uint16_t dport,
                  std::vector<std::uint8_t> payload = std::vector<std::uint8_t>(8, 0)) {
  std::vector<std::uint8_t> buf(1500);
  auto len = net::build_udp(buf, fields(src, dst), sport, dport, payload);
  return from(std::move(buf), len);
}

inline Packet tcp(const IpAddr& src, const IpAddr& dst, std::uint16_t sport, std::uint16_t dport,
                  std::uint8_t flags = net::tcp_flag::ack) {
  std::vector<std::uint8_t> buf(1500);
  net::TcpFields t;
  t.src_port = sport;
  t.dst_port = dport;
  t.flags = flags;
  t.seq = 1000;
  auto len = net::build_tcp(buf, fields(src, dst), t);
  return from(std::move(buf), len);
}

inline Packet icmp_echo(const IpAddr& src, const IpAddr& dst, std::uint16_t identifier,
                        bool request = true, std::uint16_t sequence = 1) {
  std::vector<std::uint8_t> buf(1500);
  const std::uint8_t payload[4] = {1, 2, 3, 4};
  auto len = net::build_icmp_echo(buf, fields(src, dst),
                                  net::IcmpEcho{request, identifier, sequence}, payload);
  return from(std::move(buf), len);
}

// An ICMP message of any type (e.g. timestamp, redirect) with a 4-byte body.
inline Packet icmp_other(const IpAddr& src, const IpAddr& dst, std::uint8_t type,
                         std::uint8_t code = 0) {
  std::vector<std::uint8_t> buf(1500);
  const std::uint8_t payload[12] = {};
  auto len = net::build_icmp(buf, fields(src, dst), type, code, 0, payload);
  return from(std::move(buf), len);
}

// An IP packet of another protocol (GRE = 47, SCTP = 132, ...).
inline Packet raw(const IpAddr& src, const IpAddr& dst, std::uint8_t protocol) {
  std::vector<std::uint8_t> buf(1500);
  const std::uint8_t payload[8] = {0, 0, 8, 0, 0, 0, 0, 0};
  auto len = net::build_ip_packet(buf, fields(src, dst), protocol, payload);
  return from(std::move(buf), len);
}

// An ICMP error from `src` to `dst` quoting (a prefix of) `original`.
inline Packet icmp_error(const IpAddr& src, const IpAddr& dst, std::uint8_t type, std::uint8_t code,
                         const Packet& original, std::size_t quote_len = 0,
                         std::uint32_t rest_of_header = 0) {
  std::vector<std::uint8_t> buf(1500);
  const std::size_t n =
      quote_len == 0 ? original.bytes.size() : std::min(quote_len, original.bytes.size());
  std::vector<std::uint8_t> quote(original.bytes.begin(), original.bytes.begin() + n);
  auto len = net::build_icmp(buf, fields(src, dst), type, code, rest_of_header, quote);
  return from(std::move(buf), len);
}

}  // namespace fz::gateway::test
