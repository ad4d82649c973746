#include "portal/login_url.hpp"

#include <array>
#include <vector>

#include "base/encoding.hpp"
#include "base/uuid.hpp"
#include "net/ip_addr.hpp"

namespace fz::portal {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = ascii_lower(c);
  return out;
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

struct ParsedUrl {
  std::string scheme;  // lowercase
  std::string host;    // lowercase, IPv6 in brackets
  std::optional<std::uint16_t> port;
  std::string path;   // begins with '/'
  std::string query;  // without '?', may be empty
  bool has_query = false;
};

std::uint16_t default_port(std::string_view scheme) {
  return (scheme == "https" || scheme == "wss") ? 443 : 80;
}

Result<ParsedUrl> parse_url(std::string_view url) {
  // Like the WHATWG parser, ignore surrounding whitespace.
  while (!url.empty() && (url.front() == ' ' || url.front() == '\t' || url.front() == '\n'))
    url.remove_prefix(1);
  while (!url.empty() && (url.back() == ' ' || url.back() == '\t' || url.back() == '\n'))
    url.remove_suffix(1);

  ParsedUrl out;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) {
    return Error(Errc::config, "URL must look like scheme://host[:port][/path]");
  }
  out.scheme = lower(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);

  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  if (authority.find('@') != std::string_view::npos) {
    return Error(Errc::config, "URL must not contain credentials");
  }
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return Error(Errc::config, "URL has an unclosed '['");
    const auto inner = authority.substr(1, close - 1);
    auto ip = net::IpAddr::parse(inner);
    if (!ip || !ip->is_v6()) return Error(Errc::config, "URL has an invalid IPv6 host");
    out.host = "[" + ip->to_string() + "]";
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Error(Errc::config, "URL has junk after the IPv6 host");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = authority.find(':');
    const auto host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return Error(Errc::config, "URL has no host");
    for (char c : host) {
      if (!is_host_char(c)) {
        return Error(Errc::config,
                     "URL host has a character that is not allowed (use punycode for "
                     "internationalised names)");
      }
    }
    out.host = lower(host);
  }
  // WHATWG: "host:" (an empty port) means no port.
  if (has_port && !port_text.empty()) {
    if (port_text.size() > 5) return Error(Errc::config, "URL port is out of range");
    std::uint32_t port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return Error(Errc::config, "URL port is not a number");
      port = port * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (port > 65535) return Error(Errc::config, "URL port is out of range");
    out.port = static_cast<std::uint16_t>(port);
  }

  const auto query_start = rest.find_first_of("?#");
  out.path = std::string(rest.substr(0, query_start));
  if (out.path.empty()) out.path = "/";
  if (query_start != std::string_view::npos && rest[query_start] == '?') {
    const auto query = rest.substr(query_start + 1);
    out.query = std::string(query.substr(0, query.find('#')));
    out.has_query = true;
  }
  return out;
}

bool is_single_dot(std::string_view s) {
  return s == "." || lower(s) == "%2e";
}
bool is_double_dot(std::string_view s) {
  const auto l = lower(s);
  return l == ".." || l == ".%2e" || l == "%2e." || l == "%2e%2e";
}

// Percent-encodes what the WHATWG path percent-encode set covers (controls, space, `"`, `<`,
// `>`, backquote, `{`, `}` and non-ASCII bytes); everything else is kept as written.
std::string encode_path_segment(std::string_view segment) {
  std::string out;
  for (unsigned char c : segment) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '`' || c == '{' ||
        c == '}') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The API URL's path segments (dot segments resolved, one trailing empty segment dropped) plus
// `gateway` and `websocket`.
std::string websocket_path(std::string_view path) {
  std::vector<std::string> segments;
  std::string_view rest = path.substr(1);
  while (true) {
    const auto slash = rest.find('/');
    const auto segment = rest.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    if (is_double_dot(segment)) {
      if (!segments.empty()) segments.pop_back();
      if (last) segments.emplace_back();
    } else if (is_single_dot(segment)) {
      if (last) segments.emplace_back();
    } else {
      segments.push_back(encode_path_segment(segment));
    }
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  if (!segments.empty() && segments.back().empty()) segments.pop_back();
  segments.emplace_back("gateway");
  segments.emplace_back("websocket");
  std::string out;
  for (const auto& s : segments) {
    out += '/';
    out += s;
  }
  return out;
}

}  // namespace

std::string form_urlencode(std::string_view value) {
  std::string out;
  out.reserve(value.size() * 3);
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '*' ||
        c == '-' || c == '.' || c == '_') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string WebSocketEndpoint::host_for_lookup() const {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

Result<WebSocketEndpoint> parse_websocket_url(std::string_view url) {
  auto parsed = parse_url(url);
  if (!parsed) return parsed.error();
  if (parsed->scheme != "ws" && parsed->scheme != "wss") {
    return Error(Errc::config, "WebSocket URL scheme must be ws or wss");
  }
  WebSocketEndpoint out;
  out.tls = parsed->scheme == "wss";
  out.host = parsed->host;
  out.port = parsed->port.value_or(default_port(parsed->scheme));
  out.target = parsed->path;
  if (parsed->has_query) {
    out.target += '?';
    out.target += parsed->query;
  }
  return out;
}

Result<LoginUrl> LoginUrl::gateway(std::string_view api_url, std::string_view token,
                                   std::string_view external_id, std::string_view name) {
  auto parsed = parse_url(api_url);
  if (!parsed) return parsed.error();
  std::string scheme;
  if (parsed->scheme == "http" || parsed->scheme == "ws") {
    scheme = "ws";
  } else if (parsed->scheme == "https" || parsed->scheme == "wss") {
    scheme = "wss";
  } else {
    return Error(Errc::config, "API URL scheme must be http, https, ws or wss", parsed->scheme);
  }
  LoginUrl out;
  out.origin_ = scheme + "://" + parsed->host;
  // Like the WHATWG serializer: a port equal to the scheme's default is not written.
  if (parsed->port && *parsed->port != default_port(scheme)) {
    out.origin_ += ':';
    out.origin_ += std::to_string(*parsed->port);
  }
  out.path_ = websocket_path(parsed->path);
  out.encoded_token_ = form_urlencode(token);
  out.encoded_rest_ =
      "&external_id=" + form_urlencode(external_id) + "&name=" + form_urlencode(name);
  return out;
}

std::string LoginUrl::build(std::string_view encoded_token,
                            const crypto::PublicKey& public_key) const {
  std::string out = origin_ + path_ + "?token=";
  out += encoded_token;
  out += encoded_rest_;
  out += "&public_key=";
  out += form_urlencode(base64_encode(Bytes(public_key.data(), public_key.size())));
  return out;
}

std::string LoginUrl::url(const crypto::PublicKey& public_key) const {
  return build(encoded_token_, public_key);
}

std::string LoginUrl::redacted(const crypto::PublicKey& public_key) const {
  return build("<redacted>", public_key);
}

std::string LoginUrl::base_url() const {
  return origin_ + "/";
}

std::string random_uuid_v4(Rng& rng) {
  std::array<std::uint8_t, 16> bytes{};
  rng.fill(bytes);
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);
  return Uuid(bytes).to_string();
}

std::string gateway_name(std::optional<std::string_view> configured,
                         std::optional<std::string_view> host_name, Rng& rng) {
  if (configured && !configured->empty()) return std::string(*configured);
  if (host_name && !host_name->empty() && is_valid_utf8(*host_name)) {
    return std::string(*host_name);
  }
  return random_uuid_v4(rng);
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < text.size()) {
    const unsigned char c = byte(i);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > text.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((byte(i + k) & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace fz::portal
