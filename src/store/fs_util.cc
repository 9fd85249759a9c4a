#include "store/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <system_error>
#include <utility>

#include "base/error.h"
#include "store/tree_walk.h"

namespace fs = std::filesystem;

namespace mael {

namespace {

// The directory holding path, open, and path's last component.
std::pair<UniqueFd, std::string> open_parent_of(const fs::path& path) {
  fs::path abs = fs::absolute(path).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  UniqueFd parent(open(abs.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return {std::move(parent), abs.filename().string()};
}

}  // namespace

void remove_tree(const fs::path& path) {
  auto [parent, name] = open_parent_of(path);
  if (!parent.valid()) {
    if (errno == ENOENT) return;
    throw_errno("open " + path.parent_path().string());
  }
  remove_tree_at(parent.get(), name, path.string());
}

uint64_t disk_usage(const fs::path& path) {
  auto [parent, name] = open_parent_of(path);
  if (!parent.valid()) return 0;
  struct stat st;
  if (fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  if (!S_ISDIR(st.st_mode)) return static_cast<uint64_t>(st.st_blocks) * 512;
  UniqueFd dir(openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return dir.valid() ? disk_usage_at(dir.get()) : static_cast<uint64_t>(st.st_blocks) * 512;
}

std::vector<std::string_view> path_components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view comp = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (!comp.empty() && comp != ".") out.push_back(comp);
  }
  return out;
}

std::string shorten_path(std::string_view path) {
  if (path.size() <= 160) return std::string(path);
  return "..." + std::string(path.substr(path.size() - 160));
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

}  // namespace mael
