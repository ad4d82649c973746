// render_metrics: the Prometheus text exposition format, exact lines for known values, and the
// grammar of every line.
#include "app/metrics.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace fz::app {
namespace {

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot m;
  m.version = "0.1.0";
  m.protocol_version = "1.4.16";
  m.ready = true;
  m.portal_joined = true;
  m.portal_joins = 2;
  m.clients = 3;
  m.connections.by_state.at(static_cast<std::size_t>(p2p::ConnectionState::connected)) = 2;
  m.connections.by_state.at(static_cast<std::size_t>(p2p::ConnectionState::idle)) = 1;
  m.connections.by_path.at(static_cast<std::size_t>(p2p::PathKind::direct)) = 2;
  m.connections.by_path.at(static_cast<std::size_t>(p2p::PathKind::relay_to_peer)) = 1;
  m.relays = 2;
  m.gateway.packets_to_tun = 10;
  m.gateway.bytes_to_tun = 12800;
  m.gateway.packets_from_tun = 7;
  m.gateway.bytes_from_tun = 700;
  m.gateway.dropped_policy = 4;
  m.gateway.icmp_errors_sent = 1;
  io::UdpStats udp;
  udp.recv_datagrams = 11;
  udp.send_datagrams = 9;
  udp.send_would_block = 1;
  m.udp4 = udp;
  m.tun.packets_read = 7;
  m.tun.packets_written = 10;
  m.resident_memory_bytes = 5 << 20;
  m.start_time_seconds = 1795000000.25;
  return m;
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l == line) return true;
  return false;
}

TEST(Metrics, KnownValuesAppearAsExactLines) {
  const std::string text = render_metrics(sample_snapshot());
  for (const char* line : {
           "firezone_gateway_info{version=\"0.1.0\",protocol_version=\"1.4.16\"} 1",
           "firezone_gateway_ready 1",
           "firezone_gateway_portal_joins_total 2",
           "firezone_gateway_clients 3",
           "firezone_gateway_connections{state=\"connected\"} 2",
           "firezone_gateway_connections{state=\"idle\"} 1",
           "firezone_gateway_connections{state=\"connecting\"} 0",
           "firezone_gateway_connection_paths{path=\"direct\"} 2",
           "firezone_gateway_connection_paths{path=\"relay-to-peer\"} 1",
           "firezone_gateway_relays 2",
           "firezone_gateway_packets_total{direction=\"from_clients\"} 10",
           "firezone_gateway_bytes_total{direction=\"from_clients\"} 12800",
           "firezone_gateway_bytes_total{direction=\"to_clients\"} 700",
           "firezone_gateway_dropped_packets_total{reason=\"policy\"} 4",
           "firezone_gateway_icmp_errors_sent_total 1",
           "firezone_gateway_udp_datagrams_total{family=\"ipv4\",direction=\"rx\"} 11",
           "firezone_gateway_udp_errors_total{family=\"ipv4\",kind=\"send_would_block\"} 1",
           "firezone_gateway_tun_packets_total{direction=\"written\"} 10",
           "firezone_gateway_resident_memory_bytes 5242880",
           "firezone_gateway_start_time_seconds 1795000000.250",
           "# TYPE firezone_gateway_packets_total counter",
           "# TYPE firezone_gateway_clients gauge",
       }) {
    EXPECT_TRUE(has_line(text, line)) << "missing: " << line << "\n" << text;
  }
  // No IPv6 socket: no IPv6 series.
  EXPECT_EQ(text.find("family=\"ipv6\""), std::string::npos);
}

TEST(Metrics, EveryLineFollowsTheExpositionFormat) {
  const std::string text = render_metrics(sample_snapshot());
  const std::regex help(R"(# HELP (firezone_gateway_[a-z0-9_]+) [^\n]+)");
  const std::regex type(R"(# TYPE (firezone_gateway_[a-z0-9_]+) (counter|gauge))");
  const std::regex sample(
      R"((firezone_gateway_[a-z0-9_]+)(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? [0-9]+(\.[0-9]+)?)");
  std::set<std::string> typed;
  std::set<std::string> helped;
  std::istringstream in(text);
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "HELP twice: " << line;
    } else if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(typed.insert(m[1]).second) << "TYPE twice: " << line;
      // Counters end in _total, gauges do not.
      EXPECT_EQ(m[2] == "counter", std::string(m[1]).ends_with("_total")) << line;
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_TRUE(typed.count(m[1])) << "sample before its TYPE: " << line;
      ++samples;
    } else {
      ADD_FAILURE() << "not exposition format: '" << line << "'";
    }
  }
  EXPECT_EQ(typed, helped);
  EXPECT_GT(samples, 30);
  EXPECT_TRUE(text.ends_with("\n"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsSnapshot m;
  m.version = "1.0\"x\\y\nz";
  const std::string text = render_metrics(m);
  EXPECT_TRUE(
      has_line(text, R"(firezone_gateway_info{version="1.0\"x\\y\nz",protocol_version=""} 1)"))
      << text;
}

TEST(Metrics, ResidentMemoryIsReadFromProc) {
  const std::uint64_t rss = resident_memory_bytes();
  EXPECT_GT(rss, 1u << 20);
  EXPECT_LT(rss, 1ull << 34);
}

}  // namespace
}  // namespace fz::app
