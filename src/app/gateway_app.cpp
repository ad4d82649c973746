#include "app/gateway_app.hpp"

#include <sodium.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/metrics.hpp"
#include "base/encoding.hpp"
#include "base/log.hpp"
#include "crypto/rng.hpp"
#include "crypto/x25519.hpp"
#include "gateway/state.hpp"
#include "io/dns_forwarder.hpp"
#include "io/dns_resolver.hpp"
#include "io/firezone_id.hpp"
#include "io/health_server.hpp"
#include "io/os_facts.hpp"
#include "io/portal_client.hpp"
#include "io/tun_device.hpp"
#include "io/udp_socket.hpp"
#include "portal/login_url.hpp"
#include "portal/user_agent.hpp"

namespace fz::app {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kLog = "app";
// How long the goodbyes may take to leave (§11).
constexpr auto kShutdownFlushTimeout = std::chrono::seconds(1);
// Receive/read rounds per readiness event, so that one busy source cannot starve the others.
constexpr int kMaxRoundsPerWakeup = 8;
constexpr std::size_t kRecvSlots = 32;
constexpr std::size_t kTunBatch = 64;
// Datagrams kept while a socket is not writable; older ones are dropped beyond this.
constexpr std::size_t kMaxPendingDatagrams = 4096;
constexpr std::size_t kMaxSpareBuffers = 4096;

std::array<std::uint8_t, 32> os_random_seed() {
  std::array<std::uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  return seed;
}

UnixTime utc_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

asio::steady_timer::time_point to_steady(Instant t) {
  return asio::steady_timer::time_point(
      std::chrono::duration_cast<asio::steady_timer::duration>(t.time_since_epoch()));
}

class Gateway {
 public:
  Gateway(asio::io_context& io, const Config& config)
      : io_(io),
        config_(config),
        rng_(os_random_seed()),
        state_(crypto::generate_secret_key(rng_), os_random_seed(), io::monotonic_now(), utc_now()),
        timer_(io),
        shutdown_timer_(io),
        signals_(io, SIGINT, SIGTERM) {}

  Status start();
  int exit_code() const { return exit_code_; }

 private:
  struct Socket {
    std::optional<io::UdpSocket> socket;
    std::optional<asio::posix::stream_descriptor> wait;
    std::deque<p2p::Transmit> pending;
    bool waiting_writable = false;
  };

  Status open_sockets();
  void wait_readable(Socket& s);
  void wait_writable(Socket& s);
  void wait_tun();
  // Asio's epoll reactor is edge-triggered: a source that was not read until EAGAIN is read again
  // from a posted handler (after the other ready handlers ran), not after another wait.
  void read_udp(Socket& s);
  void read_tun();
  // Both return true when the source may still hold data (the per-wake-up bound was hit).
  bool on_udp_readable(Socket& s);
  bool on_tun_readable();
  void on_timer();

  // Drains the core after an input and re-arms the timer.
  void drain();
  void flush_socket(Socket& s);
  void handle_event(gateway::Event event);
  void configure_tun(const gateway::IpConfig& addresses);

  // What /readyz reports; the metrics' `ready` gauge says the same.
  io::Readiness readiness() const {
    if (shutting_down_) return io::Readiness{false, "shutting down"};
    if (!joined_) return io::Readiness{false, "not connected to the portal"};
    if (!tun_configured_) return io::Readiness{false, "TUN device not configured"};
    return io::Readiness{true, {}};
  }
  MetricsSnapshot metrics_snapshot() const;
  void begin_shutdown();
  void maybe_finish_shutdown();
  void fail(std::string message);

  PacketBuffer acquire() { return pool_.acquire(); }
  void release(PacketBuffer buffer) { pool_.release(std::move(buffer)); }

  asio::io_context& io_;
  const Config& config_;
  crypto::ChaChaRng rng_;
  gateway::GatewayState state_;

  Socket udp4_;
  Socket udp6_;
  std::optional<io::TunDevice> tun_;
  std::optional<asio::posix::stream_descriptor> tun_wait_;
  bool tun_configured_ = false;

  std::unique_ptr<io::DnsResolver> resolver_;
  std::unique_ptr<io::DnsForwarder> forwarder_;
  std::unique_ptr<io::PortalClient> portal_;
  std::unique_ptr<io::HealthServer> health_;
  bool joined_ = false;
  std::uint64_t portal_joins_ = 0;
  double start_time_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  bool portal_closed_ = false;

  asio::steady_timer timer_;
  std::optional<Instant> armed_;
  asio::steady_timer shutdown_timer_;
  asio::signal_set signals_;
  bool shutting_down_ = false;
  bool finished_ = false;
  int exit_code_ = 0;

