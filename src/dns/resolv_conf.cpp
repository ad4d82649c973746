#include "dns/resolv_conf.hpp"

namespace fz::dns {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view next_word(std::string_view& line) {
  std::size_t start = 0;
  while (start < line.size() && is_space(line[start]))
    ++start;
  std::size_t end = start;
  while (end < line.size() && !is_space(line[end]))
    ++end;
  std::string_view word = line.substr(start, end - start);
  line.remove_prefix(end);
  return word;
}

}  // namespace

std::vector<net::SocketAddr> parse_resolv_conf(std::string_view text) {
  std::vector<net::SocketAddr> servers;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (const std::size_t comment = line.find_first_of("#;"); comment != std::string_view::npos) {
      line = line.substr(0, comment);
    }
    if (next_word(line) != "nameserver") continue;
    const std::string_view address = next_word(line);
    if (address.find('%') != std::string_view::npos) continue;
    if (auto ip = net::IpAddr::parse(address)) servers.push_back(net::SocketAddr{*ip, 53});
  }
  return servers;
}

}  // namespace fz::dns
