#include "net/p2p_control.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fz::net::p2p_control {
namespace {

using Buf = std::vector<std::uint8_t>;

IpAddr ip(std::string_view text) {
  return *IpAddr::parse(text);
}
Uuid uuid(std::string_view text) {
  return *Uuid::parse(text);
}
Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

constexpr std::string_view kResource = "9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f";

// p2p-connections §5.2.
TEST(P2pControl, GoodbyeIsExactly48Bytes) {
  Buf out(1280);
  auto n = encode_goodbye(out);
  ASSERT_TRUE(n.ok());
  out.resize(*n);
  Buf expected = {0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0xff, 0x00};
  expected.resize(8 + 32, 0x00);
  expected.insert(expected.end(), {0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  ASSERT_EQ(expected.size(), 48u);
  EXPECT_EQ(out, expected);

  auto packet = IpPacketView::parse(out);
  ASSERT_TRUE(packet.ok());
  auto msg = decode(*packet);
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->event_type, event_type::goodbye);
  EXPECT_TRUE(msg->body.empty());
}

TEST(P2pControl, DomainStatusExactJson) {
  DomainStatus status{uuid(kResource), "example.com.", ResolutionStatus::active};
  auto json = domain_status_json(status);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(
      *json,
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"example.com","status":"Active"})");
  status.status = ResolutionStatus::inactive;
  EXPECT_EQ(
      *domain_status_json(status),
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"example.com","status":"Inactive"})");
}

TEST(P2pControl, DomainStatusPacketBytes) {
  const DomainStatus status{uuid(kResource), "example.com", ResolutionStatus::inactive};
  Buf out(1280);
  auto n = encode_domain_status(out, status);
  ASSERT_TRUE(n.ok());
  out.resize(*n);
  const std::string body =
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"example.com","status":"Inactive"})";
  ASSERT_EQ(out.size(), 48 + body.size());
  const Buf header = {0x60, 0, 0, 0, 0, static_cast<std::uint8_t>(8 + body.size()), 0xff, 0x00};
  EXPECT_TRUE(std::equal(header.begin(), header.end(), out.begin()));
  EXPECT_TRUE(std::all_of(out.begin() + 8, out.begin() + 40, [](auto b) { return b == 0; }));
  const Buf control = {0x01, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_TRUE(std::equal(control.begin(), control.end(), out.begin() + 40));
  EXPECT_EQ(std::string(out.begin() + 48, out.end()), body);

  auto msg = decode(*IpPacketView::parse(out));
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->event_type, event_type::domain_status);
  auto parsed = parse_domain_status(msg->body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, status);
}

TEST(P2pControl, AssignedIpsRoundTrip) {
  const AssignedIps event{uuid(kResource),
                          "app.internal.example",
                          {ip("100.96.0.1"), ip("100.96.0.2"), ip("100.96.0.3"), ip("100.96.0.4"),
                           ip("fd00:2021:1111:8000::"), ip("fd00:2021:1111:8000::1"),
                           ip("fd00:2021:1111:8000::2"), ip("fd00:2021:1111:8000::3")}};
  auto json = assigned_ips_json(event);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json,
            R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"app.internal.example",)"
            R"("proxy_ips":["100.96.0.1","100.96.0.2","100.96.0.3","100.96.0.4",)"
            R"("fd00:2021:1111:8000::","fd00:2021:1111:8000::1","fd00:2021:1111:8000::2",)"
            R"("fd00:2021:1111:8000::3"]})");
  Buf out(1280);
  auto n = encode_assigned_ips(out, event);
  ASSERT_TRUE(n.ok());
  out.resize(*n);
  auto msg = decode(*IpPacketView::parse(out));
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(msg->event_type, event_type::assigned_ips);
  auto parsed = parse_assigned_ips(msg->body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, event);
}

TEST(P2pControl, ParsesClientJsonLeniently) {
  // Whitespace, a trailing dot, an uppercase UUID, extra keys and another key order.
  auto parsed = parse_assigned_ips(as_bytes(
      R"({ "proxy_ips": ["100.96.0.9"], "extra": {"x": [1, 2]},
           "domain": "Foo.Example.COM.", "resource": "9B8E2B46-3C1A-4C4F-9F8E-0A1B2C3D4E5F" })"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->resource, uuid(kResource));
  EXPECT_EQ(parsed->domain, "Foo.Example.COM");
  EXPECT_EQ(parsed->proxy_ips, std::vector<IpAddr>{ip("100.96.0.9")});

  auto status = parse_domain_status(as_bytes(
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b","status":"Pending"})"));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->status, ResolutionStatus::inactive);  // unknown status → Inactive
  status = parse_domain_status(as_bytes(
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b","status":"Active"})"));
  EXPECT_EQ(status->status, ResolutionStatus::active);
}

