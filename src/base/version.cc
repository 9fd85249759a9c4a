#include "base/version.h"

namespace mael {

// MAEL_VERSION is defined for this file alone (src/base/CMakeLists.txt), so that a new version
// recompiles one file.
std::string_view version() {
  return MAEL_VERSION;
}

std::string version_line(std::string_view program) {
  std::string line(program);
  line += ' ';
  line += version();
  return line;
}

}  // namespace mael
