#pragma once
// Error types. A UserError is something the user caused and can fix (bad input,
// missing file); its what() is a single line naming the input and the fix, and
// tools print it as "error: ..." with a non-zero exit. Anything else is ours.
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace mael {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A command line that cannot be understood (like an unknown option): tools add
// "see PROGRAM --help" and exit with 2, as for the argument parser's own errors.
class UsageError : public UserError {
 public:
  using UserError::UserError;
};

// Wraps a failing syscall with the operation it was part of.
[[noreturn]] inline void throw_errno(const std::string& what, int err = errno) {
  throw std::system_error(err, std::generic_category(), what);
}

// Returns rc, or throws with `what` and errno when rc is negative.
template <typename T>
T check_sys(T rc, const std::string& what) {
  if (rc < 0) throw_errno(what);
  return rc;
}

}  // namespace mael
