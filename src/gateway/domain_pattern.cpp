#include "gateway/domain_pattern.hpp"

#include <cstddef>

namespace fz::gateway {

namespace {

// Both '.' and '/' separate labels: the reference turns every '.' into '/' on both sides before
// globbing, so a '/' in the input behaves like a dot.
constexpr char32_t kSeparator = U'/';

bool is_ascii(char32_t c) {
  return c < 0x80;
}
char32_t ascii_lower(char32_t c) {
  return (c >= U'A' && c <= U'Z') ? c + (U'a' - U'A') : c;
}
bool is_ascii_letter(char32_t c) {
  const char32_t lower = ascii_lower(c);
  return lower >= U'a' && lower <= U'z';
}
bool chars_eq(char32_t a, char32_t b) {
  if (is_ascii(a) && is_ascii(b)) return ascii_lower(a) == ascii_lower(b);
  return a == b;
}

// UTF-8 to code points with '.' mapped to the separator. A byte that does not start a valid
// sequence stands for itself, so every input has a defined (if odd) meaning.
std::vector<char32_t> decode(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    std::size_t len = 0;
    char32_t c = b;
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
      c = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      c = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      c = b & 0x07;
    }
    bool valid = len != 0 && i + len <= n;
    for (std::size_t k = 1; valid && k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) valid = false;
      c = (c << 6) | (p[i + k] & 0x3f);
    }
    if (valid && ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
                  (c >= 0xd800 && c <= 0xdfff))) {
      valid = false;
    }
    if (!valid) {
      c = b;
      len = 1;
    }
    out.push_back(c == U'.' ? kSeparator : c);
    i += len;
  }
  return out;
}

}  // namespace

std::optional<DomainPattern> DomainPattern::parse(std::string_view pattern) {
  DomainPattern out;
  const std::vector<char32_t> p = decode(pattern);
  const std::size_t n = p.size();

  // The position of the first ']' at or after `from`, or n.
  auto find_close = [&](std::size_t from) {
    for (std::size_t k = from; k < n; ++k) {
      if (p[k] == U']') return k;
    }
    return n;
  };
  auto add_class = [&](Kind kind, std::size_t begin, std::size_t end) {
    Token token{kind};
    token.class_begin = static_cast<std::uint32_t>(out.class_items_.size());
    for (std::size_t k = begin; k < end;) {
      if (k + 3 <= end && p[k + 1] == U'-') {
        out.class_items_.push_back({p[k], p[k + 2]});
        k += 3;
      } else {
        out.class_items_.push_back({p[k], p[k]});
        k += 1;
      }
    }
    token.class_end = static_cast<std::uint32_t>(out.class_items_.size());
    out.tokens_.push_back(token);
  };

  std::size_t i = 0;
  while (i < n) {
    const char32_t c = p[i];
    if (c == U'?') {
      out.tokens_.push_back(Token{Kind::any_char});
      ++i;
    } else if (c == U'*') {
      const std::size_t start = i;
      while (i < n && p[i] == U'*')
        ++i;
      const std::size_t count = i - start;
      if (count > 2) return std::nullopt;
      if (count == 1) {
        out.tokens_.push_back(Token{Kind::any_sequence});
        continue;
      }
      // `**` must be a whole label: preceded by the start or a separator, followed by a
      // separator (which it absorbs) or the end.
      if (start != 0 && p[start - 1] != kSeparator) return std::nullopt;
      if (i < n) {
        if (p[i] != kSeparator) return std::nullopt;
        ++i;
      }
      const std::size_t size = out.tokens_.size();
      if (!(size > 1 && out.tokens_.back().kind == Kind::any_labels)) {
        out.tokens_.push_back(Token{Kind::any_labels});
      }
    } else if (c == U'[') {
      // `[!...]` needs at least one character before the closing bracket, `[...]` too; the first
      // character after the opening (or after '!') may itself be ']'.
      if (i + 4 <= n && p[i + 1] == U'!') {
        const std::size_t close = find_close(i + 3);
        if (close == n) return std::nullopt;
        add_class(Kind::class_except, i + 2, close);
        i = close + 1;
      } else if (i + 3 <= n && p[i + 1] != U'!') {
        const std::size_t close = find_close(i + 2);
        if (close == n) return std::nullopt;
        add_class(Kind::class_within, i + 1, close);
        i = close + 1;
      } else {
        return std::nullopt;
      }
    } else {
      Token token{Kind::literal};
      token.c = c;
      out.tokens_.push_back(token);
      ++i;
    }
  }

  if (n >= 2 && p[0] == U'*' && p[1] == kSeparator) {
    out.has_parent_rule_ = true;
    out.parent_.assign(p.begin() + 2, p.end());
  }
  return out;
}

