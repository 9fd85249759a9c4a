#include "base/input_file.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "base/error.h"

namespace mael {

void refuse_directory(const std::filesystem::path& path, std::string_view what, std::string_view hint) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw UserError("cannot read " + std::string(what) + " " + path.string() + ": it is a directory; " +
                    std::string(hint));
}

std::ifstream open_input_file(const std::filesystem::path& path, std::string_view what,
                              std::string_view directory_hint) {
  refuse_directory(path, what, directory_hint);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    throw UserError("cannot read " + std::string(what) + " " + path.string() + ": " + std::strerror(err));
  }
  return in;
}

std::string read_input_file(const std::filesystem::path& path, std::string_view what,
                            std::string_view directory_hint, size_t max_bytes) {
  std::ifstream in = open_input_file(path, what, directory_hint);
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes)
      throw UserError("cannot read " + std::string(what) + " " + path.string() + ": longer than " +
                      std::to_string(max_bytes >> 20) + " MiB (the limit)");
  }
  if (in.bad()) {
    int err = errno;
    throw UserError("cannot read " + std::string(what) + " " + path.string() + ": " + std::strerror(err));
  }
  return text;
}

}  // namespace mael
