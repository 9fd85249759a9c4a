#include "store/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "base/error.h"

namespace fs = std::filesystem;

namespace mael {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void remove_tree(const fs::path& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw_errno("lstat " + path.string());
  }
  if (S_ISDIR(st.st_mode)) {
    // Make sure we may list and unlink inside it before descending.
    if ((st.st_mode & 0700) != 0700) chmod(path.c_str(), (st.st_mode & 07777) | 0700);
    std::error_code ec;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
      remove_tree(it->path());
    if (rmdir(path.c_str()) != 0 && errno != ENOENT) throw_errno("rmdir " + path.string());
  } else if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw_errno("unlink " + path.string());
  }
}

static uint64_t disk_usage_rec(const fs::path& path, std::set<std::pair<dev_t, ino_t>>& seen) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return 0;
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen.emplace(st.st_dev, st.st_ino).second) return 0;
  uint64_t total = static_cast<uint64_t>(st.st_blocks) * 512;
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
      total += disk_usage_rec(it->path(), seen);
  }
  return total;
}

uint64_t disk_usage(const fs::path& path) {
  std::set<std::pair<dev_t, ino_t>> seen;
  return disk_usage_rec(path, seen);
}

UniqueFd open_dir_beneath(int base_fd, std::string_view rel, bool create) {
  UniqueFd cur(fcntl(base_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur.valid()) throw_errno("dup");
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    std::string comp(rel.substr(pos, slash - pos));
    pos = slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") throw UserError("path '" + std::string(rel) + "' leaves its directory");
    int fd = openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir " + comp);
      fd = openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ENOENT) return UniqueFd();
      if (errno == ELOOP || errno == ENOTDIR)
        throw UserError("path '" + std::string(rel) + "' passes through a symlink or non-directory '" + comp +
                        "'");
      throw_errno("open " + std::string(rel));
    }
    cur.reset(fd);
  }
  return cur;
}

void write_all(int fd, const void* data, size_t n, const char* what) {
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

}  // namespace mael
