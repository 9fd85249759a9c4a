#include "base/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <system_error>
#include <thread>

namespace mael {

namespace {
constexpr std::string_view kTempInfix = ".tmp.";
}

bool is_file_or_its_atomic_temp(const std::filesystem::path& candidate, const std::filesystem::path& path) {
  if (candidate == path) return true;
  const std::string c = candidate.string(), prefix = path.string() + std::string(kTempInfix);
  return c.starts_with(prefix) && c.find('/', prefix.size()) == std::string::npos;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text, bool durable) {
  std::string tmp = path.string() + std::string(kTempInfix) + std::to_string(::getpid()) + "." +
                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "creating " + tmp);
  auto fail = [&](int err, const std::string& what) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw std::system_error(err, std::generic_category(), what);
  };
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno, "writing " + tmp);
    done += static_cast<size_t>(n);
  }
  if (durable && ::fsync(fd) < 0) fail(errno, "writing " + tmp);
  int closed = ::close(fd);
  fd = -1;
  if (closed < 0) fail(errno, "writing " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) < 0) fail(errno, "renaming " + tmp + " to " + path.string());
}

}  // namespace mael
