#include "dns/message.hpp"

#include <algorithm>

namespace fz::dns {

namespace {

Error truncated_error() {
  return Error(Errc::truncated, "dns message truncated");
}

std::uint8_t ascii_lower(std::uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + ('a' - 'A')) : c;
}

}  // namespace

// Reads names with compression. A pointer must point strictly before the start of the run of
// labels that contains it (and not into the header); every jump therefore moves backwards and a
// walk ends after at most `message.size()` steps, whatever the bytes are.
class NameReader {
 public:
  // Walks the name at `offset`; returns the offset just after it where it appears (a pointer
  // counts two bytes). With `out`, appends the uncompressed wire form.
  static Result<std::size_t> walk(Bytes message, std::size_t offset, std::string* out) {
    std::size_t pos = offset;
    std::size_t run_start = offset;
    std::size_t after = 0;
    bool jumped = false;
    std::size_t total = 0;
    for (;;) {
      if (pos >= message.size()) return truncated_error();
      const std::uint8_t len = message[pos];
      if ((len & 0xC0) == 0xC0) {
        if (pos + 1 >= message.size()) return truncated_error();
        const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | message[pos + 1];
        if (target >= run_start) {
          return Error(Errc::malformed, "dns compression pointer does not point backwards");
        }
        // No encoder points into the header; refusing it keeps the question section readable
        // on its own, which truncation and SERVFAIL rely on (the header is rewritten there).
        if (target < kHeaderSize) {
          return Error(Errc::malformed, "dns compression pointer into the header");
        }
        if (!jumped) {
          after = pos + 2;
          jumped = true;
        }
        run_start = target;
        pos = target;
        continue;
      }
      if ((len & 0xC0) != 0) return Error(Errc::unsupported, "dns label type");
      if (pos + 1 + len > message.size()) return truncated_error();
      total += std::size_t{len} + 1;
      if (total > kMaxNameLength) return Error(Errc::malformed, "dns name longer than 255 bytes");
      if (out != nullptr) {
        out->append(reinterpret_cast<const char*>(message.data() + pos), std::size_t{len} + 1);
      }
      if (len == 0) return jumped ? after : pos + 1;
      pos += std::size_t{len} + 1;
    }
  }

  static Name make(std::string wire) { return Name(std::move(wire)); }
};

// --- Header ---------------------------------------------------------------------------------

Header Header::decode(const std::uint8_t* p) {
  Header h;
  h.id = load_be16(p);
  const std::uint8_t f1 = p[2];
  const std::uint8_t f2 = p[3];
  h.qr = (f1 & 0x80) != 0;
  h.opcode = static_cast<std::uint8_t>((f1 >> 3) & 0x0F);
  h.aa = (f1 & 0x04) != 0;
  h.tc = (f1 & 0x02) != 0;
  h.rd = (f1 & 0x01) != 0;
  h.ra = (f2 & 0x80) != 0;
  h.z = (f2 & 0x40) != 0;
  h.ad = (f2 & 0x20) != 0;
  h.cd = (f2 & 0x10) != 0;
  h.rcode = static_cast<std::uint8_t>(f2 & 0x0F);
  h.qdcount = load_be16(p + 4);
  h.ancount = load_be16(p + 6);
  h.nscount = load_be16(p + 8);
  h.arcount = load_be16(p + 10);
  return h;
}

void Header::encode(std::uint8_t* p) const {
  store_be16(p, id);
  p[2] = static_cast<std::uint8_t>((qr ? 0x80 : 0) | ((opcode & 0x0F) << 3) | (aa ? 0x04 : 0) |
                                   (tc ? 0x02 : 0) | (rd ? 0x01 : 0));
  p[3] = static_cast<std::uint8_t>((ra ? 0x80 : 0) | (z ? 0x40 : 0) | (ad ? 0x20 : 0) |
                                   (cd ? 0x10 : 0) | (rcode & 0x0F));
  store_be16(p + 4, qdcount);
  store_be16(p + 6, ancount);
  store_be16(p + 8, nscount);
  store_be16(p + 10, arcount);
}

// --- Name -----------------------------------------------------------------------------------

