#include "base/program_path.h"

#include <unistd.h>

#include <sstream>
#include <system_error>

namespace mael {

namespace fs = std::filesystem;

fs::path program_on_path(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) {
    std::error_code ec;
    fs::path real = fs::canonical(name, ec);
    return ec ? fs::path(name) : real;
  }
  std::stringstream dirs(path_var);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    fs::path candidate = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      fs::path real = fs::canonical(candidate, ec);
      return ec ? candidate : real;
    }
  }
  return {};
}

}  // namespace mael
