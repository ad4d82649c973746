// fz-client: the headless Firezone test client. A thin I/O shell around ClientState: one Asio
// loop, the TUN device, one UDP socket per family (fwmark set, so its traffic bypasses the
// tunnel routes), the portal WebSocket on the `client` channel, and one timer. After every input
// it drains the state machine's outputs and re-arms the timer.
//
// stdout carries only JSON lines (status and flow events), logs go to stderr:
//   {"event":"status","gateway":"…","state":"connected","path":"direct","established_ms":123,
//    "tx_bytes":…,"rx_bytes":…}
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <sstream>

#include "base/encoding.hpp"
#include "base/log.hpp"
#include "client_state.hpp"
#include "crypto/hash.hpp"
#include "crypto/rng.hpp"
#include "io/os_facts.hpp"
#include "io/portal_client.hpp"
#include "io/tun_device.hpp"
#include "io/udp_socket.hpp"
#include "login.hpp"
#include "portal/firezone_id.hpp"
#include "portal/login_url.hpp"
#include "portal/user_agent.hpp"

namespace asio = boost::asio;
using fz::Instant;

namespace {

constexpr const char* kLog = "fz-client";

struct Options {
  std::string api_url = "wss://api.firezone.dev/";
  std::string token;
  std::string id;
  std::string name;
  std::string tun_name = "tun-fzclient";
  double status_interval = 5.0;
  std::string log = "info";
  std::string version = std::string(fz::client::kClientVersion);
  std::string ca_file;
};

std::array<std::uint8_t, 32> os_random() {
  std::array<std::uint8_t, 32> seed{};
  std::size_t done = 0;
  while (done < seed.size()) {
    const ssize_t n = getrandom(seed.data() + done, seed.size() - done, 0);
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  return seed;
}

fz::UnixTime wall_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

void print_line(const nlohmann::ordered_json& line) {
  std::cout << line.dump() << std::endl;
}

class App {
 public:
  App(const Options& options, fz::crypto::SecretKey key, std::array<std::uint8_t, 32> seed,
      fz::io::TunDevice tun, fz::io::UdpSocket udp4, std::optional<fz::io::UdpSocket> udp6)
      : options_(options),
        rng_(seed),
        state_(std::move(key), next_seed(), fz::io::monotonic_now(), wall_now()),
        tun_(std::move(tun)),
        udp4_(std::move(udp4)),
        udp6_(std::move(udp6)),
        tun_wait_(io_, ::dup(tun_.fd())),
        udp4_wait_(io_, ::dup(udp4_.fd())),
        timer_(io_),
        status_timer_(io_),
        signals_(io_, SIGINT, SIGTERM) {
    if (udp6_) udp6_wait_.emplace(io_, ::dup(udp6_->fd()));
    for (auto& slot : slots_)
      slot = fz::io::RecvSlot(fz::io::kMaxGroBufferSize);
  }

  int run(const std::string& external_id, const std::string& name) {
    auto login = fz::client::client_login_url(options_.api_url, options_.token, external_id, name,
                                              state_.public_key());
    if (!login) {
      FZ_ERROR(kLog, "{}", login.error().to_string());
      return 2;
    }
    fz::portal::ChannelConfig config;
    config.url = login->url;
    config.redacted_url = login->redacted;
    config.user_agent = fz::portal::user_agent(fz::io::gather_os_facts(), options_.version);
    config.topic = "client";
    config.raw_ingress = true;
    FZ_INFO(kLog, "connecting to {} as {} ({})", login->redacted, name, config.user_agent);
    fz::io::WebSocketOptions ws;
    // Marked like the UDP sockets, so the portal connection bypasses the tunnel routes (an
    // internet resource routes everything into the tunnel).
    ws.fwmark = fz::io::kFirezoneMark;
    if (!options_.ca_file.empty()) ws.extra_ca_file = options_.ca_file;
    portal_.emplace(io_, std::move(config), rng_,
                    fz::io::PortalHandlers{
                        .on_joined = [] { FZ_INFO(kLog, "joined the client channel"); },
                        .on_message = {},
                        .on_reconnect = {},
                        .on_fatal =
                            [this](const fz::portal::Fatal& f) {
                              FZ_ERROR(kLog, "portal: {}", f.message);
                              exit_code_ = 1;
                              io_.stop();
                            },
                        .on_closed = [this] { io_.stop(); },
                    },
                    std::move(ws));
    portal_->set_raw_handler([this](fz::portal::RawMessage m) {
      state_.handle_portal_message(m.event, m.payload, fz::io::monotonic_now());
      drain();
    });
    signals_.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      FZ_INFO(kLog, "shutting down");
      portal_->close();
      io_.stop();
    });
    wait_tun();
    wait_udp(udp4_, udp4_wait_);
    if (udp6_) wait_udp(*udp6_, *udp6_wait_);
    arm_status_timer();
    portal_->start();
    drain();
    io_.run();
    return exit_code_;
  }

