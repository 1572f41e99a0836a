// Result<T> and Error: kernel, GBM and Wayland failures are expected, so they
// are returned as values, never thrown across the event loop or C callbacks.
// (g++ 12 has no std::expected; this is the small subset zcpipe needs.)
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace zc {

struct Error {
  int code = 0;       // errno value, or 0 when the failure has no errno
  std::string what;   // what failed, in words a user can act on

  // "what: strerror(code)" or just "what".
  std::string message() const {
    if (code == 0) return what;
    return what + ": " + std::strerror(code);
  }
  // Captures errno at the point of failure.
  static Error from_errno(std::string what) { return Error{errno, std::move(what)}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}       // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace zc
