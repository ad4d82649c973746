// Driver for the DNS interop test: runs the forwarder or the resolver from the command line.
//
//   dns_driver forward [--attempt-ms N] [--timeout-ms N] LISTEN... -- UPSTREAM...
//       binds, prints "ready" and forwards until SIGTERM/SIGINT.
//   dns_driver resolve SERVER NAME
//       prints the addresses one per line (exit 0), or "error: ..." (exit 2).
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "io/dns_forwarder.hpp"
#include "io/dns_resolver.hpp"

namespace {

int usage() {
  std::cerr << "usage: dns_driver forward [--attempt-ms N] [--timeout-ms N] LISTEN... -- "
               "UPSTREAM...\n       dns_driver resolve SERVER NAME\n";
  return 64;
}

bool parse_addr(const std::string& text, fz::net::SocketAddr& out) {
  auto addr = fz::net::SocketAddr::parse(text);
  if (!addr) {
    std::cerr << "bad address " << text << "\n";
    return false;
  }
  out = *addr;
  return true;
}

int forward(int argc, char** argv) {
  fz::io::ForwarderOptions options;
  std::vector<fz::net::SocketAddr> listen, upstreams;
  bool after_separator = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      after_separator = true;
    } else if (arg == "--attempt-ms" && i + 1 < argc) {
      options.attempt_timeout = std::chrono::milliseconds(std::atoi(argv[++i]));
    } else if (arg == "--timeout-ms" && i + 1 < argc) {
      options.query_timeout = std::chrono::milliseconds(std::atoi(argv[++i]));
    } else {
      fz::net::SocketAddr addr;
      if (!parse_addr(arg, addr)) return 64;
      (after_separator ? upstreams : listen).push_back(addr);
    }
  }
  if (listen.empty() || upstreams.empty()) return usage();
  boost::asio::io_context io;
  fz::io::DnsForwarder forwarder(io, listen, upstreams, options);
  if (auto status = forwarder.start(); !status) {
    std::cerr << "start: " << status.error().to_string() << "\n";
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    forwarder.stop();
    io.stop();
  });
  std::cout << "ready" << std::endl;
  io.run();
  const auto& s = forwarder.stats();
  std::cerr << "udp " << s.udp_queries << " tcp " << s.tcp_queries << " answered " << s.answered
            << " truncated " << s.truncated << " servfail " << s.servfail << " malformed "
            << s.malformed << "\n";
  return 0;
}

int resolve(int argc, char** argv) {
  if (argc != 4) return usage();
  fz::net::SocketAddr server;
  if (!parse_addr(argv[2], server)) return 64;
  boost::asio::io_context io;
  fz::io::ResolverOptions options;
  options.nameservers = {server};
  fz::io::DnsResolver resolver(io, options);
  int rc = 3;
  resolver.resolve(argv[3], [&](fz::Result<std::vector<fz::net::IpAddr>> result) {
    if (!result) {
      std::cout << "error: " << result.error().to_string() << std::endl;
      rc = 2;
    } else {
      for (const auto& ip : *result)
        std::cout << ip.to_string() << "\n";
      rc = 0;
    }
    io.stop();
  });
  io.run_for(std::chrono::seconds(15));
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* filter = std::getenv("RUST_LOG")) {
    if (auto f = fz::log::Filter::parse(filter)) fz::log::set_filter(*f);
  }
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  if (mode == "forward") return forward(argc, argv);
  if (mode == "resolve") return resolve(argc, argv);
  return usage();
}
