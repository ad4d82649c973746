#include "portal/firezone_id.hpp"

#include "base/encoding.hpp"
#include "crypto/hash.hpp"
#include "portal/login_url.hpp"
#include "portal/messages.hpp"

namespace fz::portal {
namespace {

std::string sha256_hex(std::string_view text) {
  const auto digest =
      crypto::sha256(Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  return hex_encode(digest);
}

}  // namespace

Result<FirezoneIdPlan> plan_firezone_id(std::optional<std::string_view> env_id,
                                        std::optional<std::string_view> file_content, Rng& rng) {
  if (env_id && !env_id->empty()) return FirezoneIdPlan{std::string(*env_id), std::nullopt};
  if (file_content && !file_content->empty()) {
    if (!is_valid_utf8(*file_content)) {
      return Error(Errc::config, "the gateway id file is not valid UTF-8");
    }
    return FirezoneIdPlan{std::string(*file_content), std::nullopt};
  }
  std::string id = sha256_hex(random_uuid_v4(rng));
  return FirezoneIdPlan{id, id};
}

std::string external_id_for(std::string_view id) {
  if (parse_uuid_any(id)) return sha256_hex(id);
  return std::string(id);
}

}  // namespace fz::portal
