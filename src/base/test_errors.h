#pragma once
// For unit tests: the message of the UserError a call throws.
#include <string>
#include <utility>

#include "base/error.h"

namespace mael::testing {

// What f() throws as a UserError, or "no error" when it returns.
template <typename F>
std::string user_error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace mael::testing