bool DomainPattern::matches(std::string_view name) const {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  const std::vector<char32_t> s = decode(name);
  if (has_parent_rule_ && s.size() == parent_.size()) {
    bool equal = true;
    for (std::size_t k = 0; equal && k < s.size(); ++k)
      equal = chars_eq(s[k], parent_[k]);
    if (equal) return true;
  }
  return matches_tokens(s);
}

bool DomainPattern::in_class(const Token& token, char32_t c) const {
  for (std::uint32_t k = token.class_begin; k < token.class_end; ++k) {
    const ClassItem& item = class_items_[k];
    if (item.first == item.last) {
      if (chars_eq(c, item.first)) return true;
      continue;
    }
    // Ranges between two ASCII letters ignore case, as the reference's glob does.
    if (is_ascii(c) && is_ascii(item.first) && is_ascii(item.last) && is_ascii_letter(item.first) &&
        is_ascii_letter(item.last)) {
      const char32_t lc = ascii_lower(c);
      if (lc >= ascii_lower(item.first) && lc <= ascii_lower(item.last)) return true;
    }
    if (c >= item.first && c <= item.last) return true;
  }
  return false;
}

// match[t][pos]: tokens t.. match s[pos..]. Filled from the last token backwards, each row from
// the end of the name backwards.
bool DomainPattern::matches_tokens(const std::vector<char32_t>& s) const {
  const std::size_t m = s.size();
  const std::size_t k = tokens_.size();
  std::vector<std::uint8_t> next(m + 1, 0);
  std::vector<std::uint8_t> row(m + 1, 0);
  next[m] = 1;  // no tokens left: only the empty rest matches
  for (std::size_t t = k; t-- > 0;) {
    const Token& token = tokens_[t];
    switch (token.kind) {
      case Kind::any_sequence:
        row[m] = next[m];
        for (std::size_t pos = m; pos-- > 0;) {
          row[pos] = next[pos] || (s[pos] != kSeparator && row[pos + 1]);
        }
        break;
      case Kind::any_labels: {
        // Zero labels, or any run ending just after a separator; a trailing `**` also swallows
        // whatever is left (the reference's glob falls through to the next token at the end).
        bool after_separator = false;
        row[m] = next[m];
        for (std::size_t pos = m; pos-- > 0;) {
          after_separator = after_separator || (s[pos] == kSeparator && next[pos + 1]);
          row[pos] = next[pos] || after_separator || next[m];
        }
        break;
      }
      default:
        row[m] = 0;
        for (std::size_t pos = 0; pos < m; ++pos) {
          const char32_t c = s[pos];
          bool ok;
          switch (token.kind) {
            case Kind::literal:
              ok = chars_eq(c, token.c);
              break;
            case Kind::any_char:
              ok = c != kSeparator;
              break;
            case Kind::class_within:
              ok = c != kSeparator && in_class(token, c);
              break;
            case Kind::class_except:
              ok = c != kSeparator && !in_class(token, c);
              break;
            default:
              ok = false;
              break;
          }
          row[pos] = ok && next[pos + 1];
        }
        break;
    }
    std::swap(row, next);
  }
  return next[0] != 0;
}

bool is_subdomain(std::string_view name, std::string_view pattern) {
  const auto compiled = DomainPattern::parse(pattern);
  return compiled && compiled->matches(name);
}

}  // namespace fz::gateway
