#include "dns.hpp"

namespace fz::client::dns {
namespace {

std::uint16_t read_u16(Bytes b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put_u16(out, static_cast<std::uint16_t>(v >> 16));
  put_u16(out, static_cast<std::uint16_t>(v));
}

// An uncompressed name at `at`; on success `at` points past it.
Result<std::string> read_name(Bytes b, std::size_t& at) {
  std::string name;
  while (true) {
    if (at >= b.size()) return Error(Errc::malformed, "DNS name runs past the message");
    const std::uint8_t len = b[at++];
    if (len == 0) break;
    if ((len & 0xc0) != 0) return Error(Errc::unsupported, "compressed name in a question");
    if (at + len > b.size()) return Error(Errc::malformed, "DNS label runs past the message");
    if (!name.empty()) name.push_back('.');
    for (std::size_t i = 0; i < len; ++i) {
      const auto c = static_cast<char>(b[at + i]);
      if (c <= ' ' || c > '~' || c == '.') return Error(Errc::malformed, "unprintable DNS label");
      name.push_back(c);
    }
    at += len;
    if (name.size() > kMaxNameLen) return Error(Errc::malformed, "DNS name too long");
  }
  return name;
}

// Skips a possibly compressed name (answer sections).
Status skip_name(Bytes b, std::size_t& at) {
  while (true) {
    if (at >= b.size()) return Error(Errc::malformed, "DNS name runs past the message");
    const std::uint8_t len = b[at];
    if ((len & 0xc0) == 0xc0) {
      if (at + 2 > b.size()) return Error(Errc::malformed, "truncated DNS pointer");
      at += 2;
      return {};
    }
    if ((len & 0xc0) != 0) return Error(Errc::malformed, "bad DNS label type");
    ++at;
    if (len == 0) return {};
    if (at + len > b.size()) return Error(Errc::malformed, "DNS label runs past the message");
    at += len;
  }
}

}  // namespace

Result<Query> parse_query(Bytes message) {
  if (message.size() < kHeaderLen) return Error(Errc::malformed, "DNS message shorter than 12");
  Query q;
  q.id = read_u16(message, 0);
  q.flags = read_u16(message, 2);
  if ((q.flags & 0x8000) != 0) return Error(Errc::malformed, "not a query (QR set)");
  if (((q.flags >> 11) & 0xf) != 0) return Error(Errc::unsupported, "not a standard query");
  if (read_u16(message, 4) != 1) return Error(Errc::unsupported, "QDCOUNT is not 1");
  std::size_t at = kHeaderLen;
  auto name = read_name(message, at);
  if (!name) return name.error();
  if (at + 4 > message.size()) return Error(Errc::malformed, "truncated DNS question");
  q.name = std::move(*name);
  q.qtype = read_u16(message, at);
  q.qclass = read_u16(message, at + 2);
  q.question_end = at + 4;
  return q;
}

std::vector<std::uint8_t> build_response(const Query& query, Bytes raw_query, std::uint8_t rcode,
                                         std::span<const net::IpAddr> addresses,
                                         std::uint32_t ttl) {
  std::vector<std::uint8_t> out;
  out.reserve(query.question_end + addresses.size() * 28);
  put_u16(out, query.id);
  // QR, the query's RD, RA, rcode.
  const auto flags =
      static_cast<std::uint16_t>(0x8000 | (query.flags & 0x0100) | 0x0080 | (rcode & 0x0f));
  put_u16(out, flags);
  put_u16(out, 1);
  put_u16(out, static_cast<std::uint16_t>(addresses.size()));
  put_u16(out, 0);
  put_u16(out, 0);
  out.insert(out.end(), raw_query.begin() + kHeaderLen,
             raw_query.begin() + static_cast<std::ptrdiff_t>(query.question_end));
  for (const auto& ip : addresses) {
    put_u16(out, 0xc000 | kHeaderLen);  // the question's name
    put_u16(out, ip.is_v4() ? kTypeA : kTypeAaaa);
    put_u16(out, kClassIn);
    put_u32(out, ttl);
    put_u16(out, static_cast<std::uint16_t>(ip.size()));
    out.insert(out.end(), ip.raw().begin(),
               ip.raw().begin() + static_cast<std::ptrdiff_t>(ip.size()));
  }
  return out;
}

Result<Response> parse_response(Bytes message) {
  if (message.size() < kHeaderLen) return Error(Errc::malformed, "DNS message shorter than 12");
  Response r;
  r.id = read_u16(message, 0);
  const std::uint16_t flags = read_u16(message, 2);
  if ((flags & 0x8000) == 0) return Error(Errc::malformed, "not a response");
  r.rcode = static_cast<std::uint8_t>(flags & 0x0f);
  if (read_u16(message, 4) != 1) return Error(Errc::unsupported, "QDCOUNT is not 1");
  const std::uint16_t answers = read_u16(message, 6);
  std::size_t at = kHeaderLen;
  auto name = read_name(message, at);
  if (!name) return name.error();
  if (at + 4 > message.size()) return Error(Errc::malformed, "truncated DNS question");
  r.name = std::move(*name);
  r.qtype = read_u16(message, at);
  at += 4;
  for (std::uint16_t i = 0; i < answers; ++i) {
    if (auto s = skip_name(message, at); !s) return s.error();
    if (at + 10 > message.size()) return Error(Errc::malformed, "truncated DNS record");
    const std::uint16_t type = read_u16(message, at);
    const std::uint32_t ttl =
        (std::uint32_t{read_u16(message, at + 4)} << 16) | read_u16(message, at + 6);
    const std::uint16_t rdlen = read_u16(message, at + 8);
    at += 10;
    if (at + rdlen > message.size()) return Error(Errc::malformed, "truncated DNS rdata");
    if ((type == kTypeA && rdlen == 4) || (type == kTypeAaaa && rdlen == 16)) {
      if (auto ip = net::IpAddr::from_bytes(message.subspan(at, rdlen))) {
        r.addresses.push_back(*ip);
        r.ttls.push_back(ttl);
      }
    }
    at += rdlen;
  }
  return r;
}

}  // namespace fz::client::dns
