// The gateway's identity towards the portal: the `external_id` query value
// (spec/portal-protocol.md §1.3). The portal upserts gateways on (site, external_id), so the same
// value must come out on every start, or the gateway shows up as a new gateway with new tunnel
// IPs.
//
// Sans-IO: the caller reads the id file (/var/lib/firezone/gateway_id) and writes what the plan
// says; see io/firezone_id.hpp.
//
// Where this differs from the reference, and why (docs/compatibility.md):
// the reference creates the file as JSON `{"id":"<hex>"}` and returns the bare hex on that first
// run, but on every later run it sends the raw file content, i.e. the JSON text, so every gateway
// without FIREZONE_ID changes identity once, after its first restart. We keep what existing
// installations send from now on (the raw content of an existing file, verbatim, as the
// reference's later runs do) and fix new installations by writing the bare hex id, so the first
// run and every later run, of this gateway or of the reference, send the same value.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/rng.hpp"

namespace fz::portal {

inline constexpr std::string_view kGatewayIdPath = "/var/lib/firezone/gateway_id";

struct FirezoneIdPlan {
  std::string id;                               // the source id (FIREZONE_ID, file content or new)
  std::optional<std::string> content_to_write;  // write this to the id file (mode 0640)
};

// `env_id`: FIREZONE_ID (nullopt if unset). `file_content`: the id file's content, nullopt if it
// does not exist. Order: a non-empty FIREZONE_ID; else non-empty file content, verbatim (no
// trimming, no JSON parsing); else a new id, hex(SHA-256(random UUIDv4 text)), to be written as the
// file's whole content. File content that is not UTF-8 is an error (the reference fails too).
Result<FirezoneIdPlan> plan_firezone_id(std::optional<std::string_view> env_id,
                                        std::optional<std::string_view> file_content, Rng& rng);

// The `external_id` for a source id: lowercase hex SHA-256 of the id's bytes if it parses as a
// UUID in any form the Rust `uuid` crate accepts, else the id unchanged.
std::string external_id_for(std::string_view id);

}  // namespace fz::portal
