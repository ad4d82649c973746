#include "io/dns_resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "base/log.hpp"

namespace fz::io {

int mark_socket(int fd, std::uint32_t mark) {
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0) return 0;
  return errno;
}

namespace {

constexpr const char* kLog = "dns";
// c-ares' own retry schedule: 2 s, then 4 s, then 8 s per server; our 10 s deadline cuts it.
constexpr int kAresTryTimeoutMs = 2000;
constexpr int kAresTries = 3;
// After a readiness event, keep processing while the socket stays readable (Asio's epoll reactor
// is edge-triggered and c-ares reads TCP in pieces), but not forever.
constexpr int kMaxReadRounds = 64;

std::string lower_ascii(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return text;
}

bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

Error ares_error(int status, const std::string& name) {
  switch (status) {
    case ARES_ENOTFOUND:
      return Error(Errc::not_found, "DNS name does not exist", name);
    case ARES_ENODATA:
      return Error(Errc::not_found, "DNS name has no addresses", name);
    case ARES_ETIMEOUT:
      return Error(Errc::state, "DNS resolution timed out", name);
    default:
      return Error(Errc::state, "DNS resolution failed", name + ": " + ares_strerror(status));
  }
}

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const int status = ares_library_init(ARES_LIB_INIT_ALL); status != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares init: ") + ares_strerror(status));
    }
  });
}

}  // namespace

struct DnsResolver::Impl {
  using Clock = std::chrono::steady_clock;
  using Addresses = std::vector<net::IpAddr>;

  struct Watcher {
    Watcher(boost::asio::io_context& io, int fd) : fd(fd), descriptor(io, fd) {}
    int fd;
    boost::asio::posix::stream_descriptor descriptor;
    bool want_read = false;
    bool want_write = false;
    bool reading = false;
    bool writing = false;
    bool alive = true;
  };

  struct Pending {
    explicit Pending(boost::asio::io_context& io) : timer(io) {}
    std::uint64_t id = 0;
    std::string name;
    std::vector<Callback> callbacks;
    boost::asio::steady_timer timer;
  };

  // What c-ares hands back to on_addrinfo. It lives until c-ares reports the query finished,
  // which it always does (at the latest from ares_destroy), even after our deadline passed.
  struct Ticket {
    Impl* impl;
    std::uint64_t id;
  };

  struct CacheEntry {
    Clock::time_point expires;
    Addresses addresses;
  };

  boost::asio::io_context& io;
  ResolverOptions options;
  ares_channel channel = nullptr;
  boost::asio::steady_timer ares_timer;
  // Handlers hold a weak reference: once the resolver is gone they do nothing.
  std::shared_ptr<int> token = std::make_shared<int>(0);
  std::unordered_map<int, std::shared_ptr<Watcher>> watchers;
  std::unordered_map<std::string, std::unique_ptr<Pending>> pending;  // by lowercased name
  std::unordered_map<std::uint64_t, std::string> pending_ids;
  std::unordered_map<std::uint64_t, std::unique_ptr<Ticket>> tickets;
  std::unordered_map<std::string, CacheEntry> cache;
  std::size_t prune_at = 1024;
  std::uint64_t next_id = 1;
  bool destroying = false;
  bool logged_mark_failure = false;
  ResolverStats stats;

