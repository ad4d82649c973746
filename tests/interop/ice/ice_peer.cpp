// Our ICE agent as an interop peer: real UDP sockets (one host candidate per address given, port
// 52625), the real monotonic clock, and the same line signalling as nice_peer.c.
//
// Usage: ice_peer controlling|controlled <ip> [<ip>...]
// stdout: `cred <ufrag> <pwd>`, `cand <candidate:...>`, `done`; stdin: the peer's lines (a leading
// `a=` on candidates is tolerated). stderr is the log. Once the agent has nominated a pair, a
// datagram "hello from fz <n>" goes out on it every 200 ms; the exit status is 0 once a pair is
// nominated and a datagram from the peer arrived (plus one more second, so the peer gets ours),
// 1 after a 20 s watchdog.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "crypto/rng.hpp"
#include "ice/agent.hpp"

using namespace fz;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint16_t kPort = 52625;

struct Socket {
  int fd = -1;
  net::SocketAddr local;
};

socklen_t to_sockaddr(const net::SocketAddr& a, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (a.ip.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&out);
    s->sin_family = AF_INET;
    s->sin_port = htons(a.port);
    std::memcpy(&s->sin_addr, a.ip.bytes().data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&out);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(a.port);
  std::memcpy(&s->sin6_addr, a.ip.bytes().data(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<net::SocketAddr> from_sockaddr(const sockaddr_storage& in) {
  if (in.ss_family == AF_INET) {
    const auto* s = reinterpret_cast<const sockaddr_in*>(&in);
    auto ip =
        net::IpAddr::from_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(&s->sin_addr), 4));
    return net::SocketAddr{*ip, ntohs(s->sin_port)};
  }
  if (in.ss_family == AF_INET6) {
    const auto* s = reinterpret_cast<const sockaddr_in6*>(&in);
    auto ip =
        net::IpAddr::from_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(&s->sin6_addr), 16));
    return net::SocketAddr{*ip, ntohs(s->sin6_port)};
  }
  return std::nullopt;
}

std::optional<Socket> open_socket(const net::IpAddr& ip) {
  Socket s;
  s.local = net::SocketAddr{ip, kPort};
  s.fd = ::socket(ip.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return std::nullopt;
  if (ip.is_v6()) {
    const int one = 1;
    ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  sockaddr_storage sa;
  const socklen_t len = to_sockaddr(s.local, sa);
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    std::fprintf(stderr, "ice_peer: bind %s: %s\n", s.local.to_string().c_str(),
                 std::strerror(errno));
    ::close(s.fd);
    return std::nullopt;
  }
  return s;
}

// str0m's IceCreds::new alphabet (no 'w'/'W').
std::string random_token(Rng& rng, std::size_t n) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvxyzABCDEFGHIJKLMNOPQRSTUVXYZ0123456789";
  std::string s;
  for (std::size_t i = 0; i < n; ++i)
    s.push_back(kAlphabet[rng.uniform(kAlphabet.size())]);
  return s;
}

Instant now_instant() {
  return Instant(std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch()));
}

class Peer {
 public:
  Peer(ice::Role role, std::vector<Socket> sockets, crypto::ChaChaRng& rng)
      : sockets_(std::move(sockets)),
        agent_(role, ice::Credentials{random_token(rng, 16), random_token(rng, 22)}, rng),
        started_(Clock::now()) {}

