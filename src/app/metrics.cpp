#include "app/metrics.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <string_view>

namespace fz::app {
namespace {

constexpr std::string_view kPrefix = "firezone_gateway_";

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  // Starts a metric family: its HELP and TYPE lines.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {}{} {}\n# TYPE {}{} {}\n", kPrefix, name,
                   help, kPrefix, name, type);
  }
  template <typename T>
  void sample(std::string_view name, std::string_view labels, T value) {
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(out_), "{}{} {}\n", kPrefix, name, value);
    } else {
      fmt::format_to(std::back_inserter(out_), "{}{}{{{}}} {}\n", kPrefix, name, labels, value);
    }
  }
  template <typename T>
  void single(std::string_view name, std::string_view type, std::string_view help, T value) {
    family(name, type, help);
    sample(name, {}, value);
  }

 private:
  std::string& out_;
};

// Label values here are fixed words or version strings; escape anyway (\ " and newline).
std::string escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& m) {
  std::string out;
  out.reserve(4096);
  Writer w(out);

  w.family("info", "gauge", "Build and protocol version of this gateway.");
  w.sample("info",
           fmt::format("version=\"{}\",protocol_version=\"{}\"", escape(m.version),
                       escape(m.protocol_version)),
           1);
  w.single("start_time_seconds", "gauge", "Unix time the process started.",
           fmt::format("{:.3f}", m.start_time_seconds));
  w.single("resident_memory_bytes", "gauge", "Resident set size of the process.",
           m.resident_memory_bytes);
  w.single("ready", "gauge", "1 while /readyz reports ready.", m.ready ? 1 : 0);
  w.single("portal_joined", "gauge", "1 while joined to the portal's gateway channel.",
           m.portal_joined ? 1 : 0);
  w.single("portal_joins_total", "counter", "Successful joins of the portal channel.",
           m.portal_joins);

  w.single("clients", "gauge", "Clients with at least one authorization.", m.clients);
  w.family("connections", "gauge", "Connections to clients by state.");
  constexpr std::array states{p2p::ConnectionState::connecting, p2p::ConnectionState::connected,
                              p2p::ConnectionState::idle, p2p::ConnectionState::failed};
  for (const auto s : states)
    w.sample("connections", fmt::format("state=\"{}\"", p2p::to_string(s)),
             m.connections.by_state.at(static_cast<std::size_t>(s)));
  w.family("connection_paths", "gauge", "Connections by the path they send on.");
  constexpr std::array paths{p2p::PathKind::none, p2p::PathKind::direct,
                             p2p::PathKind::peer_to_relay, p2p::PathKind::relay_to_peer,
                             p2p::PathKind::relay_to_relay};
  for (const auto p : paths)
    w.sample("connection_paths", fmt::format("path=\"{}\"", p2p::to_string(p)),
             m.connections.by_path.at(static_cast<std::size_t>(p)));
  w.single("relays", "gauge", "Relays the gateway knows of.", m.relays);

  const gateway::GatewayStats& g = m.gateway;
  w.family("packets_total", "counter", "IP packets through the tunnel, by direction.");
  w.sample("packets_total", "direction=\"from_clients\"", g.packets_to_tun);
  w.sample("packets_total", "direction=\"to_clients\"", g.packets_from_tun);
  w.family("bytes_total", "counter", "IP bytes through the tunnel, by direction.");
  w.sample("bytes_total", "direction=\"from_clients\"", g.bytes_to_tun);
  w.sample("bytes_total", "direction=\"to_clients\"", g.bytes_from_tun);
  w.family("dropped_packets_total", "counter", "IP packets dropped, by reason.");
  w.sample("dropped_packets_total", "reason=\"oversized\"", g.dropped_oversized);
  w.sample("dropped_packets_total", "reason=\"no_peer\"", g.dropped_no_peer);
  w.sample("dropped_packets_total", "reason=\"policy\"", g.dropped_policy);
  w.sample("dropped_packets_total", "reason=\"error\"", g.dropped_errors);
  w.single("icmp_errors_sent_total", "counter",
           "ICMP errors sent to clients (filtered ports, unreachable destinations).",
           g.icmp_errors_sent);

  w.family("udp_datagrams_total", "counter", "UDP datagrams on the gateway's sockets.");
  w.family("udp_syscalls_total", "counter", "recvmmsg/sendmmsg calls on the gateway's sockets.");
  w.family("udp_errors_total", "counter", "UDP datagrams lost to errors or full buffers.");
  for (const auto& [family, stats] : {std::pair{"ipv4", m.udp4}, std::pair{"ipv6", m.udp6}}) {
    if (!stats) continue;
    w.sample("udp_datagrams_total", fmt::format("family=\"{}\",direction=\"rx\"", family),
             stats->recv_datagrams);
    w.sample("udp_datagrams_total", fmt::format("family=\"{}\",direction=\"tx\"", family),
             stats->send_datagrams);
    w.sample("udp_syscalls_total", fmt::format("family=\"{}\",direction=\"rx\"", family),
             stats->recv_syscalls);
    w.sample("udp_syscalls_total", fmt::format("family=\"{}\",direction=\"tx\"", family),
             stats->send_syscalls);
    w.sample("udp_errors_total", fmt::format("family=\"{}\",kind=\"recv\"", family),
             stats->recv_errors + stats->dropped_oversized + stats->dropped_truncated +
                 stats->dropped_no_local);
    w.sample("udp_errors_total", fmt::format("family=\"{}\",kind=\"send\"", family),
             stats->send_errors);
    w.sample("udp_errors_total", fmt::format("family=\"{}\",kind=\"send_would_block\"", family),
             stats->send_would_block);
  }

  w.family("tun_packets_total", "counter", "Packets read from and written to the TUN device.");
  w.sample("tun_packets_total", "direction=\"read\"", m.tun.packets_read);
  w.sample("tun_packets_total", "direction=\"written\"", m.tun.packets_written);
  w.family("tun_errors_total", "counter", "TUN device errors and drops.");
  w.sample("tun_errors_total", "kind=\"read\"", m.tun.read_errors + m.tun.dropped_oversized);
  w.sample("tun_errors_total", "kind=\"write\"", m.tun.write_errors);
  w.sample("tun_errors_total", "kind=\"write_would_block\"", m.tun.write_would_block);
  return out;
}

std::uint64_t resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0;
  std::uint64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  return resident_pages * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

}  // namespace fz::app
