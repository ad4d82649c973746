#include "login.hpp"

#include <vector>

#include "base/encoding.hpp"
#include "portal/login_url.hpp"

namespace fz::client {

Result<ClientLogin> client_login_url(std::string_view api_url, std::string_view token,
                                     std::string_view external_id, std::string_view name,
                                     const crypto::PublicKey& public_key) {
  const auto sep = api_url.find("://");
  if (sep == std::string_view::npos) return Error(Errc::config, "the API URL has no scheme");
  const std::string_view scheme = api_url.substr(0, sep);
  std::string ws_scheme;
  if (scheme == "ws" || scheme == "http") {
    ws_scheme = "ws";
  } else if (scheme == "wss" || scheme == "https") {
    ws_scheme = "wss";
  } else {
    return Error(Errc::config, "the API URL must be ws, wss, http or https");
  }
  std::string_view rest = api_url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.empty()) return Error(Errc::config, "the API URL has no host");
  std::vector<std::string_view> segments;
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash + 1);
    while (true) {
      const auto next = path.find('/');
      segments.push_back(path.substr(0, next));
      if (next == std::string_view::npos) break;
      path = path.substr(next + 1);
    }
    if (!segments.empty() && segments.back().empty()) segments.pop_back();
  }
  std::string base = ws_scheme + "://" + std::string(authority);
  for (const auto& s : segments)
    base += "/" + std::string(s);
  base += "/client/websocket?token=";
  const std::string tail = "&external_id=" + portal::form_urlencode(external_id) +
                           "&name=" + portal::form_urlencode(name) +
                           "&public_key=" + portal::form_urlencode(base64_encode(public_key));
  return ClientLogin{base + portal::form_urlencode(token) + tail, base + "<redacted>" + tail};
}

}  // namespace fz::client
