// Logging: named targets, a RUST_LOG-style filter, one facade over spdlog.
//
// Every module logs under a target ("portal", "p2p", "wireguard", "gateway", ...). Targets are
// hierarchical with "::" ("p2p::ice"); a directive for "p2p" also covers "p2p::ice" unless a more
// specific directive exists. The filter syntax is the one operators already use for the reference
// gateway: `info,p2p=debug,wireguard=trace`. A bare level sets the default; a bare target enables
// every level for it; unknown targets are accepted (they may be registered later).
//
// A disabled statement costs one relaxed atomic load: its arguments are not formatted.
// Never pass secrets (tokens, keys, PSKs, passwords) to a log statement; key types have no
// formatter, so the compiler refuses them.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace fz::log {

enum class Level : int { trace = 0, debug = 1, info = 2, warn = 3, error = 4, off = 5 };

std::string_view to_string(Level level);
Result<Level> parse_level(std::string_view text);

struct Directive {
  std::string target;  // empty: the default level
  Level level;
  friend bool operator==(const Directive&, const Directive&) = default;
};

class Filter {
 public:
  // Without directives everything at info and above is shown.
  Filter() = default;
  explicit Filter(Level default_level) : default_level_(default_level) {}

  // Parses `RUST_LOG` syntax. Empty input gives the default filter (info). Names of the reference
  // gateway's crates (snownet, boringtun, str0m, phoenix_channel, ...) are mapped onto our targets
  // so existing RUST_LOG values keep working; see docs/compatibility.md.
  static Result<Filter> parse(std::string_view directives);

  // The most specific matching directive decides; otherwise the default level.
  Level level_for(std::string_view target) const;

  Level default_level() const { return default_level_; }
  const std::vector<Directive>& directives() const { return directives_; }

 private:
  Level default_level_ = Level::info;
  std::vector<Directive> directives_;
};

class Target {
 public:
  explicit Target(std::string name, Level threshold)
      : name_(std::move(name)), threshold_(static_cast<int>(threshold)) {}
  std::string_view name() const { return name_; }
  bool enabled(Level level) const {
    return static_cast<int>(level) >= threshold_.load(std::memory_order_relaxed) &&
           level != Level::off;
  }
  void set_threshold(Level level) {
    threshold_.store(static_cast<int>(level), std::memory_order_relaxed);
  }

 private:
  std::string name_;
  std::atomic<int> threshold_;
};

// The target with this name, created on first use. References stay valid for the process lifetime.
Target& target(std::string_view name);

// Applies a filter to every target, present and future.
void set_filter(const Filter& filter);

// Where formatted lines go. The default writes to stdout through spdlog as
// `<ISO-8601 UTC timestamp> <LEVEL> <target>: <message>`; tests may capture instead.
using Writer = std::function<void(Level, std::string_view target, std::string_view message)>;
void set_writer(Writer writer);  // an empty writer restores stdout

void write(const Target& target, Level level, std::string_view message);

template <class... Args>
void emit(const Target& target, Level level, fmt::format_string<Args...> format, Args&&... args) {
  fmt::memory_buffer buffer;
  fmt::format_to(std::back_inserter(buffer), format, std::forward<Args>(args)...);
  write(target, level, std::string_view(buffer.data(), buffer.size()));
}

}  // namespace fz::log

#define FZ_LOG(target_name, level, ...)                                                     \
  do {                                                                                      \
    static ::fz::log::Target& fz_log_target_ = ::fz::log::target(target_name);              \
    if (fz_log_target_.enabled(level)) ::fz::log::emit(fz_log_target_, level, __VA_ARGS__); \
  } while (0)

#define FZ_TRACE(target_name, ...) FZ_LOG(target_name, ::fz::log::Level::trace, __VA_ARGS__)
#define FZ_DEBUG(target_name, ...) FZ_LOG(target_name, ::fz::log::Level::debug, __VA_ARGS__)
#define FZ_INFO(target_name, ...) FZ_LOG(target_name, ::fz::log::Level::info, __VA_ARGS__)
#define FZ_WARN(target_name, ...) FZ_LOG(target_name, ::fz::log::Level::warn, __VA_ARGS__)
#define FZ_ERROR(target_name, ...) FZ_LOG(target_name, ::fz::log::Level::error, __VA_ARGS__)
