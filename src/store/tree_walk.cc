#include "store/tree_walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>

#include "base/error.h"
#include "store/fs_util.h"

namespace mael {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

UniqueFd dup_fd(int fd) {
  UniqueFd d(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!d.valid()) throw_errno("dup");
  return d;
}

struct stat fstat_checked(int fd) {
  struct stat st;
  check_sys(fstat(fd, &st), "fstat");
  return st;
}

// The parent of the directory open at fd, which must be the one with `st` (what we came down
// through): otherwise the tree was moved under us.
UniqueFd open_parent(int fd, const struct stat& expected) {
  UniqueFd up(openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!up.valid()) throw_errno("open ..");
  struct stat st = fstat_checked(up.get());
  if (st.st_dev != expected.st_dev || st.st_ino != expected.st_ino)
    throw std::runtime_error("a directory tree was moved while it was being walked");
  return up;
}

std::vector<std::string> split_components(std::string_view rel) {
  std::vector<std::string> out;
  for (std::string_view comp : path_components(rel)) {
    if (comp == "..") throw UserError("path '" + shorten_path(rel) + "' leaves its directory");
    out.emplace_back(comp);
  }
  return out;
}

}  // namespace

// ---- DirCursor -------------------------------------------------------------------------------

DirCursor::DirCursor(int top_fd, OnCreate on_create)
    : top_(dup_fd(top_fd)), top_st_(fstat_checked(top_.get())), on_create_(std::move(on_create)) {}

void DirCursor::reset() {
  cur_.reset();
  path_.clear();
}

void DirCursor::up() {
  struct stat parent {};
  if (path_.size() >= 2) {
    parent.st_dev = path_[path_.size() - 2].dev;
    parent.st_ino = path_[path_.size() - 2].ino;
  } else {
    parent = top_st_;
  }
  cur_ = open_parent(cur_.get(), parent);
  path_.pop_back();
}

int DirCursor::go(std::string_view rel, bool create) {
  std::vector<std::string> comps = split_components(rel);
  if (!cur_.valid()) reset();
  size_t common = 0;
  while (common < path_.size() && common < comps.size() && path_[common].name == comps[common]) ++common;
  if (!cur_.valid() || path_.size() - common > common) {
    // Starting again from the top is no longer than climbing.
    cur_ = dup_fd(top_.get());
    path_.clear();
  }
  while (path_.size() > common) up();
  std::string done;  // the path so far, for callbacks and messages
  for (size_t i = 0; i < path_.size(); ++i) done += (i ? "/" : "") + path_[i].name;
  for (size_t i = path_.size(); i < comps.size(); ++i) {
    const std::string& comp = comps[i];
    done += (done.empty() ? "" : "/") + comp;
    int fd = openat(cur_.get(), comp.c_str(), kDirFlags);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(cur_.get(), comp.c_str(), 0700) == 0) {
        if (on_create_) on_create_(done, cur_.get(), comp);
      } else if (errno != EEXIST) {
        throw_errno("mkdir " + shorten_path(done));
      }
      fd = openat(cur_.get(), comp.c_str(), kDirFlags);
    }
    if (fd < 0) {
      if (errno == ENOENT) return -1;
      if (errno == ELOOP || errno == ENOTDIR)
        throw UserError("path '" + shorten_path(rel) + "' passes through a symlink or non-directory '" +
                        shorten_path(done) + "'");
      throw_errno("open " + shorten_path(done));
    }
    UniqueFd next(fd);
    struct stat st = fstat_checked(fd);
    cur_ = std::move(next);
    path_.push_back(Level{comp, st.st_dev, st.st_ino});
  }
  return cur_.get();
}

// ---- walking -----------------------------------------------------------------------------------

