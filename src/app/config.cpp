#include "app/config.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "portal/login_url.hpp"
#include "portal/user_agent.hpp"

namespace fz::app {

namespace {

std::string trim(std::string text) {
  const auto not_space = [](unsigned char ch) { return !std::isspace(ch); };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  return text;
}

// The whole file, trimmed; nullopt if it cannot be read.
std::optional<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return trim(content.str());
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 10))
    text.replace(at, secret.size(), "<redacted>");
  return text;
}

ParsedArgs parse_args(int argc, const char* const* argv) {
  ParsedArgs out{ParseOutcome::run, {}, {}};
  Config& c = out.config;

  CLI::App cli{"firezone-gateway: connects a site's private resources to Firezone clients"};
  cli.set_version_flag("-V,--version", std::string("firezone-gateway ") + FZ_VERSION);
  cli.add_option("token", c.token, "Portal token (or FIREZONE_TOKEN)")->envname("FIREZONE_TOKEN");
  std::string token_file;
  cli.add_option("--token-file", token_file, "Read the portal token from this file")
      ->envname("FIREZONE_TOKEN_FILE");
  c.protocol_version = std::string(portal::kDefaultProtocolVersion);
  cli.add_option("--protocol-version", c.protocol_version,
                 "connlib version announced in the User-Agent (the protocol level spoken)")
      ->envname("FIREZONE_PROTOCOL_VERSION")
      ->group("")
      ->capture_default_str();
  cli.add_option("-u,--api-url", c.api_url, "Portal WebSocket URL")
      ->envname("FIREZONE_API_URL")
      ->capture_default_str();
  std::string id;
  cli.add_option("-i,--firezone-id", id, "Stable identifier of this gateway")
      ->envname("FIREZONE_ID");
  std::string name;
  cli.add_option("-n,--firezone-name", name, "Display name of this gateway")
      ->envname("FIREZONE_NAME");
  cli.add_option("--health-check-addr", c.health_check_addr, "Address of the HTTP health check")
      ->envname("HEALTH_CHECK_ADDR")
      ->capture_default_str();
  cli.add_flag("--no-check", c.no_check, "Skip the CAP_NET_ADMIN check at start-up");
  cli.add_flag("--no-telemetry", c.no_telemetry, "Accepted for compatibility; nothing is reported")
      ->envname("FIREZONE_NO_TELEMETRY");
  cli.add_flag("--validate-checksums", c.validate_checksums,
               "Warn about bad checksums on packets written to the TUN device")
      ->envname("FIREZONE_VALIDATE_CHECKSUMS");
  std::string log_directives;
  cli.add_option("--log", log_directives, "Log filter, RUST_LOG syntax (e.g. info,p2p=debug)")
      ->envname("RUST_LOG");

  const auto fail = [&](std::string message) {
    out.outcome = ParseOutcome::exit_failure;
    out.message = redact(std::move(message), c.token);
    return out;
  };
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream normal, failure;
    const int code = cli.exit(e, normal, failure);
    out.outcome = code == 0 ? ParseOutcome::exit_success : ParseOutcome::exit_failure;
    std::string message = code == 0 ? normal.str() : failure.str();
    // The parser may quote any argument back; none of them may be the token.
    message = redact(std::move(message), env_or_empty("FIREZONE_TOKEN"));
    for (int i = 1; i < argc; ++i)
      if (argv[i][0] != '-' && std::string_view(argv[i]).size() >= 16)
        message = redact(std::move(message), argv[i]);
    out.message = std::move(message);
    return out;
  }

  if (!id.empty()) c.firezone_id = id;
  if (!name.empty()) c.firezone_name = name;
  auto filter = log::Filter::parse(log_directives);
  if (!filter) {
    out.outcome = ParseOutcome::exit_failure;
    out.message = "invalid log filter: " + filter.error().to_string();
    return out;
  }
  c.log_filter = *filter;

  if (c.token.empty() && !token_file.empty()) {
    auto token = read_token_file(token_file);
    if (!token) return fail("cannot read FIREZONE_TOKEN_FILE/--token-file " + token_file);
    c.token = std::move(*token);
  }
  if (const std::string dir = env_or_empty("CREDENTIALS_DIRECTORY");
      c.token.empty() && !dir.empty()) {
    if (auto token = read_token_file(dir + "/FIREZONE_TOKEN")) c.token = std::move(*token);
  }
  if (c.token.empty())
    return fail(
        "a portal token is required: set FIREZONE_TOKEN, pass it as the first argument, or "
        "provide --token-file or the systemd credential FIREZONE_TOKEN");

  auto health = net::SocketAddr::parse(c.health_check_addr);
  if (!health)
    return fail("invalid HEALTH_CHECK_ADDR/--health-check-addr '" + c.health_check_addr +
                "': " + health.error().to_string());
  c.health_check = *health;

  if (auto url = portal::LoginUrl::gateway(c.api_url, "token", "id", "name"); !url)
    return fail("invalid FIREZONE_API_URL/--api-url: " + url.error().to_string());
  if (auto st = portal::validate_protocol_version(c.protocol_version); !st)
    return fail("invalid FIREZONE_PROTOCOL_VERSION/--protocol-version '" + c.protocol_version +
                "': " + st.error().to_string());
  return out;
}

}  // namespace fz::app
