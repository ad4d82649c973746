// Fuzzes the gateway's per-client data plane: a client with CIDR, DNS (with NAT set up) and
// optionally Internet resources is fed a sequence of client packets, resource packets, AssignedIps
// bodies and time steps. Oracles: no crash/UB (sanitizers); every ICMP error the gateway builds
// parses and has valid checksums; a rewrite keeps valid checksums valid; the NAT table stays a
// bijection.
//
// Input: byte 0 bit 0 adds the Internet resource. Then records of
//   [op: bits 0-1 kind (0 client packet, 1 resource packet, 2 AssignedIps body, 3 timeout),
//        bits 2-7 seconds to advance / 4] [length: 2 bytes big-endian] [bytes]
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "base/log.hpp"
#include "gateway/client.hpp"
#include "net/p2p_control.hpp"

using namespace fz;
using namespace fz::gateway;
using net::IpAddr;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

const ResourceId kCidr1 = *Uuid::parse("00000000-0000-0000-0000-000000000001");
const ResourceId kCidr2 = *Uuid::parse("00000000-0000-0000-0000-000000000002");
const ResourceId kDns = *Uuid::parse("00000000-0000-0000-0000-000000000003");
const ResourceId kInternet = *Uuid::parse("00000000-0000-0000-0000-000000000004");

std::vector<IpAddr> resolved_addresses() {
  return {IpAddr::v4(192, 0, 2, 1), IpAddr::v4(192, 0, 2, 2),
          IpAddr::v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)};
}

ClientOnGateway make_client(bool internet) {
  ClientOnGateway client(
      *Uuid::parse("00000000-0000-0000-0000-0000000000cc"),
      IpConfig{IpAddr::v4(100, 64, 0, 1), IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 1)},
      IpConfig{IpAddr::v4(100, 64, 0, 2), IpAddr::v6(0xfd00, 0x2021, 0x1111, 0, 0, 0, 0, 2)});
  check(client
            .add_resource(CidrResource{kCidr1,
                                       *net::Cidr::parse("10.0.0.0/8"),
                                       {{FilterProtocol::tcp, 80, 443}, {FilterProtocol::icmp}}},
                          std::nullopt)
            .ok());
  check(
      client.add_resource(CidrResource{kCidr2, *net::Cidr::parse("10.1.0.0/16"), {}}, std::nullopt)
          .ok());
  check(client
            .add_resource(DnsResource{kDns,
                                      "*.example.com",
                                      {{FilterProtocol::udp, 53, 53},
                                       {FilterProtocol::tcp, 0, 65535},
                                       {FilterProtocol::icmp}}},
                          std::nullopt)
            .ok());
  if (internet) check(client.add_resource(InternetResource{kInternet}, std::nullopt).ok());
  std::vector<IpAddr> proxies;
  for (std::uint8_t i = 1; i <= 4; ++i) {
    proxies.push_back(IpAddr::v4(100, 96, 0, i));
    proxies.push_back(IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, i));
  }
  check(client.setup_nat("example.com", kDns, resolved_addresses(), proxies).ok());
  return client;
}

void check_icmp(Bytes packet) {
  check(packet.size() <= kMaxIcmpReplyLen);
  auto parsed = net::IpPacketView::parse(packet);
  check(parsed.ok());
  check(parsed->verify_checksums().ok());
  check(parsed->is_icmp_error());
}

void check_nat(const NatTable& nat) {
  std::size_t count = 0;
  nat.for_each_session([&](const NatKey& inside, const NatKey& outside, Instant) {
    ++count;
    check(nat.outside_for(inside) == outside);
    check(nat.inside_for(outside) == inside);
  });
  check(count == nat.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    log::set_filter(log::Filter(log::Level::off));
    return true;
  }();
  (void)quiet;
  if (size < 1) return 0;
  ClientOnGateway client = make_client((data[0] & 1) != 0);
  Instant now = instant_from_nanos(1'000'000'000);
  std::array<std::uint8_t, kMaxIcmpReplyLen> out{};

  std::size_t i = 1;
  while (i + 3 <= size) {
    const std::uint8_t op = data[i];
    std::size_t len = (std::size_t{data[i + 1]} << 8) | data[i + 2];
    i += 3;
    if (len > size - i) len = size - i;
    std::vector<std::uint8_t> buf(data + i, data + i + len);
    i += len;
    now += std::chrono::seconds(4 * (op >> 2));

    switch (op & 3) {
      case 0:
      case 1: {
        auto parsed = net::IpPacket::parse(buf);
        if (!parsed) break;
        net::IpPacket packet = *parsed;
        const bool valid = packet.verify_checksums().ok();
        if ((op & 3) == 0) {
          const auto verdict = client.translate_outbound(packet, now, out);
          if (verdict.action == OutboundVerdict::Action::reply) {
            check_icmp(Bytes(out.data(), verdict.reply_len));
          } else if (verdict.action == OutboundVerdict::Action::forward && valid) {
            check(packet.verify_checksums().ok());
          }
        } else {
          const auto verdict = client.translate_inbound(packet, now, out);
          if (verdict.action == InboundVerdict::Action::forward_translated) {
            auto translated = net::IpPacketView::parse(Bytes(out.data(), verdict.len));
            check(translated.ok());
            check(translated->is_icmp_error());
            check(translated->verify_checksums().ok());
          } else if (verdict.action == InboundVerdict::Action::forward && valid) {
            check(packet.verify_checksums().ok());
          }
        }
        break;
      }
      case 2: {
        auto event = net::p2p_control::parse_assigned_ips(buf);
        if (!event) break;
        auto outcome = client.handle_assigned_ips(std::move(*event));
        if (auto* request = std::get_if<ResolveDnsRequest>(&outcome)) {
          (void)client.handle_domain_resolved(*request, resolved_addresses());
        }
        break;
      }
      default:
        client.handle_timeout(now);
        (void)client.expire_resources(unix_from_seconds(0));
        break;
    }
    check_nat(client.nat_table());
  }
  return 0;
}
