// Interop harness: our sans-IO TURN allocation against a real TURN server (coturn), driven with a
// real UDP socket and the real clock. Run by turn_interop.sh inside a network namespace.
//
// Steps, each with a deadline: allocate (and check the relayed addresses), bind channels to the
// echo peers and get echoes back through ChannelData, see a REFRESH succeed, survive a server
// restart (the driver restarts it when we print RESTART and touch the --resume file), and delete
// the allocation with REFRESH(LIFETIME=0). Exit 0 on success, 1 on failure.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "crypto/rng.hpp"
#include "stun/message.hpp"
#include "turn/allocation.hpp"

using namespace fz;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  net::SocketAddr local;
  net::SocketAddr relay;
  std::string user = "fz";
  std::string password = "secret";
  std::string realm = "firezone";
  std::vector<net::SocketAddr> peers;
  turn::DualStackAttribute dual_stack = turn::DualStackAttribute::rfc8656;
  bool expect_v6_relay = false;
  bool expect_no_v6_relay = false;
  std::string resume_file;  // empty: no restart step
};

[[noreturn]] void fail(const std::string& why) {
  std::printf("FAIL: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(1);
}

class Harness {
 public:
  explicit Harness(Options options)
      : options_(std::move(options)), rng_(seed()), start_(Clock::now()) {
    const bool v6 = options_.local.ip.is_v6();
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (fd_ < 0) fail("socket");
    sockaddr_storage ss{};
    socklen_t len = to_sockaddr(options_.local, ss);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("bind");
    allocation_.emplace(turn::RelaySocket{v6 ? std::nullopt : std::optional(options_.relay),
                                          v6 ? std::optional(options_.relay) : std::nullopt},
                        turn::Credentials(options_.user, options_.password, options_.realm),
                        turn::AllocationOptions{"fz-gateway turn interop", options_.dual_stack},
                        rng_, now());
  }

  Instant now() const { return Instant{} + (Clock::now() - start_); }
  double seconds() const { return to_millis(now() - Instant{}) / 1000.0; }
  turn::Allocation& allocation() { return *allocation_; }

  // Drives the allocation until `done()` or the deadline; false on timeout.
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const Instant deadline = now() + limit;
    while (!done()) {
      if (now() >= deadline) return false;
      flush();
      Instant wake = deadline;
      if (auto t = allocation_->poll_timeout(); t && *t < wake) wake = *t;
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now());
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::clamp<long>(wait.count(), 0, 50)));
      if (ready > 0) receive();
      allocation_->handle_timeout(now());
      flush();
    }
    return true;
  }

  void send_echo(const net::SocketAddr& peer, const std::string& text) {
    PacketBuffer buffer(2048, 64);
    buffer.assign(Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 64);
    if (auto dst = allocation_->encapsulate(peer, buffer, now())) send_to(*dst, buffer.span());
  }

  // Sends to `peer` every 200 ms until the echo of `text` comes back.
  bool echo(const net::SocketAddr& peer, const std::string& text, Duration limit) {
    Instant next_send = now();
    return run_until(
        [&] {
          if (now() >= next_send) {
            send_echo(peer, text);
            next_send = now() + 200ms;
          }
          return echoes_[peer] == text;
        },
        limit);
  }

  std::vector<turn::Event> events;
  std::size_t refresh_successes = 0;
  std::size_t delete_successes = 0;

 private:
  static std::array<std::uint8_t, 32> seed() {
    std::array<std::uint8_t, 32> s{};
    const auto t = Clock::now().time_since_epoch().count();
    std::memcpy(s.data(), &t, sizeof t);
    return s;
  }

  static socklen_t to_sockaddr(const net::SocketAddr& a, sockaddr_storage& ss) {
    if (a.ip.is_v4()) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(a.port);
      std::memcpy(&sin->sin_addr, a.ip.bytes().data(), 4);
      return sizeof(sockaddr_in);
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a.port);
    std::memcpy(&sin6->sin6_addr, a.ip.bytes().data(), 16);
    return sizeof(sockaddr_in6);
  }

  static net::SocketAddr from_sockaddr(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      return {
          *net::IpAddr::from_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(&sin->sin_addr), 4)),
          ntohs(sin->sin_port)};
    }
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    return {*net::IpAddr::from_bytes(
                Bytes(reinterpret_cast<const std::uint8_t*>(&sin6->sin6_addr), 16)),
            ntohs(sin6->sin6_port)};
  }

  void send_to(const net::SocketAddr& dst, Bytes payload) {
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(dst, ss);
    ::sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
  }

  void flush() {
    while (auto t = allocation_->poll_transmit())
      send_to(t->dst, t->payload);
    while (auto e = allocation_->poll_event()) {
      std::visit(
          [&](const auto& ev) {
            using T = std::decay_t<decltype(ev)>;
            if constexpr (std::is_same_v<T, turn::CandidateNew>) {
              std::printf("[%7.3f] new %s candidate %s\n", seconds(),
                          std::string(to_string(ev.candidate.kind)).c_str(),
                          ev.candidate.addr.to_string().c_str());
            } else if constexpr (std::is_same_v<T, turn::CandidateInvalidated>) {
              std::printf("[%7.3f] invalidated %s candidate %s\n", seconds(),
                          std::string(to_string(ev.candidate.kind)).c_str(),
                          ev.candidate.addr.to_string().c_str());
            } else if constexpr (std::is_same_v<T, turn::RelayFailed>) {
              std::printf("[%7.3f] relay failed: %s\n", seconds(),
                          std::string(to_string(ev.reason)).c_str());
            } else {
              std::printf("[%7.3f] deallocated\n", seconds());
            }
          },
          e.value());
      events.push_back(*e);
    }
    std::fflush(stdout);
  }

  void receive() {
    std::array<std::uint8_t, 2048> buf;
    while (true) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&ss), &len);
      if (n <= 0) return;
      const Bytes datagram(buf.data(), static_cast<std::size_t>(n));
      const auto from = from_sockaddr(ss);
      if (turn::looks_like_channel_data(datagram)) {
        if (auto d = allocation_->decapsulate(from, datagram, now())) {
          echoes_[d->peer] = std::string(d->payload.begin(), d->payload.end());
        }
        continue;
      }
      if (auto m = stun::Message::parse(datagram);
          m && m->method() == stun::Method::refresh && m->message_class() == stun::Class::success) {
        // Counted before the allocation checks it: only a signed success changes its state.
        if (m->u32(stun::attr::lifetime) == 0u) {
          ++delete_successes;
        } else {
          ++refresh_successes;
        }
      }
      allocation_->handle_input(from, options_.local, datagram, now());
    }
  }

  Options options_;
  crypto::ChaChaRng rng_;
  Clock::time_point start_;
  int fd_ = -1;
  std::optional<turn::Allocation> allocation_;
  std::map<net::SocketAddr, std::string> echoes_;
};

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("missing value for " + arg);
      return argv[++i];
    };
    auto socket = [&](const std::string& text) {
      auto a = net::SocketAddr::parse(text);
      if (!a) fail("bad address " + text);
      return *a;
    };
    if (arg == "--local")
      o.local = socket(value());
    else if (arg == "--relay")
      o.relay = socket(value());
    else if (arg == "--user")
      o.user = value();
    else if (arg == "--password")
      o.password = value();
    else if (arg == "--realm")
      o.realm = value();
    else if (arg == "--peer")
      o.peers.push_back(socket(value()));
    else if (arg == "--resume-file")
      o.resume_file = value();
    else if (arg == "--expect-v6-relay")
      o.expect_v6_relay = true;
    else if (arg == "--expect-no-v6-relay")
      o.expect_no_v6_relay = true;
    else if (arg == "--dual-stack") {
      const std::string v = value();
      if (v == "rfc8656")
        o.dual_stack = turn::DualStackAttribute::rfc8656;
      else if (v == "draft")
        o.dual_stack = turn::DualStackAttribute::draft;
      else if (v == "none")
        o.dual_stack = turn::DualStackAttribute::none;
      else
        fail("bad --dual-stack " + v);
    } else {
      fail("unknown argument " + arg);
    }
  }
  return o;
}