  int run() {
    std::printf("cred %s %s\n", agent_.local_credentials().ufrag.c_str(),
                agent_.local_credentials().pwd.c_str());
    for (const Socket& s : sockets_)
      agent_.add_local_candidate(*ice::Candidate::host(s.local));
    drain();
    std::printf("done\n");
    std::fflush(stdout);
    agent_.handle_timeout(now_instant());
    drain();

    const auto deadline = started_ + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      if (finish_at_ && Clock::now() >= *finish_at_) {
        log("done: sent %u, received %u", sent_, received_);
        return 0;
      }
      std::vector<pollfd> fds;
      fds.push_back(pollfd{stdin_open_ ? 0 : -1, POLLIN, 0});
      for (const Socket& s : sockets_)
        fds.push_back(pollfd{s.fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), wait_ms());

      if ((fds[0].revents & (POLLIN | POLLHUP)) != 0) read_stdin();
      for (std::size_t i = 0; i < sockets_.size(); ++i) {
        if ((fds[i + 1].revents & POLLIN) != 0) read_socket(sockets_[i]);
      }
      const Instant now = now_instant();
      if (auto t = agent_.poll_timeout(); t && *t <= now) agent_.handle_timeout(now);
      drain();
      send_data();
    }
    log("watchdog: nominated=%d sent=%u received=%u", nominated_ ? 1 : 0, sent_, received_);
    return 1;
  }

 private:
  __attribute__((format(printf, 2, 3))) void log(const char* format, ...) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    std::fprintf(stderr, "ice_peer: %.1f ms: ", ms);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fprintf(stderr, "\n");
  }

  int wait_ms() const {
    int ms = 100;
    if (auto t = agent_.poll_timeout()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*t - now_instant());
      ms = std::clamp<int>(static_cast<int>(left.count()) + 1, 0, 100);
    }
    return ms;
  }

  void read_stdin() {
    char buf[4096];
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n <= 0) {
      stdin_open_ = false;
      return;
    }
    input_.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = input_.find('\n')) != std::string::npos) {
      std::string line = input_.substr(0, nl);
      input_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      handle_line(line);
    }
  }

  void handle_line(std::string_view line) {
    if (line.starts_with("cred ")) {
      const std::string_view rest = line.substr(5);
      const std::size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) return;
      agent_.set_remote_credentials(
          ice::Credentials{std::string(rest.substr(0, sp)), std::string(rest.substr(sp + 1))});
    } else if (line.starts_with("cand ")) {
      std::string_view sdp = line.substr(5);
      if (sdp.starts_with("a=")) sdp.remove_prefix(2);
      auto c = ice::Candidate::parse(sdp);
      if (!c) {
        log("cannot parse remote candidate '%.*s'", static_cast<int>(sdp.size()), sdp.data());
        return;
      }
      log("remote candidate %s", c->to_sdp_string().c_str());
      agent_.add_remote_candidate(*c);
    } else if (line == "done") {
      log("remote candidates complete");
    }
    agent_.handle_timeout(now_instant());
  }

  void read_socket(const Socket& s) {
    for (;;) {
      std::array<std::uint8_t, 2048> buf;
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t n = ::recvfrom(s.fd, buf.data(), buf.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) return;
      const auto source = from_sockaddr(from);
      if (!source) continue;
      const Bytes datagram(buf.data(), static_cast<std::size_t>(n));
      if (auto m = ice::BindingMessage::parse(datagram)) {
        if (m->is_indication()) ++indications_;
        if (dump_ > 0) {
          --dump_;
          std::string types;
          for (const auto& a : m->message())
            types += " " + std::to_string(a.type);
          log("STUN class %d from %s, %zu bytes, attributes:%s",
              static_cast<int>(m->message_class()), source->to_string().c_str(), datagram.size(),
              types.c_str());
        }
        if (!agent_.handle_input(*source, s.local, *m, now_instant())) {
          ++stun_rejected_;
          if (stun_rejected_ <= 5) {
            log("STUN from %s not accepted (class %d)", source->to_string().c_str(),
                static_cast<int>(m->message_class()));
          }
        }
        agent_.handle_timeout(now_instant());
        drain();
        continue;
      }
      if (stun::Message::looks_like_stun(datagram)) {
        ++stun_unparsed_;
        continue;
      }
      if (n >= 5 && std::memcmp(buf.data(), "hello", 5) == 0) {
        if (received_ == 0) {
          log("first datagram from %s: %.*s", source->to_string().c_str(), static_cast<int>(n),
              reinterpret_cast<const char*>(buf.data()));
        }
        ++received_;
        maybe_finish();
      }
    }
  }

  const Socket* socket_for(const net::SocketAddr& source) const {
    for (const Socket& s : sockets_) {
      if (s.local == source) return &s;
    }
    return nullptr;
  }

  void send_to(const net::SocketAddr& source, const net::SocketAddr& destination, Bytes payload) {
    const Socket* s = socket_for(source);
    if (s == nullptr) {
      log("no socket for %s", source.to_string().c_str());
      return;
    }
    sockaddr_storage sa;
    const socklen_t len = to_sockaddr(destination, sa);
    ::sendto(s->fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&sa), len);
  }

  void drain() {
    while (auto t = agent_.poll_transmit())
      send_to(t->source, t->destination, t->payload);
    while (auto e = agent_.poll_event()) {
      if (auto* c = std::get_if<ice::event::CandidateToSignal>(&*e)) {
        std::printf("cand %s\n", c->candidate.to_sdp_string().c_str());
      } else if (auto* s = std::get_if<ice::event::StateChanged>(&*e)) {
        log("state %s", std::string(ice::to_string(s->state)).c_str());
      } else if (auto* n = std::get_if<ice::event::NominatedSend>(&*e)) {
        log("nominated send %s -> %s", n->source.to_string().c_str(),
            n->destination.to_string().c_str());
        nominated_ = *n;
      }
    }
  }

  void send_data() {
    if (!nominated_) return;
    const auto now = Clock::now();
    if (last_data_ && now - *last_data_ < std::chrono::milliseconds(200)) return;
    last_data_ = now;
    char msg[64];
    const int n = std::snprintf(msg, sizeof msg, "hello from fz %u", sent_);
    send_to(nominated_->source, nominated_->destination,
            Bytes(reinterpret_cast<const std::uint8_t*>(msg), static_cast<std::size_t>(n)));
    ++sent_;
    maybe_finish();
  }

  void maybe_finish() {
    if (finish_at_ || !nominated_ || received_ == 0 || sent_ < 3) return;
    log("datagrams both ways (sent %u, received %u); libnice indications seen: %u, unparsed "
        "STUN: %u",
        sent_, received_, indications_, stun_unparsed_);
    finish_at_ = Clock::now() + std::chrono::seconds(1);
  }

  std::vector<Socket> sockets_;
  ice::Agent agent_;
  Clock::time_point started_;
  bool stdin_open_ = true;
  std::string input_;
  std::optional<ice::event::NominatedSend> nominated_;
  std::optional<Clock::time_point> last_data_;
  std::optional<Clock::time_point> finish_at_;
  unsigned sent_ = 0;
  unsigned received_ = 0;
  unsigned indications_ = 0;
  unsigned stun_rejected_ = 0;
  unsigned stun_unparsed_ = 0;
  // FZ_ICE_DUMP=<n>: log the attribute types of the first n STUN messages received.
  int dump_ = std::getenv("FZ_ICE_DUMP") != nullptr ? std::atoi(std::getenv("FZ_ICE_DUMP")) : 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 ||
      (std::strcmp(argv[1], "controlling") != 0 && std::strcmp(argv[1], "controlled") != 0)) {
    std::fprintf(stderr, "usage: ice_peer controlling|controlled <ip>...\n");
    return 2;
  }
  if (const char* filter = std::getenv("FZ_LOG")) {
    if (auto f = log::Filter::parse(filter)) log::set_filter(*f);
  }
  // Logs go to stderr: stdout is the signalling channel.
  log::set_writer([](log::Level, std::string_view target, std::string_view message) {
    std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(target.size()), target.data(),
                 static_cast<int>(message.size()), message.data());
  });
  const ice::Role role =
      std::strcmp(argv[1], "controlling") == 0 ? ice::Role::controlling : ice::Role::controlled;
  std::vector<Socket> sockets;
  for (int i = 2; i < argc; ++i) {
    auto ip = net::IpAddr::parse(argv[i]);
    if (!ip) {
      std::fprintf(stderr, "ice_peer: bad address %s\n", argv[i]);
      return 2;
    }
    auto s = open_socket(*ip);
    if (!s) return 1;
    sockets.push_back(*s);
  }
  std::array<std::uint8_t, 32> seed{};
  if (::getrandom(seed.data(), seed.size(), 0) != static_cast<ssize_t>(seed.size())) return 1;
  crypto::ChaChaRng rng(seed);
  Peer peer(role, std::move(sockets), rng);
  return peer.run();
}