  std::vector<io::RecvSlot> slots_;
  BufferPool pool_{gateway::kBufferCapacity, p2p::kHeadroom, kMaxSpareBuffers};
  std::vector<io::OutDatagram> out_;
  std::vector<PacketBuffer> tun_in_buffers_;
  // One drain's packets for the TUN device, written in one batch so that consecutive TCP
  // segments of a flow become one offloaded write (capacity kept between drains).
  std::vector<PacketBuffer> tun_out_;
};

Status Gateway::start() {
  // Identity and login URL first: configuration errors end the process before anything opens.
  auto identity = io::load_gateway_identity(config_.firezone_id, rng_);
  if (!identity) return identity.error();
  const std::string name = portal::gateway_name(config_.firezone_name, io::host_name(), rng_);
  auto login =
      portal::LoginUrl::gateway(config_.api_url, config_.token, identity->external_id, name);
  if (!login) return login.error();

  auto tun = io::TunDevice::create();
  if (!tun) return tun.error();
  tun_.emplace(std::move(*tun));
  tun_wait_.emplace(io_, ::dup(tun_->fd()));

  FZ_TRY_STATUS(open_sockets());

  health_ =
      std::make_unique<io::HealthServer>(io_, config_.health_check, [this] { return readiness(); });
  health_->set_metrics([this] { return render_metrics(metrics_snapshot()); });
  FZ_TRY_STATUS(health_->start());

  try {
    resolver_ = std::make_unique<io::DnsResolver>(io_, io::ResolverOptions{});
  } catch (const std::exception& e) {
    return Error(Errc::config, "cannot start the DNS resolver", e.what());
  }

  portal::ChannelConfig channel;
  channel.url = login->url(state_.public_key());
  channel.redacted_url = login->redacted(state_.public_key());
  channel.user_agent = portal::user_agent(io::gather_os_facts(), config_.protocol_version);
  FZ_INFO(kLog, "Gateway {} (external id {}), public key {}", name, identity->external_id,
          base64_encode(state_.public_key()));
  io::PortalHandlers handlers;
  handlers.on_joined = [this] {
    joined_ = true;
    ++portal_joins_;
    FZ_INFO(kLog, "Connected to the portal");
  };
  handlers.on_message = [this](portal::IngressMessage message) {
    state_.handle_portal_message(message, io::monotonic_now());
    drain();
  };
  handlers.on_reconnect = [this](const portal::ReconnectAfter&) { joined_ = false; };
  handlers.on_fatal = [this](const portal::Fatal& fatal) { fail(fatal.message); };
  handlers.on_closed = [this] {
    portal_closed_ = true;
    joined_ = false;
    maybe_finish_shutdown();
  };
  io::WebSocketOptions websocket;
  websocket.fwmark = io::kFirezoneMark;
  portal_ = std::make_unique<io::PortalClient>(io_, std::move(channel), rng_, std::move(handlers),
                                               std::move(websocket));
  portal_->start();

  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    FZ_INFO(kLog, "Received signal {}; shutting down gracefully", signal);
    begin_shutdown();
    signals_.async_wait([this](const boost::system::error_code& ec2, int) {
      if (ec2) return;
      FZ_INFO(kLog, "Second signal: exiting now");
      exit_code_ = 0;
      finished_ = true;
      io_.stop();
    });
  });

  slots_.reserve(kRecvSlots);
  for (std::size_t i = 0; i < kRecvSlots; ++i)
    slots_.emplace_back(io::kMaxGroBufferSize, 0);
  wait_readable(udp4_);
  wait_readable(udp6_);
  wait_tun();
  drain();
  return {};
}

Status Gateway::open_sockets() {
  const io::UdpOptions options = io::UdpOptions::from_env();
  auto v4 = io::UdpSocket::bind(net::IpFamily::v4, io::kDefaultUdpPort, options);
  auto v6 = io::UdpSocket::bind(net::IpFamily::v6, io::kDefaultUdpPort, options);
  if (!v4 && !v6) return v4.error();
  if (v4) {
    FZ_INFO(kLog, "Listening on 0.0.0.0:{}", v4->local_port());
    udp4_.socket.emplace(std::move(*v4));
    udp4_.wait.emplace(io_, ::dup(udp4_.socket->fd()));
  } else {
    FZ_WARN(kLog, "No IPv4 socket: {}", v4.error().to_string());
  }
  if (v6) {
    FZ_INFO(kLog, "Listening on [::]:{}", v6->local_port());
    udp6_.socket.emplace(std::move(*v6));
    udp6_.wait.emplace(io_, ::dup(udp6_.socket->fd()));
  } else {
    FZ_WARN(kLog, "No IPv6 socket: {}", v6.error().to_string());
  }
  return {};
}

void Gateway::wait_readable(Socket& s) {
  if (!s.wait) return;
  s.wait->async_wait(asio::posix::stream_descriptor::wait_read,
                     [this, &s](const boost::system::error_code& ec) {
                       if (ec) return;
                       read_udp(s);
                     });
}