  Impl(boost::asio::io_context& io_context, ResolverOptions opts)
      : io(io_context), options(std::move(opts)), ares_timer(io_context) {
    init_library();
    ares_options ao{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    ao.sock_state_cb = &Impl::on_sock_state;
    ao.sock_state_cb_data = this;
    ao.timeout = kAresTryTimeoutMs;
    ao.tries = kAresTries;
    char lookups[] = "b";
    if (!options.nameservers.empty()) {
      // Only the given servers: no hosts file, no search list.
      mask |= ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS | ARES_OPT_FLAGS;
      ao.lookups = lookups;
      ao.domains = nullptr;
      ao.ndomains = 0;
      ao.flags = ARES_FLAG_NOSEARCH;
    }
    if (const int status = ares_init_options(&channel, &ao, mask); status != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares channel: ") + ares_strerror(status));
    }
    ares_set_socket_callback(channel, &Impl::on_socket_created, this);
    if (!options.nameservers.empty()) set_servers();
  }

  ~Impl() {
    destroying = true;
    for (auto& [name, p] : pending)
      p->timer.cancel();
    ares_destroy(channel);  // reports ARES_EDESTRUCTION to every query; ignored while destroying
    for (auto& [fd, w] : watchers)
      drop_watcher(*w);
    watchers.clear();
  }

  void set_servers() {
    std::vector<ares_addr_port_node> nodes(options.nameservers.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const net::SocketAddr& server = options.nameservers[i];
      ares_addr_port_node& node = nodes[i];
      node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
      node.udp_port = server.port;
      node.tcp_port = server.port;
      if (server.ip.is_v4()) {
        node.family = AF_INET;
        std::memcpy(&node.addr.addr4, server.ip.bytes().data(), 4);
      } else {
        node.family = AF_INET6;
        std::memcpy(&node.addr.addr6, server.ip.bytes().data(), 16);
      }
    }
    if (const int status = ares_set_servers_ports(channel, nodes.data()); status != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares servers: ") + ares_strerror(status));
    }
  }

  // --- requests ---------------------------------------------------------------------------

  void resolve(std::string name, Callback callback) {
    std::string key = lower_ascii(std::move(name));
    const auto now = Clock::now();
    if (auto hit = cache.find(key); hit != cache.end()) {
      if (now < hit->second.expires) {
        ++stats.cache_hits;
        deliver(std::move(callback), hit->second.addresses);
        return;
      }
      cache.erase(hit);
    }
    if (auto running = pending.find(key); running != pending.end()) {
      ++stats.joined;
      running->second->callbacks.push_back(std::move(callback));
      return;
    }
    if (pending.size() >= options.max_in_flight) {
      ++stats.rejected;
      FZ_DEBUG(kLog, "{} resolutions in flight; rejecting {}", pending.size(), key);
      deliver(std::move(callback), Error(Errc::exhausted, "too many DNS resolutions in flight"));
      return;
    }

    auto p = std::make_unique<Pending>(io);
    p->id = next_id++;
    p->name = key;
    p->callbacks.push_back(std::move(callback));
    p->timer.expires_after(options.timeout);
    p->timer.async_wait(
        [this, weak = std::weak_ptr<int>(token), id = p->id](const boost::system::error_code& ec) {
          if (ec || weak.expired()) return;
          on_deadline(id);
        });
    pending_ids.emplace(p->id, key);
    const std::uint64_t id = p->id;
    pending.emplace(key, std::move(p));
    ++stats.resolutions;

    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = ARES_AI_NOSORT;  // sorting would open unmarked probe sockets
    // May complete synchronously (numeric names, hosts file); on_addrinfo copes.
    auto& ticket = tickets[id];
    ticket = std::make_unique<Ticket>(Ticket{this, id});
    ares_getaddrinfo(channel, key.c_str(), nullptr, &hints, &Impl::on_addrinfo, ticket.get());
    update_timer();
  }

  void deliver(Callback callback, Result<Addresses> result) {
    boost::asio::post(io, [weak = std::weak_ptr<int>(token), cb = std::move(callback),
                           r = std::move(result)]() mutable {
      if (!weak.expired()) cb(std::move(r));
    });
  }

  void finish(std::uint64_t id, Result<Addresses> result) {
    auto id_it = pending_ids.find(id);
    if (id_it == pending_ids.end()) return;  // already timed out
    auto it = pending.find(id_it->second);
    pending_ids.erase(id_it);
    if (it == pending.end()) return;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending.erase(it);
    p->timer.cancel();
    if (result.ok()) insert_cache(p->name, *result);
    for (auto& cb : p->callbacks)
      deliver(std::move(cb), result);
  }

  void on_deadline(std::uint64_t id) {
    auto id_it = pending_ids.find(id);
    if (id_it == pending_ids.end()) return;
    ++stats.timeouts;
    FZ_DEBUG(kLog, "resolving {} timed out", id_it->second);
    const std::string name = id_it->second;
    finish(id, Error(Errc::state, "DNS resolution timed out", name));
  }

  void insert_cache(const std::string& name, const Addresses& addresses) {
    const auto now = Clock::now();
    if (cache.size() >= prune_at) {
      std::erase_if(cache, [&](const auto& entry) { return entry.second.expires <= now; });
      prune_at = std::max<std::size_t>(1024, cache.size() * 2);
    }
    cache[name] = CacheEntry{now + options.cache_ttl, addresses};
  }

  static void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
    const Ticket ticket = *static_cast<Ticket*>(arg);
    Impl* self = ticket.impl;
    const std::uint64_t id = ticket.id;
    self->tickets.erase(id);
    if (self->destroying) {
      if (result != nullptr) ares_freeaddrinfo(result);
      return;
    }
    auto name_it = self->pending_ids.find(id);
    const std::string name = name_it != self->pending_ids.end() ? name_it->second : std::string();
    if (status != ARES_SUCCESS) {
      if (result != nullptr) ares_freeaddrinfo(result);
      FZ_DEBUG(kLog, "resolving {} failed: {}", name, ares_strerror(status));
      self->finish(id, ares_error(status, name));
      return;
    }
    Addresses v6;
    Addresses v4;
    for (const ares_addrinfo_node* node = result != nullptr ? result->nodes : nullptr;
         node != nullptr; node = node->ai_next) {
      if (node->ai_family == AF_INET && node->ai_addr != nullptr) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
        if (auto ip = net::IpAddr::from_bytes(
                Bytes(reinterpret_cast<const std::uint8_t*>(&sin->sin_addr), 4))) {
          if (std::find(v4.begin(), v4.end(), *ip) == v4.end()) v4.push_back(*ip);
        }
      } else if (node->ai_family == AF_INET6 && node->ai_addr != nullptr) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
        if (auto ip = net::IpAddr::from_bytes(
                Bytes(reinterpret_cast<const std::uint8_t*>(&sin6->sin6_addr), 16))) {
          if (std::find(v6.begin(), v6.end(), *ip) == v6.end()) v6.push_back(*ip);
        }
      }
    }
    if (result != nullptr) ares_freeaddrinfo(result);
    if (v4.empty() && v6.empty()) {
      self->finish(id, ares_error(ARES_ENODATA, name));
      return;
    }
    v6.insert(v6.end(), v4.begin(), v4.end());
    self->finish(id, std::move(v6));
  }

  // --- sockets and timers -----------------------------------------------------------------

  static int on_socket_created(ares_socket_t fd, int /*type*/, void* data) {
    auto* self = static_cast<Impl*>(data);
    if (self->options.fwmark == 0) return 0;
    if (const int err = mark_socket(fd, self->options.fwmark); err != 0) {
      ++self->stats.mark_failures;
      if (!self->logged_mark_failure) {
        self->logged_mark_failure = true;
        FZ_DEBUG(kLog, "cannot set SO_MARK on resolver sockets: {}", std::strerror(err));
      }
    }
    return 0;
  }

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Impl*>(data);
    if (!readable && !writable) {
      if (auto it = self->watchers.find(fd); it != self->watchers.end()) {
        self->drop_watcher(*it->second);
        self->watchers.erase(it);
      }
      return;
    }
    if (self->destroying) return;
    auto& w = self->watchers[fd];
    if (!w) w = std::make_shared<Watcher>(self->io, fd);
    w->want_read = readable != 0;
    w->want_write = writable != 0;
    self->arm(w);
  }

  void drop_watcher(Watcher& w) {
    w.alive = false;
    boost::system::error_code ignored;
    w.descriptor.cancel(ignored);
    (void)w.descriptor.release();  // c-ares owns and closes the fd
  }

  void arm(const std::shared_ptr<Watcher>& w) {
    using Wait = boost::asio::posix::stream_descriptor::wait_type;
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->descriptor.async_wait(Wait::wait_read, [this, w, weak = std::weak_ptr<int>(token)](
                                                    const boost::system::error_code& ec) {
        w->reading = false;
        if (ec || !w->alive || weak.expired()) return;
        int rounds = 0;
        do {
          ares_process_fd(channel, w->fd, ARES_SOCKET_BAD);
        } while (w->alive && ++rounds < kMaxReadRounds && readable_now(w->fd));
        if (w->alive) arm(w);
        update_timer();
      });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->descriptor.async_wait(Wait::wait_write, [this, w, weak = std::weak_ptr<int>(token)](
                                                     const boost::system::error_code& ec) {
        w->writing = false;
        if (ec || !w->alive || weak.expired()) return;
        ares_process_fd(channel, ARES_SOCKET_BAD, w->fd);
        if (w->alive) arm(w);
        update_timer();
      });
    }
  }

  void update_timer() {
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) == nullptr) {
      ares_timer.cancel();
      return;
    }
    ares_timer.expires_after(std::chrono::seconds(tv.tv_sec) +
                             std::chrono::microseconds(tv.tv_usec));
    ares_timer.async_wait(
        [this, weak = std::weak_ptr<int>(token)](const boost::system::error_code& ec) {
          if (ec || weak.expired()) return;
          ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
          update_timer();
        });
  }
};

DnsResolver::DnsResolver(boost::asio::io_context& io, ResolverOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {}

DnsResolver::~DnsResolver() = default;

void DnsResolver::resolve(std::string name, Callback callback) {
  impl_->resolve(std::move(name), std::move(callback));
}

std::size_t DnsResolver::in_flight() const {
  return impl_->pending.size();
}

std::size_t DnsResolver::cache_size() const {
  return impl_->cache.size();
}

const ResolverStats& DnsResolver::stats() const {
  return impl_->stats;
}

}  // namespace fz::io