 private:
  std::array<std::uint8_t, 32> next_seed() {
    std::array<std::uint8_t, 32> s{};
    rng_.fill(s);
    return s;
  }

  void wait_tun() {
    tun_wait_.async_wait(asio::posix::stream_descriptor::wait_read,
                         [this](boost::system::error_code ec) {
                           if (ec) return;
                           read_tun();
                           wait_tun();
                         });
  }

  // Buffers are recycled through pool_: after warm-up no packet allocates.
  fz::PacketBuffer acquire() { return pool_.acquire(); }
  void release(fz::PacketBuffer buffer) { pool_.release(std::move(buffer)); }

  void read_tun() {
    for (int round = 0; round < 8; ++round) {
      std::array<fz::PacketBuffer*, kBatch> ptrs{};
      while (tun_buffers_.size() < kBatch)
        tun_buffers_.push_back(acquire());
      for (std::size_t i = 0; i < kBatch; ++i)
        ptrs[i] = &tun_buffers_[i];
      const std::size_t n = tun_.read_batch(ptrs);
      const Instant now = fz::io::monotonic_now();
      for (std::size_t i = 0; i < n; ++i)
        state_.handle_tun_input(std::move(tun_buffers_[i]), now);
      tun_buffers_.erase(tun_buffers_.begin(),
                         tun_buffers_.begin() + static_cast<std::ptrdiff_t>(n));
      drain();
      if (n < kBatch) break;
    }
  }

  void wait_udp(fz::io::UdpSocket& socket, asio::posix::stream_descriptor& wait) {
    wait.async_wait(asio::posix::stream_descriptor::wait_read,
                    [this, &socket, &wait](boost::system::error_code ec) {
                      if (ec) return;
                      read_udp(socket);
                      wait_udp(socket, wait);
                    });
  }

  void read_udp(fz::io::UdpSocket& socket) {
    for (int round = 0; round < 8; ++round) {
      const std::size_t n = socket.recv_batch(slots_);
      const Instant now = fz::io::monotonic_now();
      for (std::size_t i = 0; i < n; ++i) {
        auto& slot = slots_[i];
        for (std::size_t s = 0; s < slot.segment_count(); ++s) {
          fz::PacketBuffer buffer = acquire();
          if (!buffer.assign(slot.segment(s), fz::p2p::kHeadroom)) {
            release(std::move(buffer));
            continue;
          }
          state_.handle_network_input(slot.local, slot.source, std::move(buffer), now);
        }
      }
      drain();
      if (n == 0) break;
    }
  }