Result<Name> Name::from_text(std::string_view text) {
  if (text == "." || text.empty()) return Name();
  std::string wire;
  std::string label;
  auto finish_label = [&]() -> Status {
    if (label.empty()) return Error(Errc::malformed, "empty label in dns name");
    if (label.size() > kMaxLabelLength) return Error(Errc::malformed, "dns label over 63 bytes");
    wire.push_back(static_cast<char>(label.size()));
    wire += label;
    label.clear();
    return {};
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      FZ_TRY_STATUS(finish_label());
      if (i + 1 == text.size()) break;  // the trailing dot of a fully qualified name
      continue;
    }
    if (c != '\\') {
      label.push_back(c);
      continue;
    }
    if (i + 1 >= text.size()) return Error(Errc::malformed, "dangling escape in dns name");
    const char n = text[i + 1];
    if (n >= '0' && n <= '9') {
      if (i + 3 >= text.size()) return Error(Errc::malformed, "short \\DDD escape");
      int value = 0;
      for (std::size_t k = 1; k <= 3; ++k) {
        const char d = text[i + k];
        if (d < '0' || d > '9') return Error(Errc::malformed, "bad \\DDD escape");
        value = value * 10 + (d - '0');
      }
      if (value > 255) return Error(Errc::malformed, "\\DDD escape over 255");
      label.push_back(static_cast<char>(value));
      i += 3;
    } else {
      label.push_back(n);
      i += 1;
    }
  }
  if (!label.empty()) FZ_TRY_STATUS(finish_label());
  wire.push_back('\0');
  if (wire.size() > kMaxNameLength) return Error(Errc::malformed, "dns name longer than 255 bytes");
  return Name(std::move(wire));
}

Result<Name> Name::from_wire(Bytes wire) {
  std::string out;
  auto end = NameReader::walk(wire, 0, &out);
  if (!end) return end.error();
  if (*end != wire.size()) return Error(Errc::malformed, "bytes after the dns name");
  return Name(std::move(out));
}

std::string Name::to_string() const {
  if (is_root()) return ".";
  std::string text;
  std::size_t pos = 0;
  while (pos < wire_.size()) {
    const auto len = static_cast<std::uint8_t>(wire_[pos]);
    if (len == 0) break;
    if (!text.empty()) text.push_back('.');
    for (std::size_t k = 1; k <= len; ++k) {
      const auto c = static_cast<std::uint8_t>(wire_[pos + k]);
      if (c == '.' || c == '\\') {
        text.push_back('\\');
        text.push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7F) {
        text.push_back('\\');
        text.push_back(static_cast<char>('0' + c / 100));
        text.push_back(static_cast<char>('0' + (c / 10) % 10));
        text.push_back(static_cast<char>('0' + c % 10));
      } else {
        text.push_back(static_cast<char>(c));
      }
    }
    pos += std::size_t{len} + 1;
  }
  return text;
}

std::size_t Name::label_count() const {
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < wire_.size() && wire_[pos] != 0) {
    ++count;
    pos += static_cast<std::uint8_t>(wire_[pos]) + std::size_t{1};
  }
  return count;
}

bool Name::equals_ignore_case(const Name& other) const {
  // Length bytes are at most 63 and contain no letters, so lowering the whole form is safe.
  return wire_.size() == other.wire_.size() &&
         std::equal(wire_.begin(), wire_.end(), other.wire_.begin(), [](char a, char b) {
           return ascii_lower(static_cast<std::uint8_t>(a)) ==
                  ascii_lower(static_cast<std::uint8_t>(b));
         });
}

std::optional<net::IpAddr> Record::address() const {
  if ((rtype == rtype::a && rdata.size() == 4) || (rtype == rtype::aaaa && rdata.size() == 16)) {
    return net::IpAddr::from_bytes(rdata);
  }
  return std::nullopt;
}

// --- Parsing --------------------------------------------------------------------------------

