//===- Expected.h - Value-or-error results for an exception-free runtime --===//
//
// The project builds with -fno-exceptions (LLVM's flags apply project-wide),
// so every fallible runtime call returns a Status or an Expected<T> carrying a
// human-readable message instead of throwing. Reading the value of a failed
// Expected prints the message and aborts: a loud stop beats undefined
// behaviour on a GPU path.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_EXPECTED_H
#define KDAC_RUNTIME_EXPECTED_H

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace kdac::rt {

/// An error message. A distinct type so that Expected<std::string> can tell a
/// value from an error.
struct Error {
  std::string message;
};

inline Error makeError(std::string message) {
  return Error{std::move(message)};
}

namespace detail {
[[noreturn]] inline void abortOnError(const char *what,
                                      const std::string &message) {
  std::fprintf(stderr, "kdac runtime: %s on an error result: %s\n", what,
               message.c_str());
  std::abort();
}
} // namespace detail

/// Success, or an error message.
class [[nodiscard]] Status {
public:
  static Status success() { return Status(); }
  Status(Error error) : failed_(true), message_(std::move(error.message)) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  /// Empty on success.
  const std::string &error() const { return message_; }

  /// Prefixes the message with the context of the caller ("loading x: ...").
  Status withContext(const std::string &context) && {
    if (failed_)
      message_ = context + ": " + message_;
    return std::move(*this);
  }

private:
  Status() = default;
  bool failed_ = false;
  std::string message_;
};

/// A value of type T, or an error message.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : value_(std::move(value)) {}
  Expected(Error error) : message_(std::move(error.message)) {}
  /// Converts a failed Status; converting a successful one is a bug.
  Expected(Status status) : message_(status.error()) {
    if (status.ok())
      detail::abortOnError("Expected built from a successful Status", "");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string &error() const { return message_; }

  T &value() & {
    check();
    return *value_;
  }
  const T &value() const & {
    check();
    return *value_;
  }
  T &&value() && {
    check();
    return std::move(*value_);
  }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T &&operator*() && { return std::move(*this).value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

  /// The error as a Status (success when a value is held).
  Status status() const {
    return ok() ? Status::success() : Status(makeError(message_));
  }

  Expected withContext(const std::string &context) && {
    if (!ok())
      message_ = context + ": " + message_;
    return std::move(*this);
  }

private:
  void check() const {
    if (!value_)
      detail::abortOnError("value() called", message_);
  }
  std::optional<T> value_;
  std::string message_;
};

} // namespace kdac::rt

#endif // KDAC_RUNTIME_EXPECTED_H