  // Moves every output of the state machine to where it goes, then re-arms the timer.
  void drain() {
    while (auto t = state_.poll_transmit()) {
      auto& pending = t->dst.family() == fz::net::IpFamily::v4 ? pending4_ : pending6_;
      pending.push_back(std::move(*t));
      if (pending.size() == kBatch) flush(pending);
    }
    flush(pending4_);
    flush(pending6_);
    // One batch per drain, so that the device can coalesce TCP segments (TUN offloads); a full
    // device queue drops the rest, as the kernel would for a full txqueue.
    while (auto p = state_.poll_tun_packet())
      tun_out_.push_back(std::move(*p));
    if (const std::size_t written = tun_.write_batch(std::span<const fz::PacketBuffer>(tun_out_));
        written < tun_out_.size())
      FZ_DEBUG(kLog, "TUN queue full; dropped {} packet(s)", tun_out_.size() - written);
    for (auto& b : tun_out_)
      release(std::move(b));
    tun_out_.clear();
    while (auto e = state_.poll_event())
      handle_event(std::move(*e));
    report_changes();
    arm_timer();
  }

  // Sends queued datagrams in one batch (GSO where the socket has it); what the socket does not
  // take is dropped, as a full socket buffer would.
  void flush(std::vector<fz::p2p::Transmit>& pending) {
    if (pending.empty()) return;
    fz::io::UdpSocket* socket = &pending == &pending4_ ? &udp4_ : udp6_ ? &*udp6_ : nullptr;
    if (socket != nullptr) {
      out_.clear();
      for (const auto& t : pending)
        out_.push_back(fz::io::OutDatagram{t.src ? std::optional(t.src->ip) : std::nullopt, t.dst,
                                           t.payload.span()});
      const std::size_t sent = socket->send_batch(out_);
      if (sent < out_.size())
        FZ_DEBUG(kLog, "UDP socket full; dropped {} datagram(s)", out_.size() - sent);
    }
    for (auto& t : pending)
      release(std::move(t.payload));
    pending.clear();
  }

  void handle_event(fz::client::Event e) {
    using namespace fz::client::event;
    if (auto* m = std::get_if<PortalMessage>(&e)) {
      portal_->send_raw(m->event, std::move(m->payload));
    } else if (auto* t = std::get_if<TunConfig>(&e)) {
      if (auto s = tun_.configure(t->ipv4, t->ipv6); !s)
        FZ_ERROR(kLog, "cannot configure {}: {}", tun_.name(), s.error().to_string());
      if (auto s = tun_.set_routes(t->routes); !s)
        FZ_ERROR(kLog, "cannot set routes on {}: {}", tun_.name(), s.error().to_string());
      FZ_INFO(kLog, "{} has {} and {}, {} routes", tun_.name(), t->ipv4.to_string(),
              t->ipv6.to_string(), t->routes.size());
      nlohmann::ordered_json line{{"event", "tun_configured"},
                                  {"ipv4", t->ipv4.to_string()},
                                  {"ipv6", t->ipv6.to_string()}};
      print_line(line);
    } else if (auto* f = std::get_if<FlowCreated>(&e)) {
      print_line({{"event", "flow_created"},
                  {"resource", f->resource.to_string()},
                  {"gateway", f->gateway.to_string()}});
    } else if (auto* f = std::get_if<FlowCreationFailed>(&e)) {
      print_line({{"event", "flow_creation_failed"},
                  {"resource", f->resource.to_string()},
                  {"reason", f->reason}});
    } else if (std::holds_alternative<ConnectionEstablished>(e)) {
      // Reported by the status line that follows.
    } else if (auto* c = std::get_if<ConnectionClosed>(&e)) {
      last_reported_.erase(c->gateway);
      print_line({{"event", "status"},
                  {"gateway", c->gateway.to_string()},
                  {"state", "closed"},
                  {"reason", c->reason},
                  {"path", "none"},
                  {"established_ms", nullptr},
                  {"tx_bytes", 0},
                  {"rx_bytes", 0}});
    } else if (auto* d = std::get_if<DomainStatus>(&e)) {
      print_line({{"event", "domain_status"},
                  {"gateway", d->gateway.to_string()},
                  {"domain", d->domain},
                  {"status", d->active ? "active" : "inactive"}});
    } else if (std::holds_alternative<ReconnectPortal>(e)) {
      portal_->reconnect();
    }
  }