namespace {

// Checks (and with `out`, expands) the RDATA of one record at [start, start + length).
Status read_rdata(Bytes message, std::size_t start, std::size_t length, std::uint16_t type,
                  std::vector<std::uint8_t>* out) {
  const std::size_t end = start + length;
  std::string expanded;
  std::string* names = out != nullptr ? &expanded : nullptr;
  // Fixed fields copied as they are.
  auto fixed = [&](std::size_t from, std::size_t count) {
    if (names != nullptr) {
      expanded.append(reinterpret_cast<const char*>(message.data() + from), count);
    }
  };
  // Names may point anywhere before them but must not run past the RDATA.
  auto name_at = [&](std::size_t pos) -> Result<std::size_t> {
    if (pos >= end) return Error(Errc::malformed, "dns rdata too short for its name");
    auto after = NameReader::walk(message.first(end), pos, names);
    if (!after) {
      if (after.error().code() == Errc::truncated) {
        return Error(Errc::malformed, "dns name overruns its rdata");
      }
      return after.error();
    }
    return *after;
  };
  auto must_end = [&](std::size_t pos) -> Status {
    if (pos != end) return Error(Errc::malformed, "dns rdata length does not fit its type");
    return {};
  };

  switch (type) {
    case rtype::a:
      if (length != 4) return Error(Errc::malformed, "dns A rdata is not 4 bytes");
      fixed(start, length);
      break;
    case rtype::aaaa:
      if (length != 16) return Error(Errc::malformed, "dns AAAA rdata is not 16 bytes");
      fixed(start, length);
      break;
    case rtype::ns:
    case rtype::cname:
    case rtype::ptr:
    case rtype::dname: {
      auto after = name_at(start);
      if (!after) return after.error();
      FZ_TRY_STATUS(must_end(*after));
      break;
    }
    case rtype::mx: {
      if (length < 3) return Error(Errc::malformed, "dns MX rdata too short");
      fixed(start, 2);
      auto after = name_at(start + 2);
      if (!after) return after.error();
      FZ_TRY_STATUS(must_end(*after));
      break;
    }
    case rtype::srv: {
      if (length < 7) return Error(Errc::malformed, "dns SRV rdata too short");
      fixed(start, 6);
      auto after = name_at(start + 6);
      if (!after) return after.error();
      FZ_TRY_STATUS(must_end(*after));
      break;
    }
    case rtype::soa: {
      auto mname = name_at(start);
      if (!mname) return mname.error();
      auto rname = name_at(*mname);
      if (!rname) return rname.error();
      if (*rname + 20 != end) return Error(Errc::malformed, "dns SOA rdata length");
      fixed(*rname, 20);
      break;
    }
    default:
      fixed(start, length);
      break;
  }
  if (out != nullptr) out->assign(expanded.begin(), expanded.end());
  return {};
}

// One walk for both parse_view (out == nullptr) and parse.
Result<MessageView> walk_message(Bytes message, Message* out) {
  if (message.size() < kHeaderSize) return truncated_error();
  MessageView view;
  view.header = Header::decode(message.data());
  std::size_t pos = kHeaderSize;

  for (std::uint16_t i = 0; i < view.header.qdcount; ++i) {
    std::string name;
    auto after = NameReader::walk(message, pos, out != nullptr ? &name : nullptr);
    if (!after) return after.error();
    if (*after + 4 > message.size()) return truncated_error();
    const std::uint16_t qtype = load_be16(message.data() + *after);
    const std::uint16_t qclass = load_be16(message.data() + *after + 2);
    if (i == 0) {
      view.qname_offset = pos;
      view.qtype = qtype;
      view.qclass = qclass;
    }
    if (out != nullptr) {
      out->questions.push_back(Question{NameReader::make(std::move(name)), qtype, qclass});
    }
    pos = *after + 4;
  }
  view.question_end = pos;

  const std::uint16_t counts[3] = {view.header.ancount, view.header.nscount, view.header.arcount};
  std::vector<Record>* sections[3] = {nullptr, nullptr, nullptr};
  if (out != nullptr) {
    sections[0] = &out->answers;
    sections[1] = &out->authorities;
    sections[2] = &out->additionals;
  }
  for (int s = 0; s < 3; ++s) {
    for (std::uint16_t i = 0; i < counts[s]; ++i) {
      std::string name;
      auto after = NameReader::walk(message, pos, out != nullptr ? &name : nullptr);
      if (!after) return after.error();
      pos = *after;
      if (pos + 10 > message.size()) return truncated_error();
      const std::uint8_t* p = message.data() + pos;
      const std::uint16_t type = load_be16(p);
      const std::uint16_t rclass = load_be16(p + 2);
      const std::uint32_t ttl = load_be32(p + 4);
      const std::size_t length = load_be16(p + 8);
      pos += 10;
      if (pos + length > message.size()) return truncated_error();
      Record* record = nullptr;
      if (out != nullptr) {
        sections[s]->push_back(Record{NameReader::make(std::move(name)), type, rclass, ttl, {}});
        record = &sections[s]->back();
      }
      FZ_TRY_STATUS(
          read_rdata(message, pos, length, type, record != nullptr ? &record->rdata : nullptr));
      pos += length;
    }
  }
  view.end = pos;
  if (out != nullptr) out->header = view.header;
  return view;
}

}  // namespace

Result<MessageView> parse_view(Bytes message) {
  return walk_message(message, nullptr);
}

Result<Message> parse(Bytes message) {
  Message out;
  auto view = walk_message(message, &out);
  if (!view) return view.error();
  return out;
}

Result<MessageView> parse_query(Bytes message) {
  auto view = parse_view(message);
  if (!view) return view;
  if (view->header.qr) return Error(Errc::malformed, "dns query has QR set");
  if (view->header.qdcount != 1) return Error(Errc::unsupported, "dns query without one question");
  return view;
}

