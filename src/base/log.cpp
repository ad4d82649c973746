#include "base/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>

namespace fz::log {
namespace {

// The reference gateway's crate names, so an operator's RUST_LOG keeps meaning the same thing.
struct Alias {
  std::string_view rust;
  std::string_view ours;
};
constexpr Alias kAliases[] = {
    {"firezone_gateway", "app"},
    {"firezone_tunnel", "gateway"},
    {"connlib", "gateway"},
    {"snownet", "p2p"},
    {"str0m", "ice"},
    {"boringtun", "wireguard"},
    {"phoenix_channel", "portal"},
    {"firezone_relay", "turn"},
    {"ip_packet", "net"},
    {"dns_types", "dns"},
    {"tun", "io::tun"},
    {"socket_factory", "io::udp"},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

bool valid_target(std::string_view t) {
  if (t.empty()) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '-' ||
           c == '.';
  });
}

std::string map_alias(std::string_view target) {
  for (const auto& alias : kAliases) {
    if (target == alias.rust) return std::string(alias.ours);
    if (target.size() > alias.rust.size() && target.starts_with(alias.rust) &&
        target.substr(alias.rust.size()).starts_with("::")) {
      return std::string(alias.ours) + std::string(target.substr(alias.rust.size()));
    }
  }
  return std::string(target);
}

bool target_matches(std::string_view directive, std::string_view name) {
  if (!name.starts_with(directive)) return false;
  return name.size() == directive.size() || name.substr(directive.size()).starts_with("::");
}

struct Registry {
  std::mutex mutex;
  Filter filter;
  std::map<std::string, std::unique_ptr<Target>, std::less<>> targets;
  Writer writer;
  std::shared_ptr<spdlog::logger> stdout_logger;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: logging may happen during exit
  return *r;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::trace:
      return spdlog::level::trace;
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warn:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
    case Level::off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> make_stdout_logger() {
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("firezone", sink);
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "%Y-%m-%dT%H:%M:%S.%fZ %5l %v", spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::trace);  // filtering happens per target, before formatting
  logger->flush_on(spdlog::level::warn);
  return logger;
}

}  // namespace

std::string_view to_string(Level level) {
  switch (level) {
    case Level::trace:
      return "trace";
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
    case Level::off:
      return "off";
  }
  return "?";
}

Result<Level> parse_level(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "trace") return Level::trace;
  if (lower == "debug") return Level::debug;
  if (lower == "info") return Level::info;
  if (lower == "warn" || lower == "warning") return Level::warn;
  if (lower == "error") return Level::error;
  if (lower == "off") return Level::off;
  return Error(Errc::config, "unknown log level", std::string(text));
}

Result<Filter> Filter::parse(std::string_view text) {
  Filter filter;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item.empty()) continue;

    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      // Either a level ("debug") or a target that is enabled at every level ("p2p").
      if (auto level = parse_level(item)) {
        filter.default_level_ = *level;
        continue;
      }
      if (!valid_target(item))
        return Error(Errc::config, "invalid log directive", std::string(item));
      filter.directives_.push_back({map_alias(item), Level::trace});
      continue;
    }
    const std::string_view name = trim(item.substr(0, eq));
    const std::string_view level_text = trim(item.substr(eq + 1));
    if (!valid_target(name)) return Error(Errc::config, "invalid log directive", std::string(item));
    auto level = parse_level(level_text);
    if (!level) return Error(Errc::config, "unknown log level in directive", std::string(item));
    filter.directives_.push_back({map_alias(name), *level});
  }
  return filter;
}

Level Filter::level_for(std::string_view name) const {
  const Directive* best = nullptr;
  for (const auto& d : directives_) {
    // Later directives for the same target win, as in RUST_LOG.
    if (target_matches(d.target, name) && (!best || d.target.size() >= best->target.size()))
      best = &d;
  }
  return best ? best->level : default_level_;
}

Target& target(std::string_view name) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.targets.find(name);
  if (it == r.targets.end()) {
    auto t = std::make_unique<Target>(std::string(name), r.filter.level_for(name));
    it = r.targets.emplace(std::string(name), std::move(t)).first;
  }
  return *it->second;
}

void set_filter(const Filter& filter) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.filter = filter;
  for (auto& [name, t] : r.targets)
    t->set_threshold(filter.level_for(name));
}

void set_writer(Writer writer) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.writer = std::move(writer);
}

void write(const Target& t, Level level, std::string_view message) {
  auto& r = registry();
  Writer writer;
  std::shared_ptr<spdlog::logger> logger;
  {
    std::lock_guard lock(r.mutex);
    writer = r.writer;
    if (!writer) {
      if (!r.stdout_logger) r.stdout_logger = make_stdout_logger();
      logger = r.stdout_logger;
    }
  }
  if (writer) {
    writer(level, t.name(), message);
    return;
  }
  logger->log(to_spdlog(level), "{}: {}", t.name(), message);
}

}  // namespace fz::log
