// DNS messages (RFC 1035): what the gateway's forwarder on port 53535 and its tests need.
//
// Two ways in:
//  * `parse_view` walks a whole message without allocating: header, every question and record,
//    every name (compression pointers must point strictly backwards, which rules out loops). The
//    forwarder uses it to vet queries and answers and to find the end of the question section.
//  * `parse` decodes into owning values. Names inside the RDATA of the types that may carry
//    compressed names (NS, CNAME, PTR, DNAME, MX, SOA, SRV) are expanded, so an RDATA is always
//    context-free and `build` can write it back as is.
// And out: `build` (no compression), `build_query`, `build_servfail` for a query, and
// `truncate_to` for answers that are too large for their transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/ip_addr.hpp"

namespace fz::dns {

constexpr std::size_t kHeaderSize = 12;
constexpr std::size_t kMaxNameLength = 255;  // wire form, including the root label
constexpr std::size_t kMaxLabelLength = 63;
// The forwarder's limit for answers sent back over UDP (spec gateway-dataplane §7.3).
constexpr std::size_t kMaxUdpAnswer = 1200;
constexpr std::size_t kMaxTcpMessage = 65535;

namespace rtype {
constexpr std::uint16_t a = 1;
constexpr std::uint16_t ns = 2;
constexpr std::uint16_t cname = 5;
constexpr std::uint16_t soa = 6;
constexpr std::uint16_t ptr = 12;
constexpr std::uint16_t mx = 15;
constexpr std::uint16_t txt = 16;
constexpr std::uint16_t aaaa = 28;
constexpr std::uint16_t srv = 33;
constexpr std::uint16_t dname = 39;
constexpr std::uint16_t opt = 41;
constexpr std::uint16_t https = 65;
}  // namespace rtype

constexpr std::uint16_t kClassIn = 1;

enum class Rcode : std::uint8_t {
  no_error = 0,
  form_err = 1,
  serv_fail = 2,
  nx_domain = 3,
  not_imp = 4,
  refused = 5,
};

struct Header {
  std::uint16_t id = 0;
  bool qr = false;  // response
  std::uint8_t opcode = 0;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  bool z = false;
  bool ad = false;
  bool cd = false;
  std::uint8_t rcode = 0;  // the low four bits from the header
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  static Header decode(const std::uint8_t* p);  // kHeaderSize bytes
  void encode(std::uint8_t* p) const;
  friend bool operator==(const Header&, const Header&) = default;
};

// A domain name in uncompressed wire form: length-prefixed labels ending with the empty root
// label, at most 255 bytes. Labels are arbitrary bytes; comparison with == is byte-exact,
// `equals_ignore_case` is the DNS comparison (ASCII case-insensitive).
class Name {
 public:
  // The root name ".".
  Name() : wire_(1, '\0') {}

  // Presentation form: "app.example.com" or "app.example.com."; "\." and "\\" escape, "\DDD" is
  // a decimal byte. "" and "." are the root.
  static Result<Name> from_text(std::string_view text);
  // From uncompressed wire bytes, which must hold exactly one valid name.
  static Result<Name> from_wire(Bytes wire);

  std::string to_string() const;  // without the trailing dot; "." for the root
  const std::string& wire() const { return wire_; }
  std::size_t label_count() const;
  bool is_root() const { return wire_.size() == 1; }
  bool equals_ignore_case(const Name& other) const;

  friend bool operator==(const Name&, const Name&) = default;

 private:
  explicit Name(std::string wire) : wire_(std::move(wire)) {}
  friend class NameReader;
  std::string wire_;
};

struct Question {
  Name name;
  std::uint16_t qtype = rtype::a;
  std::uint16_t qclass = kClassIn;
  friend bool operator==(const Question&, const Question&) = default;
};

struct Record {
  Name name;
  std::uint16_t rtype = rtype::a;
  std::uint16_t rclass = kClassIn;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;  // names in it uncompressed (see the file comment)

  // The address of an A or AAAA record with a well-sized RDATA.
  std::optional<net::IpAddr> address() const;
  friend bool operator==(const Record&, const Record&) = default;
};

struct Message {
  Header header;  // the counts are recomputed by build
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> authorities;
  std::vector<Record> additionals;
  friend bool operator==(const Message&, const Message&) = default;
};

// What a full walk of a message found, without copying anything.
struct MessageView {
  Header header;
  std::size_t question_end = 0;  // offset just after the question section
  std::size_t end = 0;           // offset just after the last record (trailing bytes may follow)
  // The first question, if there is one.
  std::size_t qname_offset = 0;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
};

// Validates the whole message. Errors: truncated (a section or name runs past the end),
// malformed (bad label type, forward or self pointer, name over 255 bytes, RDATA that does not
// fit the type, e.g. an A record of 3 bytes or a CNAME whose name overruns its RDATA).
Result<MessageView> parse_view(Bytes message);
Result<Message> parse(Bytes message);

// What the forwarder accepts: a parseable message with exactly one question and QR as given.
Result<MessageView> parse_query(Bytes message);     // QR = 0
Result<MessageView> parse_response(Bytes message);  // QR = 1

// The first question's name of a validated message (decompressed).
Result<Name> read_name(Bytes message, std::size_t offset);

// Uncompressed encoding. Errors: more than 65535 entries in a section, an RDATA over 65535
// bytes.
Result<std::vector<std::uint8_t>> build(const Message& message);

// A standard query with one question.
std::vector<std::uint8_t> build_query(std::uint16_t id, const Name& name, std::uint16_t qtype,
                                      bool recursion_desired = true);

// SERVFAIL for `query`: same id, opcode and RD; QR and RA set; the question copied
// (decompressed); no records. The query must pass parse_query.
Result<std::vector<std::uint8_t>> build_servfail(Bytes query);

// Makes a validated response fit into `limit` bytes. If it already fits, nothing changes and the
// size is returned. Otherwise TC is set, everything after the question section is cut and
// QDCOUNT=1, ANCOUNT=NSCOUNT=ARCOUNT=0; the new size is returned. `view` must come from
// parse_response(message). Errors if even the question section does not fit.
Result<std::size_t> truncate_to(MutBytes message, const MessageView& view, std::size_t limit);

std::string_view to_string(Rcode rcode);

}  // namespace fz::dns