Result<MessageView> parse_response(Bytes message) {
  auto view = parse_view(message);
  if (!view) return view;
  if (!view->header.qr) return Error(Errc::malformed, "dns response has QR clear");
  if (view->header.qdcount != 1) {
    return Error(Errc::unsupported, "dns response without one question");
  }
  return view;
}

Result<Name> read_name(Bytes message, std::size_t offset) {
  std::string wire;
  auto after = NameReader::walk(message, offset, &wire);
  if (!after) return after.error();
  return NameReader::make(std::move(wire));
}

// --- Building -------------------------------------------------------------------------------

namespace {

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_name(std::vector<std::uint8_t>& out, const Name& name) {
  out.insert(out.end(), name.wire().begin(), name.wire().end());
}

}  // namespace

Result<std::vector<std::uint8_t>> build(const Message& message) {
  if (message.questions.size() > 0xFFFF || message.answers.size() > 0xFFFF ||
      message.authorities.size() > 0xFFFF || message.additionals.size() > 0xFFFF) {
    return Error(Errc::out_of_range, "dns section with more than 65535 entries");
  }
  Header header = message.header;
  header.qdcount = static_cast<std::uint16_t>(message.questions.size());
  header.ancount = static_cast<std::uint16_t>(message.answers.size());
  header.nscount = static_cast<std::uint16_t>(message.authorities.size());
  header.arcount = static_cast<std::uint16_t>(message.additionals.size());

  std::vector<std::uint8_t> out(kHeaderSize);
  header.encode(out.data());
  for (const Question& q : message.questions) {
    put_name(out, q.name);
    put16(out, q.qtype);
    put16(out, q.qclass);
  }
  for (const auto* section : {&message.answers, &message.authorities, &message.additionals}) {
    for (const Record& r : *section) {
      if (r.rdata.size() > 0xFFFF) return Error(Errc::out_of_range, "dns rdata over 65535 bytes");
      put_name(out, r.name);
      put16(out, r.rtype);
      put16(out, r.rclass);
      put16(out, static_cast<std::uint16_t>(r.ttl >> 16));
      put16(out, static_cast<std::uint16_t>(r.ttl));
      put16(out, static_cast<std::uint16_t>(r.rdata.size()));
      out.insert(out.end(), r.rdata.begin(), r.rdata.end());
    }
  }
  return out;
}

std::vector<std::uint8_t> build_query(std::uint16_t id, const Name& name, std::uint16_t qtype,
                                      bool recursion_desired) {
  std::vector<std::uint8_t> out(kHeaderSize);
  Header header;
  header.id = id;
  header.rd = recursion_desired;
  header.qdcount = 1;
  header.encode(out.data());
  put_name(out, name);
  put16(out, qtype);
  put16(out, kClassIn);
  return out;
}

Result<std::vector<std::uint8_t>> build_servfail(Bytes query) {
  auto view = parse_query(query);
  if (!view) return view.error();
  auto name = read_name(query, view->qname_offset);
  if (!name) return name.error();
  Header header;
  header.id = view->header.id;
  header.qr = true;
  header.opcode = view->header.opcode;
  header.rd = view->header.rd;
  header.ra = true;
  header.rcode = static_cast<std::uint8_t>(Rcode::serv_fail);
  header.qdcount = 1;
  std::vector<std::uint8_t> out(kHeaderSize);
  header.encode(out.data());
  put_name(out, *name);
  put16(out, view->qtype);
  put16(out, view->qclass);
  return out;
}

Result<std::size_t> truncate_to(MutBytes message, const MessageView& view, std::size_t limit) {
  if (message.size() <= limit) return message.size();
  if (view.question_end > limit || view.question_end > message.size() ||
      message.size() < kHeaderSize) {
    return Error(Errc::out_of_range, "dns question section does not fit the limit");
  }
  message[2] |= 0x02;  // TC
  store_be16(message.data() + 4, 1);
  store_be16(message.data() + 6, 0);
  store_be16(message.data() + 8, 0);
  store_be16(message.data() + 10, 0);
  return view.question_end;
}

std::string_view to_string(Rcode rcode) {
  switch (rcode) {
    case Rcode::no_error:
      return "NOERROR";
    case Rcode::form_err:
      return "FORMERR";
    case Rcode::serv_fail:
      return "SERVFAIL";
    case Rcode::nx_domain:
      return "NXDOMAIN";
    case Rcode::not_imp:
      return "NOTIMP";
    case Rcode::refused:
      return "REFUSED";
  }
  return "RCODE?";
}

}  // namespace fz::dns
