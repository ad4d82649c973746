// UUIDs as the portal and the in-tunnel control protocol carry them: 16 bytes, written as
// lowercase hyphenated text (8-4-4-4-12). Parsing accepts either case.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace fz {

class Uuid {
 public:
  constexpr Uuid() = default;
  constexpr explicit Uuid(const std::array<std::uint8_t, 16>& bytes) : bytes_(bytes) {}

  static Result<Uuid> parse(std::string_view text);

  std::string to_string() const;
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  bool is_nil() const;

  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

}  // namespace fz

template <>
struct std::hash<fz::Uuid> {
  std::size_t operator()(const fz::Uuid& id) const noexcept;
};
