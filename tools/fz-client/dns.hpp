// The little DNS the test client's stub resolver needs (client-protocol.md §5.2): parse a query
// with one question, build an answer with A/AAAA records, and parse such an answer (tests, tools).
// Not a general DNS library: no compression in questions, no EDNS echo.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::client::dns {

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypePtr = 12;
inline constexpr std::uint16_t kTypeTxt = 16;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kTypeSrv = 33;
inline constexpr std::uint16_t kTypeHttps = 65;
inline constexpr std::uint16_t kClassIn = 1;

inline constexpr std::uint8_t kRcodeNoError = 0;
inline constexpr std::uint8_t kRcodeServFail = 2;
inline constexpr std::uint8_t kRcodeNxDomain = 3;
inline constexpr std::uint8_t kRcodeRefused = 5;

inline constexpr std::size_t kHeaderLen = 12;
inline constexpr std::size_t kMaxNameLen = 253;

struct Query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;  // as received (opcode, RD)
  std::string name;         // presentation form, no trailing dot, case as received
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::size_t question_end = 0;  // offset just past the question
};

// A standard query (QR = 0, opcode 0) with QDCOUNT = 1 and an uncompressed name of printable
// labels. Anything else is Errc::malformed or Errc::unsupported.
Result<Query> parse_query(Bytes message);

// The answer to `query` (whose wire form is `raw_query`): same id, QR, the query's RD, RA set,
// `rcode`, the question copied, and one A or AAAA record (name = pointer to the question) per
// address with `ttl`.
std::vector<std::uint8_t> build_response(const Query& query, Bytes raw_query, std::uint8_t rcode,
                                         std::span<const net::IpAddr> addresses, std::uint32_t ttl);

struct Response {
  std::uint16_t id = 0;
  std::uint8_t rcode = 0;
  std::string name;  // of the question
  std::uint16_t qtype = 0;
  std::vector<net::IpAddr> addresses;  // A and AAAA records in order
  std::vector<std::uint32_t> ttls;
};

// Parses a response (QR = 1, QDCOUNT = 1); answers other than A/AAAA are skipped.
Result<Response> parse_response(Bytes message);

}  // namespace fz::client::dns
