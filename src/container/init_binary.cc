#include "container/init_binary.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <fstream>
#include <string>

#include "base/error.h"

namespace mael {

extern const unsigned char kInitImage[];
extern const size_t kInitImageSize;

namespace {

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

bool memfd_exec_forbidden() {
  std::ifstream f("/proc/sys/vm/memfd_noexec");
  int value = 0;
  return f >> value && value >= 2;
}

int make_init_fd(const std::filesystem::path& fallback_dir) {
  int rw;
  if (memfd_exec_forbidden()) {
    rw = ::open(fallback_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0500);
    if (rw < 0) throw_errno("creating the container init in " + fallback_dir.string());
  } else {
    // MFD_EXEC (Linux 6.3) says so explicitly where vm.memfd_noexec would default to no-exec.
    rw = ::memfd_create("maelstrom-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (rw < 0 && errno == EINVAL) rw = ::memfd_create("maelstrom-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (rw < 0) throw_errno("memfd_create (container init)");
  }
  size_t done = 0;
  while (done < kInitImageSize) {
    ssize_t n = ::write(rw, kInitImage + done, kInitImageSize - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      ::close(rw);
      throw_errno("writing the container init", e);
    }
    done += static_cast<size_t>(n);
  }
  if (!memfd_exec_forbidden() &&
      ::fcntl(rw, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    int e = errno;
    ::close(rw);
    throw_errno("sealing the container init", e);
  }
  // execve refuses a file open for writing anywhere (ETXTBSY): keep a read-only
  // descriptor only.
  std::string self = "/proc/self/fd/" + std::to_string(rw);
  int ro = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  int e = errno;
  ::close(rw);
  if (ro < 0) throw_errno("reopening the container init", e);
  return ro;
}

}  // namespace

int init_program_fd(const std::filesystem::path& fallback_dir) {
  static const int fd = make_init_fd(fallback_dir);
  return fd;
}

}  // namespace mael
