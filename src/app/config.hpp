// The gateway's configuration: command-line flags and the environment variables that the
// reference gateway's operators already use (FIREZONE_TOKEN, FIREZONE_ID, RUST_LOG, ...).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"

namespace fz::app {

inline constexpr const char* kDefaultApiUrl = "wss://api.firezone.dev";
inline constexpr const char* kDefaultHealthCheckAddr = "0.0.0.0:8080";

struct Config {
  std::string token;  // secret: never logged
  std::string api_url = kDefaultApiUrl;
  std::optional<std::string> firezone_id;
  std::optional<std::string> firezone_name;
  std::string health_check_addr = kDefaultHealthCheckAddr;
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

// Parses argv and the environment. Flags win over environment variables.
ParsedArgs parse_args(int argc, const char* const* argv);

}  // namespace fz::app
