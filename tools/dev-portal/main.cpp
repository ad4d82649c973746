// fz-dev-portal: a development Firezone portal for tests and local setups.
//
//   fz-dev-portal --config portal.json [--listen 127.0.0.1:8080] [--tls-cert C --tls-key K]
//                 [--control 127.0.0.1:9090] [--log-file F] [--seed HEX]
//
// Logs one JSON object per line (frames in and out, connections, errors) to stderr or
// --log-file; the first entry with "what":"listening" names the bound ports.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/encoding.hpp"
#include "crypto/rng.hpp"
#include "dev-portal/portal.hpp"
#include "dev-portal/server.hpp"

namespace {

using fz::Instant;

Instant monotonic_now() {
  return fz::instant_from_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now().time_since_epoch())
                                    .count());
}

bool split_host_port(const std::string& text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  try {
    const unsigned long value = std::stoul(text.substr(colon + 1));
    if (value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
  } catch (...) {
    return false;
  }
  return !host.empty();
}

int fail(const std::string& message) {
  std::fprintf(stderr, "fz-dev-portal: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fz-dev-portal: a development Firezone portal"};
  std::string config_path, listen = "127.0.0.1:8080", control, tls_cert, tls_key, log_file,
                           seed_hex;
  app.add_option("-c,--config", config_path, "JSON configuration file")->required();
  app.add_option("-l,--listen", listen, "WebSocket listen address (host:port; port 0 = any)");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain: serve wss");
  app.add_option("--tls-key", tls_key, "PEM private key for --tls-cert");
  app.add_option("--control", control, "control API listen address (host:port)");
  app.add_option("--log-file", log_file, "write the JSON log here instead of stderr");
  app.add_option("--seed", seed_hex,
                 "64 hex digits: seed the random generator (reproducible runs)");
  bool check_only = false;
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(config_path, std::ios::binary);
  if (!in) return fail("cannot read " + config_path);
  std::ostringstream text;
  text << in.rdbuf();
  auto config = fz::devportal::parse_config_text(text.str());
  if (!config) return fail(config.error().to_string());
  if (check_only) return 0;

  fz::devportal::ServerOptions options;
  if (!split_host_port(listen, options.listen_address, options.listen_port))
    return fail("--listen: expected host:port");
  if (!control.empty()) {
    options.control_address.emplace();
    if (!split_host_port(control, *options.control_address, options.control_port))
      return fail("--control: expected host:port");
  }
  if (!tls_cert.empty()) options.tls_cert_file = tls_cert;
  if (!tls_key.empty()) options.tls_key_file = tls_key;

  std::array<std::uint8_t, 32> seed{};
  if (!seed_hex.empty()) {
    auto bytes = fz::hex_decode(seed_hex);
    if (!bytes || bytes->size() != 32) return fail("--seed: expected 64 hex digits");
    std::copy(bytes->begin(), bytes->end(), seed.begin());
  } else {
    std::ifstream urandom("/dev/urandom", std::ios::binary);
    urandom.read(reinterpret_cast<char*>(seed.data()), seed.size());
    if (!urandom) return fail("cannot read /dev/urandom");
  }
  fz::crypto::ChaChaRng rng(seed);

  std::ofstream log_out;
  if (!log_file.empty()) {
    log_out.open(log_file, std::ios::app);
    if (!log_out) return fail("cannot open " + log_file);
  }
  const auto wall =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  fz::devportal::DevPortal portal(std::move(*config), rng, monotonic_now(), wall);
  portal.log().set_sink([&](std::string_view line) {
    if (log_out.is_open()) {
      log_out << line << '\n';
      log_out.flush();
    } else {
      std::cerr << line << '\n';
    }
  });

  boost::asio::io_context io;
  fz::devportal::Server server(io, portal, options, monotonic_now);
  if (auto started = server.start(); !started) return fail(started.error().to_string());
  nlohmann::json listening{{"level", "info"},
                           {"what", "listening"},
                           {"port", server.port()},
                           {"tls", options.tls_cert_file.has_value()}};
  if (auto cp = server.control_port()) listening["control_port"] = *cp;
  portal.log().append(listening);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server.stop();
    io.stop();
  });
  io.run();
  return 0;
}
