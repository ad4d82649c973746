// What the WebSocket transport (io/websocket_client.hpp) reports when a connection attempt fails
// or an open connection ends. The channel classifies these as fatal or transient
// (spec/portal-protocol.md §3.1).
#pragma once

#include <string>
#include <string_view>

namespace fz::portal {

enum class TransportErrorKind {
  resolve,      // the portal's host name did not resolve
  connect,      // TCP connect failed on every address, or took longer than 5 s
  tls,          // the TLS handshake or a TLS record failed, other than by the certificate
  certificate,  // the server's certificate failed verification (fatal)
  http,         // the upgrade request got a status other than 101 (see http_status)
  protocol,     // a WebSocket protocol or I/O error, or a handshake timeout
  closed,       // the connection ended: a Close frame, end of stream, or our own close completed
};

std::string_view to_string(TransportErrorKind kind);

struct TransportError {
  TransportErrorKind kind = TransportErrorKind::closed;
  int http_status = 0;  // for `http`
  std::string message;  // human-readable detail; never contains the URL or the token
};

}  // namespace fz::portal