void walk_tree(int top_fd, const TreeVisitor& v) {
  struct Frame {
    std::string name;
    struct stat st;
    std::vector<std::string> subdirs;  // to enter, in order
    size_t next = 0;
  };
  std::vector<Frame> frames;
  std::string dir_rel;  // of the directory being listed
  auto rel_of = [&](const std::string& name) { return dir_rel.empty() ? name : dir_rel + "/" + name; };
  // Lists the directory open at fd into frames.back(), visiting each entry.
  auto list = [&](int fd) {
    UniqueFd d = dup_fd(fd);
    DIR* dir = fdopendir(d.get());
    if (dir == nullptr) {
      v.on_error(dir_rel, "list", errno);
      return;
    }
    d.release();
    std::vector<std::string> names;
    errno = 0;
    while (dirent* de = readdir(dir)) {
      if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0)
        names.emplace_back(de->d_name);
    }
    int err = errno;
    closedir(dir);
    if (err) v.on_error(dir_rel, "list", err);
    for (const auto& n : names) {
      struct stat st;
      if (fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) v.on_error(rel_of(n), "stat", errno);
        continue;
      }
      if (v.visit(fd, dir_rel, n, st) && S_ISDIR(st.st_mode)) frames.back().subdirs.push_back(n);
    }
  };

  UniqueFd cur = dup_fd(top_fd);
  frames.push_back(Frame{"", fstat_checked(cur.get()), {}, 0});
  list(cur.get());
  for (;;) {
    Frame& f = frames.back();
    if (f.next < f.subdirs.size()) {
      std::string name = f.subdirs[f.next++];
      UniqueFd child(openat(cur.get(), name.c_str(), kDirFlags));
      if (!child.valid()) {
        v.on_error(rel_of(name), "open", errno);
        continue;
      }
      struct stat st = fstat_checked(child.get());
      cur = std::move(child);
      dir_rel = rel_of(name);
      frames.push_back(Frame{std::move(name), st, {}, 0});
      list(cur.get());
      continue;
    }
    if (frames.size() == 1) return;
    std::string name = std::move(f.name);
    frames.pop_back();
    dir_rel.resize(dir_rel.size() > name.size() ? dir_rel.size() - name.size() - 1 : 0);
    cur = open_parent(cur.get(), frames.back().st);
    if (v.leave) v.leave(cur.get(), name);
  }
}

void remove_tree_at(int dir_fd, const std::string& name, const std::string& shown) {
  struct stat st;
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw_errno("stat " + name);
  }
  std::string first;
  size_t failures = 0;
  auto fail = [&](const std::string& what, int err) {
    if (failures++ == 0) first = what + ": " + std::strerror(err);
  };
  // A directory we may not list or enter is made so first (we own what we extracted).
  auto make_enterable = [&](int parent, const std::string& n, const struct stat& s) {
    if ((s.st_mode & 0700) != 0700 && fchmodat(parent, n.c_str(), (s.st_mode & 07777) | 0700, 0) != 0)
      fail("chmod " + n, errno);
  };
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) throw_errno("unlink " + name);
    return;
  }
  make_enterable(dir_fd, name, st);
  UniqueFd top(openat(dir_fd, name.c_str(), kDirFlags));
  if (!top.valid()) throw_errno("open " + name);
  walk_tree(top.get(),
            TreeVisitor{
                .visit =
                    [&](int fd, const std::string& rel, const std::string& n, const struct stat& s) {
                      if (S_ISDIR(s.st_mode)) {
                        make_enterable(fd, n, s);
                        return true;
                      }
                      if (unlinkat(fd, n.c_str(), 0) != 0 && errno != ENOENT)
                        fail("unlink " + shorten_path(rel.empty() ? n : rel + "/" + n), errno);
                      return false;
                    },
                .leave =
                    [&](int parent, const std::string& n) {
                      if (unlinkat(parent, n.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
                        fail("rmdir " + n, errno);
                    },
                .on_error = [&](const std::string& rel, const char* what,
                                int err) { fail(std::string(what) + " " + shorten_path(rel), err); },
            });
  top.reset();
  if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) fail("rmdir " + name, errno);
  if (failures)
    throw std::runtime_error("cannot remove " + (shown.empty() ? name : shown) + ": " + first +
                             (failures > 1 ? " (and " + std::to_string(failures - 1) + " more)" : ""));
}

uint64_t disk_usage_at(int dir_fd) {
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = static_cast<uint64_t>(fstat_checked(dir_fd).st_blocks) * 512;
  walk_tree(dir_fd, TreeVisitor{
                        .visit =
                            [&](int, const std::string&, const std::string&, const struct stat& st) {
                              if (S_ISDIR(st.st_mode) || st.st_nlink == 1 ||
                                  seen.emplace(st.st_dev, st.st_ino).second)
                                total += static_cast<uint64_t>(st.st_blocks) * 512;
                              return true;
                            },
                        .leave = nullptr,
                        .on_error = [](const std::string&, const char*, int) {},
                    });
  return total;
}

}  // namespace mael
