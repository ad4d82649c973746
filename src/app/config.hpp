// The gateway's configuration: command-line flags and the environment variables that the
// reference gateway's operators already use (FIREZONE_TOKEN, FIREZONE_ID, RUST_LOG, ...).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::app {

inline constexpr const char* kDefaultApiUrl = "wss://api.firezone.dev";
inline constexpr const char* kDefaultHealthCheckAddr = "0.0.0.0:8080";

struct Config {
  std::string token;  // secret: never logged
  std::string api_url = kDefaultApiUrl;
  std::optional<std::string> firezone_id;
  std::optional<std::string> firezone_name;
  std::string health_check_addr = kDefaultHealthCheckAddr;
  net::SocketAddr health_check;  // health_check_addr, parsed
  // The connlib version in the User-Agent: the protocol level the portal assumes we speak.
  std::string protocol_version;
  bool no_check = false;
  bool no_telemetry = false;
  bool validate_checksums = false;
  log::Filter log_filter;
};

enum class ParseOutcome { run, exit_success, exit_failure };

struct ParsedArgs {
  ParseOutcome outcome;
  Config config;
  std::string message;  // help text, version, or the error to print
};

// Parses argv and the environment. Flags win over environment variables. The token comes from
// the positional argument, FIREZONE_TOKEN, --token-file/FIREZONE_TOKEN_FILE, or the systemd
// credential $CREDENTIALS_DIRECTORY/FIREZONE_TOKEN, in that order; a token read from a file is
// trimmed. Every error message names the flag or variable at fault and never contains the token.
ParsedArgs parse_args(int argc, const char* const* argv);

// Replaces every occurrence of `secret` in `text` by "<redacted>" (no-op for an empty secret).
std::string redact(std::string text, std::string_view secret);

}  // namespace fz::app