void Gateway::read_udp(Socket& s) {
  if (finished_) return;
  if (on_udp_readable(s)) {
    asio::post(io_, [this, &s] { read_udp(s); });
  } else {
    wait_readable(s);
  }
}

void Gateway::read_tun() {
  if (finished_) return;
  if (on_tun_readable()) {
    asio::post(io_, [this] { read_tun(); });
  } else {
    wait_tun();
  }
}

void Gateway::wait_writable(Socket& s) {
  if (!s.wait || s.waiting_writable) return;
  s.waiting_writable = true;
  s.wait->async_wait(asio::posix::stream_descriptor::wait_write,
                     [this, &s](const boost::system::error_code& ec) {
                       s.waiting_writable = false;
                       if (ec) return;
                       flush_socket(s);
                       maybe_finish_shutdown();
                     });
}

void Gateway::wait_tun() {
  tun_wait_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& ec) {
                          if (ec) return;
                          read_tun();
                        });
}

bool Gateway::on_udp_readable(Socket& s) {
  const Instant now = io::monotonic_now();
  bool more = true;
  for (int round = 0; round < kMaxRoundsPerWakeup && more; ++round) {
    const std::size_t n = s.socket->recv_batch(slots_);
    more = n == slots_.size();
    for (std::size_t i = 0; i < n; ++i) {
      io::RecvSlot& slot = slots_[i];
      for (std::size_t j = 0; j < slot.segment_count(); ++j) {
        PacketBuffer buffer = acquire();
        if (!buffer.assign(slot.segment(j), p2p::kHeadroom)) continue;
        state_.handle_network_input(slot.local, slot.source, std::move(buffer), now);
      }
    }
  }
  drain();
  return more;
}

bool Gateway::on_tun_readable() {
  const Instant now = io::monotonic_now();
  std::array<PacketBuffer*, kTunBatch> pointers{};
  std::vector<PacketBuffer>& buffers = tun_in_buffers_;  // kept between wake-ups: no allocation
  bool more = true;
  for (int round = 0; round < kMaxRoundsPerWakeup && more; ++round) {
    while (buffers.size() < kTunBatch)
      buffers.push_back(acquire());
    for (std::size_t i = 0; i < kTunBatch; ++i)
      pointers[i] = &buffers[i];
    const std::size_t n = tun_->read_batch(pointers);
    for (std::size_t i = 0; i < n; ++i)
      state_.handle_tun_input(std::move(buffers[i]), now);
    buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(n));
    more = n == kTunBatch;
  }
  // The buffers that received nothing stay in tun_in_buffers_ for the next wake-up.
  if (tun_->stats().closed) {
    fail("the TUN device was closed");
    return false;
  }
  drain();
  return more;
}

void Gateway::on_timer() {
  armed_.reset();
  state_.handle_timeout(io::monotonic_now(), utc_now());
  drain();
}

void Gateway::drain() {
  if (finished_) return;
  while (auto t = state_.poll_transmit()) {
    Socket& s = t->dst.family() == net::IpFamily::v4 ? udp4_ : udp6_;
    if (!s.socket) continue;
    if (s.pending.size() >= kMaxPendingDatagrams) {
      release(std::move(s.pending.front().payload));
      s.pending.pop_front();
    }
    s.pending.push_back(std::move(*t));
  }
  flush_socket(udp4_);
  flush_socket(udp6_);

  // A full device queue drops the packets, as the kernel would for a full txqueue.
  while (auto p = state_.poll_tun_packet())
    tun_out_.push_back(std::move(*p));
  if (!tun_out_.empty()) {
    (void)tun_->write_batch(std::span<const PacketBuffer>(tun_out_));
    for (PacketBuffer& p : tun_out_)
      release(std::move(p));
    tun_out_.clear();
  }

  while (auto e = state_.poll_event())
    handle_event(std::move(*e));

  const std::optional<Instant> deadline = state_.poll_timeout();
  if (deadline != armed_) {
    armed_ = deadline;
    if (deadline) {
      timer_.expires_at(to_steady(*deadline));
      timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) on_timer();
      });
    } else {
      timer_.cancel();
    }
  }
  maybe_finish_shutdown();
}

MetricsSnapshot Gateway::metrics_snapshot() const {
  MetricsSnapshot m;
  m.version = FZ_VERSION;
  m.protocol_version = config_.protocol_version;
  m.ready = readiness().ready;
  m.portal_joined = joined_;
  m.portal_joins = portal_joins_;
  m.clients = state_.peers().size();
  m.connections = state_.node().connection_counts();
  m.relays = state_.node().num_relays();
  m.gateway = state_.stats();
  if (udp4_.socket) m.udp4 = udp4_.socket->stats();
  if (udp6_.socket) m.udp6 = udp6_.socket->stats();
  if (tun_) m.tun = tun_->stats();
  m.resident_memory_bytes = resident_memory_bytes();
  m.start_time_seconds = start_time_;
  return m;
}

