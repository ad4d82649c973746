// Name resolution for DNS resources (`ResolveDns` → setup_nat): c-ares on the application's
// io_context, without threads.
//
//   io::DnsResolver resolver(io, {});
//   resolver.resolve("app.example.com", [](Result<std::vector<net::IpAddr>> r) { … });
//
// Each resolution asks for A and AAAA (c-ares' getaddrinfo with AF_UNSPEC, so /etc/hosts is
// consulted first, like the reference's getaddrinfo). The answer lists the IPv6 addresses, then
// the IPv4 addresses, without duplicates. Successful answers are cached for 30 s from the time
// they arrive (failures are not); requests for a name already being resolved join that
// resolution. At most 1 000 names are resolved at once: a request for another name fails at once.
// A resolution that has not finished after 10 s fails with "DNS resolution timed out".
//
// Callbacks always run from the io_context, never from inside resolve(), and never after the
// resolver is destroyed. The sockets c-ares opens carry the Firezone fwmark so that they bypass
// the tunnel routes (EPERM without CAP_NET_ADMIN is ignored).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/time.hpp"
#include "io/netlink.hpp"
#include "net/ip_addr.hpp"

namespace boost::asio {
class io_context;
}

namespace fz::io {


struct ResolverOptions {
  // Empty: the nameservers, search domains and options of /etc/resolv.conf and /etc/hosts. Set:
  // only these servers (with their ports), no search domains, no hosts file.
  std::vector<net::SocketAddr> nameservers;
  Duration timeout = std::chrono::seconds(10);
  Duration cache_ttl = std::chrono::seconds(30);
  std::size_t max_in_flight = 1000;
  std::uint32_t fwmark = kFirezoneMark;  // 0: no mark
};

struct ResolverStats {
  std::uint64_t cache_hits = 0;
  std::uint64_t joined = 0;       // requests that joined a resolution in progress
  std::uint64_t resolutions = 0;  // c-ares lookups started
  std::uint64_t rejected = 0;     // over max_in_flight
  std::uint64_t timeouts = 0;
  std::uint64_t mark_failures = 0;  // setsockopt(SO_MARK) refused (not root)
};

class DnsResolver {
 public:
  using Callback = std::function<void(Result<std::vector<net::IpAddr>>)>;

  // Throws std::runtime_error when c-ares cannot be initialised (start-up configuration).
  DnsResolver(boost::asio::io_context& io, ResolverOptions options);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  void resolve(std::string name, Callback callback);

  std::size_t in_flight() const;
  std::size_t cache_size() const;
  const ResolverStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sets SO_MARK on `fd`. Returns 0, or the errno (EPERM without CAP_NET_ADMIN), for callers that
// only log the failure (netlink.hpp's set_fwmark returns a Status).
int mark_socket(int fd, std::uint32_t mark);

}  // namespace fz::io