  static nlohmann::ordered_json status_line(const fz::client::ConnectionStatus& s) {
    nlohmann::ordered_json line;
    line["event"] = "status";
    line["gateway"] = s.gateway.to_string();
    line["state"] = std::string(fz::p2p::to_string(s.state));
    line["path"] = std::string(fz::client::path_class(s.path));
    line["path_kind"] = std::string(fz::p2p::to_string(s.path));
    if (s.established_after) {
      line["established_ms"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(*s.established_after).count();
    } else {
      line["established_ms"] = nullptr;
    }
    line["tx_bytes"] = s.tx_bytes;
    line["rx_bytes"] = s.rx_bytes;
    return line;
  }

  // One status line per connection whose state, path or establishment changed.
  void report_changes() {
    for (const auto& s : state_.connections()) {
      const auto key = std::make_tuple(s.state, s.path, s.established_after.has_value());
      auto it = last_reported_.find(s.gateway);
      if (it != last_reported_.end() && it->second == key) continue;
      last_reported_[s.gateway] = key;
      print_line(status_line(s));
    }
  }

  void arm_status_timer() {
    if (options_.status_interval <= 0) return;
    status_timer_.expires_after(
        std::chrono::milliseconds(static_cast<std::int64_t>(options_.status_interval * 1000)));
    status_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      for (const auto& s : state_.connections())
        print_line(status_line(s));
      arm_status_timer();
    });
  }

  void arm_timer() {
    const auto deadline = state_.poll_timeout();
    if (!deadline) {
      timer_.cancel();
      return;
    }
    const auto delay = std::max(*deadline - fz::io::monotonic_now(), fz::Duration::zero());
    timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      state_.handle_timeout(fz::io::monotonic_now());
      drain();
    });
  }

  static constexpr std::size_t kBatch = 32;

  Options options_;
  fz::crypto::ChaChaRng rng_;
  fz::client::ClientState state_;
  asio::io_context io_;
  fz::io::TunDevice tun_;
  fz::io::UdpSocket udp4_;
  std::optional<fz::io::UdpSocket> udp6_;
  asio::posix::stream_descriptor tun_wait_;
  asio::posix::stream_descriptor udp4_wait_;
  std::optional<asio::posix::stream_descriptor> udp6_wait_;
  asio::steady_timer timer_;
  asio::steady_timer status_timer_;
  asio::signal_set signals_;
  std::optional<fz::io::PortalClient> portal_;
  static constexpr std::size_t kMaxSpare = 512;
  std::vector<fz::PacketBuffer> tun_buffers_;
  fz::BufferPool pool_{fz::client::ClientState::kBufferCapacity + 64, fz::p2p::kHeadroom,
                       kMaxSpare};
  std::vector<fz::PacketBuffer> tun_out_;
  std::vector<fz::p2p::Transmit> pending4_;
  std::vector<fz::p2p::Transmit> pending6_;
  std::vector<fz::io::OutDatagram> out_;
  std::array<fz::io::RecvSlot, kBatch> slots_;
  std::map<fz::Uuid, std::tuple<fz::p2p::ConnectionState, fz::p2p::PathKind, bool>> last_reported_;
  int exit_code_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App cli{"fz-client: headless Firezone test client (Linux, needs root for the TUN device)"};
  cli.add_option("-u,--api-url", options.api_url, "Portal URL (ws, wss, http, https)")
      ->envname("FIREZONE_API_URL")
      ->capture_default_str();
  cli.add_option("--token", options.token, "Client token (or FIREZONE_TOKEN)")
      ->envname("FIREZONE_TOKEN");
  cli.add_option("-i,--id", options.id,
                 "Device id (FIREZONE_ID); default: a new random id for this run")
      ->envname("FIREZONE_ID");
  cli.add_option("-n,--name", options.name, "Device name (FIREZONE_NAME); default: host name")
      ->envname("FIREZONE_NAME");
  cli.add_option("--tun-name", options.tun_name, "TUN device name")->capture_default_str();
  cli.add_option("--status-interval", options.status_interval,
                 "Seconds between periodic status lines (0: only on changes)")
      ->capture_default_str();
  cli.add_option("--log", options.log, "Log filter, RUST_LOG syntax")->envname("RUST_LOG");
  cli.add_option("--connlib-version", options.version, "Version claimed in the User-Agent")
      ->capture_default_str();
  cli.add_option("--ca-file", options.ca_file, "Extra trusted CA certificates (PEM) for wss://");
  CLI11_PARSE(cli, argc, argv);
  ::unsetenv("FIREZONE_TOKEN");

  fz::log::set_writer([](fz::log::Level level, std::string_view target, std::string_view msg) {
    static const char* names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    const auto idx = static_cast<std::size_t>(level);
    std::fprintf(stderr, "%s %s: %.*s\n", idx < 6 ? names[idx] : "?", std::string(target).c_str(),
                 static_cast<int>(msg.size()), msg.data());
  });
  auto filter = fz::log::Filter::parse(options.log);
  if (!filter) {
    std::fprintf(stderr, "fz-client: invalid log filter: %s\n", filter.error().to_string().c_str());
    return 2;
  }
  fz::log::set_filter(*filter);
  if (options.token.empty()) {
    std::fprintf(stderr, "fz-client: a token is required (--token or FIREZONE_TOKEN)\n");
    return 2;
  }
  if (auto s = fz::portal::validate_protocol_version(options.version); !s) {
    std::fprintf(stderr, "fz-client: bad --connlib-version: %s\n", s.error().to_string().c_str());
    return 2;
  }

  fz::crypto::ChaChaRng rng(os_random());
  if (options.id.empty()) {
    // A fresh id per run: hex(SHA-256(random UUIDv4)), as the reference generates one.
    options.id = fz::portal::random_uuid_v4(rng);
  }
  const std::string external_id = fz::portal::external_id_for(options.id);
  std::string name = options.name;
  if (name.empty()) name = fz::io::host_name().value_or("fz-client");

  fz::io::TunOptions tun_options;
  tun_options.routes = {};
  auto tun = fz::io::TunDevice::create(options.tun_name, tun_options);
  if (!tun) {
    FZ_ERROR(kLog, "cannot create TUN device {}: {}", options.tun_name, tun.error().to_string());
    return 1;
  }
  fz::io::UdpOptions udp_options = fz::io::UdpOptions::from_env();
  auto udp4 = fz::io::UdpSocket::bind(fz::net::IpFamily::v4, 0, udp_options);
  if (!udp4) {
    FZ_ERROR(kLog, "cannot bind the IPv4 UDP socket: {}", udp4.error().to_string());
    return 1;
  }
  std::optional<fz::io::UdpSocket> udp6;
  if (auto s = fz::io::UdpSocket::bind(fz::net::IpFamily::v6, 0, udp_options)) {
    udp6.emplace(std::move(*s));
  } else {
    FZ_WARN(kLog, "no IPv6 UDP socket: {}", s.error().to_string());
  }
  FZ_INFO(kLog, "UDP port {} (IPv4){}", udp4->local_port(),
          udp6 ? fmt::format(", {} (IPv6)", udp6->local_port()) : std::string());

  auto key = fz::crypto::generate_secret_key(rng);
  std::array<std::uint8_t, 32> seed{};
  rng.fill(seed);
  App app(options, std::move(key), seed, std::move(*tun), std::move(*udp4), std::move(udp6));
  return app.run(external_id, name);
}