TEST(P2pControl, RejectsBadJsonWithoutThrowing) {
  const char* bad_assigned[] = {
      "",
      "not json",
      "[]",
      "null",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b"})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b","proxy_ips":"1.1.1.1"})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b","proxy_ips":[1]})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b","proxy_ips":["x"]})",
      R"({"resource":"not-a-uuid","domain":"a.b","proxy_ips":[]})",
      R"({"resource":7,"domain":"a.b","proxy_ips":[]})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"","proxy_ips":[]})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a..b","proxy_ips":[]})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a b","proxy_ips":[]})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":null,"proxy_ips":[]})",
      R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b","proxy_ips":[])",
  };
  for (const char* body : bad_assigned) {
    EXPECT_FALSE(parse_assigned_ips(as_bytes(body)).ok()) << body;
  }
  EXPECT_FALSE(
      parse_domain_status(
          as_bytes(
              R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b","status":1})"))
          .ok());
  EXPECT_FALSE(
      parse_domain_status(
          as_bytes(R"({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"a.b"})"))
          .ok());
  const std::uint8_t invalid_utf8[] = {'{', '"', 0xff, '"', ':', '1', '}'};
  EXPECT_FALSE(parse_domain_status(invalid_utf8).ok());
  const std::string deep(1000, '[');
  EXPECT_FALSE(parse_assigned_ips(as_bytes(deep)).ok());
}

TEST(P2pControl, DomainLimits) {
  const std::string label63(63, 'a');
  AssignedIps event{uuid(kResource), label63 + ".com", {}};
  EXPECT_TRUE(assigned_ips_json(event).ok());
  event.domain = std::string(64, 'a') + ".com";
  EXPECT_FALSE(assigned_ips_json(event).ok());
  event.domain = ".";
  EXPECT_FALSE(assigned_ips_json(event).ok());
  event.domain = "caf\xc3\xa9.example";  // IDNs travel as punycode
  EXPECT_FALSE(assigned_ips_json(event).ok());
}

TEST(P2pControl, RecognitionRules) {
  Buf out(1280);
  ASSERT_TRUE(encode(out, 9, as_bytes("xyz")).ok());
  auto unknown = decode(*IpPacketView::parse(out));
  ASSERT_TRUE(unknown.has_value());  // unknown types still decode; the caller ignores them
  EXPECT_EQ(unknown->event_type, 9);
  EXPECT_EQ(unknown->body.size(), 3u);

  // Payload shorter than the 8-byte header: ordinary traffic.
  Buf short_payload(47);
  const std::uint8_t seven[7] = {2};
  ASSERT_TRUE(
      build_ip_packet(short_payload, {ip("::"), ip("::")}, kIpProtocol, Bytes(seven, 7)).ok());
  EXPECT_FALSE(is_control_packet(*IpPacketView::parse(short_payload)));

  // Non-zero source or destination, or another next header: not control.
  Buf goodbye(48);
  ASSERT_TRUE(encode_goodbye(goodbye).ok());
  Buf b = goodbye;
  b[23] = 1;
  EXPECT_FALSE(is_control_packet(*IpPacketView::parse(b)));
  b = goodbye;
  b[39] = 1;
  EXPECT_FALSE(is_control_packet(*IpPacketView::parse(b)));
  b = goodbye;
  b[6] = 254;
  EXPECT_FALSE(decode(*IpPacketView::parse(b)).has_value());

  // IPv4 never matches.
  Buf v4(28);
  const std::uint8_t header[8] = {2};
  ASSERT_TRUE(build_ip_packet(v4, {ip("0.0.0.0"), ip("0.0.0.0")}, 255, header).ok());
  EXPECT_FALSE(is_control_packet(*IpPacketView::parse(v4)));
}

TEST(P2pControl, PacketSizeLimit) {
  Buf out(2000);
  const Buf body(kMaxBodyLen, 'x');
  auto n = encode(out, 0, body);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1280u);
  const Buf too_big(kMaxBodyLen + 1, 'x');
  EXPECT_EQ(encode(out, 0, too_big).error().code(), Errc::out_of_range);
  Buf small(47);
  EXPECT_FALSE(encode_goodbye(small).ok());

  // An AssignedIps with so many proxy IPs that it cannot fit.
  AssignedIps event{uuid(kResource), "example.com", {}};
  for (int i = 0; i < 40; ++i)
    event.proxy_ips.push_back(ip("fd00:2021:1111:8000::ffff:ffff"));
  EXPECT_FALSE(encode_assigned_ips(out, event).ok());
}

}  // namespace
}  // namespace fz::net::p2p_control
