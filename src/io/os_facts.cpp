#include "io/os_facts.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace fz::io {
namespace {

std::optional<std::string> read_small_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string content;
  // os-release is a few hundred bytes; refuse to slurp anything large.
  char buffer[4096];
  while (in && content.size() < (64u << 10)) {
    in.read(buffer, sizeof buffer);
    content.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  return content;
}

}  // namespace

portal::OsFacts gather_os_facts() {
  std::optional<std::string> arch;
  std::optional<std::string> kernel;
  struct utsname uts {};
  if (::uname(&uts) == 0) {
    if (uts.machine[0] != '\0') arch = std::string(uts.machine);
    if (uts.release[0] != '\0') kernel = std::string(uts.release);
  }
  auto os_release = read_small_file("/etc/os-release");
  if (!os_release) os_release = read_small_file("/usr/lib/os-release");
  return portal::os_facts_from_os_release(os_release.value_or(""), std::move(arch),
                                          std::move(kernel));
}

std::optional<std::string> host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return std::nullopt;
  return std::string(buffer);
}

}  // namespace fz::io