template <class T>
std::size_t count(const std::vector<turn::Event>& events) {
  std::size_t n = 0;
  for (const auto& e : events)
    n += std::holds_alternative<T>(e);
  return n;
}

void step(Harness& h, const char* name, bool ok) {
  if (!ok) fail(std::string(name) + " timed out");
  std::printf("[%7.3f] OK %s\n", h.seconds(), name);
  std::fflush(stdout);
}

bool relay_failed(const std::vector<turn::Event>& events) {
  return count<turn::RelayFailed>(events) > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_args(argc, argv);
  log::set_filter(*log::Filter::parse("info,turn=debug"));
  Harness h(options);
  auto& a = h.allocation();

  // 1. Allocate.
  step(h, "allocate",
       h.run_until([&] { return a.has_allocation() || relay_failed(h.events); }, 10s) &&
           a.has_allocation());
  const auto relay4 = a.relay_candidate(net::IpFamily::v4);
  const auto relay6 = a.relay_candidate(net::IpFamily::v6);
  std::printf("relayed v4=%s v6=%s\n", relay4 ? relay4->addr.to_string().c_str() : "-",
              relay6 ? relay6->addr.to_string().c_str() : "-");
  if (options.expect_v6_relay && !relay6) fail("expected an IPv6 relayed address");
  if (options.expect_no_v6_relay && relay6) fail("expected no IPv6 relayed address");

  // 2.+3. Channels and echoes, through every relayed family we have.
  auto echo_all = [&](const char* round) {
    for (const auto& peer : options.peers) {
      if (!a.relay_candidate(peer.family())) continue;
      const std::string text = std::string("fz-echo ") + round + " " + peer.to_string();
      step(h, (std::string("echo ") + round + " via " + peer.to_string()).c_str(),
           h.echo(peer, text, 5s));
    }
  };
  echo_all("first");

  // 4. Refresh (the server caps the lifetime, so one is due within seconds).
  step(h, "refresh", h.run_until([&] { return h.refresh_successes >= 1; }, 15s));
  if (!a.has_allocation()) fail("allocation lost after refresh");
  echo_all("after-refresh");

  // 5. Server restart.
  if (!options.resume_file.empty()) {
    const std::size_t invalidations = count<turn::CandidateInvalidated>(h.events);
    std::printf("RESTART\n");
    std::fflush(stdout);
    step(h, "server restarted",
         h.run_until([&] { return std::filesystem::exists(options.resume_file); }, 20s));
    // Our keepalive BINDINGs are answered by the new server too; the allocation notices the loss
    // at its next REFRESH. coturn answers REFRESH without LIFETIME with 600 s (only ALLOCATE is
    // capped), so do what the Node does when the portal re-announces a relay: refresh now.
    a.refresh(h.now());
    step(h, "re-allocated",
         h.run_until(
             [&] {
               return (count<turn::CandidateInvalidated>(h.events) > invalidations &&
                       a.has_allocation()) ||
                      relay_failed(h.events);
             },
             20s) &&
             !relay_failed(h.events));
    echo_all("after-restart");
  }

  // 6. Delete.
  a.deallocate(h.now());
  step(h, "delete", h.run_until([&] { return count<turn::Deallocated>(h.events) > 0; }, 10s));
  if (h.delete_successes == 0) fail("the server did not confirm the delete");
  if (relay_failed(h.events)) fail("relay failed");
  std::printf("PASS\n");
  return 0;
}
