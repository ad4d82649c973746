// Facts about the host that go into the portal login: the OS for the User-Agent and the host name
// for the default gateway name. Read from /etc/os-release, uname(2) and gethostname(2).
#pragma once

#include <optional>
#include <string>

#include "portal/user_agent.hpp"

namespace fz::io {

// The OS type and version from /etc/os-release (falling back to /usr/lib/os-release), the
// architecture and kernel release from uname(2). Missing facts are left at their defaults.
portal::OsFacts gather_os_facts();

// gethostname(2); nullopt if it fails or the name is empty.
std::optional<std::string> host_name();

}  // namespace fz::io
