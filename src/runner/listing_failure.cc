#include "runner/listing_failure.h"

#include <cstring>
#include <string>

#include "base/error.h"

namespace mael {

void check_listing_result(const std::filesystem::path& binary, const ProcessResult& r) {
  if (r.ok()) return;
  std::string why = r.signal ? std::string("killed by signal ") + std::to_string(r.signal) + " (" +
                                   strsignal(r.signal) + ")"
                             : "exited with code " + std::to_string(r.exit_code);
  // The line that says why: a Go panic's message (its stack trace follows it), else the last.
  std::string last;
  for (size_t start = 0; start < r.err.size();) {
    size_t nl = r.err.find('\n', start);
    std::string line = r.err.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? r.err.size() : nl + 1;
    if (line.rfind("panic: ", 0) == 0 || line.rfind("fatal error: ", 0) == 0) {
      last = line;
      break;
    }
  }
  auto pos = r.err.find_last_not_of("\n ");
  if (last.empty() && pos != std::string::npos) {
    auto nl = r.err.rfind('\n', pos);
    size_t from = nl == std::string::npos ? 0 : nl + 1;
    last = r.err.substr(from, pos - from + 1);
  }
  throw UserError("test binary " + binary.string() + ": listing its tests failed: " + why +
                  (last.empty() ? "" : ": " + last));
}

}  // namespace mael
