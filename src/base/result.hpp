// The error and result types that every parser and protocol path returns.
//
// Bad input is normal on a network: parsers never throw, they return an Error. An Error carries a
// category (for counters and tests) and a static message; formatting extra detail is opt-in so
// that rejecting a hostile packet never allocates.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace fz {

enum class Errc {
  truncated,     // input ended before a field it declares
  malformed,     // a field has a value the format does not allow
  checksum,      // a checksum or MAC did not verify
  unsupported,   // well-formed, but a version, type or option we do not handle
  out_of_range,  // a number outside its allowed range
  crypto,        // a cryptographic operation failed (bad key, failed decryption)
  state,         // the operation does not fit the current protocol state
  exhausted,     // a pool, table or id space is full
  not_found,     // a lookup found nothing
  config,        // invalid configuration
};

std::string_view to_string(Errc code);

class Error {
 public:
  // `message` must outlive the error; string literals are the expected argument.
  constexpr Error(Errc code, std::string_view message) : code_(code), message_(message) {}
  Error(Errc code, std::string_view message, std::string detail)
      : code_(code), message_(message), detail_(std::move(detail)) {}

  Errc code() const { return code_; }
  std::string_view message() const { return message_; }
  const std::string& detail() const { return detail_; }
  // "message: detail", or just the message.
  std::string to_string() const;

  friend bool operator==(const Error& a, const Error& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.detail_ == b.detail_;
  }

 private:
  Errc code_;
  std::string_view message_;
  std::string detail_;
};

// An expected-like value: either a T or an Error. Checked access asserts in debug builds.
template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>);

 public:
  using value_type = T;

  Result(const T& value) : v_(std::in_place_index<0>, value) {}
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}
  template <class U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
           !std::is_same_v<std::remove_cvref_t<U>, Error> &&
           !std::is_same_v<std::remove_cvref_t<U>, Result>) Result(U&& value)
      : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    assert(ok());
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    assert(ok());
    return std::move(*std::get_if<0>(&v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return *std::get_if<1>(&v_);
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(!ok());
    return *error_;
  }

 private:
  // Empty on success, so the common path constructs no Error at all.
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace fz

// Propagates an error from an expression that yields a Result; otherwise evaluates to nothing.
#define FZ_TRY_STATUS(expr)                                                           \
  do {                                                                                \
    if (auto fz_try_status_ = (expr); !fz_try_status_) return fz_try_status_.error(); \
  } while (0)
