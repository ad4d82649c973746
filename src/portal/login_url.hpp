// The WebSocket URL the gateway logs in with (spec/portal-protocol.md §1.2).
//
//   wss://api.firezone.dev/gateway/websocket?token=…&external_id=…&name=…&public_key=…
//
// The scheme maps http→ws, https→wss (ws and wss stay); the API URL's path gets `gateway` and
// `websocket` appended after dropping one trailing empty segment; its query and fragment are
// dropped. The query holds exactly these four pairs in this order, form-urlencoded the way the
// WHATWG URL serializer does it (`+`→%2B, `/`→%2F, `=`→%3D for the base64 public key).
//
// The URL contains the token, a secret: it is never logged. `redacted()` gives a loggable form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/rng.hpp"
#include "crypto/x25519.hpp"

namespace fz::portal {

// application/x-www-form-urlencoded as the WHATWG URL standard serialises it: bytes A–Z a–z 0–9
// `*` `-` `.` `_` are kept, space becomes `+`, every other byte becomes %XX (uppercase hex).
std::string form_urlencode(std::string_view value);

// The parts of a ws:// or wss:// URL that the transport needs.
struct WebSocketEndpoint {
  bool tls = false;
  std::string host;        // as in the URL, IPv6 in brackets; the Host header value
  std::uint16_t port = 0;  // the explicit port, else 80 (ws) / 443 (wss)
  std::string target;      // path and query: the HTTP request target (secret: has the token)
  // The host without IPv6 brackets, for resolving, SNI and certificate checks.
  std::string host_for_lookup() const;
};

// Parses `ws[s]://host[:port][/path][?query]`. The port defaults to the scheme's: 80 for ws, 443
// for wss. (The reference connects to 443 whenever the URL has no port, even for ws://.)
Result<WebSocketEndpoint> parse_websocket_url(std::string_view url);

class LoginUrl {
 public:
  // `api_url` is FIREZONE_API_URL (http, https, ws or wss). Fails with Errc::config and a message
  // fit for the operator on a bad URL.
  static Result<LoginUrl> gateway(std::string_view api_url, std::string_view token,
                                  std::string_view external_id, std::string_view name);

  // The full login URL with the `public_key` pair (standard base64 with padding). Secret.
  std::string url(const crypto::PublicKey& public_key) const;
  // The same URL with the token replaced by `<redacted>`, for logs.
  std::string redacted(const crypto::PublicKey& public_key) const;
  // `scheme://host[:port]/`, for logs.
  std::string base_url() const;

 private:
  std::string build(std::string_view encoded_token, const crypto::PublicKey& public_key) const;

  std::string origin_;         // "wss://host[:port]"
  std::string path_;           // "/…/gateway/websocket"
  std::string encoded_token_;  // secret
  std::string encoded_rest_;   // "&external_id=…&name=…"
};

// The `name` query value: FIREZONE_NAME if set and non-empty, else the host name if it is valid
// UTF-8 and non-empty, else a random UUIDv4 (hyphenated, lowercase).
std::string gateway_name(std::optional<std::string_view> configured,
                         std::optional<std::string_view> host_name, Rng& rng);

// A random UUID, version 4, as lowercase hyphenated text.
std::string random_uuid_v4(Rng& rng);

// True if `text` is valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace fz::portal
