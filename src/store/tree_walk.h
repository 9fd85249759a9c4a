#pragma once
// Walking and changing directory trees through directory fds, one name at a time, so that trees
// of any depth work: no call ever takes a whole path (the kernel refuses those past PATH_MAX)
// and no symlink is ever followed. Whatever the depth, only a couple of fds are open: going back
// up uses "..", checked against the device and inode seen on the way down. No chdir (it is
// process-wide, and the store extracts from several threads).
#include <sys/stat.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace mael {

// A position in the tree below a top directory, moved by relative paths. Cheap when successive
// paths share a prefix (the order of a tar's entries).
class DirCursor {
 public:
  // Called for each directory go() makes: its path below top, the fd of its parent and its name.
  using OnCreate = std::function<void(const std::string& rel, int parent_fd, const std::string& name)>;

  // top_fd is duplicated; the caller keeps its own.
  explicit DirCursor(int top_fd, OnCreate on_create = nullptr);

  // The directory rel ('/'-separated, "" for top) below top, each component opened without
  // following symlinks; the fd stays valid until the next call. With create, missing
  // directories are made (mode 0700); without, -1 is returned for a missing one. Throws
  // UserError when a component is a symlink or not a directory, or is "..".
  int go(std::string_view rel, bool create);
  // Forgets the position (call after removing a directory the cursor may be in).
  void reset();

 private:
  struct Level {
    std::string name;
    dev_t dev;
    ino_t ino;
  };
  void up();

  UniqueFd top_;
  struct stat top_st_ {};
  OnCreate on_create_;
  UniqueFd cur_;
  std::vector<Level> path_;  // below top; cur_ is the last one's (top's when empty)
};

// Visits every entry below the directory open at top_fd, depth first. visit(dir_fd, dir_rel, name,
// st) is called for each entry of a directory (dir_rel: its path below top, "" for top) before
// any of its subdirectories is entered (it may remove or change the entry); it returns whether to
// enter a directory entry. leave(parent_fd,
// name) is called after a directory's contents were walked. on_error(rel, what, errno) is told of
// a directory that could not be listed or entered (rel: its path below top), which is skipped.
// Throws std::runtime_error when the tree changes under the walk in a way that could take it
// outside top.
struct TreeVisitor {
  std::function<bool(int dir_fd, const std::string& dir_rel, const std::string& name, const struct stat& st)>
      visit;
  std::function<void(int parent_fd, const std::string& name)> leave;
  std::function<void(const std::string& rel, const char* what, int err)> on_error;
};
void walk_tree(int top_fd, const TreeVisitor& visitor);

// Removes entry `name` of the directory open at dir_fd, and everything below it when it is a
// directory, also when directories in it lack write or search permission for us (extracted
// layers keep modes such as 0555). It goes on past what it cannot remove and then throws
// std::runtime_error("cannot remove SHOWN: ...") naming the first failure and how many there
// were (SHOWN: `shown`, or name). A missing name is not an error.
void remove_tree_at(int dir_fd, const std::string& name, const std::string& shown = "");

// Disk space (st_blocks) used by the directory open at dir_fd and everything below it, hard-linked
// files counted once.
uint64_t disk_usage_at(int dir_fd);

}  // namespace mael
