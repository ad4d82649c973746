// DNS-resource address patterns (gateway-dataplane §3.6).
//
// The reference matches a domain against a resource address with a path glob in which '.' plays
// the role of '/': `*` and `?` stay inside one label, `[...]` classes match one character of a
// label, and `**` as a whole label matches zero or more labels. Matching ignores ASCII case. A
// pattern that starts with `*.` also matches its bare parent (`*.example.com` matches
// `example.com`). A plain name matches only itself; an invalid pattern (`**` that is not a whole
// label, `***`, an unterminated class) matches nothing.
//
// Matching is a dynamic programme over (pattern token, name position), so hostile names and
// patterns cost at most tokens × characters steps.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace fz::gateway {

class DomainPattern {
 public:
  // nullopt for an invalid pattern.
  static std::optional<DomainPattern> parse(std::string_view pattern);

  // `name` in presentation form; a trailing dot is ignored.
  bool matches(std::string_view name) const;

 private:
  struct ClassItem {
    char32_t first;
    char32_t last;  // == first for a single character
  };
  enum class Kind : std::uint8_t {
    literal,       // one character
    any_char,      // ?
    any_sequence,  // * (never crosses a '.')
    any_labels,    // ** (zero or more whole labels, each with its '.')
    class_within,  // [...]
    class_except,  // [!...]
  };
  struct Token {
    Kind kind;
    char32_t c = 0;                 // literal
    std::uint32_t class_begin = 0;  // index into class_items_
    std::uint32_t class_end = 0;
  };

  bool matches_tokens(const std::vector<char32_t>& name) const;
  bool in_class(const Token& token, char32_t c) const;

  std::vector<Token> tokens_;
  std::vector<ClassItem> class_items_;
  // The pattern after a leading "*.", for the bare-parent rule; empty if it has none.
  std::vector<char32_t> parent_;
  bool has_parent_rule_ = false;
};

// §3.6 `is_subdomain(name, pattern)`.
bool is_subdomain(std::string_view name, std::string_view pattern);

}  // namespace fz::gateway
