// dns: the codec on arbitrary bytes, as the forwarder meets them from clients and upstreams.
// Whatever parses must rebuild and reparse to the same message; a parseable query must give a
// parseable SERVFAIL; a parseable response must truncate to a parseable message within the limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dns/message.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fz::dns;
  const fz::Bytes input(data, size);
  auto view = parse_view(input);
  auto full = parse(input);
  check(view.ok() == full.ok());
  if (!view.ok()) return 0;

  auto rebuilt = build(*full);
  check(rebuilt.ok());
  auto again = parse(*rebuilt);
  check(again.ok() && *again == *full);
  for (const auto* section : {&full->answers, &full->authorities, &full->additionals}) {
    for (const Record& r : *section)
      (void)r.address();
  }
  for (const Question& q : full->questions) {
    auto text = Name::from_text(q.name.to_string());
    check(text.ok() && *text == q.name);
  }

  if (auto query = parse_query(input); query.ok()) {
    auto servfail = build_servfail(input);
    check(servfail.ok());
    auto reply = parse_response(*servfail);
    check(reply.ok() && reply->header.id == query->header.id && reply->header.rcode == 2);
  }
  if (auto response = parse_response(input); response.ok()) {
    std::vector<std::uint8_t> copy(data, data + size);
    const std::size_t limit = response->question_end + (size > 40 ? size / 2 : 0);
    auto cut = truncate_to(copy, *response, limit);
    check(cut.ok() && *cut <= limit);
    copy.resize(*cut);
    check(parse_response(copy).ok());
  }
  return 0;
}