void Gateway::flush_socket(Socket& s) {
  if (!s.socket || s.pending.empty()) return;
  while (!s.pending.empty()) {
    out_.clear();
    for (const auto& t : s.pending) {
      out_.push_back(
          io::OutDatagram{t.src ? std::optional(t.src->ip) : std::nullopt, t.dst, t.bytes()});
      if (out_.size() == 64) break;
    }
    const std::size_t sent = s.socket->send_batch(out_);
    for (std::size_t i = 0; i < sent; ++i) {
      release(std::move(s.pending.front().payload));
      s.pending.pop_front();
    }
    if (sent < out_.size()) {
      wait_writable(s);
      return;
    }
  }
}

void Gateway::handle_event(gateway::Event event) {
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, gateway::event::PortalMessage>) {
          if (!shutting_down_) portal_->send(e.message);
        } else if constexpr (std::is_same_v<T, gateway::event::ResolveDns>) {
          resolver_->resolve(e.request.domain,
                             [this, request = e](Result<std::vector<net::IpAddr>> result) {
                               if (finished_) return;
                               state_.handle_domain_resolved(request, result, io::monotonic_now());
                               drain();
                             });
        } else if constexpr (std::is_same_v<T, gateway::event::TunConfigChanged>) {
          configure_tun(e.addresses);
        } else if constexpr (std::is_same_v<T, gateway::event::NoTurnServers>) {
          portal_->reconnect();
        }
      },
      event);
}

void Gateway::configure_tun(const gateway::IpConfig& addresses) {
  if (auto st = tun_->configure(addresses.v4, addresses.v6); !st) {
    fail("cannot configure the TUN device: " + st.error().to_string());
    return;
  }
  tun_configured_ = true;
  FZ_INFO(kLog, "TUN device {} has {} and {}", tun_->name(), addresses.v4.to_string(),
          addresses.v6.to_string());
  // §7: the DNS forwarder listens on the tunnel addresses.
  if (forwarder_) forwarder_->stop();
  forwarder_ = std::make_unique<io::DnsForwarder>(
      io_,
      std::vector<net::SocketAddr>{{addresses.v4, io::kTunDnsPort},
                                   {addresses.v6, io::kTunDnsPort}},
      std::vector<net::SocketAddr>{}, io::ForwarderOptions{});
  if (auto st = forwarder_->start(); !st)
    FZ_ERROR(kLog, "DNS forwarder on port {} failed: {}", io::kTunDnsPort, st.error().to_string());
}

void Gateway::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  portal_->close();
  state_.shutdown(io::monotonic_now());
  shutdown_timer_.expires_after(kShutdownFlushTimeout);
  shutdown_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || finished_) return;
    const bool flushed = state_.is_flushed() && udp4_.pending.empty() && udp6_.pending.empty();
    if (flushed) {
      FZ_INFO(kLog, "Goodbye!");
    } else {
      FZ_ERROR(kLog, "Graceful shutdown failed: goodbyes not flushed within 1 s");
    }
    exit_code_ = flushed ? 0 : 1;
    finished_ = true;
    io_.stop();
  });
  drain();
}

void Gateway::maybe_finish_shutdown() {
  if (!shutting_down_ || finished_) return;
  if (!state_.is_flushed() || !udp4_.pending.empty() || !udp6_.pending.empty()) return;
  if (!portal_closed_) return;
  FZ_INFO(kLog, "Goodbye!");
  exit_code_ = 0;
  finished_ = true;
  io_.stop();
}

void Gateway::fail(std::string message) {
  FZ_ERROR(kLog, "{}", redact(std::move(message), config_.token));
  exit_code_ = 1;
  finished_ = true;
  io_.stop();
}

}  // namespace

bool has_net_admin() {
  if (::geteuid() == 0) return true;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
    constexpr unsigned kCapNetAdmin = 12;
    return ((caps >> kCapNetAdmin) & 1u) != 0;
  }
  return false;
}

int run_gateway(const Config& config) {
  if (!config.no_check && !has_net_admin()) {
    FZ_ERROR(kLog, "{}", kNeedsNetAdmin);
    return 1;
  }
  if (sodium_init() < 0) {
    FZ_ERROR(kLog, "libsodium failed to initialise");
    return 1;
  }
  asio::io_context io;
  // Without this the process would die on a write to a closed socket.
  std::signal(SIGPIPE, SIG_IGN);
  Gateway gateway(io, config);
  if (auto st = gateway.start(); !st) {
    FZ_ERROR(kLog, "{}", redact(st.error().to_string(), config.token));
    return 1;
  }
  io.run();
  return gateway.exit_code();
}

}  // namespace fz::app
