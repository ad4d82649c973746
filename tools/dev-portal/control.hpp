// The control API: HTTP requests (already read by the server) mapped onto DevPortal's control
// operations. JSON in, JSON out; errors are `{"error":"…"}` with status 400 (bad request), 404
// (unknown route) or 409 (the target is not connected).
//
//   GET  /gateways  /clients  /flows  /policies  /legacy_replies  /errors  /frames?since=N
//   POST /reject_access                        {gateway_id?, client_id, resource_id}
//   POST /access_authorization_expiry_updated  {gateway_id?, client_id, resource_id, expires_at}
//   POST /resource_updated                     {resource_id, filters?}   (filters in DB form)
//   POST /relays_presence                      {disconnected_ids:[…], connected_ids:[…]}
//   POST /disconnect                           {gateway_id | client_id, mode: phx_close|close}
//   POST /revoke_token                         {token}
//   POST /request_connection                   {gateway_id, client_id, resource_id, expires_at?,
//                                               public_key?, preshared_key?, ice_parameters?,
//                                               domain?}
//   POST /allow_access                         {gateway_id, client_id, resource_id, expires_at?,
//                                               payload?}
//   POST /policies                             a policy object (as in the config file)
//   DELETE /policies/<id>
//   POST /push                                 {gateway_id | client_id, event, payload}
//   POST /replay?gateway_id=<id>               the body is the raw frame, sent verbatim
//   POST /replay                               {gateway_id, file} — the file's content
#pragma once

#include <string>
#include <string_view>

#include "base/time.hpp"
#include "dev-portal/portal.hpp"

namespace fz::devportal {

struct ControlResponse {
  int status = 200;
  std::string body;  // JSON
};

ControlResponse handle_control(DevPortal& portal, std::string_view method, std::string_view target,
                               std::string_view body, Instant now);

}  // namespace fz::devportal
