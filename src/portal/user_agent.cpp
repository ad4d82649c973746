#include "portal/user_agent.hpp"

#include <array>
#include <cstdint>
#include <utility>

namespace fz::portal {
namespace {

// os-release IDs and the names the `os_info` crate prints for them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kOsNames{{
    {"almalinux", "AlmaLinux"},
    {"alpine", "Alpine Linux"},
    {"amzn", "Amazon Linux AMI"},
    {"arch", "Arch Linux"},
    {"archarm", "Arch Linux"},
    {"centos", "CentOS"},
    {"debian", "Debian"},
    {"fedora", "Fedora"},
    {"gentoo", "Gentoo Linux"},
    {"kali", "Kali Linux"},
    {"linuxmint", "Linux Mint"},
    {"manjaro-arm", "Manjaro"},
    {"nixos", "NixOS"},
    {"ol", "OracleLinux"},
    {"opensuse", "openSUSE"},
    {"opensuse-leap", "openSUSE"},
    {"opensuse-tumbleweed", "openSUSE"},
    {"rhel", "Red Hat Enterprise Linux"},
    {"rocky", "Rocky Linux"},
    {"sles", "SUSE Linux Enterprise Server"},
    {"ubuntu", "Ubuntu"},
    {"void", "Void Linux"},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The value of `KEY=value` / `KEY="value"` / `KEY='value'` in os-release text.
std::optional<std::string> os_release_value(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.substr(0, key.size()) != key || line.size() <= key.size() || line[key.size()] != '=') {
      continue;
    }
    std::string_view value = trim(line.substr(key.size() + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// os_info's `Version::from_string`: up to three dot-separated numbers become "a.b.c" (missing
// parts are 0), anything else is kept as written, empty is "Unknown".
std::string render_version(std::string_view text) {
  if (text.empty()) return "Unknown";
  std::string_view rest = trim(text);
  std::array<std::uint64_t, 3> parts{0, 0, 0};
  std::size_t n = 0;
  bool ok = true;
  while (ok && !rest.empty()) {
    const auto dot = rest.find('.');
    const auto part = rest.substr(0, dot);
    auto v = parse_number(part);
    if (!v || n == 3) {
      ok = false;
      break;
    }
    parts[n++] = *v;
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (!ok || n == 0) return std::string(text);
  return std::to_string(parts[0]) + "." + std::to_string(parts[1]) + "." + std::to_string(parts[2]);
}

bool is_semver_number(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s.front() == '0')) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool is_semver_ident_chars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return s.front() != '.' && s.back() != '.' && s.find("..") == std::string_view::npos;
}

std::string printable_ascii(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c >= 0x20 && c <= 0x7e) out += c;
  }
  return out;
}

// A token that the portal could take for our version gets its '/' replaced.
std::string neutralise_version_tokens(std::string text) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find(' ', start);
    const auto token = std::string_view(text).substr(start, end - start);
    if (token.substr(0, 8) == "connlib/" || token.substr(0, 6) == "relay/") {
      text[start + token.find('/')] = '_';
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return text;
}

}  // namespace

OsFacts os_facts_from_os_release(std::string_view os_release, std::optional<std::string> arch,
                                 std::optional<std::string> kernel_release) {
  OsFacts out;
  out.arch = std::move(arch);
  out.kernel_release = std::move(kernel_release);
  const auto id = os_release_value(os_release, "ID");
  if (!id) return out;  // os_info without a known release file: "Linux", "Unknown"
  for (const auto& [key, name] : kOsNames) {
    if (*id == key) out.os_type = std::string(name);
  }
  out.os_version = render_version(os_release_value(os_release, "VERSION_ID").value_or(""));
  return out;
}

Status validate_protocol_version(std::string_view version) {
  static constexpr std::string_view kError = "protocol version must be MAJOR.MINOR.PATCH";
  std::string_view core = version;
  const auto suffix = core.find_first_of("-+");
  std::string_view rest;
  if (suffix != std::string_view::npos) {
    rest = core.substr(suffix);
    core = core.substr(0, suffix);
  }
  for (int i = 0; i < 3; ++i) {
    const auto dot = core.find('.');
    if ((i < 2) == (dot == std::string_view::npos)) return Error(Errc::config, kError);
    if (!is_semver_number(core.substr(0, dot))) return Error(Errc::config, kError);
    core = dot == std::string_view::npos ? std::string_view() : core.substr(dot + 1);
  }
  if (!rest.empty() && rest.front() == '-') {
    const auto plus = rest.find('+');
    if (!is_semver_ident_chars(rest.substr(1, plus == std::string_view::npos ? plus : plus - 1))) {
      return Error(Errc::config, kError);
    }
    rest = plus == std::string_view::npos ? std::string_view() : rest.substr(plus);
  }
  if (!rest.empty() && (rest.front() != '+' || !is_semver_ident_chars(rest.substr(1)))) {
    return Error(Errc::config, kError);
  }
  return {};
}

std::string user_agent(const OsFacts& os, std::string_view protocol_version) {
  std::string out = neutralise_version_tokens(printable_ascii(os.os_type + "/" + os.os_version));
  out += " connlib/";
  out += printable_ascii(protocol_version);
  std::optional<std::string> arch, kernel;
  if (os.arch) arch = printable_ascii(*os.arch);
  if (os.kernel_release) kernel = printable_ascii(*os.kernel_release);
  if (arch && kernel) {
    out += " (" + *arch + "; " + *kernel + ")";
  } else if (arch) {
    out += " (" + *arch + ")";
  } else if (kernel) {
    out += " (" + *kernel + ")";
  }
  return out;
}

}  // namespace fz::portal
