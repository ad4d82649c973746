#include "base/result.hpp"

namespace fz {

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::truncated:
      return "truncated";
    case Errc::malformed:
      return "malformed";
    case Errc::checksum:
      return "checksum";
    case Errc::unsupported:
      return "unsupported";
    case Errc::out_of_range:
      return "out of range";
    case Errc::crypto:
      return "crypto";
    case Errc::state:
      return "state";
    case Errc::exhausted:
      return "exhausted";
    case Errc::not_found:
      return "not found";
    case Errc::config:
      return "config";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string out(message_);
  if (!detail_.empty()) {
    out += ": ";
    out += detail_;
  }
  return out;
}

}  // namespace fz
