// The User-Agent header of the login request (spec/portal-protocol.md §1.5):
//
//   <os_type>/<os_version> connlib/<protocol version>[ (<arch>; <kernel release>)]
//
// It is the gateway's only version signal: the portal takes the first space-separated token that
// starts with `connlib/` as the gateway version, which decides which clients it routes to us
// (±1 minor) and whether we get the legacy messages. So the version must be strict semver, and the
// OS part is sanitised so that it can never contain such a token itself.
//
// The OS facts are inputs; io/os_facts.hpp gathers them from /etc/os-release and uname(2).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace fz::portal {

// The protocol level we implement (the reference gateway's version), overridable by the operator.
inline constexpr std::string_view kDefaultProtocolVersion = "1.4.16";

struct OsFacts {
  std::string os_type = "Linux";       // e.g. "Ubuntu", "Debian", "Alpine Linux"
  std::string os_version = "Unknown";  // e.g. "22.4.0" (os_info's rendering of VERSION_ID 22.04)
  std::optional<std::string> arch;     // uname machine, e.g. "x86_64"
  std::optional<std::string> kernel_release;  // uname release, e.g. "6.8.0-1017-aws"
};

// The OS type and version from the text of /etc/os-release, rendered as the reference's
// `os_info` crate does: ID mapped to a display name (unknown IDs give "Linux"), VERSION_ID
// "22.04" rendered as "22.4.0", a missing VERSION_ID as "Unknown".
OsFacts os_facts_from_os_release(std::string_view os_release, std::optional<std::string> arch,
                                 std::optional<std::string> kernel_release);

// Accepts MAJOR.MINOR.PATCH (no leading zeros) with an optional -prerelease and +build suffix,
// which is what the portal's Version.parse accepts.
Status validate_protocol_version(std::string_view version);

// Builds the header value. Characters outside printable ASCII are removed (the reference removes
// non-ASCII only; control characters would break the HTTP header), and any token of the OS part
// that starts with `connlib/` or `relay/` gets its `/` replaced by `_`.
std::string user_agent(const OsFacts& os,
                       std::string_view protocol_version = kDefaultProtocolVersion);

}  // namespace fz::portal
