#include "base/fd_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "base/error.h"

namespace mael {

void write_all(int fd, const void* data, size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno(what);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

std::string read_all(int fd) {
  std::string s;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

void copy_file_contents(const std::string& from, const std::string& to, unsigned mode) {
  auto fail = [](const std::string& what, int err) { throw UserError(what + ": " + std::strerror(err)); };
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("cannot open " + from, errno);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0) {
    int e = errno;
    ::close(in);
    fail("cannot create " + to, e);
  }
  char buf[65536];
  int err = 0;
  std::string what;
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno, what = "cannot read " + from;
      break;
    }
    if (n == 0) break;
    try {
      write_all(out, buf, static_cast<size_t>(n), "write " + to);
    } catch (const std::system_error& e) {
      err = e.code().value(), what = "cannot write " + to;
      break;
    }
  }
  ::close(in);
  if (::close(out) != 0 && err == 0) err = errno, what = "cannot write " + to;
  if (err != 0) fail(what, err);
}

}  // namespace mael
