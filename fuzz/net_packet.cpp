// Fuzzes the IP packet parser and everything that runs on a parsed packet: accessors, rewrites with
// incremental checksums, checksum verification, ICMP error parsing/translation/generation and the
// in-tunnel control decoder. Oracles: no crash/UB (sanitizers), and after a full recompute the
// checksums verify; an incremental rewrite of a packet whose checksums verified keeps them valid.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "net/icmp.hpp"
#include "net/ip_packet.hpp"
#include "net/p2p_control.hpp"

using namespace fz::net;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A private copy: rewrites need a mutable buffer, and libFuzzer's input is read-only.
  std::vector<std::uint8_t> buf(data, data + size);
  auto parsed = IpPacket::parse(buf);
  if (!parsed) return 0;
  IpPacket p = *parsed;
  check(p.size() <= size && p.header_len() <= p.size());

  // Accessors.
  (void)p.src();
  (void)p.dst();
  (void)p.ttl();
  (void)p.ecn();
  (void)p.dscp();
  (void)p.l4_payload();
  (void)p.tcp_flags();
  (void)p.icmp_type();
  (void)p.icmp_code();
  const auto tuple = p.five_tuple();
  const bool checksums_were_valid = p.verify_checksums().ok();

  // In-tunnel control messages.
  if (auto msg = p2p_control::decode(p)) {
    (void)p2p_control::parse_assigned_ips(msg->body);
    (void)p2p_control::parse_domain_status(msg->body);
  }

  // ICMP errors: received ones are parsed and translated; every packet can provoke one.
  std::vector<std::uint8_t> out(1500);
  if (p.is_icmp_error()) {
    if (auto error = parse_icmp_error(p)) {
      if (auto n = build_translated_icmp_error(out, *error, p.dst(), p.src(), 4242)) {
        auto translated = IpPacketView::parse(std::span(out.data(), *n));
        check(translated.ok() && translated->verify_checksums().ok());
      }
    }
  }
  {
    auto n = build_icmp_error(out, p, IcmpErrorKind::prohibited);
    check(n.ok());
    auto error = IpPacketView::parse(std::span(out.data(), *n));
    check(error.ok() && error->verify_checksums().ok() && error->is_icmp_error());
  }

  // NAT rewrites (§10.2) and ECN.
  const IpAddr other = p.is_v4() ? IpAddr::v4(100, 96, 0, 1)
                                 : IpAddr::v6(0xfd00, 0x2021, 0x1111, 0x8000, 0, 0, 0, 1);
  const auto dnat = p.translate_destination(other, 1234);
  check(dnat.ok() == tuple.has_value());
  (void)p.translate_source(other, 4321);
  (void)p.set_src_port(1);
  (void)p.set_icmp_echo_id(2);
  (void)p.apply_outer_ecn(Ecn::ce);
  if (checksums_were_valid) check(p.verify_checksums().ok());

  p.recompute_checksums();
  check(p.verify_checksums().ok());
  return 0;
}
