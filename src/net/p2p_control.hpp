// Firezone's in-tunnel control messages (p2p-connections §5.1, gateway-dataplane §6).
//
// A control message is an IPv6 packet inside the WireGuard tunnel with next header 255, source and
// destination `::` and hop limit 0, whose payload is an 8-byte header (byte 0 = event type, the
// rest zero) and an event-specific body. It must never reach the TUN device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/uuid.hpp"
#include "net/ip_addr.hpp"
#include "net/ip_packet.hpp"

namespace fz::net::p2p_control {

inline constexpr std::uint8_t kIpProtocol = 255;
inline constexpr std::size_t kHeaderLen = 8;
inline constexpr std::size_t kMaxPacketLen = 1280;
inline constexpr std::size_t kMaxBodyLen = kMaxPacketLen - kIpv6HeaderLen - kHeaderLen;  // 1232

namespace event_type {
inline constexpr std::uint8_t assigned_ips = 0;   // client → gateway
inline constexpr std::uint8_t domain_status = 1;  // gateway → client
inline constexpr std::uint8_t goodbye = 2;        // both ways
}  // namespace event_type

// A control message still in wire form. The event type stays a raw byte so that unknown types can
// be logged and ignored.
struct Message {
  std::uint8_t event_type = 0;
  Bytes body;  // points into the packet
};

// IPv6, next header 255, src and dst `::`, payload ≥ 8 bytes. Anything else is ordinary traffic.
bool is_control_packet(const IpPacketView& packet);
std::optional<Message> decode(const IpPacketView& packet);

// Writes a control packet; fails if it would exceed 1280 bytes or `out`.
Result<std::size_t> encode(MutBytes out, std::uint8_t event_type, Bytes body);

// Event 0. `domain` is the presentation form without the trailing dot.
struct AssignedIps {
  Uuid resource;
  std::string domain;
  std::vector<IpAddr> proxy_ips;
  friend bool operator==(const AssignedIps&, const AssignedIps&) = default;
};

enum class ResolutionStatus : std::uint8_t { active, inactive };

// Event 1.
struct DomainStatus {
  Uuid resource;
  std::string domain;
  ResolutionStatus status = ResolutionStatus::inactive;
  friend bool operator==(const DomainStatus&, const DomainStatus&) = default;
};

// JSON bodies: compact, keys in the reference's order. Parsing never throws; it accepts a trailing
// dot on the domain, ignores unknown keys, and reads an unknown status as Inactive.
Result<AssignedIps> parse_assigned_ips(Bytes body);
Result<DomainStatus> parse_domain_status(Bytes body);
Result<std::string> assigned_ips_json(const AssignedIps& event);
Result<std::string> domain_status_json(const DomainStatus& event);

// Whole packets.
Result<std::size_t> encode_assigned_ips(MutBytes out, const AssignedIps& event);
Result<std::size_t> encode_domain_status(MutBytes out, const DomainStatus& event);
// Always the same 48 bytes (p2p-connections §5.2).
Result<std::size_t> encode_goodbye(MutBytes out);

}  // namespace fz::net::p2p_control
