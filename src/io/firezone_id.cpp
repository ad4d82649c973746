#include "io/firezone_id.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/log.hpp"

namespace fz::io {
namespace {

Error io_error(const char* what, const std::filesystem::path& path, int err) {
  return Error(Errc::config, what, path.string() + ": " + std::strerror(err));
}

// Writes `content` to a temporary file next to `path`, then renames it over `path`.
Status write_atomically(const std::filesystem::path& path, const std::string& content) {
  const auto dir = path.parent_path();
  std::error_code ec;
  if (!dir.empty()) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return io_error("cannot create the directory for the gateway id", dir, ec.value());
    ::chmod(dir.c_str(), 0770);
  }
  auto tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return io_error("cannot write the gateway id", tmp, errno);
  std::size_t written = 0;
  while (written < content.size()) {
    const auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return io_error("cannot write the gateway id", tmp, err);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot write the gateway id", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot write the gateway id", path, err);
  }
  return {};
}

}  // namespace

Result<GatewayIdentity> load_gateway_identity(std::optional<std::string> env_id, Rng& rng,
                                              const std::filesystem::path& path) {
  std::optional<std::string> content;
  if (!env_id || env_id->empty()) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      // Never replace an id we merely failed to read: that would change our identity.
      std::ifstream in(path, std::ios::binary);
      if (!in) return io_error("cannot read the gateway id", path, errno);
      content.emplace((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  }
  auto plan = portal::plan_firezone_id(env_id, content, rng);
  if (!plan) return plan.error();
  GatewayIdentity out;
  if (plan->content_to_write) {
    FZ_INFO("io", "creating a new gateway id in {}", path.string());
    auto written = write_atomically(path, *plan->content_to_write);
    if (!written) return written.error();
    out.created = true;
  }
  out.external_id = portal::external_id_for(plan->id);
  out.id = std::move(plan->id);
  return out;
}

}  // namespace fz::io
