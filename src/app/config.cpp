#include "app/config.hpp"

#include <CLI/CLI.hpp>
#include <sstream>

namespace fz::app {

ParsedArgs parse_args(int argc, const char* const* argv) {
  ParsedArgs out{ParseOutcome::run, {}, {}};
  Config& c = out.config;

  CLI::App cli{"firezone-gateway: connects a site's private resources to Firezone clients"};
  cli.set_version_flag("-V,--version", std::string("firezone-gateway ") + FZ_VERSION);
  cli.add_option("token", c.token, "Portal token (or FIREZONE_TOKEN)")->envname("FIREZONE_TOKEN");
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

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream normal, failure;
    const int code = cli.exit(e, normal, failure);
    out.outcome = code == 0 ? ParseOutcome::exit_success : ParseOutcome::exit_failure;
    out.message = code == 0 ? normal.str() : failure.str();
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
  if (c.token.empty()) {
    out.outcome = ParseOutcome::exit_failure;
    out.message = "a portal token is required (argument or FIREZONE_TOKEN)";
  }
  return out;
}

}  // namespace fz::app
